/**
 * conv2d and conv-transpose2d kernels of the CPU backend: forward against a plain TypeScript
 * loop of the definition, every SIMD level against that reference, finite-difference gradients
 * of data, weight and bias, PyTorch's output-size rule of conv-transpose2d, out-of-bounds
 * sentinels and the errors for bad shapes.
 */
import { test, type TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { convParamsOf, packConv, type Binding, type Buf, type ConvParams, type PackedConv } from '../../src/backend/binding';
import { packageRoot } from '../../src/backend/device';
import { assertClose, cpu, freeAll, fromBuf, guardedBuf, randomArray, simdLevels, toBuf } from '../util/native';
import { assertGradcheck, weightedSum } from '../util/gradcheck';

interface ConvCase {
  n: number;
  cIn: number;
  hIn: number;
  wIn: number;
  cOut: number;
  kh: number;
  kw: number;
  s: number;
  p: number;
  op?: number;
}

function conv2dParams(c: ConvCase): ConvParams {
  const hOut = Math.floor((c.hIn + 2 * c.p - c.kh) / c.s) + 1;
  const wOut = Math.floor((c.wIn + 2 * c.p - c.kw) / c.s) + 1;
  return { n: c.n, cIn: c.cIn, hIn: c.hIn, wIn: c.wIn, cOut: c.cOut, hOut, wOut, kh: c.kh, kw: c.kw, sh: c.s, sw: c.s, ph: c.p, pw: c.p, oph: 0, opw: 0 };
}

/** PyTorch's ConvTranspose2d output size: (in - 1) * stride - 2 * padding + kernel + output_padding. */
function convTransposeOut(size: number, k: number, s: number, p: number, op: number): number {
  return (size - 1) * s - 2 * p + k + op;
}

function convTranspose2dParams(c: ConvCase): ConvParams {
  const op = c.op ?? 0;
  return {
    n: c.n, cIn: c.cIn, hIn: c.hIn, wIn: c.wIn, cOut: c.cOut,
    hOut: convTransposeOut(c.hIn, c.kh, c.s, c.p, op), wOut: convTransposeOut(c.wIn, c.kw, c.s, c.p, op),
    kh: c.kh, kw: c.kw, sh: c.s, sw: c.s, ph: c.p, pw: c.p, oph: op, opw: op,
  };
}

const sizes = (p: ConvParams, transpose: boolean) => ({
  x: p.n * p.cIn * p.hIn * p.wIn,
  w: p.cOut * p.cIn * p.kh * p.kw,
  y: p.n * p.cOut * p.hOut * p.wOut,
  transpose,
});

/** y[n, co, oy, ox] = b[co] + sum x[n, ci, oy*s + ky - p, ox*s + kx - p] w[co, ci, ky, kx]. */
function conv2dReference(p: ConvParams, x: Float32Array, w: Float32Array, bias: Float32Array | null): Float64Array {
  const y = new Float64Array(p.n * p.cOut * p.hOut * p.wOut);
  for (let n = 0; n < p.n; n++)
    for (let co = 0; co < p.cOut; co++)
      for (let oy = 0; oy < p.hOut; oy++)
        for (let ox = 0; ox < p.wOut; ox++) {
          let s = bias ? bias[co] : 0;
          for (let ci = 0; ci < p.cIn; ci++)
            for (let ky = 0; ky < p.kh; ky++) {
              const iy = oy * p.sh + ky - p.ph;
              if (iy < 0 || iy >= p.hIn) continue;
              for (let kx = 0; kx < p.kw; kx++) {
                const ix = ox * p.sw + kx - p.pw;
                if (ix < 0 || ix >= p.wIn) continue;
                s += x[((n * p.cIn + ci) * p.hIn + iy) * p.wIn + ix] * w[((co * p.cIn + ci) * p.kh + ky) * p.kw + kx];
              }
            }
          y[((n * p.cOut + co) * p.hOut + oy) * p.wOut + ox] = s;
        }
  return y;
}

/** dx and dw of sum(y * g) by the definition: each output sample spreads g over its window. */
function conv2dBackwardReference(p: ConvParams, x: Float32Array, w: Float32Array, g: Float32Array): { dxRef: Float64Array; dwRef: Float64Array } {
  const dxRef = new Float64Array(x.length);
  const dwRef = new Float64Array(w.length);
  for (let n = 0; n < p.n; n++)
    for (let co = 0; co < p.cOut; co++)
      for (let oy = 0; oy < p.hOut; oy++)
        for (let ox = 0; ox < p.wOut; ox++) {
          const gv = g[((n * p.cOut + co) * p.hOut + oy) * p.wOut + ox];
          for (let ci = 0; ci < p.cIn; ci++)
            for (let ky = 0; ky < p.kh; ky++)
              for (let kx = 0; kx < p.kw; kx++) {
                const iy = oy * p.sh + ky - p.ph;
                const ix = ox * p.sw + kx - p.pw;
                if (iy < 0 || iy >= p.hIn || ix < 0 || ix >= p.wIn) continue;
                const xi = ((n * p.cIn + ci) * p.hIn + iy) * p.wIn + ix;
                const wi = ((co * p.cIn + ci) * p.kh + ky) * p.kw + kx;
                dxRef[xi] += gv * w[wi];
                dwRef[wi] += gv * x[xi];
              }
        }
  return { dxRef, dwRef };
}

/** Scatter form of PyTorch's ConvTranspose2d: x[n, ci, iy, ix] w[ci, co, ky, kx] lands on y[n, co, iy*s + ky - p, ix*s + kx - p]. */
function convTranspose2dReference(p: ConvParams, x: Float32Array, w: Float32Array, bias: Float32Array | null): Float64Array {
  const y = new Float64Array(p.n * p.cOut * p.hOut * p.wOut);
  for (let n = 0; n < p.n; n++)
    for (let co = 0; co < p.cOut; co++) {
      const plane = (n * p.cOut + co) * p.hOut * p.wOut;
      if (bias) y.fill(bias[co], plane, plane + p.hOut * p.wOut);
    }
  for (let n = 0; n < p.n; n++)
    for (let ci = 0; ci < p.cIn; ci++)
      for (let iy = 0; iy < p.hIn; iy++)
        for (let ix = 0; ix < p.wIn; ix++) {
          const v = x[((n * p.cIn + ci) * p.hIn + iy) * p.wIn + ix];
          for (let co = 0; co < p.cOut; co++)
            for (let ky = 0; ky < p.kh; ky++) {
              const oy = iy * p.sh + ky - p.ph;
              if (oy < 0 || oy >= p.hOut) continue;
              for (let kx = 0; kx < p.kw; kx++) {
                const ox = ix * p.sw + kx - p.pw;
                if (ox < 0 || ox >= p.wOut) continue;
                y[((n * p.cOut + co) * p.hOut + oy) * p.wOut + ox] += v * w[((ci * p.cOut + co) * p.kh + ky) * p.kw + kx];
              }
            }
        }
  return y;
}

type Forward = 'conv2dForward' | 'convTranspose2dForward';
type BackwardData = 'conv2dBackwardData' | 'convTranspose2dBackwardData';
type BackwardWeight = 'conv2dBackwardWeight' | 'convTranspose2dBackwardWeight';
const conv2dFns = { forward: 'conv2dForward' as Forward, data: 'conv2dBackwardData' as BackwardData, weight: 'conv2dBackwardWeight' as BackwardWeight };
const transposeFns = { forward: 'convTranspose2dForward' as Forward, data: 'convTranspose2dBackwardData' as BackwardData, weight: 'convTranspose2dBackwardWeight' as BackwardWeight };

function runForward(b: Binding, fn: Forward, p: ConvParams | PackedConv, x: Float32Array, w: Float32Array, bias: Float32Array | null, ySize: number): Float32Array {
  const xb = toBuf(b, x);
  const wb = toBuf(b, w);
  const bb = bias ? toBuf(b, bias) : null;
  const y = guardedBuf(b, ySize);
  b.fill(y.buf, Number.NaN, ySize); // every element must be written
  try {
    b[fn](p, xb, wb, bb, y.buf);
    y.check(`${fn} y`);
    return y.values();
  } finally {
    freeAll(b, xb, wb, bb, y.buf);
  }
}

function runBackward(b: Binding, fn: BackwardData | BackwardWeight, p: ConvParams | PackedConv, first: Float32Array, second: Float32Array, outSize: number): Float32Array {
  const fb = toBuf(b, first);
  const sb = toBuf(b, second);
  const out = guardedBuf(b, outSize);
  b.fill(out.buf, Number.NaN, outSize); // backward kernels overwrite, never accumulate
  try {
    (b[fn] as (p: ConvParams | PackedConv, a: Buf, c: Buf, d: Buf) => void)(p, fb, sb, out.buf);
    out.check(`${fn} output`);
    return out.values();
  } finally {
    freeAll(b, fb, sb, out.buf);
  }
}

function runBiasBackward(b: Binding, dy: Float32Array, p: ConvParams): Float32Array {
  const dyb = toBuf(b, dy);
  const db = guardedBuf(b, p.cOut);
  try {
    b.biasBackward(dyb, db.buf, p.n, p.cOut, p.hOut * p.wOut);
    db.check('biasBackward db');
    return db.values();
  } finally {
    freeAll(b, dyb, db.buf);
  }
}

const forwardCases: ConvCase[] = [
  { n: 2, cIn: 3, hIn: 9, wIn: 7, cOut: 5, kh: 3, kw: 3, s: 1, p: 1 },
  { n: 3, cIn: 4, hIn: 10, wIn: 11, cOut: 6, kh: 4, kw: 4, s: 2, p: 1 },
  { n: 1, cIn: 2, hIn: 12, wIn: 9, cOut: 3, kh: 7, kw: 7, s: 1, p: 3 },
  { n: 2, cIn: 9, hIn: 5, wIn: 6, cOut: 17, kh: 1, kw: 1, s: 1, p: 0 },
  { n: 4, cIn: 16, hIn: 10, wIn: 10, cOut: 19, kh: 3, kw: 3, s: 1, p: 0 },
  { n: 2, cIn: 5, hIn: 7, wIn: 13, cOut: 4, kh: 3, kw: 5, s: 2, p: 2 },
  { n: 1, cIn: 1, hIn: 1, wIn: 1, cOut: 1, kh: 1, kw: 1, s: 1, p: 0 },
  // stride 1, no padding, output rows a multiple of 16: the AVX2 and AVX-512 paths read the image
  // in place, and sum the weight gradient directly (in groups of output channels that 5 and 11 split
  // unevenly); output rows of 8: the direct weight gradient at the AVX2 level only
  { n: 3, cIn: 3, hIn: 20, wIn: 38, cOut: 5, kh: 7, kw: 7, s: 1, p: 0 },
  { n: 2, cIn: 4, hIn: 5, wIn: 18, cOut: 11, kh: 3, kw: 3, s: 1, p: 0 },
  { n: 2, cIn: 3, hIn: 9, wIn: 14, cOut: 3, kh: 7, kw: 7, s: 1, p: 0 },
  // few output channels, stride 1: backward data as the forward conv of padded dy, computed
  // 48 wide (in place) for the 38 columns of dx, as for the 7x7 stem's reflection-padded input
  { n: 2, cIn: 3, hIn: 9, wIn: 38, cOut: 4, kh: 7, kw: 7, s: 1, p: 3 },
  // stride 2, output rows of 8 or more: the panel unfold (AVX2 and AVX-512), rows of 17 that
  // end mid-vector, and a PatchGAN 4x4 whose windows leave the image on both sides
  { n: 2, cIn: 5, hIn: 21, wIn: 34, cOut: 6, kh: 3, kw: 3, s: 2, p: 1 },
  { n: 2, cIn: 3, hIn: 18, wIn: 20, cOut: 4, kh: 4, kw: 4, s: 2, p: 1 },
];

// Big enough (over 2 MFLOP) to run threaded, as dynamically handed out GEMM pieces: a residual
// block's unpadded stride-1 3x3 on 8-wide rows (the direct unfold/col2im copies), and a PatchGAN
// 4x4 on a 4x4 map whose backward data has few pixel columns, so its pieces split the rows.
const threadedCases: ConvCase[] = [
  { n: 4, cIn: 32, hIn: 10, wIn: 10, cOut: 32, kh: 3, kw: 3, s: 1, p: 0 },
  { n: 2, cIn: 64, hIn: 4, wIn: 4, cOut: 64, kh: 4, kw: 4, s: 1, p: 1 },
];

const transposeCases: ConvCase[] = [
  { n: 2, cIn: 6, hIn: 4, wIn: 5, cOut: 3, kh: 3, kw: 3, s: 2, p: 1, op: 1 },
  { n: 1, cIn: 3, hIn: 5, wIn: 3, cOut: 4, kh: 4, kw: 4, s: 2, p: 1, op: 0 },
  { n: 3, cIn: 4, hIn: 3, wIn: 4, cOut: 2, kh: 3, kw: 3, s: 1, p: 1, op: 0 },
  { n: 2, cIn: 2, hIn: 3, wIn: 3, cOut: 5, kh: 7, kw: 7, s: 3, p: 2, op: 2 },
  { n: 2, cIn: 5, hIn: 4, wIn: 6, cOut: 3, kh: 1, kw: 1, s: 1, p: 0, op: 0 },
  // many input channels (the col2im path) and rows over 16 wide at stride 2
  { n: 2, cIn: 33, hIn: 3, wIn: 12, cOut: 3, kh: 3, kw: 3, s: 2, p: 1, op: 1 },
];

function describe(c: ConvCase): string {
  return `n${c.n} ${c.cIn}x${c.hIn}x${c.wIn}->${c.cOut} k${c.kh}x${c.kw} s${c.s} p${c.p}${c.op ? ` op${c.op}` : ''}`;
}

test('conv2d forward matches the definition at every SIMD level', () => {
  const b = cpu();
  try {
    for (const c of [...forwardCases, ...threadedCases]) {
      const p = conv2dParams(c);
      const sz = sizes(p, false);
      const x = randomArray(sz.x, 1);
      const w = randomArray(sz.w, 2);
      const bias = randomArray(p.cOut, 3);
      const expected = conv2dReference(p, x, w, bias);
      for (const level of simdLevels(b)) {
        b.setSimd(level);
        assertClose(runForward(b, 'conv2dForward', p, x, w, bias, sz.y), expected, `conv2d ${describe(c)} simd ${level}`, 1e-4, 1e-4);
      }
    }
  } finally {
    b.setSimd(-1);
  }
});

test('conv-transpose2d forward matches PyTorch\'s definition at every SIMD level', () => {
  const b = cpu();
  try {
    for (const c of transposeCases) {
      const p = convTranspose2dParams(c);
      const sz = sizes(p, true);
      const x = randomArray(sz.x, 4);
      const w = randomArray(sz.w, 5);
      const bias = randomArray(p.cOut, 6);
      const expected = convTranspose2dReference(p, x, w, bias);
      for (const level of simdLevels(b)) {
        b.setSimd(level);
        assertClose(runForward(b, 'convTranspose2dForward', p, x, w, bias, sz.y), expected, `convTranspose2d ${describe(c)} simd ${level}`, 1e-4, 1e-4);
        assertClose(runForward(b, 'convTranspose2dForward', p, x, w, null, sz.y), convTranspose2dReference(p, x, w, null), `convTranspose2d no bias ${describe(c)}`, 1e-4, 1e-4);
      }
    }
  } finally {
    b.setSimd(-1);
  }
});

/** Checks dx, dw, db of loss = sum(y * g) against central differences, at one SIMD level. */
function gradcheckConv(b: Binding, c: ConvCase, transpose: boolean, level: number): void {
  const p = transpose ? convTranspose2dParams(c) : conv2dParams(c);
  const fns = transpose ? transposeFns : conv2dFns;
  const sz = sizes(p, transpose);
  const x = randomArray(sz.x, 11);
  const w = randomArray(sz.w, 12);
  const bias = randomArray(p.cOut, 13);
  const g = randomArray(sz.y, 14);
  b.setSimd(level);
  const dx = runBackward(b, fns.data, p, g, w, sz.x);
  const dw = runBackward(b, fns.weight, p, x, g, sz.w);
  const db = runBiasBackward(b, g, p);
  const loss = ([xi, wi, bi]: Float32Array[]) => weightedSum(runForward(b, fns.forward, p, xi, wi, bi, sz.y), g);
  assertGradcheck(`${transpose ? 'convTranspose2d' : 'conv2d'} ${describe(c)} simd ${level}`, loss, [x, w, bias], [dx, dw, db], {
    maxPerInput: 60,
  });
}

const gradCases: ConvCase[] = [
  { n: 2, cIn: 3, hIn: 5, wIn: 6, cOut: 4, kh: 3, kw: 3, s: 1, p: 1 },
  { n: 2, cIn: 2, hIn: 7, wIn: 5, cOut: 3, kh: 4, kw: 4, s: 2, p: 1 },
  { n: 1, cIn: 2, hIn: 8, wIn: 9, cOut: 2, kh: 7, kw: 7, s: 1, p: 3 },
  { n: 3, cIn: 5, hIn: 3, wIn: 4, cOut: 3, kh: 1, kw: 1, s: 1, p: 0 },
  { n: 2, cIn: 3, hIn: 9, wIn: 7, cOut: 2, kh: 3, kw: 3, s: 2, p: 0 },
];

const transposeGradCases: ConvCase[] = [
  { n: 2, cIn: 4, hIn: 3, wIn: 4, cOut: 3, kh: 3, kw: 3, s: 2, p: 1, op: 1 },
  { n: 2, cIn: 3, hIn: 4, wIn: 3, cOut: 2, kh: 4, kw: 4, s: 2, p: 1, op: 0 },
  { n: 1, cIn: 2, hIn: 3, wIn: 5, cOut: 3, kh: 3, kw: 3, s: 1, p: 1, op: 0 },
  { n: 2, cIn: 3, hIn: 3, wIn: 3, cOut: 2, kh: 1, kw: 1, s: 2, p: 0, op: 1 },
];

test('conv2d gradients (data, weight, bias) match finite differences', () => {
  const b = cpu();
  try {
    for (const c of gradCases) gradcheckConv(b, c, false, -1);
  } finally {
    b.setSimd(-1);
  }
});

test('conv-transpose2d gradients (data, weight, bias) match finite differences', () => {
  const b = cpu();
  try {
    for (const c of transposeGradCases) gradcheckConv(b, c, true, -1);
  } finally {
    b.setSimd(-1);
  }
});

test('conv2d backward passes agree across SIMD levels and with the definition', () => {
  const b = cpu();
  try {
    for (const c of [...gradCases, ...forwardCases.slice(0, 5), ...forwardCases.slice(7), ...threadedCases]) {
      const p = conv2dParams(c);
      const sz = sizes(p, false);
      const x = randomArray(sz.x, 21);
      const w = randomArray(sz.w, 22);
      const g = randomArray(sz.y, 23);
      const { dxRef, dwRef } = conv2dBackwardReference(p, x, w, g);
      for (const level of simdLevels(b)) {
        b.setSimd(level);
        assertClose(runBackward(b, 'conv2dBackwardData', p, g, w, sz.x), dxRef, `dx ${describe(c)} simd ${level}`, 1e-4, 1e-4);
        assertClose(runBackward(b, 'conv2dBackwardWeight', p, x, g, sz.w), dwRef, `dw ${describe(c)} simd ${level}`, 1e-4, 1e-4);
      }
    }
  } finally {
    b.setSimd(-1);
  }
});

test('conv kernels stay correct when the batch is split across threads mid-sample and with batch 1', () => {
  // Pixel counts that are not multiples of the register tile, a batch that does not divide the
  // threads, and a single sample (the backward-data split falls back to whole input channels).
  const b = cpu();
  const cases: ConvCase[] = [
    { n: 3, cIn: 40, hIn: 13, wIn: 11, cOut: 70, kh: 3, kw: 3, s: 1, p: 1 },
    { n: 1, cIn: 33, hIn: 20, wIn: 18, cOut: 21, kh: 3, kw: 3, s: 2, p: 1 },
    // stride 2 with output rows over 16 wide: the vectorised strided gather and col2im
    { n: 2, cIn: 3, hIn: 9, wIn: 40, cOut: 34, kh: 3, kw: 3, s: 2, p: 1 },
    { n: 2, cIn: 4, hIn: 8, wIn: 35, cOut: 33, kh: 4, kw: 4, s: 2, p: 1 },
  ];
  for (const c of cases) {
    const p = conv2dParams(c);
    const sz = sizes(p, false);
    const x = randomArray(sz.x, 31);
    const w = randomArray(sz.w, 32);
    const g = randomArray(sz.y, 33);
    assertClose(runForward(b, 'conv2dForward', p, x, w, null, sz.y), conv2dReference(p, x, w, null), `forward ${describe(c)}`, 1e-4, 1e-4);
    const dx = runBackward(b, 'conv2dBackwardData', p, g, w, sz.x);
    const dw = runBackward(b, 'conv2dBackwardWeight', p, x, g, sz.w);
    // Adjoint identities: <conv(x), g> = <x, dx> and = <w, dw> for the bilinear conv.
    const yx = weightedSum(conv2dReference(p, x, w, null), g);
    assert.ok(Math.abs(weightedSum(x, dx) - yx) <= 1e-3 * Math.abs(yx) + 1e-2, `<x, dx> = <conv(x), g> for ${describe(c)}`);
    assert.ok(Math.abs(weightedSum(w, dw) - yx) <= 1e-3 * Math.abs(yx) + 1e-2, `<w, dw> = <conv(x), g> for ${describe(c)}`);
  }
});

test('conv-transpose2d output size follows PyTorch (the CycleGAN upsampling layers)', () => {
  // (in, kernel, stride, padding, output_padding) -> out, as torch.nn.ConvTranspose2d computes it.
  const table: [number, number, number, number, number, number][] = [
    [8, 3, 2, 1, 1, 16],
    [16, 3, 2, 1, 1, 32],
    [64, 3, 2, 1, 1, 128],
    [5, 4, 2, 1, 0, 10],
    [3, 3, 1, 1, 0, 3],
    [3, 7, 3, 2, 2, 11],
  ];
  for (const [size, k, s, p, op, out] of table) assert.equal(convTransposeOut(size, k, s, p, op), out);
  // And the kernel accepts exactly that size: one more or less is an error naming hOut.
  const b = cpu();
  const p = convTranspose2dParams({ n: 1, cIn: 2, hIn: 8, wIn: 8, cOut: 3, kh: 3, kw: 3, s: 2, p: 1, op: 1 });
  assert.equal(p.hOut, 16);
  const x = toBuf(b, randomArray(2 * 64, 1));
  const w = toBuf(b, randomArray(2 * 3 * 9, 2));
  const y = toBuf(b, new Float32Array(3 * 17 * 17));
  try {
    b.convTranspose2dForward(p, x, w, null, y);
    assert.throws(() => b.convTranspose2dForward({ ...p, hOut: 17 }, x, w, null, y), /hOut/);
    assert.throws(() => b.convTranspose2dForward({ ...p, hOut: 15 }, x, w, null, y), /hOut/);
  } finally {
    freeAll(b, x, w, y);
  }
});

test('bad conv shapes are rejected with a message naming the problem', () => {
  const b = cpu();
  const p = conv2dParams({ n: 2, cIn: 3, hIn: 8, wIn: 8, cOut: 4, kh: 3, kw: 3, s: 1, p: 1 });
  const x = toBuf(b, randomArray(2 * 3 * 64, 1));
  const w = toBuf(b, randomArray(4 * 3 * 9, 2));
  const y = toBuf(b, new Float32Array(2 * 4 * 64));
  const small = toBuf(b, new Float32Array(10));
  try {
    assert.throws(() => b.conv2dForward({ ...p, hOut: 7 }, x, w, null, y), /hOut/);
    assert.throws(() => b.conv2dForward({ ...p, kh: 11, hOut: 1 }, x, w, null, y), /kernel 11x3 is larger than the padded input/);
    assert.throws(() => b.conv2dForward({ ...p, oph: 1 }, x, w, null, y), /oph/);
    assert.throws(() => b.conv2dForward(p, small, w, null, y), /cgtrain cpu: conv2dForward: x/);
    assert.throws(() => b.conv2dBackwardWeight(p, x, y, small), /dw/);
    assert.throws(() => b.convTranspose2dForward({ ...convTranspose2dParams({ n: 1, cIn: 3, hIn: 4, wIn: 4, cOut: 2, kh: 3, kw: 3, s: 2, p: 1 }), oph: 2, opw: 2 }, x, w, null, y), /output padding/);
  } finally {
    freeAll(b, x, w, y, small);
  }
});

test('bias backward sums each channel over batch and space', () => {
  const b = cpu();
  const n = 3, c = 5, hw = 37;
  const dy = randomArray(n * c * hw, 41);
  const expected = new Float64Array(c);
  for (let i = 0; i < n; i++) for (let ch = 0; ch < c; ch++) for (let t = 0; t < hw; t++) expected[ch] += dy[(i * c + ch) * hw + t];
  const dyb = toBuf(b, dy);
  const db = guardedBuf(b, c);
  try {
    b.biasBackward(dyb, db.buf, n, c, hw);
    db.check('biasBackward');
    assertClose(db.values(), expected, 'biasBackward', 1e-5, 1e-5);
    assert.equal(fromBuf(b, dyb).length, n * c * hw);
  } finally {
    freeAll(b, dyb, db.buf);
  }
});

interface TorchConvCase {
  transpose: boolean;
  p: ConvParams;
  x: number[];
  w: number[];
  b: number[];
  dy: number[];
  y: number[];
  dx: number[];
  dw: number[];
  db: number[];
}

test('conv2d and conv-transpose2d match PyTorch (test/fixtures/conv_kernels.json) at every SIMD level', () => {
  const file = path.join(packageRoot(), 'test', 'fixtures', 'conv_kernels.json');
  const cases: TorchConvCase[] = JSON.parse(fs.readFileSync(file, 'utf8')).conv;
  assert.ok(cases.length >= 8, 'conv_kernels.json holds the PyTorch cases');
  const b = cpu();
  try {
    for (const c of cases) {
      const fns = c.transpose ? transposeFns : conv2dFns;
      const f32 = (v: number[]) => Float32Array.from(v);
      const label = `${c.transpose ? 'conv_transpose2d' : 'conv2d'} ${JSON.stringify(c.p)}`;
      for (const level of simdLevels(b)) {
        b.setSimd(level);
        assertClose(runForward(b, fns.forward, c.p, f32(c.x), f32(c.w), f32(c.b), c.y.length), c.y, `${label} y simd ${level}`, 1e-4, 1e-5);
        assertClose(runBackward(b, fns.data, c.p, f32(c.dy), f32(c.w), c.dx.length), c.dx, `${label} dx simd ${level}`, 1e-4, 1e-5);
        assertClose(runBackward(b, fns.weight, c.p, f32(c.x), f32(c.dy), c.dw.length), c.dw, `${label} dw simd ${level}`, 1e-4, 1e-5);
        assertClose(runBiasBackward(b, f32(c.dy), c.p), c.db, `${label} db simd ${level}`, 1e-4, 1e-5);
      }
    }
  } finally {
    b.setSimd(-1);
  }
});

// ---- Winograd F(4x4, 3x3) (native/cpu/winograd.cc) ------------------------------------------------

const CONV_DIRECT = 0;
const CONV_AUTO = 1;
const CONV_WINOGRAD = 2;

// Every tile position: maps that are not multiples of 4 (clipped edge tiles), 1x1 maps, all three
// paddings, channel counts that leave partial 16-lane groups, batches that split tiles unevenly.
const winogradCases: ConvCase[] = [
  { n: 2, cIn: 3, hIn: 9, wIn: 7, cOut: 5, kh: 3, kw: 3, s: 1, p: 1 },
  { n: 1, cIn: 17, hIn: 6, wIn: 6, cOut: 33, kh: 3, kw: 3, s: 1, p: 0 },
  { n: 3, cIn: 20, hIn: 5, wIn: 11, cOut: 18, kh: 3, kw: 3, s: 1, p: 2 },
  { n: 2, cIn: 4, hIn: 1, wIn: 1, cOut: 3, kh: 3, kw: 3, s: 1, p: 1 },
  { n: 2, cIn: 32, hIn: 10, wIn: 10, cOut: 48, kh: 3, kw: 3, s: 1, p: 0 },
  { n: 1, cIn: 2, hIn: 13, wIn: 4, cOut: 16, kh: 3, kw: 3, s: 1, p: 1 },
  // the cases above run on the calling thread alone (winograd.cc's serial limits); this one's
  // 64 tiles x 48 channels go through the pool
  { n: 4, cIn: 32, hIn: 18, wIn: 18, cOut: 48, kh: 3, kw: 3, s: 1, p: 0 },
];

function withConvAlgo<T>(b: Binding, algo: number, fn: () => T): T {
  b.setConvAlgo(algo);
  try {
    return fn();
  } finally {
    b.setConvAlgo(CONV_AUTO);
  }
}

/**
 * Runs fn at every SIMD level that has Winograd (AVX2: two ymm per 16 lanes; AVX-512: one zmm),
 * or skips the test, with the reason, on a CPU that has neither.
 */
function atWinogradLevels(t: TestContext, b: Binding, fn: (level: number) => void): void {
  const levels = simdLevels(b).filter((level) => level >= 1);
  if (levels.length === 0) {
    t.skip('Winograd runs at the AVX2 and AVX-512 levels; this CPU has neither');
    return;
  }
  try {
    for (const level of levels) {
      b.setSimd(level);
      fn(level);
    }
  } finally {
    b.setSimd(-1);
  }
}

test('Winograd conv2d forward and backward match the definition (forced on every 3x3 stride-1 case, at every level that has it)', (t) => {
  const b = cpu();
  atWinogradLevels(t, b, (level) => {
    withConvAlgo(b, CONV_WINOGRAD, () => {
      for (const c of winogradCases) {
        const p = conv2dParams(c);
        const sz = sizes(p, false);
        const x = randomArray(sz.x, 31);
        const w = randomArray(sz.w, 32);
        const bias = randomArray(p.cOut, 33);
        const g = randomArray(sz.y, 34);
        const { dxRef, dwRef } = conv2dBackwardReference(p, x, w, g);
        assertClose(runForward(b, 'conv2dForward', p, x, w, bias, sz.y), conv2dReference(p, x, w, bias), `winograd y ${describe(c)} simd ${level}`, 1e-4, 1e-4);
        assertClose(runBackward(b, 'conv2dBackwardData', p, g, w, sz.x), dxRef, `winograd dx ${describe(c)} simd ${level}`, 1e-4, 1e-4);
        assertClose(runBackward(b, 'conv2dBackwardWeight', p, x, g, sz.w), dwRef, `winograd dw ${describe(c)} simd ${level}`, 1e-4, 1e-4);
      }
    });
  });
});

test('Winograd conv2d gradients match finite differences at every level that has it', (t) => {
  const b = cpu();
  atWinogradLevels(t, b, (level) => {
    withConvAlgo(b, CONV_WINOGRAD, () => {
      gradcheckConv(b, { n: 2, cIn: 3, hIn: 6, wIn: 5, cOut: 4, kh: 3, kw: 3, s: 1, p: 1 }, false, level);
      gradcheckConv(b, { n: 1, cIn: 2, hIn: 7, wIn: 9, cOut: 3, kh: 3, kw: 3, s: 1, p: 0 }, false, level);
      // conv-transpose2d stride 1 runs the same products with the roles swapped
      gradcheckConv(b, { n: 2, cIn: 3, hIn: 5, wIn: 4, cOut: 2, kh: 3, kw: 3, s: 1, p: 1, op: 0 }, true, level);
    });
  });
});

/** y, dx and dw of one conv under the current algorithm, from seeded inputs (weights at a conv's scale). */
function allPasses(b: Binding, c: ConvCase, seed: number): () => Record<'y' | 'dx' | 'dw', Float32Array> {
  const p = conv2dParams(c);
  const sz = sizes(p, false);
  const x = randomArray(sz.x, seed);
  const w = randomArray(sz.w, seed + 1, -0.03, 0.03);
  const g = randomArray(sz.y, seed + 2);
  return () => ({
    y: runForward(b, 'conv2dForward', p, x, w, null, sz.y),
    dx: runBackward(b, 'conv2dBackwardData', p, g, w, sz.x),
    dw: runBackward(b, 'conv2dBackwardWeight', p, x, g, sz.w),
  });
}

/** Winograd's results against the direct product's: measured max |diff| about 1.3e-5 of the largest value. */
function assertNearDirect(label: string, winograd: Record<string, Float32Array>, direct: Record<string, Float32Array>): void {
  for (const key of ['y', 'dx', 'dw']) {
    const scale = direct[key].reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assertClose(winograd[key], direct[key], `${label} ${key}`, 1e-4, 3e-5 * scale);
  }
}

test('a residual block\'s 256-channel conv takes Winograd by default and agrees with the direct product', (t) => {
  const b = cpu();
  atWinogradLevels(t, b, (level) => {
    // Reflection-padded 10x10 in, 8x8 out, as in resnet_6blocks at 32x32; 60 samples are 240
    // tiles, two chunks of 120 (a chunk holds at most 224 tiles of 256 channels).
    const run = allPasses(b, { n: 60, cIn: 256, hIn: 10, wIn: 10, cOut: 256, kh: 3, kw: 3, s: 1, p: 0 }, 41);
    assert.equal(b.convAlgo(), CONV_AUTO);
    const auto = run();
    const direct = withConvAlgo(b, CONV_DIRECT, run);
    const forced = withConvAlgo(b, CONV_WINOGRAD, run);
    for (const key of ['y', 'dx', 'dw'] as const) {
      // the default is Winograd (bit-identical to forcing it), and it differs from direct
      assert.deepEqual(auto[key], forced[key], `${key}: auto must take the Winograd path`);
      assert.notDeepEqual(auto[key], direct[key], `${key}: Winograd and direct round differently`);
    }
    assertNearDirect(`residual conv simd ${level}`, auto, direct);
  });
});

test('Winograd agrees with the direct product in every blocking: chunks, column blocks, row blocks', (t) => {
  const b = cpu();
  atWinogradLevels(t, b, (level) => {
    const cases: [string, ConvCase][] = [
      // 10x10 outputs are 9 tiles per sample: 38 samples (342 tiles, 12.0 MiB transformed: more
      // than the forward's one-chunk limit) run as two chunks of 176, the boundary inside sample 19
      ['chunk boundary inside a sample', { n: 38, cIn: 256, hIn: 10, wIn: 10, cOut: 256, kh: 3, kw: 3, s: 1, p: 1 }],
      // one chunk: forward and backward data go 96 columns at a time (200 = 96 + 96 + 8, the last
      // block a partial 16-lane group), backward weight 32 output channels at a time (6 x 32 + 8)
      ['one chunk, column and row blocks', { n: 3, cIn: 200, hIn: 9, wIn: 7, cOut: 200, kh: 3, kw: 3, s: 1, p: 1 }],
    ];
    for (const [label, c] of cases) {
      const run = allPasses(b, c, 51);
      assertNearDirect(`${label} simd ${level}`, withConvAlgo(b, CONV_WINOGRAD, run), withConvAlgo(b, CONV_DIRECT, run));
    }
  });
});

test('conv2dBackward gives the bits of conv2dBackwardData + conv2dBackwardWeight, Winograd or not', () => {
  const b = cpu();
  const cases: [string, ConvCase][] = [
    // Winograd by default at AVX2 and AVX-512 (one chunk; then two chunks, the boundary inside a sample)
    ['residual, one chunk', { n: 4, cIn: 64, hIn: 10, wIn: 10, cOut: 64, kh: 3, kw: 3, s: 1, p: 0 }],
    ['two chunks', { n: 28, cIn: 256, hIn: 10, wIn: 10, cOut: 256, kh: 3, kw: 3, s: 1, p: 1 }],
    // Winograd only when forced: partial 16-channel groups, odd sizes, padding 1
    ['few channels', { n: 2, cIn: 5, hIn: 9, wIn: 7, cOut: 3, kh: 3, kw: 3, s: 1, p: 1 }],
    // never Winograd: stride 2, a 7x7 kernel
    ['stride 2', { n: 2, cIn: 8, hIn: 9, wIn: 9, cOut: 16, kh: 3, kw: 3, s: 2, p: 1 }],
    ['7x7 head', { n: 2, cIn: 16, hIn: 14, wIn: 14, cOut: 3, kh: 7, kw: 7, s: 1, p: 0 }],
  ];
  for (const [label, c] of cases) {
    for (const algo of [CONV_AUTO, CONV_DIRECT, CONV_WINOGRAD]) {
      withConvAlgo(b, algo, () => {
        const p = conv2dParams(c);
        const sz = sizes(p, false);
        const x = toBuf(b, randomArray(sz.x, 7)), w = toBuf(b, randomArray(sz.w, 8, -0.03, 0.03)), dy = toBuf(b, randomArray(sz.y, 9));
        const dx = b.alloc(sz.x), dw = b.alloc(sz.w), dx1 = b.alloc(sz.x), dw1 = b.alloc(sz.w);
        try {
          b.conv2dBackward(p, x, dy, w, dx, dw);
          b.conv2dBackwardData(p, dy, w, dx1);
          b.conv2dBackwardWeight(p, x, dy, dw1);
          assert.deepEqual(fromBuf(b, dx), fromBuf(b, dx1), `${label} (algo ${algo}): dx`);
          assert.deepEqual(fromBuf(b, dw), fromBuf(b, dw1), `${label} (algo ${algo}): dw`);
          assert.throws(() => b.conv2dBackward(p, x, dy, w, dx, b.alloc(3)), /conv2dBackward: dw holds 3 floats/);
        } finally {
          freeAll(b, x, w, dy, dx, dw, dx1, dw1);
        }
      });
    }
  }
});

test('cgk_set_conv_algo rejects an unknown algorithm by name', () => {
  const b = cpu();
  assert.throws(() => b.setConvAlgo(3), /algo = 3, expected 0 \(direct\), 1 \(auto\) or 2 \(Winograd\)/);
  assert.equal(b.convAlgo(), CONV_AUTO);
});

/** Index of padded position i (pad cells each side) in a reflection-padded row of `size` cells. */
function reflectIndex(i: number, size: number, pad: number): number {
  const j = i - pad;
  return j < 0 ? -j : j >= size ? 2 * (size - 1) - j : j;
}

/** x reflection-padded by p on every side, in plain TypeScript. */
function reflectPadReference(p: ConvParams, x: Float32Array): Float32Array {
  const h = p.hIn + 2 * p.ph, w = p.wIn + 2 * p.pw;
  const out = new Float32Array(p.n * p.cIn * h * w);
  for (let plane = 0; plane < p.n * p.cIn; plane++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        out[(plane * h + y) * w + xx] = x[(plane * p.hIn + reflectIndex(y, p.hIn, p.ph)) * p.wIn + reflectIndex(xx, p.wIn, p.pw)];
  return out;
}

/** The gradient of reflectPadReference: each padded cell's gradient added to the cell it copies. */
function reflectFoldReference(p: ConvParams, dPadded: Float64Array): Float64Array {
  const h = p.hIn + 2 * p.ph, w = p.wIn + 2 * p.pw;
  const dx = new Float64Array(p.n * p.cIn * p.hIn * p.wIn);
  for (let plane = 0; plane < p.n * p.cIn; plane++)
    for (let y = 0; y < h; y++)
      for (let xx = 0; xx < w; xx++)
        dx[(plane * p.hIn + reflectIndex(y, p.hIn, p.ph)) * p.wIn + reflectIndex(xx, p.wIn, p.pw)] += dPadded[(plane * h + y) * w + xx];
  return dx;
}

test('reflection-padded conv2d (padMode 1) is ReflectionPad2d + the unpadded conv on every path', (t) => {
  const b = cpu();
  const cases: [string, ConvCase][] = [
    // a residual block's pad + 3x3 conv: Winograd by default at AVX2 and AVX-512
    ['residual 3x3', { n: 3, cIn: 32, hIn: 8, wIn: 8, cOut: 32, kh: 3, kw: 3, s: 1, p: 1 }],
    // partial 4x4 tiles and padding 2 (Winograd when forced)
    ['odd sizes', { n: 2, cIn: 5, hIn: 7, wIn: 9, cOut: 3, kh: 3, kw: 3, s: 1, p: 1 }],
    ['padding 2', { n: 2, cIn: 4, hIn: 5, wIn: 6, cOut: 3, kh: 3, kw: 3, s: 1, p: 2 }],
    // never Winograd: the 7x7 head (pad 3) and a strided conv run on a padded copy
    ['7x7 head', { n: 2, cIn: 3, hIn: 8, wIn: 8, cOut: 8, kh: 7, kw: 7, s: 1, p: 3 }],
    ['stride 2', { n: 2, cIn: 4, hIn: 9, wIn: 9, cOut: 6, kh: 3, kw: 3, s: 2, p: 1 }],
  ];
  const algos = b.simdLevel() >= 2 ? [CONV_AUTO, CONV_DIRECT, CONV_WINOGRAD] : [CONV_AUTO];
  if (b.simdLevel() < 2) t.diagnostic('no AVX-512: only the padded-copy path runs');
  for (const [label, c] of cases) {
    const p: ConvParams = { ...conv2dParams(c), padMode: 1 };
    const padded: ConvParams = { ...p, hIn: c.hIn + 2 * c.p, wIn: c.wIn + 2 * c.p, ph: 0, pw: 0, padMode: 0 };
    const sz = sizes(p, false);
    const x = randomArray(sz.x, 61), w = randomArray(sz.w, 62, -0.3, 0.3), bias = randomArray(p.cOut, 63), g = randomArray(sz.y, 64);
    const xp = reflectPadReference(p, x);
    const yRef = conv2dReference(padded, xp, w, bias);
    const { dxRef: dxpRef, dwRef } = conv2dBackwardReference(padded, xp, w, g);
    const dxRef = reflectFoldReference(p, dxpRef);
    for (const algo of algos) {
      withConvAlgo(b, algo, () => {
        const tag = `${label} (algo ${algo})`;
        assertClose(runForward(b, 'conv2dForward', p, x, w, bias, sz.y), yRef, `${tag} y`, 1e-4, 1e-4);
        assertClose(runBackward(b, 'conv2dBackwardData', p, g, w, sz.x), dxRef, `${tag} dx`, 1e-4, 1e-4);
        assertClose(runBackward(b, 'conv2dBackwardWeight', p, x, g, sz.w), dwRef, `${tag} dw`, 1e-4, 1e-4);
        // the fused backward, against the two separate calls
        const xb = toBuf(b, x), wb = toBuf(b, w), dy = toBuf(b, g), dx = b.alloc(sz.x), dw = b.alloc(sz.w);
        try {
          b.conv2dBackward(p, xb, dy, wb, dx, dw);
          assertClose(fromBuf(b, dx), dxRef, `${tag} fused dx`, 1e-4, 1e-4);
          assertClose(fromBuf(b, dw), dwRef, `${tag} fused dw`, 1e-4, 1e-4);
        } finally {
          freeAll(b, xb, wb, dy, dx, dw);
        }
      });
    }
  }
});

test('reflection-padded Winograd agrees with pad + conv across chunk boundaries', (t) => {
  const b = cpu();
  atWinogradLevels(t, b, (level) => {
    // 10x10 outputs are 9 tiles per sample: 28 samples run as two chunks, the boundary inside a sample
    const c: ConvCase = { n: 28, cIn: 256, hIn: 10, wIn: 10, cOut: 256, kh: 3, kw: 3, s: 1, p: 1 };
    const p: ConvParams = { ...conv2dParams(c), padMode: 1 };
    const padded: ConvParams = { ...p, hIn: 12, wIn: 12, ph: 0, pw: 0, padMode: 0 };
    const sz = sizes(p, false), szp = sizes(padded, false);
    const x = randomArray(sz.x, 71), w = randomArray(sz.w, 72, -0.03, 0.03), g = randomArray(sz.y, 73);
    const xb = toBuf(b, x), xpb = b.alloc(szp.x), dxpb = b.alloc(szp.x), dxUnfused = b.alloc(sz.x);
    try {
      b.reflectionPadForward(xb, xpb, c.n * c.cIn, c.hIn, c.wIn, 1, 1, 1, 1);
      const xp = fromBuf(b, xpb);
      assert.deepEqual(runForward(b, 'conv2dForward', p, x, w, null, sz.y), runForward(b, 'conv2dForward', padded, xp, w, null, sz.y),
        'the forward reads the same windows: the same bits');
      assert.deepEqual(runBackward(b, 'conv2dBackwardWeight', p, x, g, sz.w), runBackward(b, 'conv2dBackwardWeight', padded, xp, g, sz.w),
        'backward weight: the same bits');
      const dxp = runBackward(b, 'conv2dBackwardData', padded, g, w, szp.x);
      b.upload(dxpb, dxp);
      b.reflectionPadBackward(dxpb, dxUnfused, c.n * c.cIn, c.hIn, c.wIn, 1, 1, 1, 1);
      // backward data adds the same terms in another order
      assertClose(runBackward(b, 'conv2dBackwardData', p, g, w, sz.x), fromBuf(b, dxUnfused), 'dx', 1e-5, 1e-5);
    } finally {
      freeAll(b, xb, xpb, dxpb, dxUnfused);
    }
  });
});

test('bad reflection padding is rejected with a message naming the problem', () => {
  const b = cpu();
  const c: ConvCase = { n: 1, cIn: 2, hIn: 3, wIn: 4, cOut: 2, kh: 3, kw: 3, s: 1, p: 3 };
  const p: ConvParams = { ...conv2dParams(c), padMode: 1 };
  const sz = sizes(p, false);
  assert.throws(() => runForward(b, 'conv2dForward', p, randomArray(sz.x, 1), randomArray(sz.w, 2), null, sz.y),
    /reflection padding 3x3 must be smaller than the input 3x4/);
  const ok: ConvParams = { ...conv2dParams({ ...c, p: 1 }), padMode: 2 };
  assert.throws(() => runForward(b, 'conv2dForward', ok, randomArray(sz.x, 1), randomArray(sz.w, 2), null, 1 * 2 * 3 * 4),
    /p.padMode = 2, expected 0 \(zeros\) or 1 \(reflect\)/);
  const t: ConvParams = { ...convTranspose2dParams({ ...c, p: 0 }), padMode: 1 };
  const st = sizes(t, true);
  assert.throws(() => runForward(b, 'convTranspose2dForward', t, randomArray(st.x, 1), randomArray(st.w, 2), null, st.y),
    /padMode = 1 \(reflect\) is for conv2d only/);
});

test('the packed ConvParams (an Int32Array, what the ops pass) gives the same bits as the object, and is checked as strictly', () => {
  const b = cpu();
  const cases: [ConvParams, boolean][] = [
    [conv2dParams({ n: 2, cIn: 3, hIn: 9, wIn: 7, cOut: 4, kh: 3, kw: 3, s: 2, p: 1 }), false],
    [{ ...conv2dParams({ n: 1, cIn: 2, hIn: 6, wIn: 5, cOut: 3, kh: 3, kw: 3, s: 1, p: 1 }), padMode: 1 }, false],
    [convTranspose2dParams({ n: 2, cIn: 3, hIn: 4, wIn: 5, cOut: 2, kh: 3, kw: 3, s: 2, p: 1, op: 1 }), true],
  ];
  for (const [p, transposed] of cases) {
    const packed = packConv(p);
    assert.ok(packed instanceof Int32Array && packed.length === 16);
    assert.deepEqual(convParamsOf(packed), { padMode: 0, ...p }, 'unpacks to the same fields');
    const sz = sizes(p, transposed);
    const x = randomArray(sz.x, 1), w = randomArray(sz.w, 2), g = randomArray(sz.y, 3), bias = randomArray(p.cOut, 4);
    const [fwd, bwdData, bwdWeight] = transposed
      ? (['convTranspose2dForward', 'convTranspose2dBackwardData', 'convTranspose2dBackwardWeight'] as const)
      : (['conv2dForward', 'conv2dBackwardData', 'conv2dBackwardWeight'] as const);
    assert.deepEqual(runForward(b, fwd, packed, x, w, bias, sz.y), runForward(b, fwd, p, x, w, bias, sz.y));
    assert.deepEqual(runBackward(b, bwdData, packed, g, w, sz.x), runBackward(b, bwdData, p, g, w, sz.x));
    assert.deepEqual(runBackward(b, bwdWeight, packed, x, g, sz.w), runBackward(b, bwdWeight, p, x, g, sz.w));
  }
  const p = conv2dParams({ n: 1, cIn: 2, hIn: 5, wIn: 5, cOut: 2, kh: 3, kw: 3, s: 1, p: 1 });
  const sz = sizes(p, false);
  const run = (q: unknown) => runForward(b, 'conv2dForward', q as PackedConv, randomArray(sz.x, 1), randomArray(sz.w, 2), null, sz.y);
  const bad = packConv(p) as PackedConv;
  bad[7] = 0;
  assert.throws(() => run(bad), /p.kh = 0, expected an integer >= 1/);
  assert.throws(() => run(Int32Array.of(1, 2, 3)), /p must be a ConvParams object or an Int32Array of its 16 fields/);
  assert.throws(() => run(Float64Array.from(packConv(p) as PackedConv)), /an Int32Array of its 16 fields/);
  const mismatched = packConv({ ...p, hOut: 4 }) as PackedConv;
  assert.throws(() => run(mismatched), /p.hOut x p.wOut = 4x5, but the input 5x5/);
  // A field past int32 stays an object, so the glue's message names it.
  const huge = { ...p, n: 2 ** 31 };
  assert.equal(packConv(huge), huge);
  assert.throws(() => run(huge), /p.n = 2.14748e\+09, expected an integer >= 1/);
});
