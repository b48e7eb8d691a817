/**
 * Padding, upsampling and channel concat/split: values against PyTorch's documented outputs
 * and a JS reference, backwards against finite differences, writes guarded.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { Buf } from '../../src/backend/binding';
import { assertClose, cpu, freeAll, fromBuf, guardedBuf, randomArray, toBuf, zerosBuf } from '../util/native';
import { assertGradcheck, weightedSum } from '../util/gradcheck';

const b = cpu();

/** Runs forward on a fresh input and returns sum(weights * output): the loss gradcheck needs. */
function projectedLoss(forward: (x: Buf, y: Buf) => void, outSize: number, weights: Float32Array) {
  return ([x]: Float32Array[]): number => {
    const xb = toBuf(b, x), yb = zerosBuf(b, outSize);
    forward(xb, yb);
    const y = fromBuf(b, yb);
    freeAll(b, xb, yb);
    return weightedSum(y, weights);
  };
}

/** Forward + backward of a layout op checked by finite differences, with guarded outputs. */
function checkOp(label: string, inSize: number, outSize: number, forward: (x: Buf, y: Buf) => void, backward: (dy: Buf, dx: Buf) => void): void {
  const x = randomArray(inSize, inSize + 1);
  const weights = randomArray(outSize, outSize + 2);
  const xb = toBuf(b, x);
  const y = guardedBuf(b, outSize);
  forward(xb, y.buf);
  y.check(`${label} forward`);
  const dyb = toBuf(b, weights);
  const dx = guardedBuf(b, inSize);
  backward(dyb, dx.buf);
  dx.check(`${label} backward`);
  assertGradcheck(label, projectedLoss(forward, outSize, weights), [x], [dx.values()], { maxPerInput: 60 });
  freeAll(b, xb, y.buf, dyb, dx.buf);
}

test('reflection pad matches torch.nn.ReflectionPad2d documentation examples', () => {
  const x = toBuf(b, Float32Array.from({ length: 9 }, (_, i) => i));
  const y = zerosBuf(b, 49);
  b.reflectionPadForward(x, y, 1, 3, 3, 2, 2, 2, 2);
  assert.deepEqual(Array.from(fromBuf(b, y)), [
    8, 7, 6, 7, 8, 7, 6, 5, 4, 3, 4, 5, 4, 3, 2, 1, 0, 1, 2, 1, 0, 5, 4, 3, 4, 5, 4, 3, 8, 7, 6, 7, 8, 7, 6, 5, 4, 3, 4, 5,
    4, 3, 2, 1, 0, 1, 2, 1, 0,
  ]);
  // ReflectionPad2d((left 1, right 1, top 2, bottom 0))
  b.reflectionPadForward(x, y, 1, 3, 3, 2, 0, 1, 1);
  assert.deepEqual(Array.from(fromBuf(b, y, 25)), [7, 6, 7, 8, 7, 4, 3, 4, 5, 4, 1, 0, 1, 2, 1, 4, 3, 4, 5, 4, 7, 6, 7, 8, 7]);
  freeAll(b, x, y);
});

test('zero pad places the input and zeros around it', () => {
  const x = toBuf(b, [1, 2, 3, 4]);
  const y = zerosBuf(b, 4 * 5);
  b.zeroPadForward(x, y, 1, 2, 2, 1, 1, 2, 1);
  assert.deepEqual(Array.from(fromBuf(b, y)), [0, 0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 3, 4, 0, 0, 0, 0, 0, 0]);
  freeAll(b, x, y);
});

test('pad backwards pass gradient checks (odd sizes, several planes)', () => {
  const nc = 3, h = 5, w = 4;
  for (const [top, bottom, left, right] of [[1, 1, 1, 1], [3, 0, 2, 3], [0, 2, 0, 1]]) {
    const out = nc * (h + top + bottom) * (w + left + right);
    checkOp(`reflection pad ${[top, bottom, left, right]}`, nc * h * w, out,
      (x, y) => b.reflectionPadForward(x, y, nc, h, w, top, bottom, left, right),
      (dy, dx) => b.reflectionPadBackward(dy, dx, nc, h, w, top, bottom, left, right));
    checkOp(`zero pad ${[top, bottom, left, right]}`, nc * h * w, out,
      (x, y) => b.zeroPadForward(x, y, nc, h, w, top, bottom, left, right),
      (dy, dx) => b.zeroPadBackward(dy, dx, nc, h, w, top, bottom, left, right));
  }
});

test('nearest 2x upsampling repeats each pixel into a 2x2 block; backward sums the block', () => {
  const x = toBuf(b, [1, 2, 3, 4, 5, 6]);
  const y = zerosBuf(b, 24);
  b.upsampleNearest2xForward(x, y, 1, 2, 3);
  assert.deepEqual(Array.from(fromBuf(b, y)), [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6]);
  freeAll(b, x, y);
  const nc = 2, h = 3, w = 5;
  checkOp('upsample', nc * h * w, nc * 4 * h * w, (x2, y2) => b.upsampleNearest2xForward(x2, y2, nc, h, w),
    (dy, dx) => b.upsampleNearest2xBackward(dy, dx, nc, h, w));
});

test('concat and split channels are inverses and place channels per batch item', () => {
  const n = 2, ca = 2, cb = 3, hw = 5;
  const a = randomArray(n * ca * hw, 1), c = randomArray(n * cb * hw, 2);
  const ab = toBuf(b, a), cbuf = toBuf(b, c);
  const y = guardedBuf(b, n * (ca + cb) * hw);
  b.concatChannels(ab, cbuf, y.buf, n, ca, cb, hw);
  y.check('concat');
  const out = y.values();
  for (let i = 0; i < n; i++) {
    assertClose(out.subarray(i * (ca + cb) * hw, i * (ca + cb) * hw + ca * hw), a.subarray(i * ca * hw, (i + 1) * ca * hw), 'a part', 0, 0);
    assertClose(out.subarray(i * (ca + cb) * hw + ca * hw, (i + 1) * (ca + cb) * hw), c.subarray(i * cb * hw, (i + 1) * cb * hw), 'b part', 0, 0);
  }
  const a2 = guardedBuf(b, a.length), c2 = guardedBuf(b, c.length);
  b.splitChannels(y.buf, a2.buf, c2.buf, n, ca, cb, hw);
  a2.check('split a');
  c2.check('split b');
  assertClose(a2.values(), a, 'split a', 0, 0);
  assertClose(c2.values(), c, 'split b', 0, 0);
  freeAll(b, ab, cbuf, y.buf, a2.buf, c2.buf);
});

test('layout bad arguments throw clear errors', () => {
  const buf = b.alloc(100);
  assert.throws(() => b.reflectionPadForward(buf, buf, 1, 3, 3, 3, 0, 0, 0), /reflectionPadForward: reflection padding .* must be smaller than the input size 3x3/);
  assert.throws(() => b.zeroPadForward(buf, buf, 2, 6, 6, 1, 1, 1, 1), /zeroPadForward: x holds 100 floats, needs 72|y holds 100 floats, needs 128 for \[2,8,8\]/);
  assert.throws(() => b.upsampleNearest2xForward(buf, buf, 1, 5, 6), /upsampleNearest2xForward: y holds 100 floats, needs 120 for \[1,10,12\]/);
  assert.throws(() => b.concatChannels(buf, buf, buf, 2, 3, 4, 10), /concatChannels: y holds 100 floats, needs 140 for \[2,7,10\]/);
  assert.throws(() => b.zeroPadForward(buf, buf, 1, 2, 2, -1, 0, 0, 0), /top = -1/);
  b.free(buf);
});
