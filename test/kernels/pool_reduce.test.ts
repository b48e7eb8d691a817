/**
 * Max pooling, global average pooling, sum and mean: values against a JS reference (padding
 * never wins a max), gradients against finite differences, guarded writes, clear errors.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { assertClose, cpu, freeAll, fromBuf, guardedBuf, randomArray, toBuf, zerosBuf } from '../util/native';
import { assertGradcheck, weightedSum } from '../util/gradcheck';

const b = cpu();

function referenceMaxPool(x: Float32Array, nc: number, h: number, w: number, k: number, s: number, p: number) {
  const hOut = Math.floor((h + 2 * p - k) / s) + 1, wOut = Math.floor((w + 2 * p - k) / s) + 1;
  const y = new Float32Array(nc * hOut * wOut), arg = new Float32Array(y.length);
  for (let c = 0; c < nc; c++) {
    for (let oy = 0; oy < hOut; oy++) {
      for (let ox = 0; ox < wOut; ox++) {
        let best = -Infinity, bestIdx = -1;
        for (let ky = 0; ky < k; ky++) {
          for (let kx = 0; kx < k; kx++) {
            const iy = oy * s - p + ky, ix = ox * s - p + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            const v = x[c * h * w + iy * w + ix];
            if (v > best) { best = v; bestIdx = iy * w + ix; }
          }
        }
        y[(c * hOut + oy) * wOut + ox] = best;
        arg[(c * hOut + oy) * wOut + ox] = bestIdx;
      }
    }
  }
  return { y, arg, hOut, wOut };
}

test('max pool forward matches the reference; padding never wins; backward passes gradcheck', () => {
  for (const [nc, h, w, k, s, p] of [[2, 5, 7, 2, 2, 0], [3, 6, 5, 3, 2, 1], [1, 4, 4, 3, 1, 1]]) {
    // All negative inputs: a zero from padding would win if padding took part.
    const x = randomArray(nc * h * w, nc * h + w, -3, -0.5);
    const ref = referenceMaxPool(x, nc, h, w, k, s, p);
    const xb = toBuf(b, x);
    const y = guardedBuf(b, ref.y.length), arg = guardedBuf(b, ref.y.length);
    b.maxPool2dForward(xb, y.buf, arg.buf, nc, h, w, k, s, p, ref.hOut, ref.wOut);
    y.check('max pool y');
    arg.check('max pool argmax');
    assertClose(y.values(), ref.y, `max pool ${[nc, h, w, k, s, p]}`, 0, 0);
    assertClose(arg.values(), ref.arg, 'argmax', 0, 0);
    const weights = randomArray(ref.y.length, 3);
    const dyb = toBuf(b, weights), dx = guardedBuf(b, x.length);
    b.maxPool2dBackward(dyb, arg.buf, dx.buf, nc, h, w, ref.hOut, ref.wOut);
    dx.check('max pool dx');
    const loss = ([xi]: Float32Array[]) => {
      const xi_b = toBuf(b, xi), yb = zerosBuf(b, ref.y.length), ab = zerosBuf(b, ref.y.length);
      b.maxPool2dForward(xi_b, yb, ab, nc, h, w, k, s, p, ref.hOut, ref.wOut);
      const out = fromBuf(b, yb);
      freeAll(b, xi_b, yb, ab);
      return weightedSum(out, weights);
    };
    assertGradcheck('max pool', loss, [x], [dx.values()], { eps: 1e-3 });
    freeAll(b, xb, y.buf, arg.buf, dyb, dx.buf);
  }
});

test('max pool backward rejects argmax values that are not plane indices', () => {
  const dy = toBuf(b, [1, 1]), arg = toBuf(b, [0, 99]), dx = zerosBuf(b, 16);
  assert.throws(() => b.maxPool2dBackward(dy, arg, dx, 1, 4, 4, 1, 2), /maxPool2dBackward: argmax\[1\] = 99 is not an index into a 4x4 plane/);
  freeAll(b, dy, arg, dx);
});

test('global average pool and its backward', () => {
  const nc = 3, hw = 11;
  const x = randomArray(nc * hw, 4);
  const xb = toBuf(b, x), y = guardedBuf(b, nc);
  b.globalAvgPoolForward(xb, y.buf, nc, hw);
  y.check('gap y');
  const expected = Array.from({ length: nc }, (_, c) => x.subarray(c * hw, (c + 1) * hw).reduce((s, v) => s + v, 0) / hw);
  assertClose(y.values(), expected, 'global avg pool', 1e-6, 1e-7);
  const weights = randomArray(nc, 5);
  const dyb = toBuf(b, weights), dx = guardedBuf(b, nc * hw);
  b.globalAvgPoolBackward(dyb, dx.buf, nc, hw);
  dx.check('gap dx');
  const loss = ([xi]: Float32Array[]) => {
    const xi_b = toBuf(b, xi), yb = zerosBuf(b, nc);
    b.globalAvgPoolForward(xi_b, yb, nc, hw);
    const out = fromBuf(b, yb);
    freeAll(b, xi_b, yb);
    return weightedSum(out, weights);
  };
  assertGradcheck('global avg pool', loss, [x], [dx.values()]);
  freeAll(b, xb, y.buf, dyb, dx.buf);
});

test('sum and mean reduce in double precision; backwards broadcast dout', () => {
  // 1e6 copies of 0.1 plus one 1e4: a float running sum would drift visibly.
  const n = 1_000_001;
  const x = new Float32Array(n).fill(0.1);
  x[0] = 1e4;
  const xb = toBuf(b, x), out = guardedBuf(b, 1);
  b.sum(xb, out.buf, n);
  const exact = 1e4 + (n - 1) * Math.fround(0.1);
  assertClose(out.values(), [exact], 'sum', 1e-7, 0);
  b.mean(xb, out.buf, n);
  assertClose(out.values(), [exact / n], 'mean', 1e-7, 0);
  out.check('sum out');
  const dout = toBuf(b, [2.5]), dx = guardedBuf(b, 5);
  b.sumBackward(dout, dx.buf, 5);
  assertClose(dx.values(), new Float32Array(5).fill(2.5), 'sum backward', 0, 0);
  b.meanBackward(dout, dx.buf, 5);
  assertClose(dx.values(), new Float32Array(5).fill(0.5), 'mean backward', 0, 0);
  dx.check('sum backward dx');
  assert.throws(() => b.mean(xb, out.buf, 0), /mean: n = 0/);
  assert.throws(() => b.sum(xb, out.buf, n + 1), /sum: x holds 1000001 floats, needs 1000002/);
  freeAll(b, xb, out.buf, dout, dx.buf);
});

test('pooling bad arguments throw clear errors', () => {
  const buf = b.alloc(100);
  assert.throws(() => b.maxPool2dForward(buf, buf, buf, 1, 4, 4, 2, 2, 0, 3, 2), /maxPool2dForward: hOut x wOut = 3x2, but the input 4x4 gives 2x2/);
  assert.throws(() => b.maxPool2dForward(buf, buf, buf, 1, 4, 4, 2, 2, 2, 4, 4), /padding 2 must be at most half the kernel size 2/);
  assert.throws(() => b.globalAvgPoolForward(buf, buf, 2, 0), /hw = 0, expected an integer >= 1/);
  b.free(buf);
});
