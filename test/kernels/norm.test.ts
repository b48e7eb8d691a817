/**
 * Instance and batch normalisation: forward values against a float64 JS reference with
 * PyTorch's conventions (biased variance for normalising, unbiased for running_var), gradients
 * against finite differences, SIMD levels against scalar, guarded writes.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import type { Buf } from '../../src/backend/binding';
import { assertClose, cpu, freeAll, fromBuf, guardedBuf, randomArray, simdLevels, toBuf, zerosBuf } from '../util/native';
import { assertGradcheck, weightedSum } from '../util/gradcheck';

const b = cpu();

interface Stats {
  y: Float64Array;
  mean: Float64Array;
  rstd: Float64Array;
  unbiasedVar: Float64Array;
}

/** Reference normalisation; groups are (n, c) planes (instance) or channels (batch). */
function referenceNorm(x: Float32Array, n: number, c: number, hw: number, perPlane: boolean, eps: number, gamma?: Float32Array, beta?: Float32Array): Stats {
  const groups = perPlane ? n * c : c;
  const members = (g: number): number[] => {
    const idx: number[] = [];
    const planes = perPlane ? [g] : Array.from({ length: n }, (_, i) => i * c + g);
    for (const p of planes) for (let k = 0; k < hw; k++) idx.push(p * hw + k);
    return idx;
  };
  const out: Stats = { y: new Float64Array(x.length), mean: new Float64Array(groups), rstd: new Float64Array(groups), unbiasedVar: new Float64Array(groups) };
  for (let g = 0; g < groups; g++) {
    const idx = members(g);
    const mean = idx.reduce((s, i) => s + x[i], 0) / idx.length;
    const sq = idx.reduce((s, i) => s + (x[i] - mean) ** 2, 0);
    const rstd = 1 / Math.sqrt(sq / idx.length + eps);
    const ch = g % c;
    for (const i of idx) out.y[i] = (x[i] - mean) * rstd * (gamma ? gamma[ch] : 1) + (beta ? beta[ch] : 0);
    out.mean[g] = mean;
    out.rstd[g] = rstd;
    out.unbiasedVar[g] = sq / (idx.length - 1);
  }
  return out;
}

test('instance norm forward: biased variance, per-plane mean/rstd, optional affine', () => {
  for (const [n, c, hw] of [[1, 1, 5], [2, 3, 7], [3, 2, 49]]) {
    const x = randomArray(n * c * hw, n * 10 + c, -2, 3);
    const gamma = randomArray(c, 5, 0.5, 1.5), beta = randomArray(c, 6);
    for (const affine of [false, true]) {
      const ref = referenceNorm(x, n, c, hw, true, 1e-5, affine ? gamma : undefined, affine ? beta : undefined);
      const xb = toBuf(b, x), gb = affine ? toBuf(b, gamma) : null, bb = affine ? toBuf(b, beta) : null;
      const y = guardedBuf(b, x.length), mean = guardedBuf(b, n * c), rstd = guardedBuf(b, n * c);
      b.instanceNormForward(xb, gb, bb, y.buf, mean.buf, rstd.buf, n, c, hw, 1e-5);
      for (const [g, label] of [[y, 'y'], [mean, 'mean'], [rstd, 'rstd']] as const) g.check(`instance norm ${label}`);
      assertClose(y.values(), ref.y, `instance norm y [${n},${c},${hw}] affine=${affine}`, 1e-4, 1e-5);
      assertClose(mean.values(), ref.mean, 'instance norm mean', 1e-5, 1e-6);
      assertClose(rstd.values(), ref.rstd, 'instance norm rstd', 1e-4, 1e-5);
      freeAll(b, xb, gb, bb, y.buf, mean.buf, rstd.buf);
    }
  }
});

test('instance norm keeps the variance of a plane with a large mean (two-pass statistics)', () => {
  const hw = 4096;
  const x = randomArray(hw, 3, -1, 1).map((v) => 1000 + v);
  const ref = referenceNorm(x, 1, 1, hw, true, 1e-5);
  const xb = toBuf(b, x), y = zerosBuf(b, hw), mean = zerosBuf(b, 1), rstd = zerosBuf(b, 1);
  b.instanceNormForward(xb, null, null, y, mean, rstd, 1, 1, hw, 1e-5);
  assertClose(fromBuf(b, rstd), ref.rstd, 'rstd at mean 1000', 1e-4, 0);
  assertClose(fromBuf(b, y), ref.y, 'y at mean 1000', 0, 2e-3);
  freeAll(b, xb, y, mean, rstd);
});

/** Gradient check of a norm's backward w.r.t. x, gamma and beta. */
function gradcheckNorm(kind: 'instance' | 'batch', n: number, c: number, hw: number): void {
  const total = n * c * hw;
  const statSize = kind === 'instance' ? n * c : c;
  const x = randomArray(total, total, -2, 2), gamma = randomArray(c, 7, 0.5, 1.5), beta = randomArray(c, 8);
  const weights = randomArray(total, 9);
  const forward = (xb: Buf, gb: Buf, bb: Buf, y: Buf, mean: Buf, rstd: Buf) => {
    if (kind === 'instance') b.instanceNormForward(xb, gb, bb, y, mean, rstd, n, c, hw, 1e-5);
    else b.batchNormForwardTrain(xb, gb, bb, y, mean, rstd, null, null, n, c, hw, 1e-5, 0.1);
  };
  const loss = ([xi, gi, bi]: Float32Array[]) => {
    const bufs = [toBuf(b, xi), toBuf(b, gi), toBuf(b, bi), zerosBuf(b, total), zerosBuf(b, statSize), zerosBuf(b, statSize)];
    forward(bufs[0], bufs[1], bufs[2], bufs[3], bufs[4], bufs[5]);
    const y = fromBuf(b, bufs[3]);
    freeAll(b, ...bufs);
    return weightedSum(y, weights);
  };
  const [xb, gb, bb, yb, mb, rb, dyb] = [toBuf(b, x), toBuf(b, gamma), toBuf(b, beta), zerosBuf(b, total), zerosBuf(b, statSize), zerosBuf(b, statSize), toBuf(b, weights)];
  forward(xb, gb, bb, yb, mb, rb);
  const dx = guardedBuf(b, total), dgamma = guardedBuf(b, c), dbeta = guardedBuf(b, c);
  const backward = kind === 'instance' ? b.instanceNormBackward : b.batchNormBackward;
  backward(dyb, xb, mb, rb, gb, dx.buf, dgamma.buf, dbeta.buf, n, c, hw);
  dx.check(`${kind} dx`);
  dgamma.check(`${kind} dgamma`);
  dbeta.check(`${kind} dbeta`);
  assertGradcheck(`${kind} norm [${n},${c},${hw}]`, loss, [x, gamma, beta], [dx.values(), dgamma.values(), dbeta.values()], { eps: 1e-2, rtol: 3e-2, atol: 3e-3, maxPerInput: 40 });
  // Without affine parameters the backward must give the same dx as gamma = 1.
  const ones = toBuf(b, new Float32Array(c).fill(1)), zeros = zerosBuf(b, c);
  forward(xb, ones, zeros, yb, mb, rb);
  const dxAffine = zerosBuf(b, total), dxPlain = zerosBuf(b, total);
  backward(dyb, xb, mb, rb, ones, dxAffine, null, null, n, c, hw);
  backward(dyb, xb, mb, rb, null, dxPlain, null, null, n, c, hw);
  assertClose(fromBuf(b, dxPlain), fromBuf(b, dxAffine), `${kind} dx without gamma`, 1e-6, 1e-7);
  freeAll(b, xb, gb, bb, yb, mb, rb, dyb, dx.buf, dgamma.buf, dbeta.buf, ones, zeros, dxAffine, dxPlain);
}

test('instance norm backward passes gradient checks (odd sizes, batch > 1)', () => {
  gradcheckNorm('instance', 2, 3, 7);
  gradcheckNorm('instance', 1, 2, 25);
});

test('batch norm backward passes gradient checks (odd sizes, batch > 1)', () => {
  gradcheckNorm('batch', 3, 2, 5);
  gradcheckNorm('batch', 2, 3, 1);
});

test('batch norm training: batch statistics, running stats with unbiased variance and momentum', () => {
  const n = 3, c = 2, hw = 5;
  const x = randomArray(n * c * hw, 21, -1, 4);
  const gamma = randomArray(c, 22, 0.5, 1.5), beta = randomArray(c, 23);
  const ref = referenceNorm(x, n, c, hw, false, 1e-5, gamma, beta);
  const runMean0 = Float32Array.from([0.5, -0.25]), runVar0 = Float32Array.from([2, 0.5]);
  const bufs = { x: toBuf(b, x), g: toBuf(b, gamma), be: toBuf(b, beta), y: zerosBuf(b, x.length), mean: zerosBuf(b, c), rstd: zerosBuf(b, c), rm: toBuf(b, runMean0), rv: toBuf(b, runVar0) };
  b.batchNormForwardTrain(bufs.x, bufs.g, bufs.be, bufs.y, bufs.mean, bufs.rstd, bufs.rm, bufs.rv, n, c, hw, 1e-5, 0.1);
  assertClose(fromBuf(b, bufs.y), ref.y, 'batch norm y', 1e-4, 1e-5);
  assertClose(fromBuf(b, bufs.mean), ref.mean, 'batch mean', 1e-5, 1e-6);
  assertClose(fromBuf(b, bufs.rstd), ref.rstd, 'batch rstd', 1e-4, 1e-6);
  const expectedRm = Array.from(runMean0, (r, i) => 0.9 * r + 0.1 * ref.mean[i]);
  const expectedRv = Array.from(runVar0, (r, i) => 0.9 * r + 0.1 * ref.unbiasedVar[i]);
  assertClose(fromBuf(b, bufs.rm), expectedRm, 'running_mean', 1e-5, 1e-6);
  assertClose(fromBuf(b, bufs.rv), expectedRv, 'running_var (unbiased)', 1e-5, 1e-6);
  // Eval mode normalises with the running statistics.
  b.batchNormForwardEval(bufs.x, bufs.g, bufs.be, bufs.y, bufs.rm, bufs.rv, n, c, hw, 1e-5);
  const y = fromBuf(b, bufs.y);
  const expectedEval = Array.from(x, (v, i) => {
    const ch = Math.floor(i / hw) % c;
    return ((v - expectedRm[ch]) / Math.sqrt(expectedRv[ch] + 1e-5)) * gamma[ch] + beta[ch];
  });
  assertClose(y, expectedEval, 'batch norm eval', 1e-4, 1e-5);
  freeAll(b, ...Object.values(bufs));
});

test('norm kernels agree across SIMD levels', () => {
  const n = 2, c = 3, hw = 37 * 3;
  const x = randomArray(n * c * hw, 31, -3, 3), dy = randomArray(n * c * hw, 32), gamma = randomArray(c, 33);
  const run = (): Float32Array[] => {
    const xb = toBuf(b, x), dyb = toBuf(b, dy), gb = toBuf(b, gamma), y = zerosBuf(b, x.length), m = zerosBuf(b, n * c), r = zerosBuf(b, n * c);
    const dx = zerosBuf(b, x.length), dg = zerosBuf(b, c), db = zerosBuf(b, c);
    b.instanceNormForward(xb, gb, null, y, m, r, n, c, hw, 1e-5);
    b.instanceNormBackward(dyb, xb, m, r, gb, dx, dg, db, n, c, hw);
    const outs = [fromBuf(b, y), fromBuf(b, dx), fromBuf(b, dg), fromBuf(b, db)];
    b.batchNormForwardTrain(xb, gb, null, y, m, r, null, null, n, c, hw, 1e-5, 0.1);
    b.batchNormBackward(dyb, xb, m, r, gb, dx, dg, db, n, c, hw);
    outs.push(fromBuf(b, y), fromBuf(b, dx), fromBuf(b, dg), fromBuf(b, db));
    freeAll(b, xb, dyb, gb, y, m, r, dx, dg, db);
    return outs;
  };
  b.setSimd(0);
  const reference = run();
  try {
    for (const level of simdLevels(b)) {
      b.setSimd(level);
      run().forEach((out, k) => assertClose(out, reference[k], `simd ${level} output ${k}`, 1e-4, 1e-5));
    }
  } finally {
    b.setSimd(-1);
  }
});

test('norm bad arguments throw clear errors', () => {
  const big = b.alloc(100), small = b.alloc(2);
  assert.throws(() => b.instanceNormForward(big, null, null, big, small, big, 2, 3, 4, 1e-5), /instanceNormForward: mean holds 2 floats, needs 6 for \[2,3\]/);
  assert.throws(() => b.instanceNormForward(big, small, null, big, big, big, 2, 3, 4, 1e-5), /gamma holds 2 floats, needs 3 for \[3\]/);
  assert.throws(() => b.instanceNormForward(big, null, null, big, big, big, 2, 3, 4, -1), /eps = -1/);
  assert.throws(() => b.instanceNormBackward(big, big, big, big, null, big, big, null, 2, 3, 4), /dgamma and dbeta must be null when gamma is null/);
  assert.throws(() => b.batchNormForwardTrain(big, null, null, big, big, big, null, null, 1, 3, 1, 1e-5, 0.1), /more than 1 value per channel/);
  assert.throws(() => b.batchNormForwardTrain(big, null, null, big, big, big, big, null, 2, 3, 4, 1e-5, 0.1), /runningMean and runningVar/);
  assert.throws(() => b.batchNormForwardTrain(big, null, null, big, big, big, null, null, 2, 3, 4, 1e-5, 1.5), /momentum = 1.5/);
  assert.throws(() => b.instanceNormForward(big, null, null, big, big, big, 0, 3, 4, 1e-5), /n = 0, expected an integer >= 1/);
  freeAll(b, big, small);
});

test('fused instance norm + ReLU gives the bits of instance norm then ReLU, both ways, at every SIMD level', () => {
  const n = 2, c = 3, hw = 37 * 3; // odd planes: vector bodies and scalar tails
  const x = randomArray(n * c * hw, 41, -3, 3), dy = randomArray(n * c * hw, 42), gamma = randomArray(c, 43, 0.5, 1.5), beta = randomArray(c, 44);
  try {
    for (const level of simdLevels(b)) {
      b.setSimd(level);
      for (const affine of [false, true]) {
        const xb = toBuf(b, x), dyb = toBuf(b, dy), gb = affine ? toBuf(b, gamma) : null, bb = affine ? toBuf(b, beta) : null;
        const y = zerosBuf(b, x.length), m = zerosBuf(b, n * c), r = zerosBuf(b, n * c), z = zerosBuf(b, x.length);
        const dz = zerosBuf(b, x.length), dx = zerosBuf(b, x.length), dg = affine ? zerosBuf(b, c) : null, db = affine ? zerosBuf(b, c) : null;
        const fy = guardedBuf(b, x.length), fm = zerosBuf(b, n * c), fr = zerosBuf(b, n * c);
        const fdx = guardedBuf(b, x.length), fdg = affine ? zerosBuf(b, c) : null, fdb = affine ? zerosBuf(b, c) : null;
        const tag = `simd ${level}, affine ${affine}`;
        try {
          // unfused: instance norm, relu; backward: relu's mask, then the norm
          b.instanceNormForward(xb, gb, bb, y, m, r, n, c, hw, 1e-5);
          b.reluForward(y, z, x.length);
          b.reluBackward(y, dyb, dz, x.length);
          b.instanceNormBackward(dz, xb, m, r, gb, dx, dg, db, n, c, hw);
          b.instanceNormReluForward!(xb, gb, bb, fy.buf, fm, fr, n, c, hw, 1e-5);
          b.instanceNormReluBackward!(dyb, xb, fm, fr, gb, bb, fdx.buf, fdg, fdb, n, c, hw);
          fy.check('instanceNormReluForward y');
          fdx.check('instanceNormReluBackward dx');
          const zs = fromBuf(b, z);
          assert.ok(zs.some((v) => v === 0) && zs.some((v) => v > 0), `${tag}: the ReLU clips part of the output`);
          assert.deepEqual(fy.values(), zs, `${tag}: y`);
          assert.deepEqual(fdx.values(), fromBuf(b, dx), `${tag}: dx`);
          if (affine) {
            assert.deepEqual(fromBuf(b, fdg!), fromBuf(b, dg!), `${tag}: dgamma`);
            assert.deepEqual(fromBuf(b, fdb!), fromBuf(b, db!), `${tag}: dbeta`);
          }
        } finally {
          freeAll(b, xb, dyb, gb, bb, y, m, r, z, dz, dx, dg, db, fy.buf, fm, fr, fdx.buf, fdg, fdb);
        }
      }
    }
  } finally {
    b.setSimd(-1);
  }
  const big = b.alloc(100);
  try {
    assert.throws(() => b.instanceNormReluBackward!(big, big, big, big, big, null, big, null, null, 2, 3, 4), /gamma and beta must both be given or both be null/);
  } finally {
    freeAll(b, big);
  }
});
