/**
 * Precision, recall, density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity
 * Metrics for Generative Models"), with the same definitions as their reference code:
 *  - each real sample i gets a ball of radius r_i = distance to its k-th nearest other real sample
 *    (each fake sample j likewise among fakes, for recall);
 *  - precision: fraction of fakes inside at least one real ball;
 *  - recall: fraction of reals inside at least one fake ball;
 *  - density: mean over fakes of (number of real balls containing it) / k;
 *  - coverage: fraction of real balls that contain at least one fake.
 * Distances are exact Euclidean ones (compared squared), computed block by block.
 */
import { hostDots, rowSquaredNorms, type DotProducts } from './dots';
import { checkFeatures, type FeatureMatrix } from './linalg';

export interface PrdcResult {
  precision: number;
  recall: number;
  density: number;
  coverage: number;
  k: number;
}

/** Rows of squared distances |x_i - y_j|^2 for x rows [start, start + count), via dot products. */
function distanceBlocks(x: FeatureMatrix, y: FeatureMatrix, dots: DotProducts, visit: (row: number, d2: Float64Array) => void): void {
  const xn = rowSquaredNorms(x);
  const yn = rowSquaredNorms(y);
  const blockRows = Math.max(1, Math.floor(4_000_000 / y.n));
  const d2 = new Float64Array(y.n);
  for (let start = 0; start < x.n; start += blockRows) {
    const count = Math.min(blockRows, x.n - start);
    const g = dots.block(x, start, count, y);
    for (let i = 0; i < count; i++) {
      const row = start + i;
      for (let j = 0; j < y.n; j++) d2[j] = Math.max(0, xn[row] + yn[j] - 2 * g[i * y.n + j]);
      visit(row, d2);
    }
  }
}

/** The k-th smallest value of d2 skipping index `self` (k small: insertion into a sorted list). */
function kthSmallest(d2: Float64Array, k: number, self: number): number {
  const best: number[] = [];
  for (let j = 0; j < d2.length; j++) {
    if (j === self) continue;
    const v = d2[j];
    if (best.length === k && v >= best[k - 1]) continue;
    let pos = best.length < k ? best.length : k - 1;
    if (best.length < k) best.push(v);
    while (pos > 0 && best[pos - 1] > v) {
      best[pos] = best[pos - 1];
      pos--;
    }
    best[pos] = v;
  }
  return best[k - 1];
}

/** Squared distance from each row to its k-th nearest other row of the same set. */
export function kthNeighbourRadii(f: FeatureMatrix, k: number, dots: DotProducts = hostDots): Float64Array {
  if (f.n <= k) throw new Error(`PRDC: k = ${k} nearest neighbours need more than ${k} samples, got ${f.n}`);
  const radii = new Float64Array(f.n);
  distanceBlocks(f, f, dots, (row, d2) => {
    radii[row] = kthSmallest(d2, k, row);
  });
  return radii;
}

export function prdc(real: FeatureMatrix, fake: FeatureMatrix, k = 5, dots: DotProducts = hostDots): PrdcResult {
  checkFeatures('PRDC real', real, k + 1);
  checkFeatures('PRDC fake', fake, k + 1);
  if (real.d !== fake.d) throw new Error(`PRDC: the feature sets have different widths (${real.d} and ${fake.d})`);
  const realRadii = kthNeighbourRadii(real, k, dots);
  const fakeRadii = kthNeighbourRadii(fake, k, dots);
  let inAnyRealBall = 0;
  let realBallCount = 0;
  const realRecalled = new Uint8Array(real.n);
  const realCovered = new Uint8Array(real.n);
  // One pass over fake x real distances gathers all four statistics.
  distanceBlocks(fake, real, dots, (j, d2) => {
    let balls = 0;
    const fakeRadius = fakeRadii[j];
    for (let i = 0; i < real.n; i++) {
      const d = d2[i];
      if (d < realRadii[i]) {
        balls++;
        realCovered[i] = 1;
      }
      if (d < fakeRadius) realRecalled[i] = 1;
    }
    if (balls > 0) inAnyRealBall++;
    realBallCount += balls;
  });
  const sum = (a: Uint8Array) => a.reduce((s, v) => s + v, 0);
  return {
    precision: inAnyRealBall / fake.n,
    recall: sum(realRecalled) / real.n,
    density: realBallCount / (k * fake.n),
    coverage: sum(realCovered) / real.n,
    k,
  };
}
