/**
 * Central finite-difference gradient checks. The loss is computed in float32 by native kernels,
 * so the step is comparatively large (1e-2 by default) and the tolerances loose; shapes stay
 * small so a full check is a few hundred kernel calls.
 */

export interface GradcheckOptions {
  /** finite-difference step */
  eps?: number;
  rtol?: number;
  atol?: number;
  /** check at most this many indices per input (evenly spread); default all */
  maxPerInput?: number;
}

export interface GradMismatch {
  input: number;
  index: number;
  analytic: number;
  numeric: number;
  error: number;
}

export interface GradcheckResult {
  ok: boolean;
  /** the index with the largest error relative to its tolerance */
  worst: GradMismatch | null;
  checked: number;
}

/**
 * Compares `analytic[k][i]` with (loss(x + eps e_i) - loss(x - eps e_i)) / 2eps for each input k.
 * `loss` receives the (perturbed) inputs and returns a scalar; it must not modify them.
 */
export function gradcheck(
  loss: (inputs: Float32Array[]) => number,
  inputs: Float32Array[],
  analytic: ArrayLike<number>[],
  options: GradcheckOptions = {},
): GradcheckResult {
  const eps = options.eps ?? 1e-2;
  const rtol = options.rtol ?? 2e-2;
  const atol = options.atol ?? 2e-3;
  if (analytic.length !== inputs.length) {
    throw new Error(`gradcheck: ${inputs.length} inputs but ${analytic.length} analytic gradients`);
  }
  let worst: GradMismatch | null = null;
  let worstRatio = -1;
  let checked = 0;
  for (let k = 0; k < inputs.length; k++) {
    const x = inputs[k];
    if (analytic[k].length !== x.length) {
      throw new Error(`gradcheck: input ${k} has ${x.length} values, its gradient ${analytic[k].length}`);
    }
    const stride = options.maxPerInput && x.length > options.maxPerInput ? x.length / options.maxPerInput : 1;
    for (let f = 0; f < x.length; f += stride) {
      const i = Math.floor(f);
      const saved = x[i];
      x[i] = saved + eps;
      const plusStep = x[i] - saved; // the float32 step actually taken
      const lossPlus = loss(inputs);
      x[i] = saved - eps;
      const minusStep = saved - x[i];
      const lossMinus = loss(inputs);
      x[i] = saved;
      const numeric = (lossPlus - lossMinus) / (plusStep + minusStep);
      const a = analytic[k][i];
      const error = Math.abs(a - numeric);
      const ratio = error / (atol + rtol * Math.abs(numeric));
      checked++;
      if (ratio > worstRatio || Number.isNaN(ratio)) {
        worstRatio = Number.isNaN(ratio) ? Infinity : ratio;
        worst = { input: k, index: i, analytic: a, numeric, error };
      }
    }
  }
  return { ok: worstRatio <= 1, worst, checked };
}

/** gradcheck that throws with the worst index when any gradient is off. */
export function assertGradcheck(
  label: string,
  loss: (inputs: Float32Array[]) => number,
  inputs: Float32Array[],
  analytic: ArrayLike<number>[],
  options: GradcheckOptions = {},
): void {
  const result = gradcheck(loss, inputs, analytic, options);
  if (!result.ok && result.worst) {
    const w = result.worst;
    throw new Error(
      `${label}: gradient mismatch at input ${w.input} index ${w.index}: analytic ${w.analytic}, ` +
        `numeric ${w.numeric} (|diff| ${w.error}; ${result.checked} values checked)`,
    );
  }
}

/** sum_i weights[i] * y[i] in double: turns a tensor output into a scalar loss whose dL/dy = weights. */
export function weightedSum(y: ArrayLike<number>, weights: ArrayLike<number>): number {
  if (y.length !== weights.length) throw new Error(`weightedSum: ${y.length} outputs, ${weights.length} weights`);
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * weights[i];
  return s;
}
