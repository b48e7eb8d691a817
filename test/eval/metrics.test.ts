/**
 * Metric maths on synthetic features with known answers: the Jacobi eigensolver and PSD square
 * root, FID against closed forms, KID's unbiasedness, IS extremes and PRDC's limits.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { cholesky, fromEigen, jacobiEigen, JACOBI_MAX_N, matmul, meanAndCovariance, sqrtPsd, symmetricEigen, symmetricEigenvalues, tridiagonalQlEigen, type FeatureMatrix } from '../../src/eval/linalg';
import { fid, frechetDistance, frechetDistanceLowRank, gaussianStats, traceSqrtProduct } from '../../src/eval/fid';
import { fidOffThread } from '../../src/eval/fid-thread';
import { kid, mmd2Unbiased } from '../../src/eval/kid';
import { inceptionScore } from '../../src/eval/inception-score';
import { prdc } from '../../src/eval/prdc';
import { argmaxRows, confusionMatrix, labelAccuracy } from '../../src/eval/accuracy';
import { backendDots, hostDots } from '../../src/eval/dots';
import { cpuBackend, randomNormal, seededRng } from '../util/native';

function gaussian(n: number, d: number, seed: number, mean = 0, std = 1): FeatureMatrix {
  return { data: Float64Array.from(randomNormal(n * d, seed, mean, std)), n, d };
}

function randomSpd(n: number, seed: number): Float64Array {
  const rng = seededRng(seed);
  const b = new Float64Array(n * n).map(() => rng() * 2 - 1);
  const bt = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) bt[j * n + i] = b[i * n + j];
  const a = matmul(b, bt, n);
  for (let i = 0; i < n; i++) a[i * n + i] += 0.1;
  return a;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

test('Jacobi eigendecomposition reconstructs a symmetric matrix with orthonormal vectors', () => {
  const n = 12;
  const a = randomSpd(n, 1);
  const e = symmetricEigen(a, n);
  assert.ok(maxDiff(fromEigen(e, n, (l) => l), a) < 1e-10, 'V diag(l) V^T = A');
  const vtv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < n; k++) s += e.vectors[k * n + i] * e.vectors[k * n + j];
    vtv[i * n + j] = s;
  }
  const eye = new Float64Array(n * n).map((_, i) => (i % (n + 1) === 0 ? 1 : 0));
  assert.ok(maxDiff(vtv, eye) < 1e-12, 'V^T V = I');
  // A diagonal matrix needs no rotation and keeps its values.
  const diag = new Float64Array(9);
  diag[0] = 3; diag[4] = 1; diag[8] = 2;
  assert.deepEqual(Array.from(symmetricEigen(diag, 3).values), [3, 1, 2]);
});

test('Householder + QL agrees with Jacobi and takes over for large matrices', () => {
  const n = 40;
  const a = randomSpd(n, 8);
  const ql = tridiagonalQlEigen(a, n);
  const jacobi = jacobiEigen(a, n);
  assert.ok(maxDiff(fromEigen(ql, n, (l) => l), a) < 1e-10);
  const sorted = (v: Float64Array) => Array.from(v).sort((x, y) => x - y);
  assert.ok(maxDiff(sorted(ql.values), sorted(jacobi.values)) < 1e-10);
  // A matrix above the Jacobi limit (as Inception's 2048-d covariances): still exact.
  const big = JACOBI_MAX_N + 4;
  const b = randomSpd(big, 9);
  const e = symmetricEigen(b, big);
  assert.equal(e.sweeps, 0, 'the QL path ran');
  assert.ok(maxDiff(fromEigen(e, big, (l) => l), b) < 1e-9);
  // Repeated eigenvalues (the identity) and a zero matrix are handled.
  const eye = new Float64Array(9).map((_, i) => (i % 4 === 0 ? 1 : 0));
  assert.deepEqual(Array.from(tridiagonalQlEigen(eye, 3).values), [1, 1, 1]);
  assert.deepEqual(Array.from(tridiagonalQlEigen(new Float64Array(9), 3).values), [0, 0, 0]);
});

test('sqrtPsd squares back to the matrix and clips rounding-negative eigenvalues', () => {
  const n = 10;
  const a = randomSpd(n, 2);
  const h = sqrtPsd(a, n);
  assert.ok(maxDiff(matmul(h, h, n), a) < 1e-9);
  // rank 1 (eigenvalues 0, 0, 14): finite, and sqrt(A)^2 = A
  const v = [1, 2, 3];
  const r1 = new Float64Array(9).map((_, i) => v[Math.floor(i / 3)] * v[i % 3]);
  const h1 = sqrtPsd(r1, 3);
  assert.ok(h1.every(Number.isFinite));
  assert.ok(maxDiff(matmul(h1, h1, 3), r1) < 1e-9);
});

test('covariance is numpy np.cov(rowvar=False): unbiased, with column means', () => {
  const f = { data: Float64Array.from([1, 2, 3, 6, 5, 10]), n: 3, d: 2 };
  const { mean, cov } = meanAndCovariance(f);
  assert.deepEqual(Array.from(mean), [3, 6]);
  // x: 1,3,5 (var 4), y: 2,6,10 (var 16), cov 8
  assert.deepEqual(Array.from(cov), [4, 8, 8, 16]);
});

test('FID matches the closed form for diagonal covariances', () => {
  const d = 5;
  const a = { mean: Float64Array.from([0, 1, 2, 3, 4]), cov: new Float64Array(d * d), d };
  const b = { mean: Float64Array.from([1, 1, 0, 3, 5]), cov: new Float64Array(d * d), d };
  const va = [1, 4, 9, 0.25, 2];
  const vb = [4, 4, 1, 1, 0];
  for (let i = 0; i < d; i++) {
    a.cov[i * d + i] = va[i];
    b.cov[i * d + i] = vb[i];
  }
  let expected = 1 + 0 + 4 + 0 + 1;
  for (let i = 0; i < d; i++) expected += (Math.sqrt(va[i]) - Math.sqrt(vb[i])) ** 2;
  assert.ok(Math.abs(frechetDistance(a, b) - expected) < 1e-10, `${frechetDistance(a, b)} vs ${expected}`);
});

test('FID matches the 2x2 closed form for non-commuting covariances', () => {
  // For 2x2 SPD: tr sqrt(S1^1/2 S2 S1^1/2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2)).
  const s1 = Float64Array.from([2, 0.7, 0.7, 1]);
  const s2 = Float64Array.from([1, -0.4, -0.4, 3]);
  const trS1S2 = s1[0] * s2[0] + s1[1] * s2[2] + s1[2] * s2[1] + s1[3] * s2[3];
  const det = (m: Float64Array) => m[0] * m[3] - m[1] * m[2];
  const expected = Math.sqrt(trS1S2 + 2 * Math.sqrt(det(s1) * det(s2)));
  assert.ok(Math.abs(traceSqrtProduct(s1, s2, 2) - expected) < 1e-12);
  assert.ok(Math.abs(traceSqrtProduct(s2, s1, 2) - expected) < 1e-12, 'symmetric in its arguments');
  const fidValue = frechetDistance({ mean: Float64Array.from([1, 0]), cov: s1, d: 2 }, { mean: Float64Array.from([0, 2]), cov: s2, d: 2 });
  assert.ok(Math.abs(fidValue - (5 + 3 + 4 - 2 * expected)) < 1e-12);
});

test('FID(X, X) = 0, FID grows with a mean shift, and rank-deficient covariances stay finite', () => {
  const x = gaussian(400, 16, 3);
  assert.ok(Math.abs(fid(x, x)) < 1e-9, `FID(X, X) = ${fid(x, x)}`);
  const shifted = { ...x, data: x.data.map((v, i) => (i % 16 === 0 ? v + 2 : v)) };
  assert.ok(Math.abs(fid(x, shifted) - 4) < 1e-8, 'a pure mean shift of 2 in one coordinate adds exactly 4');
  const few = gaussian(5, 16, 4); // covariance of rank 4 in 16 dimensions
  const value = fid(few, gaussian(6, 16, 5));
  assert.ok(Number.isFinite(value) && value > 0, `rank-deficient FID ${value}`);
  // Two large samples of one Gaussian: close to 0 (sampling bias only).
  const big = fid(gaussian(4000, 4, 6), gaussian(4000, 4, 7));
  assert.ok(big < 0.02, `FID of two samples of N(0, I) = ${big}`);
  // gaussianStats + frechetDistance is what fid() does with more samples than features.
  assert.equal(frechetDistance(gaussianStats(x), gaussianStats(shifted)), fid(x, shifted));
});

test('FID with fewer samples than features (the Gram route) equals the d x d square root', () => {
  for (const [n1, n2, d] of [[20, 30, 64], [31, 12, 64], [7, 7, 300]] as const) {
    const x = gaussian(n1, d, n1 + d, 0, 1.5);
    const y = gaussian(n2, d, n2 + 2 * d, 0.3, 0.8);
    const dense = frechetDistance(gaussianStats(x), gaussianStats(y));
    const low = frechetDistanceLowRank(x, y);
    // the dense route takes square roots of the zero eigenvalues of rank-deficient S1 S2, each a
    // rounding-sized positive number whose root is ~1e-7: agreement to ~1e-8 of the value
    assert.ok(Math.abs(low - dense) <= 1e-7 * dense, `n ${n1}/${n2} d ${d}: Gram ${low} vs dense ${dense}`);
    assert.equal(fid(x, y), low, 'fid() takes the Gram route when min(n) < d');
  }
  const x = gaussian(10, 50, 1);
  assert.ok(Math.abs(frechetDistanceLowRank(x, x)) < 1e-9, 'FID(X, X) = 0 on the Gram route');
});

test('KID: the unbiased MMD^2 estimator equals the brute-force formula and averages to 0 on one distribution', () => {
  const x = gaussian(7, 3, 10);
  const y = gaussian(7, 3, 11, 0.5);
  const kern = (u: ArrayLike<number>, i: number, v: ArrayLike<number>, j: number) => {
    let s = 0;
    for (let t = 0; t < 3; t++) s += u[i * 3 + t] * v[j * 3 + t];
    return (s / 3 + 1) ** 3;
  };
  let xx = 0, yy = 0, xy = 0;
  for (let i = 0; i < 7; i++) for (let j = 0; j < 7; j++) {
    if (i !== j) {
      xx += kern(x.data, i, x.data, j);
      yy += kern(y.data, i, y.data, j);
    }
    xy += kern(x.data, i, y.data, j);
  }
  const expected = (xx + yy) / 42 - (2 * xy) / 49;
  assert.ok(Math.abs(mmd2Unbiased(x, y) - expected) < 1e-12);

  // Unbiased: over many independent pairs of one distribution the mean is 0 within its standard
  // error, while a biased (V-statistic) estimate would sit far above it.
  const values: number[] = [];
  for (let r = 0; r < 120; r++) values.push(mmd2Unbiased(gaussian(30, 4, 100 + 2 * r), gaussian(30, 4, 101 + 2 * r)));
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const se = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1) / values.length);
  assert.ok(Math.abs(mean) < 3 * se, `mean MMD^2 ${mean} vs standard error ${se}`);

  const same = kid(gaussian(300, 4, 20), gaussian(300, 4, 21), { subsets: 20, subsetSize: 100 });
  const shifted = kid(gaussian(300, 4, 20), gaussian(300, 4, 21, 1), { subsets: 20, subsetSize: 100 });
  assert.ok(Math.abs(same.mean) < 0.05 && shifted.mean > 10 * Math.abs(same.mean) && shifted.mean > 0.2, `KID same ${same.mean}, shifted ${shifted.mean}`);
  assert.equal(kid(gaussian(50, 4, 1), gaussian(40, 4, 2)).subsetSize, 40, 'subsets shrink to the smaller set');
  const xw = gaussian(40, 4, 3);
  const yw = gaussian(40, 4, 4, 0.5);
  const whole = kid(xw, yw, { subsets: 10 });
  assert.deepEqual([whole.subsets, whole.subsetSize, whole.std], [1, 40, 0], 'subsets as large as both sets are one estimate, with no spread');
  assert.equal(whole.mean, mmd2Unbiased(xw, yw));
});

test('KID and PRDC give the same answer with the backend GEMM as in double precision', () => {
  const x = gaussian(300, 16, 30);
  const y = gaussian(250, 16, 31, 0.3);
  const dots = backendDots(cpuBackend());
  try {
    const host = kid(x, y, { subsets: 5, subsetSize: 200 });
    const native = kid(x, y, { subsets: 5, subsetSize: 200, dots });
    assert.ok(Math.abs(host.mean - native.mean) < 1e-4 * Math.max(1, Math.abs(host.mean)), `${host.mean} vs ${native.mean}`);
    assert.deepEqual(prdc(x, y, 5, dots), prdc(x, y, 5, hostDots));
  } finally {
    dots.dispose();
  }
});

test('IS is 1 for uniform predictions and K for confident, balanced ones', () => {
  const n = 200, k = 10;
  const uniform = new Float64Array(n * k).fill(0.1);
  const u = inceptionScore(uniform, n, k);
  assert.ok(Math.abs(u.mean - 1) < 1e-12 && u.std < 1e-12);
  const onehot = new Float64Array(n * k);
  for (let i = 0; i < n; i++) onehot[i * k + (i % k)] = 1;
  const o = inceptionScore(onehot, n, k);
  assert.ok(Math.abs(o.mean - 10) < 1e-9, `one-hot IS ${o.mean}`);
  // All images the same digit: confident but no diversity.
  const collapsed = new Float64Array(n * k);
  for (let i = 0; i < n; i++) collapsed[i * k + 3] = 1;
  assert.ok(Math.abs(inceptionScore(collapsed, n, k).mean - 1) < 1e-12);
  assert.throws(() => inceptionScore(uniform, n, k, 0), /splits/);
});

test('PRDC: a set against itself and two samples of one distribution', () => {
  const x = gaussian(600, 3, 40);
  const self = prdc(x, x, 5);
  assert.equal(self.precision, 1);
  assert.equal(self.recall, 1);
  assert.equal(self.coverage, 1);
  // Two independent samples of equal size: coverage -> 1 - 2^-k (Naeem et al., Sec. 3.2), density -> 1.
  const a = gaussian(1500, 2, 41);
  const b = gaussian(1500, 2, 42);
  const r = prdc(a, b, 5);
  assert.ok(Math.abs(r.coverage - (1 - 2 ** -5)) < 0.02, `coverage ${r.coverage}`);
  assert.ok(Math.abs(r.density - 1) < 0.1, `density ${r.density}`);
  assert.ok(r.precision > 0.9 && r.recall > 0.9, `precision ${r.precision} recall ${r.recall}`);
  const far = prdc(a, gaussian(1500, 2, 43, 20), 5);
  assert.deepEqual([far.precision, far.recall, far.density, far.coverage], [0, 0, 0, 0]);
});

test('PRDC counts balls exactly on a hand-made 1-D example (k = 1)', () => {
  // reals at 0, 1, 3: radii (distance to the nearest other real) 1, 1, 2.
  const real = { data: Float64Array.from([0, 1, 3]), n: 3, d: 1 };
  // fakes at 0.5 (in balls of 0 and 1), 2.5 (in the ball of 3), 10 (in none); fake radii 2, 2, 7.5
  const fake = { data: Float64Array.from([0.5, 2.5, 10]), n: 3, d: 1 };
  const r = prdc(real, fake, 1);
  assert.equal(r.precision, 2 / 3);
  assert.equal(r.density, 3 / 3);
  assert.equal(r.coverage, 1);
  assert.equal(r.recall, 1, 'every real lies within 2 of a fake at 0.5 or 2.5');
});

test('label accuracy, arg-max and the confusion matrix', () => {
  const logits = Float32Array.from([0.1, 2, -1, 3, 0, 0, 0, 0, 1]);
  const predicted = argmaxRows(logits, 3, 3);
  assert.deepEqual(Array.from(predicted), [1, 0, 2]);
  assert.equal(labelAccuracy(predicted, [1, 1, 2]), 2 / 3);
  assert.deepEqual(Array.from(confusionMatrix(predicted, [1, 1, 2], 3)), [0, 0, 0, 1, 1, 0, 0, 0, 1]);
  assert.throws(() => labelAccuracy([1], [1, 2]), /1 predictions for 2 labels/);
});

test('eigenvalues without vectors, Cholesky, and the Cholesky route of tr(sqrt(S1 S2)) agree with the square-root route', () => {
  for (const n of [41, 302]) { // not multiples of 4: the blocked products' last block
    const a = randomSpd(n, n);
    const b = randomSpd(n, n + 1);
    const full = Array.from(symmetricEigen(a, n).values).sort((x, y) => x - y);
    const only = Array.from(symmetricEigenvalues(a, n)).sort((x, y) => x - y);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(full[i] - only[i]) <= 1e-10 * Math.abs(full[n - 1]), `${n}: eigenvalue ${i}`);
    const l = cholesky(a, n)!;
    const back = matmul(l, Float64Array.from({ length: n * n }, (_, i) => l[(i % n) * n + Math.floor(i / n)]), n);
    for (let i = 0; i < n * n; i++) assert.ok(Math.abs(back[i] - a[i]) <= 1e-10 * Math.abs(a[0]), `${n}: L L^T [${i}]`);
    // the square-root route, written out
    const h = sqrtPsd(a, n);
    const reference = Array.from(symmetricEigen(matmul(matmul(h, b, n), h, n), n).values).reduce((t, v) => t + Math.sqrt(Math.max(v, 0)), 0);
    const viaCholesky = traceSqrtProduct(a, b, n);
    assert.ok(Math.abs(viaCholesky - reference) <= 1e-9 * reference, `${n}: Cholesky ${viaCholesky} vs ${reference}`);
  }
  // a singular S1 has no Cholesky factor: the square-root route answers
  const n = 30;
  const x = gaussian(10, n, 9); // rank 9 covariance
  const singular = gaussianStats(x).cov;
  assert.equal(cholesky(singular, n), null);
  const b = randomSpd(n, 5);
  const h = sqrtPsd(singular, n);
  const reference = Array.from(symmetricEigen(matmul(matmul(h, b, n), h, n), n).values).reduce((t, v) => t + Math.sqrt(Math.max(v, 0)), 0);
  assert.ok(Math.abs(traceSqrtProduct(singular, b, n) - reference) <= 1e-9 * reference);
});

test('FID on a worker thread equals FID in place; an abort rejects with its reason', async () => {
  const x = gaussian(60, 24, 31);
  const y = gaussian(80, 24, 32, 0.2);
  assert.equal(await fidOffThread(x, y, { minWork: 0 }), fid(x, y), 'the worker computes the same number');
  assert.equal(await fidOffThread(x, y), fid(x, y), 'small sets: in place');
  const big = gaussian(3000, 64, 33);
  const controller = new AbortController();
  const pending = fidOffThread(big, gaussian(3000, 64, 34), { minWork: 0, signal: controller.signal });
  controller.abort(new Error('stop requested'));
  await assert.rejects(pending, /stop requested/);
  const aborted = new AbortController();
  aborted.abort(new Error('already stopped'));
  await assert.rejects(fidOffThread(x, y, { minWork: 0, signal: aborted.signal }), /already stopped/);
});
