/**
 * Inception Score (Salimans et al. 2016): exp(E_x[KL(p(y|x) || p(y))]) per split, reported as
 * the mean and (population) standard deviation over splits, as the original code and
 * torch-fidelity do. From the digit classifier's softmax it is `digit-IS` (between 1 and 10:
 * high when each image is confidently one digit and all digits occur); from Inception-v3's it is IS.
 */

export interface IsResult {
  mean: number;
  std: number;
  splits: number;
}

/** probs: n rows of k class probabilities (each row sums to 1). */
export function inceptionScore(probs: Float32Array | Float64Array, n: number, k: number, splits = 10): IsResult {
  if (probs.length !== n * k) throw new Error(`IS: ${probs.length} probabilities do not form ${n} rows of ${k}`);
  if (!(Number.isInteger(splits) && splits >= 1 && splits <= n)) throw new Error(`IS: splits must be an integer in [1, ${n}] (the sample count), got ${splits}`);
  const part = Math.floor(n / splits);
  const scores: number[] = [];
  for (let s = 0; s < splits; s++) scores.push(splitScore(probs, s * part, (s + 1) * part, k));
  const mean = scores.reduce((a, b) => a + b, 0) / splits;
  const std = Math.sqrt(scores.reduce((a, b) => a + (b - mean) ** 2, 0) / splits);
  return { mean, std, splits };
}

function splitScore(probs: Float32Array | Float64Array, from: number, to: number, k: number): number {
  const marginal = new Float64Array(k);
  for (let i = from; i < to; i++) for (let c = 0; c < k; c++) marginal[c] += probs[i * k + c];
  for (let c = 0; c < k; c++) marginal[c] /= to - from;
  let kl = 0;
  for (let i = from; i < to; i++) {
    for (let c = 0; c < k; c++) {
      const p = probs[i * k + c];
      // 0 log 0 = 0; a class with p > 0 has a marginal > 0.
      if (p > 0) kl += p * (Math.log(p) - Math.log(marginal[c]));
    }
  }
  return Math.exp(kl / (to - from));
}
