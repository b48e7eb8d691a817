import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { BYTE_TO_UNIT } from '../../src/data/domain';
import { uninitializedFloat32 } from '../../src/data/loader';
import { hostHelpers } from '../../src/backend/device';
import { chwView, copyBytesToFloat, copyBytesToFloatJs, copyView, cropFlipChw, hwcView } from '../../src/data/ndview';

/** The crop/flip/CHW copy written out index by index, as the reference for the strided loops. */
function naive(bytes: Uint8Array, h: number, w: number, c: number, top: number, left: number, ch: number, cw: number, flip: boolean): Float32Array {
  const out = new Float32Array(c * ch * cw);
  for (let k = 0; k < c; k++) for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) {
    const sx = left + (flip ? cw - 1 - x : x);
    out[(k * ch + y) * cw + x] = BYTE_TO_UNIT[bytes[((top + y) * w + sx) * c + k]];
  }
  return out;
}

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

for (const [name, copy] of [['copyBytesToFloat (native)', copyBytesToFloat], ['copyBytesToFloatJs', copyBytesToFloatJs]] as const) test(`${name} matches the index-by-index crop/flip for odd widths, offsets and 1, 3 or 4 channels`, () => {
  if (name.includes('native')) assert.ok(hostHelpers(), 'the CPU addon is built, so the native path is the one tested');
  let seed = 1;
  for (const channels of [1, 3, 4]) {
    for (const [h, w, ch, cw] of [[9, 13, 9, 13], [10, 17, 6, 5], [8, 8, 8, 8], [7, 11, 3, 1], [12, 23, 5, 7]]) {
      const bytes = randomBytes(h * w * channels, seed++);
      for (const flip of [false, true]) {
        for (const [top, left] of [[0, 0], [h - ch, w - cw], [Math.floor((h - ch) / 2), Math.floor((w - cw) / 3)]]) {
          // Data before and after the image in the batch must survive the copy.
          const out = new Float32Array(channels * ch * cw + 10).fill(7);
          const view = cropFlipChw(hwcView(bytes, h, w, channels), top, left, ch, cw, flip);
          copy(chwView(out, channels, ch, cw, 5), view, BYTE_TO_UNIT);
          const want = naive(bytes, h, w, channels, top, left, ch, cw, flip);
          const what = `${channels}x${h}x${w} crop ${ch}x${cw} at ${top},${left} flip ${flip}`;
          assert.deepEqual(out.subarray(5, 5 + want.length), want, what);
          assert.ok(out.subarray(0, 5).every((v) => v === 7) && out.subarray(5 + want.length).every((v) => v === 7), `${what}: wrote outside its image`);
          // copyView, the generic loop, agrees.
          const generic = new Float32Array(want.length);
          copyView(chwView(generic, channels, ch, cw), view, BYTE_TO_UNIT);
          assert.deepEqual(generic, want, `copyView ${what}`);
        }
      }
    }
  }
});

for (const [name, copy] of [['copyBytesToFloat (native)', copyBytesToFloat], ['copyBytesToFloatJs', copyBytesToFloatJs]] as const) test(`${name} into a strided (non-contiguous) target takes the generic path`, () => {
  const bytes = randomBytes(6 * 10 * 3, 9);
  const view = cropFlipChw(hwcView(bytes, 6, 10, 3), 1, 2, 4, 6, true);
  const wide = new Float32Array(3 * 4 * 12);
  // Every other column of a 3x4x12 array.
  const target = chwView(wide, 3, 4, 12).step(1, 1, 2);
  copy(target, view, BYTE_TO_UNIT);
  const want = naive(bytes, 6, 10, 3, 1, 2, 4, 6, true);
  for (let k = 0; k < 3; k++) for (let y = 0; y < 4; y++) for (let x = 0; x < 6; x++) {
    assert.equal(wide[(k * 4 + y) * 12 + 2 * x], want[(k * 4 + y) * 6 + x]);
    assert.equal(wide[(k * 4 + y) * 12 + 2 * x + 1], 0);
  }
  assert.throws(() => copy(chwView(new Float32Array(3 * 16), 3, 4, 4), view, BYTE_TO_UNIT), /shapes differ/);
});

test('hostBytesToFloat checks every index of both views and the argument types', () => {
  const native = hostHelpers()!;
  const src = new Uint8Array(24), dst = new Float32Array(24), table = new Float32Array(256);
  native.hostBytesToFloat(src, 0, [12, 4, 1], [2, 3, 4], dst, 0, [12, 4, 1], table);
  assert.throws(() => native.hostBytesToFloat(src, 1, [12, 4, 1], [2, 3, 4], dst, 0, [12, 4, 1], table), /src view reaches index 24, outside its 24 elements/);
  assert.throws(() => native.hostBytesToFloat(src, 0, [12, 4, 1], [2, 3, 4], dst, 0, [12, 4, -1], table), /dst view reaches index -3, outside its 24 elements/);
  assert.throws(() => native.hostBytesToFloat(src, 0, [12, 4], [2, 3, 4], dst, 0, [12, 4, 1], table), /srcStrides must be an array of 3 integers/);
  assert.throws(() => native.hostBytesToFloat(src, 0, [12, 4, 1], [2, -3, 4], dst, 0, [12, 4, 1], table), /shape\[1\] must be a non-negative integer/);
  assert.throws(() => native.hostBytesToFloat(dst as unknown as Uint8Array, 0, [12, 4, 1], [2, 3, 4], dst, 0, [12, 4, 1], table), /src must be a Uint8Array/);
  assert.throws(() => native.hostBytesToFloat(src, 0, [12, 4, 1], [2, 3, 4], dst, 0, [12, 4, 1], new Float32Array(10)), /table must be a Float32Array of 256 values/);
  // A mirrored view starting at its last column stays inside.
  native.hostBytesToFloat(src, 3, [12, 4, -1], [2, 3, 4], dst, 0, [12, 4, 1], table);
});

test('uninitializedFloat32 owns a whole buffer of the right size', () => {
  const a = uninitializedFloat32(1000);
  assert.equal(a.length, 1000);
  assert.equal(a.byteOffset, 0);
  assert.equal(a.buffer.byteLength, 4000);
  a.fill(1);
  const b = uninitializedFloat32(1000);
  assert.notEqual(a.buffer, b.buffer);
});
