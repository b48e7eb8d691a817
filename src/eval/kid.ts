/**
 * Kernel Inception Distance (Bińkowski et al. 2018) as torch-fidelity computes it: the unbiased
 * estimator of MMD^2 with the cubic polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over
 * random subsets (100 subsets of 1000 by default; smaller subsets when there are fewer samples).
 * When both sets are no larger than the subset size, every subset would be the whole of both sets:
 * the estimate is computed once and its std is 0 (100 copies would only report rounding as spread).
 * Unbiased means E[KID] = 0 when both sets come from one distribution, so small values can be
 * negative. On the digit classifier's features it is named `digit-KID`.
 */
import { Rng } from '../util/rng';
import { hostDots, selectRows, type DotProducts } from './dots';
import { checkFeatures, type FeatureMatrix } from './linalg';

export interface KidOptions {
  subsets?: number;
  subsetSize?: number;
  seed?: number;
  dots?: DotProducts;
}

export interface KidResult {
  mean: number;
  std: number;
  subsets: number;
  subsetSize: number;
}

/**
 * Sum of (g / d + 1)^3 over a block of dot products. A separate small function so that V8 keeps
 * it monomorphic and fast: it runs 6e8 times per 10,000-sample evaluation (cubes by
 * multiplication, since ** goes through Math.pow).
 */
function cubicKernelSum(g: Float32Array | Float64Array, invD: number): number {
  let sum = 0;
  for (let i = 0; i < g.length; i++) {
    const t = g[i] * invD + 1;
    sum += t * t * t;
  }
  return sum;
}

/** Sum of k(x_i, y_j) over all pairs, and of the diagonal when x and y are the same set. */
function kernelSums(x: FeatureMatrix, y: FeatureMatrix, dots: DotProducts, sameSet: boolean): { all: number; diagonal: number } {
  const invD = 1 / x.d;
  let all = 0;
  let diagonal = 0;
  const blockRows = Math.max(1, Math.floor(4_000_000 / y.n));
  for (let start = 0; start < x.n; start += blockRows) {
    const count = Math.min(blockRows, x.n - start);
    const g = dots.block(x, start, count, y);
    all += cubicKernelSum(g, invD);
    if (sameSet) {
      for (let i = 0; i < count; i++) {
        const t = g[i * y.n + start + i] * invD + 1;
        diagonal += t * t * t;
      }
    }
  }
  return { all, diagonal };
}

/** The unbiased MMD^2 estimate between two sets of the same size m. */
export function mmd2Unbiased(x: FeatureMatrix, y: FeatureMatrix, dots: DotProducts = hostDots): number {
  if (x.n !== y.n || x.n < 2) throw new Error(`KID: MMD^2 needs two sets of the same size >= 2, got ${x.n} and ${y.n}`);
  const m = x.n;
  const xx = kernelSums(x, x, dots, true);
  const yy = kernelSums(y, y, dots, true);
  const xy = kernelSums(x, y, dots, false);
  return (xx.all - xx.diagonal + yy.all - yy.diagonal) / (m * (m - 1)) - (2 * xy.all) / (m * m);
}

/** m distinct indices out of n (partial Fisher-Yates), like numpy's choice(replace=False). */
function sampleWithoutReplacement(n: number, m: number, rng: Rng): Int32Array {
  const pool = new Int32Array(n);
  for (let i = 0; i < n; i++) pool[i] = i;
  for (let i = 0; i < m; i++) {
    const j = i + rng.int(n - i);
    const t = pool[i];
    pool[i] = pool[j];
    pool[j] = t;
  }
  return pool.slice(0, m);
}

export function kid(x: FeatureMatrix, y: FeatureMatrix, options: KidOptions = {}): KidResult {
  checkFeatures('KID', x, 2);
  checkFeatures('KID', y, 2);
  if (x.d !== y.d) throw new Error(`KID: the feature sets have different widths (${x.d} and ${y.d})`);
  const subsets = options.subsets ?? 100;
  const subsetSize = Math.min(options.subsetSize ?? 1000, x.n, y.n);
  if (!(Number.isInteger(subsets) && subsets >= 1)) throw new Error(`KID: subsets must be a positive integer, got ${subsets}`);
  if (subsetSize === x.n && subsetSize === y.n) {
    return { mean: mmd2Unbiased(x, y, options.dots), std: 0, subsets: 1, subsetSize };
  }
  const rng = new Rng(options.seed ?? 0);
  const values: number[] = [];
  for (let s = 0; s < subsets; s++) {
    const xs = selectRows(x, sampleWithoutReplacement(x.n, subsetSize, rng));
    const ys = selectRows(y, sampleWithoutReplacement(y.n, subsetSize, rng));
    values.push(mmd2Unbiased(xs, ys, options.dots));
  }
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return { mean, std, subsets, subsetSize };
}
