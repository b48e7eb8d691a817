/**
 * loadTranslator on ONNX models: images in and out (PNG/JPEG, buffers, channel conversion,
 * resizing), agreement with the standalone examples/node-onnx.js, and the errors for bad input.
 */
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';
import type { OutputInfo } from 'sharp';
import { packageRoot } from '../../src/backend/device';
import { loadTranslator } from '../../src/translate/translator';
import { writeTinyGenerator } from './fixtures';

let dir = '';
let rgbModel = '';
let grayModel = '';
let rgbaModel = '';
let mlpModel = '';
let photo = '';
let jpeg = '';

/** A 40x30 RGB gradient with some structure, so resizing and channel order matter. */
async function writeTestImage(file: string, width: number, height: number, channels: 3 | 4): Promise<string> {
  const pixels = Buffer.alloc(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * channels;
      pixels[p] = (x * 255) / (width - 1);
      pixels[p + 1] = (y * 255) / (height - 1);
      pixels[p + 2] = (x + y) % 7 === 0 ? 255 : 30;
      if (channels === 4) pixels[p + 3] = 200;
    }
  const image = sharp(pixels, { raw: { width, height, channels } });
  await (file.endsWith('.jpg') ? image.jpeg({ quality: 95 }) : image.png()).toFile(file);
  return file;
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgtrain-translate-'));
  rgbModel = writeTinyGenerator(path.join(dir, 'G_A.onnx'), { inputChannels: 3, outputChannels: 3, imageSize: 16 });
  grayModel = writeTinyGenerator(path.join(dir, 'gray.onnx'), { inputChannels: 1, outputChannels: 3, imageSize: 16, direction: 'BtoA' });
  rgbaModel = writeTinyGenerator(path.join(dir, 'rgba.onnx'), { inputChannels: 4, outputChannels: 4, imageSize: 16 });
  mlpModel = writeTinyGenerator(path.join(dir, 'mlp.onnx'), { inputChannels: 3, outputChannels: 3, imageSize: 16, netG: 'mlp' });
  photo = await writeTestImage(path.join(dir, 'photo.png'), 40, 30, 3);
  jpeg = await writeTestImage(path.join(dir, 'photo.jpg'), 40, 30, 3);
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

async function pixels(png: Buffer): Promise<{ data: Buffer; info: OutputInfo }> {
  return sharp(png).raw().toBuffer({ resolveWithObject: true });
}

test('a PNG path and the same bytes as a Buffer translate to the same PNG at the model size', async () => {
  const translator = await loadTranslator(rgbModel);
  try {
    assert.equal(translator.spec.imageSize, 16);
    const fromPath = await translator.translate(photo);
    const fromBuffer = await translator.translate(fs.readFileSync(photo));
    assert.deepEqual(fromPath, fromBuffer);
    const { info } = await pixels(fromPath);
    assert.deepEqual([info.width, info.height, info.channels], [16, 16, 3]);
  } finally {
    await translator.close();
  }
});

test('the library and examples/node-onnx.js produce the same pixels', async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const example = require(path.join(packageRoot(), 'examples', 'node-onnx.js')) as { translate(m: string, i: string, o: string): Promise<unknown> };
  const exampleOut = path.join(dir, 'example.png');
  await example.translate(rgbModel, jpeg, exampleOut);
  const translator = await loadTranslator(rgbModel);
  try {
    const ours = await pixels(await translator.translate(jpeg));
    const theirs = await pixels(fs.readFileSync(exampleOut));
    assert.deepEqual(ours.data, theirs.data);
  } finally {
    await translator.close();
  }
});

test('keepSize returns an image of the input size; fixed-size models ignore it', async () => {
  const translator = await loadTranslator(rgbModel);
  const mlp = await loadTranslator(mlpModel);
  try {
    const kept = await pixels(await translator.translate(photo, { keepSize: true }));
    assert.deepEqual([kept.info.width, kept.info.height], [40, 30]);
    const fixed = await pixels(await mlp.translate(photo, { keepSize: true }));
    assert.deepEqual([fixed.info.width, fixed.info.height], [16, 16]);
  } finally {
    await translator.close();
    await mlp.close();
  }
});

test('colour images feed a gray model; an RGB image for an RGBA model is an error naming the file', async () => {
  const gray = await loadTranslator(grayModel);
  const rgba = await loadTranslator(rgbaModel);
  try {
    assert.equal(gray.spec.direction, 'BtoA');
    const { info } = await pixels(await gray.translate(photo));
    assert.equal(info.channels, 3);
    await assert.rejects(rgba.translate(photo), (err: Error) => err.message.includes(photo) && /3 channels \(RGB\).*expects 4 channels \(RGBA\)/.test(err.message));
    const withAlpha = await writeTestImage(path.join(dir, 'alpha.png'), 20, 20, 4);
    const { info: alphaInfo } = await pixels(await rgba.translate(withAlpha));
    assert.equal(alphaInfo.channels, 4);
  } finally {
    await gray.close();
    await rgba.close();
  }
});

test('unreadable and missing images fail with errors naming the file', async () => {
  const translator = await loadTranslator(rgbModel);
  try {
    const notImage = path.join(dir, 'notes.png');
    fs.writeFileSync(notImage, 'not an image');
    await assert.rejects(translator.translate(notImage), (err: Error) => err.message.includes(notImage) && /cannot read image/.test(err.message));
    await assert.rejects(translator.translate(path.join(dir, 'absent.png')), /absent\.png does not exist/);
    await assert.rejects(translator.translate(Buffer.from('garbage')), /cannot read image <image buffer>/);
  } finally {
    await translator.close();
  }
});

test('translateTensor checks channels, size and length against the model', async () => {
  const translator = await loadTranslator(rgbModel);
  const mlp = await loadTranslator(mlpModel);
  try {
    const out = await translator.translateTensor(new Float32Array(2 * 3 * 8 * 12), [2, 3, 8, 12]);
    assert.deepEqual(out.shape, [2, 3, 8, 12]);
    await assert.rejects(translator.translateTensor(new Float32Array(8 * 8), [1, 1, 8, 8]), /has 1 channels, the model expects 3/);
    await assert.rejects(translator.translateTensor(new Float32Array(10), [1, 3, 8, 8]), /holds 10 values/);
    await assert.rejects(mlp.translateTensor(new Float32Array(3 * 8 * 8), [1, 3, 8, 8]), /takes exactly 16x16/);
  } finally {
    await translator.close();
    await mlp.close();
  }
});

test('loadTranslator rejects truncated and non-ONNX files, a wrong direction and --device for ONNX', async () => {
  const truncated = path.join(dir, 'truncated.onnx');
  const bytes = fs.readFileSync(rgbModel);
  fs.writeFileSync(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await assert.rejects(loadTranslator(truncated), (err: Error) => err.message.includes(truncated) && /not a valid ONNX model/.test(err.message));
  await assert.rejects(loadTranslator(photo), (err: Error) => err.message.includes(photo) && /ONNX/.test(err.message));
  await assert.rejects(loadTranslator(path.join(dir, 'none.onnx')), /none\.onnx does not exist/);
  await assert.rejects(loadTranslator(dir), /is not a file/);
  await assert.rejects(loadTranslator(rgbModel, { direction: 'BtoA' }), /translates AtoB, but direction BtoA/);
  await assert.rejects(loadTranslator(rgbModel, { device: 'cpu' }), /ONNX model.*needs a checkpoint/);
});

test('format jpeg returns JPEG bytes; an RGBA output cannot be JPEG', async () => {
  const translator = await loadTranslator(rgbModel);
  const rgba = await loadTranslator(rgbaModel);
  try {
    const jpegBytes = await translator.translate(photo, { format: 'jpeg' });
    assert.equal((await sharp(jpegBytes).metadata()).format, 'jpeg');
    const withAlpha = await writeTestImage(path.join(dir, 'alpha-for-jpeg.png'), 20, 20, 4);
    await assert.rejects(rgba.translate(withAlpha, { format: 'jpeg' }), /JPEG has no alpha channel/);
  } finally {
    await translator.close();
    await rgba.close();
  }
});
