/** Every differentiable op: analytic gradients through the tape vs finite differences. */
import { test } from 'node:test';
import * as assert from 'node:assert';
import { Tensor, backward, tidy } from '../../src/tensor';
import * as F from '../../src/ops';
import { Rng } from '../../src/util/rng';
import { assertClose, cpuBackend, randomArray } from '../util/native';
import { checkOpGradients } from './opcheck';

const x4 = [2, 3, 5, 4];

test('elementwise ops: add, sub, mul, affine', () => {
  checkOpGradients('add', ([a, b]) => F.add(a, b), [{ shape: x4 }, { shape: x4 }]);
  checkOpGradients('sub', ([a, b]) => F.sub(a, b), [{ shape: x4 }, { shape: x4 }]);
  checkOpGradients('mul', ([a, b]) => F.mul(a, b), [{ shape: x4 }, { shape: x4 }]);
  checkOpGradients('affine', ([a]) => F.affine(a, -2.5, 0.5), [{ shape: x4 }]);
  // a tensor used twice: gradients from both uses accumulate
  checkOpGradients('mul(x, x) + x', ([a]) => F.add(F.mul(a, a), a), [{ shape: x4 }]);
});

test('concatChannels and reshape', () => {
  checkOpGradients('concatChannels', ([a, b]) => F.concatChannels(a, b), [{ shape: [2, 2, 3, 3] }, { shape: [2, 3, 3, 3] }]);
  checkOpGradients('reshape', ([a]) => F.mul(F.reshape(a, [2, -1]), F.reshape(a, [2, 60])), [{ shape: x4 }]);
});

test('concatBatch and sliceBatch: values, gradients (two slices of one tensor accumulate), bad ranges', () => {
  checkOpGradients('concatBatch', ([a, b]) => F.concatBatch(a, b), [{ shape: [2, 2, 3, 3] }, { shape: [3, 2, 3, 3] }]);
  checkOpGradients('slices of a concat', ([a, b]) => {
    const both = F.concatBatch(a, b);
    return F.add(F.mul(F.sliceBatch(both, 0, 2), F.sliceBatch(both, 2, 2)), F.sliceBatch(both, 1, 2));
  }, [{ shape: [2, 3, 2, 2] }, { shape: [2, 3, 2, 2] }]);
  tidy(() => {
    const be = cpuBackend();
    const a = Tensor.fromArray(Float32Array.from([1, 2, 3, 4]), [2, 2], be);
    const b = Tensor.fromArray(Float32Array.from([5, 6]), [1, 2], be);
    const y = F.concatBatch(a, b);
    assert.deepStrictEqual(y.shape, [3, 2]);
    assert.deepStrictEqual([...y.toFloat32Array()], [1, 2, 3, 4, 5, 6]);
    assert.deepStrictEqual([...F.sliceBatch(y, 1, 2).toFloat32Array()], [3, 4, 5, 6]);
    assert.throws(() => F.sliceBatch(y, 2, 2), /sliceBatch: \[2, 4\) is not inside the first dimension of \[3,2\]|sliceBatch: \[2, 4\) is not inside/);
    assert.throws(() => F.concatBatch(a, Tensor.zeros([1, 3], be)), /concatBatch: a .* and b .* must agree in every dimension but the first/);
  });
});

test('activations', () => {
  // keep inputs away from the kinks so finite differences do not straddle them
  const away = randomArray(120, 3).map((v) => (v >= 0 ? v + 0.1 : v - 0.1));
  checkOpGradients('relu', ([a]) => F.relu(a), [{ shape: x4, data: away }]);
  checkOpGradients('leakyRelu', ([a]) => F.leakyRelu(a, 0.2), [{ shape: x4, data: away }]);
  checkOpGradients('tanh', ([a]) => F.tanh(a), [{ shape: x4 }]);
  checkOpGradients('sigmoid', ([a]) => F.sigmoid(a), [{ shape: x4 }]);
});

test('dropout: same mask in forward and backward, scaled by 1/(1-p)', () => {
  const rng = new Rng(5);
  const state = rng.getState();
  // each evaluation re-seeds the rng so finite differences see the same mask
  checkOpGradients('dropout', ([a]) => {
    rng.setState(state);
    return F.dropout(a, 0.5, rng);
  }, [{ shape: x4 }]);
  tidy(() => {
    const x = Tensor.full([1000], 1, cpuBackend());
    const y = F.dropout(x, 0.5, new Rng(1)).toFloat32Array();
    const kept = y.filter((v) => v !== 0);
    assert.ok(kept.every((v) => Math.abs(v - 2) < 1e-6), 'kept values are scaled by 2');
    assert.ok(kept.length > 400 && kept.length < 600, `about half kept, got ${kept.length}`);
  });
});

test('conv2d: stride, padding, bias, and each input alone', () => {
  const x = { shape: [2, 3, 6, 5] };
  checkOpGradients('conv2d', ([a, w, b]) => F.conv2d(a, w, b, { stride: 1, padding: 1 }), [x, { shape: [4, 3, 3, 3] }, { shape: [4] }]);
  checkOpGradients('conv2d s2', ([a, w, b]) => F.conv2d(a, w, b, { stride: 2, padding: 1 }), [x, { shape: [4, 3, 4, 4] }, { shape: [4] }]);
  checkOpGradients('conv2d frozen w', ([a, w]) => F.conv2d(a, w, null), [x, { shape: [2, 3, 3, 3], grad: false }]);
  checkOpGradients('conv2d constant x', ([a, w]) => F.conv2d(a, w, null), [{ ...x, grad: false }, { shape: [2, 3, 3, 3] }]);
});

test('conv2d with reflection padding: gradients, and the same as reflectionPad2d + conv2d', () => {
  const x = { shape: [2, 3, 6, 5] };
  checkOpGradients('conv2d reflect', ([a, w, b]) => F.conv2d(a, w, b, { padding: 1, paddingMode: 'reflect' }),
    [x, { shape: [4, 3, 3, 3] }, { shape: [4] }]);
  checkOpGradients('conv2d reflect 7x7', ([a, w]) => F.conv2d(a, w, null, { padding: 3, paddingMode: 'reflect' }),
    [{ shape: [1, 2, 5, 4] }, { shape: [2, 2, 7, 7] }]);
  const backend = cpuBackend();
  tidy(() => {
    const input = (shape: number[], seed: number) => {
      const t = Tensor.fromArray(randomArray(shape.reduce((p, d) => p * d, 1), seed), shape, backend);
      t.requiresGrad = true;
      return t;
    };
    const xs = input([2, 32, 8, 8], 1), w = input([32, 32, 3, 3], 2), b = input([32], 3);
    const weights = Tensor.fromArray(randomArray(2 * 32 * 64, 4), [2, 32, 8, 8], backend);
    const fused = F.conv2d(xs, w, b, { padding: 1, paddingMode: 'reflect' });
    backward(F.sum(F.mul(fused, weights)));
    const grads = [xs, w, b].map((t) => t.grad!.toFloat32Array());
    [xs, w, b].forEach((t) => { t.grad = null; });
    const unfused = F.conv2d(F.reflectionPad2d(xs, 1), w, b);
    backward(F.sum(F.mul(unfused, weights)));
    assertClose(fused.toFloat32Array(), unfused.toFloat32Array(), 'y', 1e-5, 1e-5);
    [xs, w, b].forEach((t, i) => assertClose(grads[i], t.grad!.toFloat32Array(), `grad ${i}`, 1e-5, 1e-4));
    assert.throws(() => F.conv2d(xs, w, b, { padding: 8, paddingMode: 'reflect' }), /reflection padding 8x8 must be smaller than the input \[2, 32, 8, 8\]/);
    assert.throws(() => F.conv2d(xs, w, b, { padding: 1, paddingMode: 'circular' as 'reflect' }), /paddingMode must be 'zeros' or 'reflect', got "circular"/);
    assert.throws(() => F.convTranspose2d(xs, w, b, { paddingMode: 'reflect' }), /convTranspose2d: paddingMode 'reflect' is for conv2d only/);
  });
});

test('convTranspose2d with output padding', () => {
  checkOpGradients('convTranspose2d', ([a, w, b]) => F.convTranspose2d(a, w, b, { stride: 2, padding: 1, outputPadding: 1 }),
    [{ shape: [2, 3, 3, 4] }, { shape: [3, 2, 3, 3] }, { shape: [2] }]);
});

test('linear', () => {
  checkOpGradients('linear', ([a, w, b]) => F.linear(a, w, b), [{ shape: [3, 7] }, { shape: [5, 7] }, { shape: [5] }]);
  checkOpGradients('linear on NCHW', ([a, w]) => F.linear(a, w), [{ shape: [2, 2, 2, 2] }, { shape: [3, 8] }]);
});

test('padding and upsampling', () => {
  checkOpGradients('reflectionPad2d', ([a]) => F.reflectionPad2d(a, [2, 1, 1, 2]), [{ shape: [2, 2, 4, 5] }]);
  checkOpGradients('zeroPad2d', ([a]) => F.zeroPad2d(a, 1), [{ shape: [2, 2, 3, 3] }]);
  checkOpGradients('upsampleNearest2x', ([a]) => F.upsampleNearest2x(a), [{ shape: [2, 2, 3, 3] }]);
});

test('instance norm (plain and affine) and batch norm', () => {
  const opts = { rtol: 5e-2, atol: 5e-3 };
  checkOpGradients('instanceNorm', ([a]) => F.instanceNorm(a), [{ shape: [2, 3, 4, 4] }], opts);
  checkOpGradients('instanceNorm affine', ([a, g, b]) => F.instanceNorm(a, g, b), [{ shape: [2, 3, 4, 4] }, { shape: [3] }, { shape: [3] }], opts);
  checkOpGradients('batchNorm', ([a, g, b]) => F.batchNorm(a, g, b, { runningMean: null, runningVar: null, training: true }),
    [{ shape: [3, 2, 3, 3] }, { shape: [2] }, { shape: [2] }], opts);
});

test('pooling and reductions', () => {
  // distinct values so the max does not switch under the finite-difference step
  const distinct = Float32Array.from({ length: 2 * 2 * 4 * 4 }, (_, i) => ((i * 37) % 64) / 8 - 4);
  checkOpGradients('maxPool2d', ([a]) => F.maxPool2d(a, 2, 2), [{ shape: [2, 2, 4, 4], data: distinct }]);
  checkOpGradients('globalAvgPool', ([a]) => F.globalAvgPool(a), [{ shape: [2, 3, 3, 2] }]);
  checkOpGradients('sum', ([a]) => F.sum(a), [{ shape: x4 }]);
  checkOpGradients('mean', ([a]) => F.mean(a), [{ shape: x4 }]);
});

test('losses', () => {
  const t01 = Float32Array.from(randomArray(24, 9, 0, 1), (v) => (v > 0.5 ? 1 : 0));
  const pred = randomArray(24, 10, -2, 2).map((v) => (Math.abs(v) < 0.05 ? 0.1 : v));
  checkOpGradients('l1Loss', ([a, b]) => F.l1Loss(a, b), [{ shape: [2, 12], data: pred }, { shape: [2, 12] }]);
  checkOpGradients('mseLoss', ([a, b]) => F.mseLoss(a, b), [{ shape: [2, 12] }, { shape: [2, 12] }]);
  checkOpGradients('mseLoss vs constant', ([a]) => F.mseLoss(a, 1), [{ shape: [2, 12] }]);
  checkOpGradients('bceWithLogits', ([a, t]) => F.bceWithLogits(a, t), [{ shape: [2, 12], data: pred }, { shape: [2, 12], data: t01, grad: false }]);
  checkOpGradients('focalLoss', ([a]) => F.focalLoss(a, 1, 0.25, 2), [{ shape: [2, 12], data: pred }]);
  checkOpGradients('hinge real', ([a]) => F.hingeLossReal(a), [{ shape: [2, 12], data: pred.map((v) => (Math.abs(v - 1) < 0.05 ? 1.2 : v)) }]);
  checkOpGradients('softmaxCrossEntropy', ([a, l]) => F.softmaxCrossEntropy(a, l),
    [{ shape: [4, 5] }, { shape: [4], data: Float32Array.from([0, 3, 4, 1]), grad: false }]);
});

test('ghmcLoss treats its weights as constants and updates the histogram', () => {
  const backend = cpuBackend();
  tidy(() => {
    const acc = Tensor.zeros([10], backend);
    const x = Tensor.fromArray(randomArray(32, 4, -3, 3), [32], backend);
    x.requiresGrad = true;
    const loss = F.ghmcLoss(x, 1, acc, 0);
    assert.ok(Number.isFinite(loss.item()));
    const counts = acc.toFloat32Array();
    assert.strictEqual(Math.round(counts.reduce((a, b) => a + b, 0)), 32, 'momentum 0: the histogram counts this batch');
  });
});

test('ops reject bad shapes with messages naming the problem', () => {
  const backend = cpuBackend();
  tidy(() => {
    const a = Tensor.zeros([2, 3], backend);
    const b = Tensor.zeros([3, 2], backend);
    assert.throws(() => F.add(a, b), /add: a \[2, 3\] and b \[3, 2\] must have the same shape/);
    const x = Tensor.zeros([1, 3, 8, 8], backend);
    const w = Tensor.zeros([4, 2, 3, 3], backend);
    assert.throws(() => F.conv2d(x, w), /conv2d: input has 3 channels but weight \[4, 2, 3, 3\] expects 2/);
    assert.throws(() => F.reflectionPad2d(x, 8), /reflectionPad2d: padding 8 must be smaller/);
    assert.throws(() => F.reshape(x, [5, -1]), /reshape: cannot view \[1, 3, 8, 8\]/);
  });
});

test('instanceNormRelu: gradients (plain and affine), and relu(instanceNorm) values', () => {
  // Planes of zero mean whose values keep |x| >= 0.3: the normalised values stay clear of the
  // ReLU's kink under the finite differences' steps.
  const planes = 2 * 3, hw = 20;
  const away = randomArray(planes * hw, 9, 0.3, 1.5).map((v, i) => (i % 2 ? v : -v));
  for (let p = 0; p < planes; p++) {
    const plane = away.subarray(p * hw, (p + 1) * hw);
    const mean = plane.reduce((s, v) => s + v, 0) / hw;
    plane.forEach((v, i) => { plane[i] = v - mean; });
  }
  checkOpGradients('instanceNormRelu', ([a]) => F.instanceNormRelu(a), [{ shape: [2, 3, 5, 4], data: away }]);
  checkOpGradients('instanceNormRelu affine', ([a, g, b]) => F.instanceNormRelu(a, g, b),
    [{ shape: [2, 3, 5, 4], data: away }, { shape: [3], data: randomArray(3, 5, 0.5, 1.5) }, { shape: [3], data: randomArray(3, 6, -0.05, 0.05) }]);
  const backend = cpuBackend();
  tidy(() => {
    const x = Tensor.fromArray(randomArray(2 * 3 * 20, 8), [2, 3, 4, 5], backend);
    assert.deepStrictEqual(F.instanceNormRelu(x).toFloat32Array(), F.relu(F.instanceNorm(x)).toFloat32Array());
    assert.throws(() => F.instanceNormRelu(x, Tensor.zeros([3], backend), null), /instanceNormRelu: gamma and beta must both be given/);
  });
});
