/**
 * Elementwise and activation kernels: values against closed forms, gradients against finite
 * differences, every SIMD level against scalar, and out-of-bounds writes caught by guards.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertClose, cpu, freeAll, fromBuf, guardedBuf, randomArray, simdLevels, toBuf, zerosBuf } from '../util/native';
import { assertGradcheck, weightedSum } from '../util/gradcheck';

const b = cpu();
// Odd sizes exercise the scalar tails after 8- and 16-wide vector loops.
const SIZES = [1, 7, 17, 33, 100];

function unaryForward(name: 'reluForward' | 'tanhForward' | 'sigmoidForward', x: Float32Array): Float32Array {
  const xb = toBuf(b, x);
  const yb = zerosBuf(b, x.length);
  b[name](xb, yb, x.length);
  const y = fromBuf(b, yb);
  freeAll(b, xb, yb);
  return y;
}

test('add, sub, mul, affine, axpy, scaleBy, fill and copy match plain arithmetic', () => {
  for (const n of SIZES) {
    const a = randomArray(n, 1), c = randomArray(n, 2);
    const ab = toBuf(b, a), cb = toBuf(b, c);
    const y = guardedBuf(b, n);
    const expect = (f: (i: number) => number) => Float32Array.from({ length: n }, (_, i) => f(i));
    b.add(ab, cb, y.buf, n);
    assertClose(y.values(), expect((i) => a[i] + c[i]), `add n=${n}`, 0, 0);
    b.sub(ab, cb, y.buf, n);
    assertClose(y.values(), expect((i) => a[i] - c[i]), `sub n=${n}`, 0, 0);
    b.mul(ab, cb, y.buf, n);
    assertClose(y.values(), expect((i) => Math.fround(a[i] * c[i])), `mul n=${n}`, 0, 0);
    b.affine(ab, 2.5, -1, y.buf, n);
    assertClose(y.values(), expect((i) => 2.5 * a[i] - 1), `affine n=${n}`, 1e-6, 1e-6);
    b.copy(y.buf, 0, cb, 0, n);
    b.axpy(-0.5, ab, y.buf, n);
    assertClose(y.values(), expect((i) => c[i] - 0.5 * a[i]), `axpy n=${n}`, 1e-6, 1e-6);
    const alpha = toBuf(b, [3]);
    b.scaleBy(ab, alpha, y.buf, n);
    assertClose(y.values(), expect((i) => 3 * a[i]), `scaleBy n=${n}`, 1e-6, 0);
    b.fill(y.buf, 0.25, n);
    assertClose(y.values(), new Float32Array(n).fill(0.25), `fill n=${n}`, 0, 0);
    y.check(`elementwise n=${n}`);
    freeAll(b, ab, cb, alpha, y.buf);
  }
});

test('copy honours offsets and tolerates overlapping ranges of one buffer', () => {
  const data = Float32Array.from({ length: 10 }, (_, i) => i);
  const buf = toBuf(b, data);
  b.copy(buf, 2, buf, 0, 6); // overlapping forward move
  assert.deepEqual(Array.from(fromBuf(b, buf)), [0, 1, 0, 1, 2, 3, 4, 5, 8, 9]);
  b.free(buf);
});

test('activations match their definitions (PyTorch semantics)', () => {
  const x = Float32Array.from([-100, -20, -3, -1, -0.5, -1e-4, 0, 1e-4, 0.3, 0.62, 0.63, 1, 3, 20, 100, 5, -7]);
  const relu = unaryForward('reluForward', x);
  const tanh = unaryForward('tanhForward', x);
  const sigmoid = unaryForward('sigmoidForward', x);
  assertClose(relu, x.map((v) => Math.max(v, 0)), 'relu', 0, 0);
  assertClose(tanh, x.map((v) => Math.tanh(v)), 'tanh', 2e-6, 1e-7);
  assertClose(sigmoid, x.map((v) => 1 / (1 + Math.exp(-v))), 'sigmoid', 2e-6, 1e-7);
  assert.ok(tanh.every((v) => Number.isFinite(v)) && sigmoid.every((v) => Number.isFinite(v)), 'saturated inputs stay finite');
  const xb = toBuf(b, x), yb = zerosBuf(b, x.length);
  b.leakyReluForward(xb, 0.2, yb, x.length);
  assertClose(fromBuf(b, yb), x.map((v) => (v > 0 ? v : 0.2 * v)), 'leaky relu', 1e-7, 0);
  freeAll(b, xb, yb);
});

test('activation backwards pass finite-difference gradient checks', () => {
  // Away from the kink at 0, where relu's derivative is undefined.
  const x = randomArray(23, 5, -2, 2).map((v) => (Math.abs(v) < 0.05 ? v + 0.1 : v));
  const weights = randomArray(23, 6);
  const n = x.length;
  const cases: { name: string; forward: (xb: ReturnType<typeof toBuf>, yb: ReturnType<typeof toBuf>) => void; backward: (xb: ReturnType<typeof toBuf>, yb: ReturnType<typeof toBuf>, dyb: ReturnType<typeof toBuf>, dxb: ReturnType<typeof toBuf>) => void }[] = [
    { name: 'relu', forward: (xb, yb) => b.reluForward(xb, yb, n), backward: (xb, _yb, dyb, dxb) => b.reluBackward(xb, dyb, dxb, n) },
    {
      name: 'leaky relu',
      forward: (xb, yb) => b.leakyReluForward(xb, 0.2, yb, n),
      backward: (xb, _yb, dyb, dxb) => b.leakyReluBackward(xb, 0.2, dyb, dxb, n),
    },
    { name: 'tanh', forward: (xb, yb) => b.tanhForward(xb, yb, n), backward: (_xb, yb, dyb, dxb) => b.tanhBackward(yb, dyb, dxb, n) },
    {
      name: 'sigmoid',
      forward: (xb, yb) => b.sigmoidForward(xb, yb, n),
      backward: (_xb, yb, dyb, dxb) => b.sigmoidBackward(yb, dyb, dxb, n),
    },
  ];
  for (const c of cases) {
    const loss = ([input]: Float32Array[]) => {
      const xb = toBuf(b, input), yb = zerosBuf(b, n);
      c.forward(xb, yb);
      const y = fromBuf(b, yb);
      freeAll(b, xb, yb);
      return weightedSum(y, weights);
    };
    const xb = toBuf(b, x), yb = zerosBuf(b, n), dyb = toBuf(b, weights);
    const dx = guardedBuf(b, n);
    c.forward(xb, yb);
    c.backward(xb, yb, dyb, dx.buf);
    dx.check(`${c.name} backward`);
    assertGradcheck(`${c.name} backward`, loss, [Float32Array.from(x)], [dx.values()], { eps: 1e-3 });
    freeAll(b, xb, yb, dyb, dx.buf);
  }
});

test('every SIMD level gives the scalar results', () => {
  const levels = simdLevels(b);
  const n = 1000 + 13;
  const x = randomArray(n, 9, -6, 6), c = randomArray(n, 10);
  const run = (): Float32Array[] => {
    const xb = toBuf(b, x), cb = toBuf(b, c), yb = zerosBuf(b, n);
    const outs: Float32Array[] = [];
    const take = () => outs.push(fromBuf(b, yb));
    b.add(xb, cb, yb, n); take();
    b.mul(xb, cb, yb, n); take();
    b.affine(xb, 0.5, 2, yb, n); take();
    b.reluForward(xb, yb, n); take();
    b.leakyReluBackward(xb, 0.1, cb, yb, n); take();
    b.tanhForward(xb, yb, n); take();
    b.sigmoidForward(xb, yb, n); take();
    b.tanhBackward(cb, xb, yb, n); take();
    b.sigmoidBackward(cb, xb, yb, n); take();
    freeAll(b, xb, cb, yb);
    return outs;
  };
  b.setSimd(0);
  const reference = run();
  try {
    for (const level of levels) {
      b.setSimd(level);
      assert.equal(b.simdLevel(), level);
      const outs = run();
      outs.forEach((out, k) => assertClose(out, reference[k], `simd level ${level}, op ${k}`, 3e-6, 1e-7));
    }
  } finally {
    b.setSimd(-1);
  }
});

test('dropout: counter-based mask reproducible from (seed, index), inverted scaling, rate close to p', () => {
  const n = 20000;
  const x = randomArray(n, 11);
  const xb = toBuf(b, x), mask = zerosBuf(b, n), yb = zerosBuf(b, n);
  b.dropoutForward(xb, 0.3, 1234, mask, yb, n);
  const m1 = fromBuf(b, mask), y = fromBuf(b, yb);
  const scale = Math.fround(1 / Math.fround(1 - Math.fround(0.3)));
  let dropped = 0;
  for (let i = 0; i < n; i++) {
    assert.ok(m1[i] === 0 || m1[i] === scale, `mask[${i}] = ${m1[i]}`);
    if (m1[i] === 0) dropped++;
    assert.equal(y[i], Math.fround(x[i] * m1[i]));
  }
  assert.ok(Math.abs(dropped / n - 0.3) < 0.015, `drop rate ${dropped / n}`);
  // The same seed gives the same mask; the mask of element i does not depend on n.
  b.dropoutForward(xb, 0.3, 1234, mask, yb, 100);
  assert.deepEqual(Array.from(fromBuf(b, mask, 100)), Array.from(m1.subarray(0, 100)));
  b.dropoutForward(xb, 0.3, 1235, mask, yb, n);
  assert.notDeepEqual(Array.from(fromBuf(b, mask)), Array.from(m1));
  freeAll(b, xb, mask, yb);
});

test('dropout mask matches a JS transcription of the documented splitmix64 formula', () => {
  const seed = 987654321n;
  const mask64 = (1n << 64n) - 1n;
  const bits = (i: bigint): number => {
    let z = (seed + (i + 1n) * 0x9e3779b97f4a7c15n) & mask64;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & mask64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & mask64;
    z = z ^ (z >> 31n);
    return Number(z >> 40n);
  };
  const n = 64, p = 0.5;
  const xb = toBuf(b, new Float32Array(n).fill(1)), mask = zerosBuf(b, n), yb = zerosBuf(b, n);
  b.dropoutForward(xb, p, Number(seed), mask, yb, n);
  const m = fromBuf(b, mask);
  for (let i = 0; i < n; i++) assert.equal(m[i], bits(BigInt(i)) >= p * 2 ** 24 ? 2 : 0, `element ${i}`);
  freeAll(b, xb, mask, yb);
});

test('bad arguments throw errors naming the function and argument', () => {
  const small = b.alloc(4), big = b.alloc(64);
  assert.throws(() => b.add(small, big, big, 10), /cgtrain cpu: add: a holds 4 floats, needs 10/);
  assert.throws(() => b.reluForward(big, small, 10), /reluForward: y holds 4 floats, needs 10/);
  assert.throws(() => b.fill(big, 0, -1), /fill: n = -1, expected a non-negative integer/);
  assert.throws(() => b.fill(big, 0, 2.5), /fill: n = 2.5/);
  assert.throws(() => (b.axpy as (...a: unknown[]) => void)('2', big, big, 4), /axpy: alpha must be a number, got a string/);
  assert.throws(() => (b.fill as (...a: unknown[]) => void)(new Float32Array(4), 0, 4), /fill: y must be a buffer from alloc\(\)/);
  assert.throws(() => (b.fill as (...a: unknown[]) => void)(big, 'zero', 4), /fill: value must be a number/);
  assert.throws(() => b.copy(big, 60, small, 0, 8), /copy: dst holds 64 floats, needs 68/);
  assert.throws(() => b.dropoutForward(big, 1, 0, big, big, 4), /dropoutForward: p = 1, expected a number in \[0, 1\)/);
  assert.throws(() => b.dropoutForward(big, 0.5, -1, big, big, 4), /seed = -1/);
  const alpha = b.alloc(0);
  assert.throws(() => b.scaleBy(big, alpha, big, 4), /scaleBy: alpha holds 0 floats, needs 1/);
  freeAll(b, small, big, alpha);
});
