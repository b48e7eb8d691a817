/**
 * Each layer exporter on a hand-built graph, run by onnxruntime-node and compared with a plain
 * JavaScript reference of the PyTorch layer. Also: the schema round trip, the metadata, and the
 * errors for files that are not ONNX.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as ort from 'onnxruntime-node';
import { OnnxGraphBuilder } from '../../src/export/graph';
import * as L from '../../src/export/layers';
import { decodeModel, encodeModel, metadataOf } from '../../src/export/proto';
import { readOnnxModel } from '../../src/export/runtime';
import { randomArray } from '../util/native';
import * as R from './reference';

async function runGraph(b: OnnxGraphBuilder, out: string, outDims: (number | string)[], x: R.Nchw | { data: Float32Array; shape: number[] }): Promise<ort.Tensor> {
  b.output(out, 'y', outDims);
  const bytes = encodeModel(b.toModel({ producerVersion: 'test', metadata: {} }));
  const session = await ort.InferenceSession.create(bytes);
  try {
    const result = await session.run({ x: new ort.Tensor('float32', x.data, x.shape) });
    return result.y;
  } finally {
    await session.release();
  }
}

function nchw(shape: R.Nchw['shape'], seed: number): R.Nchw {
  return { data: randomArray(shape.reduce((a, b) => a * b, 1), seed), shape };
}

const DYNAMIC = ['batch', 'channels', 'height', 'width'];

test('Conv with padding and stride matches the reference', async () => {
  const x = nchw([2, 3, 9, 7], 1);
  const w = randomArray(4 * 3 * 3 * 3, 2);
  const bias = randomArray(4, 3);
  const b = new OnnxGraphBuilder('conv');
  const y = L.conv2d(b, b.input('x', DYNAMIC), {
    weight: { name: 'w', shape: [4, 3, 3, 3], data: w },
    bias: { name: 'b', shape: [4], data: bias },
    stride: [2, 2],
    padding: [1, 1],
  });
  const got = await runGraph(b, y, DYNAMIC, x);
  const want = R.refConv2d(x, w, [4, 3, 3, 3], bias, 2, 1);
  assert.deepEqual(got.dims.map(Number), want.shape);
  assert.ok(R.maxAbsDiff(got.data as Float32Array, want.data) < 1e-5);
});

test('ConvTranspose with output_padding matches the reference (the resnet upsampling shape)', async () => {
  const x = nchw([2, 4, 5, 6], 4);
  const w = randomArray(4 * 3 * 3 * 3, 5);
  const bias = randomArray(3, 6);
  const b = new OnnxGraphBuilder('convt');
  const y = L.convTranspose2d(b, b.input('x', DYNAMIC), {
    weight: { name: 'w', shape: [4, 3, 3, 3], data: w },
    bias: { name: 'b', shape: [3], data: bias },
    stride: [2, 2],
    padding: [1, 1],
    outputPadding: [1, 1],
  });
  const got = await runGraph(b, y, DYNAMIC, x);
  const want = R.refConvTranspose2d(x, w, [4, 3, 3, 3], bias, 2, 1, 1);
  assert.deepEqual(got.dims.map(Number), [2, 3, 10, 12]);
  assert.ok(R.maxAbsDiff(got.data as Float32Array, want.data) < 1e-5);
});

test('reflect Pad, InstanceNormalization (affine and not), LeakyRelu and Tanh match the reference', async () => {
  const x = nchw([2, 3, 6, 5], 7);
  const gamma = randomArray(3, 8, 0.5, 1.5);
  const beta = randomArray(3, 9);
  const b = new OnnxGraphBuilder('norm');
  let v = L.reflectionPad2d(b, b.input('x', DYNAMIC), [3, 3, 3, 3]);
  v = L.instanceNorm(b, v, { name: 'in0', channels: 3, eps: 1e-5 });
  v = L.leakyRelu(b, v, 0.2);
  v = L.instanceNorm(b, v, { name: 'in1', channels: 3, eps: 1e-5, weight: { name: 'g', shape: [3], data: gamma }, bias: { name: 'be', shape: [3], data: beta } });
  v = L.tanh(b, v);
  const got = await runGraph(b, v, DYNAMIC, x);
  let want = R.refReflectionPad(x, 3);
  want = R.refNorm(want, 1e-5, null, null);
  want = R.refMap(want, (t) => (t > 0 ? t : 0.2 * t));
  want = R.refNorm(want, 1e-5, gamma, beta);
  want = R.refMap(want, Math.tanh);
  assert.deepEqual(got.dims.map(Number), [2, 3, 12, 11]);
  assert.ok(R.maxAbsDiff(got.data as Float32Array, want.data) < 1e-5);
});

test('eval BatchNormalization, Relu, nearest Resize x2 and channel Concat match the reference', async () => {
  const x = nchw([3, 2, 4, 3], 10);
  const mean = randomArray(2, 11);
  const variance = randomArray(2, 12, 0.5, 2);
  const b = new OnnxGraphBuilder('bn');
  const input = b.input('x', DYNAMIC);
  let v = L.batchNorm(b, input, {
    name: 'bn',
    channels: 2,
    eps: 1e-5,
    runningMean: { name: 'rm', shape: [2], data: mean },
    runningVar: { name: 'rv', shape: [2], data: variance },
  });
  v = L.relu(b, v);
  v = L.concatChannels(b, [v, input]);
  v = L.upsampleNearest(b, v, 2);
  const got = await runGraph(b, v, DYNAMIC, x);
  let want = R.refNorm(x, 1e-5, null, null, { mean, variance });
  want = R.refMap(want, (t) => Math.max(t, 0));
  want = R.refUpsample2x(R.refConcat(want, x));
  assert.deepEqual(got.dims.map(Number), [3, 4, 8, 6]);
  assert.ok(R.maxAbsDiff(got.data as Float32Array, want.data) < 1e-5);
});

test('Flatten, Gemm and Reshape (the mlp generator) match the reference', async () => {
  const x = nchw([2, 1, 4, 4], 13);
  const w = randomArray(16 * 16, 14);
  const bias = randomArray(16, 15);
  const b = new OnnxGraphBuilder('mlp');
  let v = L.flatten(b, b.input('x', ['batch', 1, 4, 4]));
  v = L.linear(b, v, { weight: { name: 'w', shape: [16, 16], data: w }, bias: { name: 'b', shape: [16], data: bias } });
  v = L.reshape(b, v, [-1, 1, 4, 4]);
  const got = await runGraph(b, v, ['batch', 1, 4, 4], x);
  assert.deepEqual(got.dims.map(Number), [2, 1, 4, 4]);
  assert.ok(R.maxAbsDiff(got.data as Float32Array, R.refLinear(x.data, 2, 16, w, bias, 16)) < 1e-5);
});

test('a model survives encode -> decode with its metadata, opset and initializers', () => {
  const b = new OnnxGraphBuilder('roundtrip');
  const v = L.conv2d(b, b.input('x', ['batch', 3, 'height', 'width']), { weight: { name: 'netG.model.1.weight', shape: [2, 3, 1, 1], data: randomArray(6, 16) }, stride: [1, 1], padding: [0, 0] });
  b.output(v, 'y', ['batch', 2, 'height', 'width']);
  const bytes = encodeModel(b.toModel({ producerVersion: '9.9.9', metadata: { direction: 'AtoB', note: 'x' } }));
  const model = decodeModel(bytes, 'memory');
  assert.equal(model.ir_version, 8);
  assert.deepEqual(model.opset_import.map((o) => o.version), [17]);
  assert.equal(model.producer_version, '9.9.9');
  assert.deepEqual(metadataOf(model), { direction: 'AtoB', note: 'x' });
  assert.equal(model.graph.initializer[0].name, 'netG.model.1.weight');
  assert.deepEqual(model.graph.input[0].type.tensor_type.shape.dim.map((d) => d.dim_param || d.dim_value), ['batch', 3, 'height', 'width']);
});

test('a non-ONNX file, a truncated model and a missing file fail with errors naming the file', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgtrain-onnx-'));
  try {
    const b = new OnnxGraphBuilder('t');
    b.output(L.relu(b, b.input('x', [1, 1, 2, 2])), 'y', [1, 1, 2, 2]);
    const bytes = encodeModel(b.toModel({ producerVersion: 't', metadata: {} }));
    const truncated = path.join(dir, 'truncated.onnx');
    fs.writeFileSync(truncated, bytes.subarray(0, bytes.length - 7));
    const text = path.join(dir, 'notes.onnx');
    fs.writeFileSync(text, 'this is a text file, not a model\n'.repeat(10));
    const png = path.join(dir, 'image.onnx');
    fs.writeFileSync(png, Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'));
    for (const file of [truncated, text, png]) {
      assert.throws(() => readOnnxModel(file), (err: Error) => err.message.includes(file) && /ONNX/.test(err.message), file);
    }
    assert.throws(() => readOnnxModel(path.join(dir, 'missing.onnx')), /missing\.onnx.*ENOENT/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
