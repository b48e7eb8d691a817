/**
 * Linear (fully connected) kernels of the CPU backend: forward against a TypeScript loop,
 * every SIMD level, finite-difference gradients of x, w and bias, sentinels and bad shapes.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { Binding } from '../../src/backend/binding';
import { assertClose, cpu, freeAll, guardedBuf, randomArray, simdLevels, toBuf } from '../util/native';
import { assertGradcheck, weightedSum } from '../util/gradcheck';

function linearReference(x: Float32Array, w: Float32Array, bias: Float32Array | null, n: number, inF: number, outF: number): Float64Array {
  const y = new Float64Array(n * outF);
  for (let i = 0; i < n; i++)
    for (let o = 0; o < outF; o++) {
      let s = bias ? bias[o] : 0;
      for (let k = 0; k < inF; k++) s += x[i * inF + k] * w[o * inF + k];
      y[i * outF + o] = s;
    }
  return y;
}

function forward(b: Binding, x: Float32Array, w: Float32Array, bias: Float32Array | null, n: number, inF: number, outF: number): Float32Array {
  const xb = toBuf(b, x);
  const wb = toBuf(b, w);
  const bb = bias ? toBuf(b, bias) : null;
  const y = guardedBuf(b, n * outF);
  b.fill(y.buf, Number.NaN, n * outF);
  try {
    b.linearForward(xb, wb, bb, y.buf, n, inF, outF);
    y.check('linearForward y');
    return y.values();
  } finally {
    freeAll(b, xb, wb, bb, y.buf);
  }
}

function backward(b: Binding, x: Float32Array, w: Float32Array, g: Float32Array, n: number, inF: number, outF: number) {
  const xb = toBuf(b, x);
  const wb = toBuf(b, w);
  const gb = toBuf(b, g);
  const dx = guardedBuf(b, n * inF);
  const dw = guardedBuf(b, outF * inF);
  const db = guardedBuf(b, outF);
  for (const out of [dx, dw, db]) b.fill(out.buf, Number.NaN, out.n);
  try {
    b.linearBackwardData(gb, wb, dx.buf, n, inF, outF);
    b.linearBackwardWeight(xb, gb, dw.buf, db.buf, n, inF, outF);
    dx.check('linearBackwardData dx');
    dw.check('linearBackwardWeight dw');
    db.check('linearBackwardWeight db');
    return { dx: dx.values(), dw: dw.values(), db: db.values() };
  } finally {
    freeAll(b, xb, wb, gb, dx.buf, dw.buf, db.buf);
  }
}

const shapes: [number, number, number][] = [
  [1, 1, 1],
  [3, 7, 5],
  [17, 33, 10],
  [64, 128, 49],
  [5, 300, 3],
];

test('linear forward matches the definition at every SIMD level', () => {
  const b = cpu();
  try {
    for (const [n, inF, outF] of shapes) {
      const x = randomArray(n * inF, 1);
      const w = randomArray(outF * inF, 2);
      const bias = randomArray(outF, 3);
      for (const level of simdLevels(b)) {
        b.setSimd(level);
        const label = `linear n${n} in${inF} out${outF} simd ${level}`;
        assertClose(forward(b, x, w, bias, n, inF, outF), linearReference(x, w, bias, n, inF, outF), label, 1e-4, 1e-4);
        assertClose(forward(b, x, w, null, n, inF, outF), linearReference(x, w, null, n, inF, outF), `${label} no bias`, 1e-4, 1e-4);
      }
    }
  } finally {
    b.setSimd(-1);
  }
});

test('linear backward matches the definition at every SIMD level', () => {
  const b = cpu();
  try {
    for (const [n, inF, outF] of shapes) {
      const x = randomArray(n * inF, 4);
      const w = randomArray(outF * inF, 5);
      const g = randomArray(n * outF, 6);
      const dx = new Float64Array(n * inF);
      const dw = new Float64Array(outF * inF);
      const db = new Float64Array(outF);
      for (let i = 0; i < n; i++)
        for (let o = 0; o < outF; o++) {
          const gv = g[i * outF + o];
          db[o] += gv;
          for (let k = 0; k < inF; k++) {
            dx[i * inF + k] += gv * w[o * inF + k];
            dw[o * inF + k] += gv * x[i * inF + k];
          }
        }
      for (const level of simdLevels(b)) {
        b.setSimd(level);
        const got = backward(b, x, w, g, n, inF, outF);
        const label = `linear n${n} in${inF} out${outF} simd ${level}`;
        assertClose(got.dx, dx, `${label} dx`, 1e-4, 1e-4);
        assertClose(got.dw, dw, `${label} dw`, 1e-4, 1e-4);
        assertClose(got.db, db, `${label} db`, 1e-4, 1e-4);
      }
    }
  } finally {
    b.setSimd(-1);
  }
});

test('linear gradients match finite differences', () => {
  const b = cpu();
  const [n, inF, outF] = [4, 9, 6];
  const x = randomArray(n * inF, 7);
  const w = randomArray(outF * inF, 8);
  const bias = randomArray(outF, 9);
  const g = randomArray(n * outF, 10);
  const { dx, dw, db } = backward(b, x, w, g, n, inF, outF);
  const loss = ([xi, wi, bi]: Float32Array[]) => weightedSum(forward(b, xi, wi, bi, n, inF, outF), g);
  assertGradcheck('linear', loss, [x, w, bias], [dx, dw, db]);
});

test('linear backward weight accepts a null bias gradient', () => {
  const b = cpu();
  const [n, inF, outF] = [2, 3, 2];
  const xs = randomArray(n * inF, 1);
  const gs = randomArray(n * outF, 2);
  const expected = new Float64Array(outF * inF);
  for (let i = 0; i < n; i++) for (let o = 0; o < outF; o++) for (let k = 0; k < inF; k++) expected[o * inF + k] += gs[i * outF + o] * xs[i * inF + k];
  const x = toBuf(b, xs);
  const g = toBuf(b, gs);
  const dw = guardedBuf(b, outF * inF);
  try {
    b.linearBackwardWeight(x, g, dw.buf, null, n, inF, outF);
    dw.check('dw');
    assertClose(dw.values(), expected, 'dw without db', 1e-5, 1e-6);
  } finally {
    freeAll(b, x, g, dw.buf);
  }
});

test('bad linear shapes are rejected with a message naming the argument', () => {
  const b = cpu();
  const x = toBuf(b, randomArray(12, 1));
  const w = toBuf(b, randomArray(8, 2));
  const y = toBuf(b, new Float32Array(6));
  try {
    assert.throws(() => b.linearForward(x, w, null, y, 3, 5, 2), /cgtrain cpu: linearForward/);
    assert.throws(() => b.linearForward(x, w, null, y, 0, 4, 2), /linearForward/);
    assert.throws(() => b.linearBackwardData(y, w, x, 3, 4, 3), /linearBackwardData/);
  } finally {
    freeAll(b, x, w, y);
  }
});
