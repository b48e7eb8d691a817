/**
 * Fréchet distance between two Gaussians fitted to feature sets (Heusel et al. 2017):
 *   FID = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)
 * The square root is taken of the symmetric PSD matrix S1^1/2 S2 S1^1/2, whose eigenvalues are
 * those of S1 S2: unlike scipy's sqrtm of the non-symmetric S1 S2 (pytorch-fid), this never
 * produces complex parts or needs an epsilon on the diagonal when a covariance is singular.
 * Which features are used decides the name: on the digit classifier's penultimate layer it is
 * `digit-FID`, on Inception-v3 pool3 features it is the standard `FID`.
 */
import { checkFeatures, matmul, meanAndCovariance, sqrtPsd, symmetricEigen, symmetrize, trace, type FeatureMatrix } from './linalg';

export interface GaussianStats {
  mean: Float64Array;
  cov: Float64Array;
  d: number;
}

export function gaussianStats(f: FeatureMatrix): GaussianStats {
  return { ...meanAndCovariance(f), d: f.d };
}

/** tr((S1^1/2 S2 S1^1/2)^1/2) for symmetric PSD S1, S2 (d x d). */
export function traceSqrtProduct(s1: Float64Array, s2: Float64Array, d: number): number {
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

/** FID between two feature sets (each needs at least 2 rows). */
export function fid(x: FeatureMatrix, y: FeatureMatrix): number {
  checkFeatures('FID', x, 2);
  checkFeatures('FID', y, 2);
  return frechetDistance(gaussianStats(x), gaussianStats(y));
}
