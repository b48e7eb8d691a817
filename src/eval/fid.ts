/**
 * Fréchet distance between two Gaussians fitted to feature sets (Heusel et al. 2017):
 *   FID = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)
 * The square root is taken of the symmetric PSD matrix S1^1/2 S2 S1^1/2, whose eigenvalues are
 * those of S1 S2: unlike scipy's sqrtm of the non-symmetric S1 S2 (pytorch-fid), this never
 * produces complex parts or needs an epsilon on the diagonal when a covariance is singular.
 * Only the eigenvalues of S1 S2 are needed, and fid() takes the cheapest exact way to them:
 * the Gram matrix of the centred features with fewer samples than features, else L^T S2 L with
 * the Cholesky factor of S1, else (S1 singular) the square root of S1.
 * Which features are used decides the name: on the digit classifier's penultimate layer it is
 * `digit-FID`, on Inception-v3 pool3 features it is the standard `FID`.
 */
import { checkFeatures, cholesky, columnMeans, matmul, meanAndCovariance, sqrtPsd, symmetricEigen, symmetricEigenvalues, symmetrize, trace, type FeatureMatrix } from './linalg';

export interface GaussianStats {
  mean: Float64Array;
  cov: Float64Array;
  d: number;
}

export function gaussianStats(f: FeatureMatrix): GaussianStats {
  return { ...meanAndCovariance(f), d: f.d };
}

/**
 * tr((S1^1/2 S2 S1^1/2)^1/2) for symmetric PSD S1, S2 (d x d). With S1 = L L^T (Cholesky, when
 * S1 is positive definite) the eigenvalues of S1 S2 are those of the symmetric L^T S2 L: one
 * factorisation, two products and an eigenvalues-only solve, about a quarter of the work of the
 * square-root route, which stays for a singular S1.
 */
export function traceSqrtProduct(s1: Float64Array, s2: Float64Array, d: number): number {
  const l = cholesky(s1, d);
  if (l) {
    // M = L^T S2 L in two products that skip L's zero upper triangle, P = S2 L then M = L^T P,
    // four rows at a time so each row of L (of P) is read once per four rows of P (of M).
    // P and the padding rows past d (zeros) let the last block of four run unguarded.
    const p = new Float64Array((d + 3) * d);
    for (let i0 = 0; i0 < d; i0 += 4) {
      const p0 = i0 * d;
      for (let k = 0; k < d; k++) {
        const s0 = s2[p0 + k];
        const s1 = i0 + 1 < d ? s2[p0 + d + k] : 0;
        const s3 = i0 + 3 < d ? s2[p0 + 3 * d + k] : 0;
        const s2k = i0 + 2 < d ? s2[p0 + 2 * d + k] : 0;
        const lRow = k * d;
        for (let j = 0; j <= k; j++) {
          const lv = l[lRow + j];
          p[p0 + j] += s0 * lv;
          p[p0 + d + j] += s1 * lv;
          p[p0 + 2 * d + j] += s2k * lv;
          p[p0 + 3 * d + j] += s3 * lv;
        }
      }
    }
    const m = new Float64Array(d * d);
    for (let k0 = 0; k0 < d; k0 += 4) {
      const q = k0 * d;
      const last = Math.min(k0 + 3, d - 1);
      for (let i = 0; i <= last; i++) {
        // L[k][i] for k = k0..k0+3 (zero above the diagonal and past d)
        const c0 = l[q + i];
        const c1 = k0 + 1 < d ? l[q + d + i] : 0;
        const c2 = k0 + 2 < d ? l[q + 2 * d + i] : 0;
        const c3 = k0 + 3 < d ? l[q + 3 * d + i] : 0;
        const mRow = i * d;
        for (let j = 0; j < d; j++) m[mRow + j] += c0 * p[q + j] + c1 * p[q + d + j] + c2 * p[q + 2 * d + j] + c3 * p[q + 3 * d + j];
      }
    }
    let t = 0;
    for (const v of symmetricEigenvalues(symmetrize(m, d), d)) t += Math.sqrt(Math.max(v, 0));
    return t;
  }
  const h = sqrtPsd(s1, d);
  const m = symmetrize(matmul(matmul(h, s2, d), h, d), d);
  const { values } = symmetricEigen(m, d);
  let t = 0;
  for (const l of values) t += Math.sqrt(Math.max(l, 0));
  return t;
}

export function frechetDistance(a: GaussianStats, b: GaussianStats): number {
  if (a.d !== b.d) throw new Error(`FID: the feature sets have different widths (${a.d} and ${b.d})`);
  const d = a.d;
  let meanTerm = 0;
  for (let i = 0; i < d; i++) meanTerm += (a.mean[i] - b.mean[i]) ** 2;
  const covTerm = trace(a.cov, d) + trace(b.cov, d) - 2 * traceSqrtProduct(a.cov, b.cov, d);
  // tr(...) is >= 0 in exact arithmetic; a tiny negative value is rounding of equal covariances.
  return meanTerm + Math.max(covTerm, 0);
}

/** Rows minus their mean, in float64, and the mean. */
function centered(f: FeatureMatrix): { rows: Float64Array; mean: Float64Array } {
  const { n, d } = f;
  const mean = columnMeans(f);
  const rows = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) rows[i * d + k] = f.data[i * d + k] - mean[k];
  return { rows, mean };
}

/**
 * The same distance through the sets' Gram matrix, for fewer samples than features (an
 * Inception evaluation on a test set of a few hundred images): with centred rows X1, X2 and
 * S = X^T X / (n - 1), the nonzero eigenvalues of S1 S2 are the squared singular values of
 * G = X1 X2^T / sqrt((n1 - 1)(n2 - 1)), so tr((S1^1/2 S2 S1^1/2)^1/2) is the sum of the square
 * roots of the eigenvalues of G G^T (or G^T G, whichever is smaller): an m x m eigenproblem,
 * m = min(n1, n2), instead of a d x d square root.
 */
export function frechetDistanceLowRank(x: FeatureMatrix, y: FeatureMatrix): number {
  if (x.d !== y.d) throw new Error(`FID: the feature sets have different widths (${x.d} and ${y.d})`);
  const d = x.d;
  const a = centered(x);
  const b = centered(y);
  let meanTerm = 0;
  for (let k = 0; k < d; k++) meanTerm += (a.mean[k] - b.mean[k]) ** 2;
  let traces = 0;
  for (const v of a.rows) traces += (v * v) / (x.n - 1);
  for (const v of b.rows) traces += (v * v) / (y.n - 1);
  // G = X1 X2^T (n1 x n2), then the smaller of G G^T and G^T G
  const g = new Float64Array(x.n * y.n);
  for (let i = 0; i < x.n; i++) {
    for (let j = 0; j < y.n; j++) {
      let s = 0;
      for (let k = 0; k < d; k++) s += a.rows[i * d + k] * b.rows[j * d + k];
      g[i * y.n + j] = s;
    }
  }
  const m = Math.min(x.n, y.n);
  const gram = new Float64Array(m * m);
  const rowsFirst = x.n <= y.n;
  for (let i = 0; i < m; i++) {
    for (let j = i; j < m; j++) {
      let s = 0;
      if (rowsFirst) for (let k = 0; k < y.n; k++) s += g[i * y.n + k] * g[j * y.n + k];
      else for (let k = 0; k < x.n; k++) s += g[k * y.n + i] * g[k * y.n + j];
      gram[i * m + j] = s;
      gram[j * m + i] = s;
    }
  }
  let sqrtTrace = 0;
  for (const l of symmetricEigenvalues(gram, m)) sqrtTrace += Math.sqrt(Math.max(l, 0));
  sqrtTrace /= Math.sqrt((x.n - 1) * (y.n - 1));
  return meanTerm + Math.max(traces - 2 * sqrtTrace, 0);
}

/** FID between two feature sets (each needs at least 2 rows). */
export function fid(x: FeatureMatrix, y: FeatureMatrix): number {
  checkFeatures('FID', x, 2);
  checkFeatures('FID', y, 2);
  // the Gram route when an m x m eigenproblem is smaller than the d x d square root
  if (Math.min(x.n, y.n) < x.d) return frechetDistanceLowRank(x, y);
  return frechetDistance(gaussianStats(x), gaussianStats(y));
}
