/**
 * Losses: closed-form and reference values (BCE-with-logits exact at |x| = 100, focal loss as
 * torchvision's sigmoid_focal_loss, GHM-C as mmdetection's GHMC, softmax cross-entropy), and
 * every backward against finite differences with dout != 1.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { Buf } from '../../src/backend/binding';
import { assertClose, cpu, freeAll, fromBuf, guardedBuf, randomArray, toBuf, zerosBuf } from '../util/native';
import { assertGradcheck } from '../util/gradcheck';

const b = cpu();
const softplus = (z: number) => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
const bce = (x: number, t: number) => Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));

/** Runs a loss forward on fresh buffers and returns out[0]. */
function lossValue(forward: (x: Buf, t: Buf, out: Buf) => void, x: Float32Array, t: Float32Array): number {
  const xb = toBuf(b, x), tb = toBuf(b, t), out = guardedBuf(b, 1);
  forward(xb, tb, out.buf);
  out.check('loss out');
  const value = out.values()[0];
  freeAll(b, xb, tb, out.buf);
  return value;
}

/** Gradient check of a loss backward with dout = 1.7 (so the dout scaling is checked too). */
function checkLossGrad(label: string, forward: (x: Buf, t: Buf, out: Buf) => void, backward: (x: Buf, t: Buf, dout: Buf, dx: Buf) => void, x: Float32Array, t: Float32Array, eps = 1e-3): void {
  const dout = 1.7;
  const xb = toBuf(b, x), tb = toBuf(b, t), db = toBuf(b, [dout]);
  const dx = guardedBuf(b, x.length);
  backward(xb, tb, db, dx.buf);
  dx.check(`${label} dx`);
  const loss = ([xi]: Float32Array[]) => dout * lossValue(forward, xi, t);
  assertGradcheck(label, loss, [Float32Array.from(x)], [dx.values()], { eps, rtol: 2e-2, atol: 2e-4 });
  freeAll(b, xb, tb, db, dx.buf);
}

test('L1 and MSE: mean over elements, backwards pass gradient checks', () => {
  const x = randomArray(13, 1), t = randomArray(13, 2);
  const n = x.length;
  const l1 = lossValue((xb, tb, o) => b.l1LossForward(xb, tb, o, n), x, t);
  const mse = lossValue((xb, tb, o) => b.mseLossForward(xb, tb, o, n), x, t);
  assertClose([l1], [x.reduce((s, v, i) => s + Math.abs(v - t[i]), 0) / n], 'l1', 1e-6, 0);
  assertClose([mse], [x.reduce((s, v, i) => s + (v - t[i]) ** 2, 0) / n], 'mse', 1e-6, 0);
  checkLossGrad('l1', (xb, tb, o) => b.l1LossForward(xb, tb, o, n), (xb, tb, d, dx) => b.l1LossBackward(xb, tb, d, dx, n), x, t);
  checkLossGrad('mse', (xb, tb, o) => b.mseLossForward(xb, tb, o, n), (xb, tb, d, dx) => b.mseLossBackward(xb, tb, d, dx, n), x, t);
});

test('BCE-with-logits is finite and exact at |x| = 100 and matches log(2) at 0', () => {
  const cases: [number, number, number][] = [
    [100, 0, 100], [-100, 1, 100], [100, 1, 0], [-100, 0, 0], [0, 0.5, Math.LN2], [0, 1, Math.LN2], [2, 1, softplus(-2)],
  ];
  for (const [x, t, expected] of cases) {
    const v = lossValue((xb, tb, o) => b.bceLogitsForward(xb, tb, o, 1), Float32Array.of(x), Float32Array.of(t));
    assert.ok(Number.isFinite(v), `bce(${x}, ${t}) is finite`);
    assertClose([v], [expected], `bce(${x}, ${t})`, 1e-6, 1e-30);
  }
  const xb = toBuf(b, [100, -100, 100]), tb = toBuf(b, [0, 1, 1]), dout = toBuf(b, [1]), dx = zerosBuf(b, 3);
  b.bceLogitsBackward(xb, tb, dout, dx, 3);
  assertClose(fromBuf(b, dx), [1 / 3, -1 / 3, 0], 'bce grads at |x| = 100', 1e-6, 1e-30);
  freeAll(b, xb, tb, dout, dx);
  const x = randomArray(11, 3, -4, 4), t = randomArray(11, 4, 0, 1);
  checkLossGrad('bce', (xb2, tb2, o) => b.bceLogitsForward(xb2, tb2, o, 11), (xb2, tb2, d, dx2) => b.bceLogitsBackward(xb2, tb2, d, dx2, 11), x, t);
});

test('focal loss matches torchvision sigmoid_focal_loss on hard targets and is BCE at gamma 0', () => {
  const x = Float32Array.from([-3, -1, -0.2, 0, 0.4, 1.5, 4, 100, -100]);
  const t = Float32Array.from([0, 1, 1, 0, 1, 0, 1, 0, 1]);
  const n = x.length;
  for (const [alpha, gamma] of [[0.25, 2], [-1, 2], [0.5, 0.5], [-1, 0]]) {
    let expected = 0;
    for (let i = 0; i < n; i++) {
      const p = sigmoid(x[i]), pt = p * t[i] + (1 - p) * (1 - t[i]);
      let l = bce(x[i], t[i]) * (1 - pt) ** gamma;
      if (alpha >= 0) l *= alpha * t[i] + (1 - alpha) * (1 - t[i]);
      expected += l / n;
    }
    const v = lossValue((xb, tb, o) => b.focalLossForward(xb, tb, alpha, gamma, o, n), x, t);
    assertClose([v], [expected], `focal alpha=${alpha} gamma=${gamma}`, 1e-5, 1e-7);
  }
  const bceValue = lossValue((xb, tb, o) => b.bceLogitsForward(xb, tb, o, n), x, t);
  const focal0 = lossValue((xb, tb, o) => b.focalLossForward(xb, tb, -1, 0, o, n), x, t);
  assertClose([focal0], [bceValue], 'focal(gamma=0, no alpha) = bce', 1e-6, 0);
});

test('focal loss backward passes gradient checks, soft targets included', () => {
  const x = randomArray(9, 5, -3, 3), t = Float32Array.from([0, 1, 0.3, 1, 0, 0.8, 1, 0, 0.5]);
  for (const [alpha, gamma] of [[0.25, 2], [-1, 1.5], [0.6, 0]]) {
    checkLossGrad(`focal ${alpha},${gamma}`, (xb, tb, o) => b.focalLossForward(xb, tb, alpha, gamma, o, 9),
      (xb, tb, d, dx) => b.focalLossBackward(xb, tb, alpha, gamma, d, dx, 9), x, t);
  }
});

/** mmdetection's GHMC.forward, transcribed (use_sigmoid, loss_weight 1, no label weights). */
function referenceGhmc(x: Float32Array, t: Float32Array, bins: number, momentum: number, acc: Float64Array) {
  const n = x.length;
  const g = Array.from(x, (v, i) => Math.abs(sigmoid(v) - t[i]));
  const edges = Array.from({ length: bins + 1 }, (_, i) => i / bins);
  edges[bins] += 1e-6;
  const weights = new Float64Array(n);
  let valid = 0;
  for (let i = 0; i < bins; i++) {
    const inds = g.map((v) => v >= edges[i] && v < edges[i + 1]);
    const num = inds.filter(Boolean).length;
    if (num > 0) {
      if (momentum > 0) acc[i] = momentum * acc[i] + (1 - momentum) * num;
      const w = momentum > 0 ? n / acc[i] : n / num;
      inds.forEach((inside, k) => { if (inside) weights[k] = w; });
      valid++;
    }
  }
  for (let k = 0; k < n; k++) weights[k] /= valid;
  const loss = weights.reduce((s, w, k) => s + w * bce(x[k], t[k]), 0) / n;
  return { loss, weights };
}

test('GHM-C matches mmdetection (momentum 0 and 0.75 over two steps); backward passes gradcheck', () => {
  const n = 40, bins = 10;
  const x = randomArray(n, 6, -4, 4), t = Float32Array.from(randomArray(n, 7), (v) => (v > 0 ? 1 : 0));
  for (const momentum of [0, 0.75]) {
    const refAcc = new Float64Array(bins);
    const xb = toBuf(b, x), tb = toBuf(b, t), acc = guardedBuf(b, bins), weights = guardedBuf(b, n), out = zerosBuf(b, 1);
    for (let step = 0; step < 2; step++) {
      const xs = step === 0 ? x : x.map((v) => v * 0.5);
      b.upload(xb, xs);
      const ref = referenceGhmc(xs, t, bins, momentum, refAcc);
      b.ghmcLossForward(xb, tb, bins, momentum, acc.buf, weights.buf, out, n);
      assertClose(fromBuf(b, out), [ref.loss], `ghmc loss momentum=${momentum} step ${step}`, 1e-5, 1e-7);
      assertClose(weights.values(), ref.weights, 'ghmc weights', 1e-5, 1e-7);
    }
    acc.check('ghmc acc');
    weights.check('ghmc weights');
    // The backward treats the weights as constants: d/dx of sum(w * bce) / n.
    const dout = toBuf(b, [1.3]), dx = guardedBuf(b, n);
    b.ghmcLossBackward(xb, tb, weights.buf, dout, dx.buf, n);
    dx.check('ghmc dx');
    const w = weights.values();
    const loss = ([xi]: Float32Array[]) => 1.3 * xi.reduce((s, v, k) => s + w[k] * bce(v, t[k]), 0) / n;
    assertGradcheck('ghmc backward', loss, [fromBuf(b, xb)], [dx.values()], { eps: 1e-3, atol: 1e-5 });
    freeAll(b, xb, tb, acc.buf, weights.buf, out, dout, dx.buf);
  }
});

test('softmax cross-entropy and softmax: stable at large logits; backward passes gradcheck', () => {
  const n = 3, k = 5;
  const logits = Float32Array.from([1, 2, 3, 4, 5, 1000, 0, -1000, 3, 2, -0.5, 0.25, 0, 0.1, 2]);
  const labels = Float32Array.from([4, 0, 1]);
  const expected = { loss: 0, probs: new Float64Array(n * k) };
  for (let r = 0; r < n; r++) {
    const row = Array.from(logits.subarray(r * k, (r + 1) * k));
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    row.forEach((v, j) => (expected.probs[r * k + j] = Math.exp(v - lse)));
    expected.loss += (lse - row[labels[r]]) / n;
  }
  const lb = toBuf(b, logits), yb = toBuf(b, labels), probs = guardedBuf(b, n * k), out = guardedBuf(b, 1);
  b.softmaxXentForward(lb, yb, probs.buf, out.buf, n, k);
  assertClose(out.values(), [expected.loss], 'xent loss', 1e-6, 1e-6);
  assertClose(probs.values(), expected.probs, 'xent probs', 1e-6, 1e-7);
  b.softmaxForward(lb, probs.buf, n, k);
  assertClose(probs.values(), expected.probs, 'softmax', 1e-6, 1e-7);
  probs.check('probs');
  out.check('xent out');
  const small = randomArray(n * k, 8, -2, 2);
  const dout = toBuf(b, [0.7]), dlogits = guardedBuf(b, n * k);
  b.upload(lb, small);
  b.softmaxXentForward(lb, yb, probs.buf, out.buf, n, k);
  b.softmaxXentBackward(probs.buf, yb, dout, dlogits.buf, n, k);
  dlogits.check('dlogits');
  const loss = ([li]: Float32Array[]) => {
    const l = toBuf(b, li), p = zerosBuf(b, n * k), o = zerosBuf(b, 1);
    b.softmaxXentForward(l, yb, p, o, n, k);
    const v = fromBuf(b, o)[0];
    freeAll(b, l, p, o);
    return 0.7 * v;
  };
  assertGradcheck('softmax xent', loss, [small], [dlogits.values()], { eps: 1e-3, atol: 1e-4 });
  freeAll(b, lb, yb, probs.buf, out.buf, dout, dlogits.buf);
});

test('loss bad arguments throw clear errors', () => {
  const buf = b.alloc(10), one = b.alloc(1), none = b.alloc(0);
  assert.throws(() => b.l1LossForward(buf, buf, none, 10), /l1LossForward: out holds 0 floats, needs 1/);
  assert.throws(() => b.mseLossForward(buf, one, one, 10), /mseLossForward: t holds 1 floats, needs 10/);
  assert.throws(() => b.bceLogitsForward(buf, buf, one, 0), /n = 0/);
  assert.throws(() => b.focalLossForward(buf, buf, 0.25, -1, one, 10), /gamma = -1/);
  assert.throws(() => b.ghmcLossForward(buf, buf, 0, 0, buf, buf, one, 10), /bins = 0/);
  assert.throws(() => b.ghmcLossForward(buf, buf, 10, 1, buf, buf, one, 10), /momentum = 1/);
  b.upload(buf, Float32Array.from([0, 1, 2.5, 0, 0, 0, 0, 0, 0, 0]));
  assert.throws(() => b.softmaxXentForward(buf, buf, buf, one, 3, 3), /softmaxXentForward: labels\[2\] = 2.5, expected an integer class in \[0, 3\)/);
  assert.throws(() => b.softmaxXentForward(buf, buf, buf, one, 4, 3), /logits holds 10 floats, needs 12 for \[4,3\]/);
  freeAll(b, buf, one, none);
});
