#!/usr/bin/env node
// Runs a generator exported by `cgtrain export` in any Node.js app: onnxruntime-node for the model,
// sharp for the images, protobufjs only to read the metadata_props (channels, size, normalisation).
// Nothing here needs cgtrain itself.
//
//   node examples/node-onnx.js runs/<name>/G_A.onnx input.png output.png
'use strict';

const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');
const protobuf = require('protobufjs');
const sharp = require('sharp');

const ONNX_PROTO = path.join(__dirname, '..', 'src', 'export', 'onnx.proto');

function readMetadata(modelBytes) {
  const root = new protobuf.Root().loadSync(ONNX_PROTO, { keepCase: true });
  const model = root.lookupType('onnx.ModelProto').decode(modelBytes);
  return Object.fromEntries(model.metadata_props.map(({ key, value }) => [key, value]));
}

async function translate(modelFile, inputFile, outputFile) {
  const modelBytes = fs.readFileSync(modelFile);
  const meta = readMetadata(modelBytes);
  const channels = Number(meta.input_channels);
  const size = Number(meta.image_size);
  const session = await ort.InferenceSession.create(modelBytes);

  // The metadata says: channels as input_channel_order, size x size, pixels x/127.5 - 1, NCHW.
  const withAlpha = channels === 2 || channels === 4;
  let image = withAlpha ? sharp(inputFile).ensureAlpha() : sharp(inputFile).removeAlpha();
  image = channels <= 2 ? image.toColourspace('b-w') : image.toColourspace('srgb');
  const { data: hwc } = await image.resize(size, size, { fit: 'fill', kernel: 'cubic' }).raw().toBuffer({ resolveWithObject: true });
  const plane = size * size;
  const input = new Float32Array(channels * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < channels; c++) input[c * plane + p] = hwc[p * channels + c] / 127.5 - 1;

  const started = process.hrtime.bigint();
  const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, [1, channels, size, size]) });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  const output = result[session.outputNames[0]];
  const [, outChannels, height, width] = output.dims;

  // Back to bytes: (y + 1) * 127.5, clamped; NCHW -> interleaved.
  const outPlane = height * width;
  const pixels = Buffer.alloc(outPlane * outChannels);
  for (let p = 0; p < outPlane; p++) {
    for (let c = 0; c < outChannels; c++) pixels[p * outChannels + c] = Math.max(0, Math.min(255, Math.round((output.data[c * outPlane + p] + 1) * 127.5)));
  }
  await sharp(pixels, { raw: { width, height, channels: outChannels } }).png().toFile(outputFile);
  await session.release();
  return { meta, ms, width, height };
}

if (require.main === module) {
  const [modelFile, inputFile, outputFile] = process.argv.slice(2);
  if (!outputFile) {
    process.stderr.write('usage: node examples/node-onnx.js MODEL.onnx INPUT_IMAGE OUTPUT.png\n');
    process.exit(2);
  }
  translate(modelFile, inputFile, outputFile)
    .then(({ meta, ms, width, height }) => {
      process.stdout.write(`${meta.description || modelFile}: ${inputFile} -> ${outputFile} (${width}x${height}, ${ms.toFixed(1)} ms)\n`);
    })
    .catch((err) => {
      process.stderr.write(`node-onnx.js: ${err.message}\n`);
      process.exit(1);
    });
}

module.exports = { translate, readMetadata };
