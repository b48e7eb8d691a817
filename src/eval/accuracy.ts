/** Label accuracy: how often the arg-max of a classifier's logits equals the true label. */

export function argmaxRows(logits: Float32Array | Float64Array, n: number, k: number): Int32Array {
  if (logits.length !== n * k) throw new Error(`argmax: ${logits.length} values do not form ${n} rows of ${k}`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (logits[i * k + c] > logits[i * k + best]) best = c;
    out[i] = best;
  }
  return out;
}

/** Fraction of predictions equal to labels (both of length n). */
export function labelAccuracy(predicted: ArrayLike<number>, labels: ArrayLike<number>): number {
  if (predicted.length !== labels.length) throw new Error(`accuracy: ${predicted.length} predictions for ${labels.length} labels`);
  if (labels.length === 0) throw new Error('accuracy: no samples');
  let right = 0;
  for (let i = 0; i < labels.length; i++) if (predicted[i] === labels[i]) right++;
  return right / labels.length;
}

/** counts[true * k + predicted]: where the translation sends each digit (CycleGAN flips some). */
export function confusionMatrix(predicted: ArrayLike<number>, labels: ArrayLike<number>, k: number): Int32Array {
  const out = new Int32Array(k * k);
  for (let i = 0; i < labels.length; i++) out[labels[i] * k + predicted[i]]++;
  return out;
}
