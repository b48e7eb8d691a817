/**
 * Every op of the native surface on CUDA against the CPU backend (the reference semantics), with
 * an error bound per op, sentinel guards after every CUDA output (out-of-bounds writes) and
 * poisoned outputs (elements a kernel forgot to write). Skipped, with the reason, where CUDA
 * cannot run.
 *
 * CGTRAIN_PARITY_SELFTEST=1 runs the same cases CPU against CPU, so the harness itself can be
 * checked on a machine without a GPU.
 * CGTRAIN_REQUIRE_CUDA=1 (set by scripts/gpu-check.sh) turns the skip into a failure.
 * CGTRAIN_CUDA_PRECISION=fp32|tf32|bf16 (or CGTRAIN_CUDA_TF32=0 for fp32) sets the operand
 * precision of convolutions and linear layers; their bounds follow deviceInfo's "precision".
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { Binding, Buf, ConvParams } from '../../src/backend/binding';
import { cudaUnavailableReason, loadBackend, type DeviceInfo } from '../../src/backend/device';
import { cpu, randomArray, randomNormal } from '../util/native';

const selftest = process.env.CGTRAIN_PARITY_SELFTEST === '1';
const unavailable = selftest ? null : cudaUnavailableReason();
// scripts/gpu-check.sh sets CGTRAIN_REQUIRE_CUDA=1: on the GPU machine a skip would hide a broken setup.
const required = process.env.CGTRAIN_REQUIRE_CUDA === '1';
const skip = unavailable === null || required ? false : `CUDA cannot run here: ${unavailable.split('\n')[0]}`;

let deviceCache: { b: Binding; info: DeviceInfo } | undefined;
function device(): { b: Binding; info: DeviceInfo } {
  if (!deviceCache) {
    const backend = selftest ? { binding: cpu(), info: JSON.parse(cpu().deviceInfo()) as DeviceInfo } : loadBackend('cuda', { quiet: true });
    deviceCache = { b: backend.binding, info: backend.info };
  }
  return deviceCache;
}
const precision = (): string => device().info.precision ?? 'fp32';

/** err_i <= atol * max|ref| + rtol * |ref_i| for every element; 'exact' = bitwise equal. */
type Tol = { rtol: number; atol: number } | 'exact';

const ELEMENTWISE: Tol = { rtol: 1e-6, atol: 1e-7 };
const TRANSCENDENTAL: Tol = { rtol: 2e-6, atol: 2e-7 };
const REDUCTION: Tol = { rtol: 1e-5, atol: 1e-6 };
const NORM: Tol = { rtol: 2e-5, atol: 2e-5 };
// Operands rounded to TF32 (10 mantissa bits) or BF16 (7 bits: 8x the rounding); FP32 sums only.
const GEMM_TOL: Record<string, Tol> = { fp32: { rtol: 0, atol: 2e-5 }, tf32: { rtol: 0, atol: 4e-3 }, bf16: { rtol: 0, atol: 1e-2 } };
const gemmTol = (): Tol => GEMM_TOL[precision()];

const GUARD = 17;
const SENTINEL = -12345.678;
const POISON = 7777.25;

interface Case {
  name: string;
  /** Inputs (arrays) and outputs (element counts, poisoned before the run). */
  bufs: Record<string, Float32Array | number>;
  run(b: Binding, t: Record<string, Buf>): void;
  /** The buffers to compare after the run, each with its bound. */
  check: Record<string, Tol>;
  /** No sentinel tail: for bindings that take sizes from the buffers themselves (adamStep). */
  unguarded?: boolean;
}

function makeBufs(b: Binding, spec: Case['bufs'], guard = GUARD): Record<string, Buf> {
  const out: Record<string, Buf> = {};
  for (const [name, data] of Object.entries(spec)) {
    const n = typeof data === 'number' ? data : data.length;
    const host = new Float32Array(n + guard).fill(SENTINEL);
    if (typeof data === 'number') host.fill(POISON, 0, n);
    else host.set(data);
    const buf = b.alloc(n + guard);
    b.upload(buf, host);
    out[name] = buf;
  }
  return out;
}

function compare(name: string, got: Float32Array, want: Float32Array, tol: Tol): void {
  if (tol === 'exact') {
    for (let i = 0; i < want.length; i++) {
      if (!Object.is(got[i], want[i])) assert.fail(`${name}[${i}]: CUDA ${got[i]}, CPU ${want[i]} (expected identical)`);
    }
    return;
  }
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= tol.atol * scale + tol.rtol * Math.abs(want[i]) + 1e-30)) {
      assert.fail(`${name}[${i}]: CUDA ${got[i]}, CPU ${want[i]}: |diff| ${err.toExponential(3)} > ${tol.atol} * max|ref| ${scale.toExponential(3)} + ${tol.rtol} * |ref|`);
    }
  }
}

function runCase(c: Case): void {
  const ref = cpu();
  const dev = device().b;
  const guard = c.unguarded ? 0 : GUARD;
  const refBufs = makeBufs(ref, c.bufs, guard);
  const devBufs = makeBufs(dev, c.bufs, guard);
  try {
    c.run(ref, refBufs);
    c.run(dev, devBufs);
    dev.sync();
    for (const [name, tol] of Object.entries(c.check)) {
      const spec = c.bufs[name];
      const n = typeof spec === 'number' ? spec : spec.length;
      const want = new Float32Array(n);
      const got = new Float32Array(n);
      ref.download(refBufs[name], want);
      dev.download(devBufs[name], got);
      compare(`${c.name}: ${name}`, got, want, tol);
    }
    for (const [name, spec] of Object.entries(guard > 0 ? c.bufs : {})) {
      const n = typeof spec === 'number' ? spec : spec.length;
      const tail = new Float32Array(guard);
      dev.download(devBufs[name], tail, n);
      for (let i = 0; i < guard; i++) {
        if (tail[i] !== Math.fround(SENTINEL)) assert.fail(`${c.name}: ${name}: CUDA wrote past its ${n} elements (guard ${i} = ${tail[i]})`);
      }
    }
  } finally {
    for (const buf of Object.values(refBufs)) ref.free(buf);
    for (const buf of Object.values(devBufs)) dev.free(buf);
  }
}

// ---- the cases ---------------------------------------------------------------------------------

let seed = 1000;
const rnd = (n: number, lo = -1, hi = 1): Float32Array => randomArray(n, seed++, lo, hi);
const normal = (n: number, std = 1): Float32Array => randomNormal(n, seed++, 0, std);

function elementwiseCases(): Case[] {
  const n = 10_007; // not a multiple of any block size
  return [
    { name: 'fill', bufs: { y: n }, run: (b, t) => b.fill(t.y, -2.5, n), check: { y: 'exact' } },
    { name: 'copy with offsets', bufs: { src: rnd(n), dst: rnd(n) }, run: (b, t) => b.copy(t.dst, 5, t.src, 17, n - 40), check: { dst: 'exact' } },
    // 100 pairs of 100-float blocks: two launches of at most 64 pairs on CUDA
    { name: 'copy blocks', bufs: { src: rnd(n), dst: rnd(n) }, run: (b, t) => b.copyBlocks(t.dst, t.src, 100, Int32Array.from({ length: 200 }, (_, k) => (k % 2 ? (7 * (k >> 1) + 3) % 100 : 99 - (k >> 1)))), check: { dst: 'exact' } },
    { name: 'add', bufs: { a: rnd(n), b: rnd(n), y: n }, run: (b, t) => b.add(t.a, t.b, t.y, n), check: { y: 'exact' } },
    { name: 'sub', bufs: { a: rnd(n), b: rnd(n), y: n }, run: (b, t) => b.sub(t.a, t.b, t.y, n), check: { y: 'exact' } },
    { name: 'mul', bufs: { a: rnd(n), b: rnd(n), y: n }, run: (b, t) => b.mul(t.a, t.b, t.y, n), check: { y: 'exact' } },
    { name: 'affine', bufs: { x: rnd(n), y: n }, run: (b, t) => b.affine(t.x, 0.3, -1.25, t.y, n), check: { y: ELEMENTWISE } },
    { name: 'axpy', bufs: { x: rnd(n), y: rnd(n) }, run: (b, t) => b.axpy(-0.7, t.x, t.y, n), check: { y: ELEMENTWISE } },
    { name: 'scaleBy', bufs: { x: rnd(n), alpha: Float32Array.of(-3.5), y: n }, run: (b, t) => b.scaleBy(t.x, t.alpha, t.y, n), check: { y: 'exact' } },
  ];
}

function activationCases(): Case[] {
  const n = 4099;
  const x = normal(n, 3);
  const y01 = rnd(n, 0.01, 0.99);
  const ytanh = rnd(n, -0.99, 0.99);
  return [
    { name: 'relu forward', bufs: { x, y: n }, run: (b, t) => b.reluForward(t.x, t.y, n), check: { y: 'exact' } },
    { name: 'relu backward', bufs: { x, dy: rnd(n), dx: n }, run: (b, t) => b.reluBackward(t.x, t.dy, t.dx, n), check: { dx: 'exact' } },
    { name: 'leaky relu forward', bufs: { x, y: n }, run: (b, t) => b.leakyReluForward(t.x, 0.2, t.y, n), check: { y: 'exact' } },
    { name: 'leaky relu backward', bufs: { x, dy: rnd(n), dx: n }, run: (b, t) => b.leakyReluBackward(t.x, 0.2, t.dy, t.dx, n), check: { dx: 'exact' } },
    { name: 'tanh forward', bufs: { x, y: n }, run: (b, t) => b.tanhForward(t.x, t.y, n), check: { y: TRANSCENDENTAL } },
    { name: 'tanh backward', bufs: { y: ytanh, dy: rnd(n), dx: n }, run: (b, t) => b.tanhBackward(t.y, t.dy, t.dx, n), check: { dx: ELEMENTWISE } },
    { name: 'sigmoid forward', bufs: { x, y: n }, run: (b, t) => b.sigmoidForward(t.x, t.y, n), check: { y: TRANSCENDENTAL } },
    { name: 'sigmoid backward', bufs: { y: y01, dy: rnd(n), dx: n }, run: (b, t) => b.sigmoidBackward(t.y, t.dy, t.dx, n), check: { dx: ELEMENTWISE } },
    {
      name: 'dropout (counter-based RNG, bit-identical masks)',
      bufs: { x, mask: n, y: n },
      run: (b, t) => b.dropoutForward(t.x, 0.37, 2 ** 40 + 12345, t.mask, t.y, n),
      check: { mask: 'exact', y: 'exact' },
    },
  ];
}

function layoutCases(): Case[] {
  const nc = 6, h = 9, w = 7;
  const pads: [number, number, number, number] = [3, 2, 1, 3];
  const ho = h + pads[0] + pads[1], wo = w + pads[2] + pads[3];
  const ca = 3, cb = 5, n = 2, hw = 37;
  return [
    { name: 'reflection pad forward', bufs: { x: rnd(nc * h * w), y: nc * ho * wo }, run: (b, t) => b.reflectionPadForward(t.x, t.y, nc, h, w, ...pads), check: { y: 'exact' } },
    { name: 'reflection pad backward', bufs: { dy: rnd(nc * ho * wo), dx: nc * h * w }, run: (b, t) => b.reflectionPadBackward(t.dy, t.dx, nc, h, w, ...pads), check: { dx: ELEMENTWISE } },
    { name: 'zero pad forward', bufs: { x: rnd(nc * h * w), y: nc * ho * wo }, run: (b, t) => b.zeroPadForward(t.x, t.y, nc, h, w, ...pads), check: { y: 'exact' } },
    { name: 'zero pad backward', bufs: { dy: rnd(nc * ho * wo), dx: nc * h * w }, run: (b, t) => b.zeroPadBackward(t.dy, t.dx, nc, h, w, ...pads), check: { dx: 'exact' } },
    { name: 'upsample 2x forward', bufs: { x: rnd(nc * h * w), y: nc * 4 * h * w }, run: (b, t) => b.upsampleNearest2xForward(t.x, t.y, nc, h, w), check: { y: 'exact' } },
    { name: 'upsample 2x backward', bufs: { dy: rnd(nc * 4 * h * w), dx: nc * h * w }, run: (b, t) => b.upsampleNearest2xBackward(t.dy, t.dx, nc, h, w), check: { dx: ELEMENTWISE } },
    { name: 'concat channels', bufs: { a: rnd(n * ca * hw), b: rnd(n * cb * hw), y: n * (ca + cb) * hw }, run: (b, t) => b.concatChannels(t.a, t.b, t.y, n, ca, cb, hw), check: { y: 'exact' } },
    { name: 'split channels', bufs: { y: rnd(n * (ca + cb) * hw), a: n * ca * hw, b: n * cb * hw }, run: (b, t) => b.splitChannels(t.y, t.a, t.b, n, ca, cb, hw), check: { a: 'exact', b: 'exact' } },
  ];
}

function conv(n: number, cIn: number, hIn: number, wIn: number, cOut: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number): ConvParams {
  const hOut = Math.floor((hIn + 2 * ph - kh) / sh) + 1, wOut = Math.floor((wIn + 2 * pw - kw) / sw) + 1;
  return { n, cIn, hIn, wIn, cOut, hOut, wOut, kh, kw, sh, sw, ph, pw, oph: 0, opw: 0 };
}
function convT(n: number, cIn: number, hIn: number, wIn: number, cOut: number, k: number, s: number, p: number, op: number): ConvParams {
  const hOut = (hIn - 1) * s - 2 * p + k + op, wOut = (wIn - 1) * s - 2 * p + k + op;
  return { n, cIn, hIn, wIn, cOut, hOut, wOut, kh: k, kw: k, sh: s, sw: s, ph: p, pw: p, oph: op, opw: op };
}

function convCases(): Case[] {
  const geometries: [string, ConvParams][] = [
    ['7x7 stem (c7s1, after reflection pad)', conv(2, 3, 22, 22, 8, 7, 7, 1, 1, 0, 0)],
    ['7x7 head to 3 channels', conv(2, 8, 22, 22, 3, 7, 7, 1, 1, 0, 0)],
    ['2 output channels over 1600 pixels (split weight gradient)', conv(4, 4, 20, 20, 2, 3, 3, 1, 1, 1, 1)],
    ['3x3 stride-2 downsampling', conv(2, 8, 16, 16, 16, 3, 3, 2, 2, 1, 1)],
    ['3x3 stride-2 downsampling, 64 -> 96 channels (large-tile backward-data by phase)', conv(2, 64, 16, 14, 96, 3, 3, 2, 2, 1, 1)],
    ['3x3 residual block (64 channels, several tiles)', conv(2, 64, 18, 18, 64, 3, 3, 1, 1, 0, 0)],
    ['4x4 stride-2 PatchGAN layer', conv(2, 3, 16, 16, 8, 4, 4, 2, 2, 1, 1)],
    ['4x4 one-channel PatchGAN output', conv(2, 16, 6, 6, 1, 4, 4, 1, 1, 1, 1)],
    // The direct engine (at most 8 output channels, stride 1, planes of 64 pixels or more):
    // several tiles, zero padding, one tile split over the input channels, a weight gradient
    // split over its units, 8 and 1 output channels, an 8x8 kernel.
    ['7x7 head to 3 channels, 64 inputs, 40x70 zero-padded', conv(2, 64, 40, 70, 3, 7, 7, 1, 1, 3, 3)],
    ['3x3 to 3 channels, one tile split over 64 inputs', conv(1, 64, 10, 10, 3, 3, 3, 1, 1, 1, 1)],
    ['5x5 to 3 channels from 2, 40x40 (weight gradient split)', conv(2, 2, 40, 40, 3, 5, 5, 1, 1, 2, 2)],
    ['3x3 to 8 channels', conv(2, 5, 12, 12, 8, 3, 3, 1, 1, 1, 1)],
    ['4x4 to 1 channel over 11x8', conv(2, 6, 12, 9, 1, 4, 4, 1, 1, 1, 1)],
    ['8x8 kernel to 2 channels', conv(1, 3, 20, 20, 2, 8, 8, 1, 1, 0, 0)],
    ['odd 3x2 kernel, strides 2x1', conv(3, 5, 9, 11, 7, 3, 2, 2, 1, 1, 0)],
    ['1x1, 130 output channels', conv(1, 33, 5, 5, 130, 1, 1, 1, 1, 0, 0)],
    // pad mode reflect: ReflectionPad2d then the unpadded conv, as the CPU backend fuses them
    ['3x3 residual block, reflection padded', { ...conv(2, 64, 16, 16, 64, 3, 3, 1, 1, 1, 1), padMode: 1 }],
    ['7x7 stem, reflection padded by 3', { ...conv(2, 3, 12, 12, 8, 7, 7, 1, 1, 3, 3), padMode: 1 }],
    ['3x3 stride 2, reflection padded, odd sizes', { ...conv(2, 8, 9, 10, 16, 3, 3, 2, 2, 1, 1), padMode: 1 }],
  ];
  const cases: Case[] = [];
  for (const [label, p] of geometries) {
    const xN = p.n * p.cIn * p.hIn * p.wIn, yN = p.n * p.cOut * p.hOut * p.wOut, wN = p.cOut * p.cIn * p.kh * p.kw;
    const x = rnd(xN), w = rnd(wN, -0.2, 0.2), dy = rnd(yN), bias = rnd(p.cOut);
    cases.push(
      { name: `conv2d forward ${label}`, bufs: { x, w, bias, y: yN }, run: (b, t) => b.conv2dForward(p, t.x, t.w, t.bias, t.y), check: { y: gemmTol() } },
      { name: `conv2d forward without bias ${label}`, bufs: { x, w, y: yN }, run: (b, t) => b.conv2dForward(p, t.x, t.w, null, t.y), check: { y: gemmTol() } },
      { name: `conv2d backward-data ${label}`, bufs: { dy, w, dx: xN }, run: (b, t) => b.conv2dBackwardData(p, t.dy, t.w, t.dx), check: { dx: gemmTol() } },
      { name: `conv2d backward-weight ${label}`, bufs: { x, dy, dw: wN }, run: (b, t) => b.conv2dBackwardWeight(p, t.x, t.dy, t.dw), check: { dw: gemmTol() } },
      { name: `conv2d backward (both) ${label}`, bufs: { x, dy, w, dx: xN, dw: wN }, run: (b, t) => b.conv2dBackward(p, t.x, t.dy, t.w, t.dx, t.dw), check: { dx: gemmTol(), dw: gemmTol() } },
    );
  }
  const transposes: [string, ConvParams][] = [
    ['3x3 stride-2 upsampling, output_padding 1', convT(2, 16, 4, 4, 8, 3, 2, 1, 1)],
    ['4x4 stride-2, odd input', convT(1, 5, 5, 5, 3, 4, 2, 1, 0)],
    ['64 -> 32 channels, several tiles', convT(2, 64, 8, 8, 32, 3, 2, 1, 1)],
    ['128 -> 64 channels (large-tile forward by phase)', convT(2, 128, 7, 7, 64, 3, 2, 1, 1)],
  ];
  for (const [label, p] of transposes) {
    const xN = p.n * p.cIn * p.hIn * p.wIn, yN = p.n * p.cOut * p.hOut * p.wOut, wN = p.cIn * p.cOut * p.kh * p.kw;
    const x = rnd(xN), w = rnd(wN, -0.2, 0.2), dy = rnd(yN), bias = rnd(p.cOut);
    cases.push(
      { name: `conv-transpose2d forward ${label}`, bufs: { x, w, bias, y: yN }, run: (b, t) => b.convTranspose2dForward(p, t.x, t.w, t.bias, t.y), check: { y: gemmTol() } },
      { name: `conv-transpose2d backward-data ${label}`, bufs: { dy, w, dx: xN }, run: (b, t) => b.convTranspose2dBackwardData(p, t.dy, t.w, t.dx), check: { dx: gemmTol() } },
      { name: `conv-transpose2d backward-weight ${label}`, bufs: { x, dy, dw: wN }, run: (b, t) => b.convTranspose2dBackwardWeight(p, t.x, t.dy, t.dw), check: { dw: gemmTol() } },
    );
  }
  // Odd planes (scalar loads); planes of several 4096-element pieces with float4 loads; several
  // planes a block (many channels: 256 x 8 planes in 4 splits, float4; 600 x 6 in 2, scalar).
  for (const [n, c, hw] of [[3, 19, 333], [2, 3, 9000], [8, 256, 64], [6, 600, 35]]) {
    cases.push({ name: `bias backward ${n}x${c}x${hw}`, bufs: { dy: rnd(n * c * hw), db: c }, run: (b, t) => b.biasBackward(t.dy, t.db, n, c, hw), check: { db: REDUCTION } });
  }
  return cases;
}

function linearCases(): Case[] {
  const cases: Case[] = [];
  for (const [n, inF, outF] of [[5, 37, 10], [64, 300, 70]]) {
    const x = rnd(n * inF), w = rnd(outF * inF, -0.1, 0.1), bias = rnd(outF), dy = rnd(n * outF);
    const label = `${n}x${inF} -> ${outF}`;
    cases.push(
      { name: `linear forward ${label}`, bufs: { x, w, bias, y: n * outF }, run: (b, t) => b.linearForward(t.x, t.w, t.bias, t.y, n, inF, outF), check: { y: gemmTol() } },
      { name: `linear backward-data ${label}`, bufs: { dy, w, dx: n * inF }, run: (b, t) => b.linearBackwardData(t.dy, t.w, t.dx, n, inF, outF), check: { dx: gemmTol() } },
      { name: `linear backward-weight ${label}`, bufs: { x, dy, dw: outF * inF, db: outF }, run: (b, t) => b.linearBackwardWeight(t.x, t.dy, t.dw, t.db, n, inF, outF), check: { dw: gemmTol(), db: REDUCTION } },
    );
  }
  return cases;
}

/**
 * Instance norm forward and backward (plain and fused with ReLU, with and without gamma/beta) on
 * n planes of c channels of hw pixels; `label` names the shape.
 */
function instanceNormCases(n: number, c: number, hw: number, label: string, seed: number): Case[] {
  const x = normal(n * c * hw, seed).map((v) => v + 5); // a large mean tests the two-pass variance
  const dy = rnd(n * c * hw);
  const gamma = rnd(c, 0.5, 1.5), beta = rnd(c);
  // Statistics come from the CPU reference so both backwards see identical mean/rstd.
  const b = cpu();
  const t = makeBufs(b, { x, y: x.length, mean: n * c, rstd: n * c });
  b.instanceNormForward(t.x, null, null, t.y, t.mean, t.rstd, n, c, hw, 1e-5);
  const [mean, rstd] = [new Float32Array(n * c), new Float32Array(n * c)];
  b.download(t.mean, mean);
  b.download(t.rstd, rstd);
  for (const buf of Object.values(t)) b.free(buf);
  const cases: Case[] = [
    {
      name: 'instance norm forward (affine)',
      bufs: { x, gamma, beta, y: x.length, mean: n * c, rstd: n * c },
      run: (b, t) => b.instanceNormForward(t.x, t.gamma, t.beta, t.y, t.mean, t.rstd, n, c, hw, 1e-5),
      check: { y: NORM, mean: NORM, rstd: NORM },
    },
    {
      name: 'instance norm forward (no affine)',
      bufs: { x, y: x.length, mean: n * c, rstd: n * c },
      run: (b, t) => b.instanceNormForward(t.x, null, null, t.y, t.mean, t.rstd, n, c, hw, 1e-5),
      check: { y: NORM, mean: NORM, rstd: NORM },
    },
    {
      name: 'instance norm backward (affine)',
      bufs: { dy, x, mean, rstd, gamma, dx: x.length, dgamma: c, dbeta: c },
      run: (b, t) => b.instanceNormBackward(t.dy, t.x, t.mean, t.rstd, t.gamma, t.dx, t.dgamma, t.dbeta, n, c, hw),
      check: { dx: NORM, dgamma: NORM, dbeta: NORM },
    },
    {
      name: 'instance norm backward (no affine)',
      bufs: { dy, x, mean, rstd, dx: x.length },
      run: (b, t) => b.instanceNormBackward(t.dy, t.x, t.mean, t.rstd, null, t.dx, null, null, n, c, hw),
      check: { dx: NORM },
    },
    {
      name: 'instance norm + ReLU forward (affine)',
      bufs: { x, gamma, beta, y: x.length, mean: n * c, rstd: n * c },
      run: (b, t) => b.instanceNormReluForward!(t.x, t.gamma, t.beta, t.y, t.mean, t.rstd, n, c, hw, 1e-5),
      check: { y: NORM, mean: NORM, rstd: NORM },
    },
    {
      name: 'instance norm + ReLU forward (no affine)',
      bufs: { x, y: x.length, mean: n * c, rstd: n * c },
      run: (b, t) => b.instanceNormReluForward!(t.x, null, null, t.y, t.mean, t.rstd, n, c, hw, 1e-5),
      check: { y: NORM, mean: NORM, rstd: NORM },
    },
    {
      name: 'instance norm + ReLU backward (affine: the mask from gamma and beta)',
      bufs: { dy, x, mean, rstd, gamma, beta, dx: x.length, dgamma: c, dbeta: c },
      run: (b, t) => b.instanceNormReluBackward!(t.dy, t.x, t.mean, t.rstd, t.gamma, t.beta, t.dx, t.dgamma, t.dbeta, n, c, hw),
      check: { dx: NORM, dgamma: NORM, dbeta: NORM },
    },
    {
      name: 'instance norm + ReLU backward (no affine)',
      bufs: { dy, x, mean, rstd, dx: x.length },
      run: (b, t) => b.instanceNormReluBackward!(t.dy, t.x, t.mean, t.rstd, null, null, t.dx, null, null, n, c, hw),
      check: { dx: NORM },
    },
  ];
  return cases.map((k) => ({ ...k, name: `${k.name}, ${label}` }));
}

function normCases(): Case[] {
  const gamma = rnd(3, 0.5, 1.5), beta = rnd(3);
  const nb = 4, cb = 3, hwb = 50;
  const xb = normal(nb * cb * hwb, 1.5);
  const dyb = rnd(nb * cb * hwb);
  // Statistics come from the CPU reference so both backwards see identical mean/rstd.
  const ref = (): Binding => cpu();
  const stats = (fn: (b: Binding, t: Record<string, Buf>) => void, bufs: Case['bufs'], names: string[]): Float32Array[] => {
    const b = ref();
    const t = makeBufs(b, bufs);
    fn(b, t);
    const out = names.map((name) => {
      const v = new Float32Array(bufs[name] as number);
      b.download(t[name], v);
      return v;
    });
    for (const buf of Object.values(t)) b.free(buf);
    return out;
  };
  const [meanB, rstdB] = stats((b, t) => b.batchNormForwardTrain(t.x, null, null, t.y, t.mean, t.rstd, null, null, nb, cb, hwb, 1e-5, 0.1), { x: xb, y: xb.length, mean: cb, rstd: cb }, ['mean', 'rstd']);
  return [
    ...instanceNormCases(2, 3, 1000, '1000-pixel planes', 2),
    // Few, large planes: each cut across several blocks (norm_kernels.cuh, split).
    ...instanceNormCases(1, 2, 128 * 128, '128x128 planes (split, float4)', 3),
    ...instanceNormCases(1, 1, 129 * 129, '129x129 planes (split, float)', 4),
    {
      name: 'batch norm forward, training (running statistics updated)',
      bufs: { x: xb, gamma, beta, y: xb.length, mean: cb, rstd: cb, runningMean: rnd(cb), runningVar: rnd(cb, 0.5, 2) },
      run: (b, t) => b.batchNormForwardTrain(t.x, t.gamma, t.beta, t.y, t.mean, t.rstd, t.runningMean, t.runningVar, nb, cb, hwb, 1e-5, 0.1),
      check: { y: NORM, mean: NORM, rstd: NORM, runningMean: NORM, runningVar: NORM },
    },
    {
      name: 'batch norm forward, eval',
      bufs: { x: xb, gamma, beta, y: xb.length, runningMean: rnd(cb), runningVar: rnd(cb, 0.5, 2) },
      run: (b, t) => b.batchNormForwardEval(t.x, t.gamma, t.beta, t.y, t.runningMean, t.runningVar, nb, cb, hwb, 1e-5),
      check: { y: NORM },
    },
    {
      name: 'batch norm backward',
      bufs: { dy: dyb, x: xb, mean: meanB, rstd: rstdB, gamma, dx: xb.length, dgamma: cb, dbeta: cb },
      run: (b, t) => b.batchNormBackward(t.dy, t.x, t.mean, t.rstd, t.gamma, t.dx, t.dgamma, t.dbeta, nb, cb, hwb),
      check: { dx: NORM, dgamma: NORM, dbeta: NORM },
    },
  ];
}

function poolReduceCases(): Case[] {
  const nc = 5, h = 9, w = 10, k = 3, s = 2, p = 1;
  const hOut = Math.floor((h + 2 * p - k) / s) + 1, wOut = Math.floor((w + 2 * p - k) / s) + 1;
  const x = rnd(nc * h * w);
  const argmax = (() => {
    const b = cpu();
    const t = makeBufs(b, { x, y: nc * hOut * wOut, a: nc * hOut * wOut });
    b.maxPool2dForward(t.x, t.y, t.a, nc, h, w, k, s, p, hOut, wOut);
    const out = new Float32Array(nc * hOut * wOut);
    b.download(t.a, out);
    for (const buf of Object.values(t)) b.free(buf);
    return out;
  })();
  const big = 100_003;
  return [
    { name: 'max pool forward', bufs: { x, y: nc * hOut * wOut, argmax: nc * hOut * wOut }, run: (b, t) => b.maxPool2dForward(t.x, t.y, t.argmax, nc, h, w, k, s, p, hOut, wOut), check: { y: 'exact', argmax: 'exact' } },
    { name: 'max pool backward (overlapping windows)', bufs: { dy: rnd(nc * hOut * wOut), argmax, dx: nc * h * w }, run: (b, t) => b.maxPool2dBackward(t.dy, t.argmax, t.dx, nc, h, w, hOut, wOut), check: { dx: ELEMENTWISE } },
    { name: 'global average pool forward', bufs: { x: rnd(7 * 300), y: 7 }, run: (b, t) => b.globalAvgPoolForward(t.x, t.y, 7, 300), check: { y: REDUCTION } },
    { name: 'global average pool backward', bufs: { dy: rnd(7), dx: 7 * 300 }, run: (b, t) => b.globalAvgPoolBackward(t.dy, t.dx, 7, 300), check: { dx: ELEMENTWISE } },
    { name: 'sum', bufs: { x: rnd(big), out: 1 }, run: (b, t) => b.sum(t.x, t.out, big), check: { out: { rtol: 1e-4, atol: 0 } } },
    { name: 'mean', bufs: { x: rnd(big, 0, 1), out: 1 }, run: (b, t) => b.mean(t.x, t.out, big), check: { out: REDUCTION } },
    { name: 'sum backward', bufs: { dout: Float32Array.of(1.5), dx: 1001 }, run: (b, t) => b.sumBackward(t.dout, t.dx, 1001), check: { dx: 'exact' } },
    { name: 'mean backward', bufs: { dout: Float32Array.of(1.5), dx: 1001 }, run: (b, t) => b.meanBackward(t.dout, t.dx, 1001), check: { dx: ELEMENTWISE } },
  ];
}

function lossCases(): Case[] {
  const n = 3001;
  const x = normal(n, 2);
  const t01 = rnd(n, 0, 1);
  const tBinary = Float32Array.from(rnd(n, 0, 1), (v) => (v < 0.4 ? 1 : 0));
  const target = rnd(n);
  const dout = Float32Array.of(0.75);
  const LOSS: Tol = { rtol: 2e-5, atol: 1e-6 };
  const GRAD: Tol = { rtol: 1e-5, atol: 1e-6 };
  const rows = 37, k = 10;
  const logits = normal(rows * k, 3);
  const labels = Float32Array.from(rnd(rows, 0, k), Math.floor);
  const probs = (() => {
    const b = cpu();
    const t = makeBufs(b, { logits, labels, probs: rows * k, out: 1 });
    b.softmaxXentForward(t.logits, t.labels, t.probs, t.out, rows, k);
    const v = new Float32Array(rows * k);
    b.download(t.probs, v);
    for (const buf of Object.values(t)) b.free(buf);
    return v;
  })();
  const ghmWeights = rnd(n, 0.1, 3);
  const cases: Case[] = [
    { name: 'l1 loss forward', bufs: { x, t: target, out: 1 }, run: (b, u) => b.l1LossForward(u.x, u.t, u.out, n), check: { out: LOSS } },
    { name: 'l1 loss backward', bufs: { x, t: target, dout, dx: n }, run: (b, u) => b.l1LossBackward(u.x, u.t, u.dout, u.dx, n), check: { dx: GRAD } },
    { name: 'mse loss forward', bufs: { x, t: target, out: 1 }, run: (b, u) => b.mseLossForward(u.x, u.t, u.out, n), check: { out: LOSS } },
    { name: 'mse loss backward', bufs: { x, t: target, dout, dx: n }, run: (b, u) => b.mseLossBackward(u.x, u.t, u.dout, u.dx, n), check: { dx: GRAD } },
    { name: 'bce-with-logits forward (soft targets)', bufs: { x, t: t01, out: 1 }, run: (b, u) => b.bceLogitsForward(u.x, u.t, u.out, n), check: { out: LOSS } },
    { name: 'bce-with-logits backward', bufs: { x, t: t01, dout, dx: n }, run: (b, u) => b.bceLogitsBackward(u.x, u.t, u.dout, u.dx, n), check: { dx: GRAD } },
    { name: 'ghm-c backward', bufs: { x, t: tBinary, weights: ghmWeights, dout, dx: n }, run: (b, u) => b.ghmcLossBackward(u.x, u.t, u.weights, u.dout, u.dx, n), check: { dx: GRAD } },
    { name: 'softmax cross-entropy forward', bufs: { logits, labels, probs: rows * k, out: 1 }, run: (b, u) => b.softmaxXentForward(u.logits, u.labels, u.probs, u.out, rows, k), check: { probs: TRANSCENDENTAL, out: LOSS } },
    { name: 'softmax cross-entropy backward', bufs: { probs, labels, dout, dlogits: rows * k }, run: (b, u) => b.softmaxXentBackward(u.probs, u.labels, u.dout, u.dlogits, rows, k), check: { dlogits: GRAD } },
    { name: 'softmax', bufs: { logits, probs: rows * k }, run: (b, u) => b.softmaxForward(u.logits, u.probs, rows, k), check: { probs: TRANSCENDENTAL } },
  ];
  for (const [alpha, gamma] of [[0.25, 2], [-1, 0], [0.5, 1.5]]) {
    for (const [label, tt] of [['binary', tBinary], ['soft', t01]] as const) {
      cases.push(
        { name: `focal loss forward alpha ${alpha} gamma ${gamma} (${label} targets)`, bufs: { x, t: tt, out: 1 }, run: (b, u) => b.focalLossForward(u.x, u.t, alpha, gamma, u.out, n), check: { out: LOSS } },
        { name: `focal loss backward alpha ${alpha} gamma ${gamma} (${label} targets)`, bufs: { x, t: tt, dout, dx: n }, run: (b, u) => b.focalLossBackward(u.x, u.t, alpha, gamma, u.dout, u.dx, n), check: { dx: { rtol: 5e-5, atol: 1e-6 } } },
      );
    }
  }
  for (const momentum of [0, 0.75]) {
    const bins = 10;
    cases.push({
      name: `ghm-c forward, momentum ${momentum} (bin counts, weights, loss)`,
      bufs: { x, t: tBinary, acc: momentum > 0 ? rnd(bins, 50, 400) : bins, weights: n, out: 1 },
      run: (b, u) => {
        if (momentum === 0) b.fill(u.acc, 0, bins);
        b.ghmcLossForward(u.x, u.t, bins, momentum, u.acc, u.weights, u.out, n);
      },
      check: { acc: ELEMENTWISE, weights: ELEMENTWISE, out: LOSS },
    });
  }
  return cases;
}

function adamCases(): Case[] {
  const sizes = [10, 5000, 1, 4097];
  const bufs: Case['bufs'] = {};
  sizes.forEach((n, i) => {
    bufs[`p${i}`] = rnd(n);
    bufs[`g${i}`] = rnd(n, -0.01, 0.01);
    bufs[`m${i}`] = rnd(n, -0.001, 0.001);
    bufs[`v${i}`] = rnd(n, 0, 1e-5);
  });
  const check: Record<string, Tol> = {};
  sizes.forEach((_, i) => {
    for (const k of ['p', 'm', 'v']) check[`${k}${i}`] = { rtol: 1e-6, atol: 1e-7 };
  });
  const pick = (t: Record<string, Buf>, k: string): Buf[] => sizes.map((_, i) => t[`${k}${i}`]);
  return [
    {
      name: 'adam, 4 tensors, 3 steps (weight decay on the last)',
      bufs,
      check,
      unguarded: true,
      run: (b, t) => {
        for (let step = 1; step <= 3; step++) {
          b.adamStep(pick(t, 'p'), pick(t, 'g'), pick(t, 'm'), pick(t, 'v'), 2e-4, 0.5, 0.999, 1e-8, step === 3 ? 0.01 : 0, step);
        }
      },
    },
  ];
}

const groups: [string, () => Case[]][] = [
  ['elementwise', elementwiseCases],
  ['activations', activationCases],
  ['layout', layoutCases],
  ['convolution', convCases],
  ['linear', linearCases],
  ['normalisation', normCases],
  ['pooling and reductions', poolReduceCases],
  ['losses', lossCases],
  ['optimiser', adamCases],
];

for (const [group, make] of groups) {
  test(`CUDA matches the CPU: ${group}`, { skip }, async (t) => {
    for (const c of make()) await t.test(c.name, () => runCase(c));
  });
}

test('CUDA memory: uploads through the pinned staging (chunked), offsets, stats, cache, OOM message', { skip }, () => {
  const b = device().b;
  // 5M + 3 floats: larger than one 16 MiB staging buffer, so the upload is chunked and double-buffered.
  const n = 5 * 2 ** 20 + 3;
  const data = randomArray(n, 99);
  const before = b.memoryStats();
  const buf = b.alloc(n);
  b.upload(buf, data);
  const back = new Float32Array(n);
  b.download(buf, back);
  compare('chunked upload', back, data, 'exact');
  const part = new Float32Array(100);
  b.download(buf, part, 12345);
  compare('download at an offset', part, data.subarray(12345, 12445), 'exact');
  b.upload(buf, Float32Array.of(1, 2, 3), 7);
  b.download(buf, part.subarray(0, 3), 7);
  assert.deepEqual(Array.from(part.subarray(0, 3)), [1, 2, 3]);
  const during = b.memoryStats();
  assert.ok(during.inUse >= before.inUse + n * 4, `inUse ${during.inUse} after allocating ${n * 4} bytes`);
  assert.ok(during.peak >= during.inUse);
  b.free(buf);
  const after = b.memoryStats();
  if (!selftest) {
    assert.equal(after.inUse, before.inUse);
    assert.ok(after.cached >= n * 4, 'a freed block is cached for reuse');
    const again = b.alloc(n);
    const reused = b.memoryStats();
    assert.ok(reused.inUse > after.inUse);
    assert.equal(after.cached - reused.cached, reused.inUse - after.inUse, 'the cached block is reused, not allocated anew');
    b.free(again);
    b.emptyCache();
    assert.equal(b.memoryStats().cached, 0);
    assert.throws(() => b.alloc(2 ** 40), /CUDA out of memory allocating \d+(\.\d)? MiB \(in use [\d.]+ [KM]iB, cached [\d.]+ [KM]iB/);
    // The CPU emulator (scripts/build-cuda-emu.js) runs kernels thousands of times slower.
    if (device().info.emulated !== true) assert.ok(b.peakGflops(0.2) > 100, 'the FMA-chain kernel measures a plausible peak');
  }
});
