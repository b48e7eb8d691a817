/**
 * Weight initialisation: the reference CycleGAN's init_weights (normal / xavier / kaiming /
 * orthogonal on conv and linear weights, zero biases, norm weights N(1, gain)) and PyTorch's
 * default layer init. Values are drawn on the host from a seeded Rng and uploaded once.
 */
import { Rng } from '../util/rng';
import type { Tensor } from '../tensor';
import type { Module } from './module';

let defaultRng = new Rng(0);

/** The RNG layers use for their default init when none is given (torch.manual_seed). */
export function manualSeed(seed: number): void {
  defaultRng = new Rng(seed);
}

export function getDefaultRng(): Rng {
  return defaultRng;
}

/** torch's fan-in/fan-out: dim 1 and dim 0 times the receptive field (also for conv-transpose). */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new Error(`init: fan in/out need at least 2 dimensions, got [${shape.join(', ')}]`);
  const receptive = shape.slice(2).reduce((p, d) => p * d, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

export function fillUniform(t: Tensor, lo: number, hi: number, rng: Rng): void {
  const data = new Float32Array(t.size);
  for (let i = 0; i < data.length; i++) data[i] = rng.uniform(lo, hi);
  t.copyFromArray(data);
}

export function fillNormal(t: Tensor, mean: number, std: number, rng: Rng): void {
  const data = new Float32Array(t.size);
  for (let i = 0; i < data.length; i++) data[i] = rng.normal(mean, std);
  t.copyFromArray(data);
}

export function fillConstant(t: Tensor, value: number): void {
  if (t.size > 0) t.binding.fill(t.buf, value, t.size);
}

/** nn.init.orthogonal_: Q of a QR decomposition of a normal matrix (rows = dim 0), times gain. */
export function fillOrthogonal(t: Tensor, gain: number, rng: Rng): void {
  const rows = t.shape[0];
  const cols = t.size / rows;
  // Gram-Schmidt on the columns of the tall orientation; the result is transposed back if needed.
  const tall = rows >= cols;
  const m = tall ? rows : cols;
  const k = tall ? cols : rows;
  const q = new Float64Array(m * k); // column-major: column j at q[j*m ..]
  for (let i = 0; i < q.length; i++) q[i] = rng.normal();
  for (let j = 0; j < k; j++) {
    const cj = q.subarray(j * m, (j + 1) * m);
    for (let pass = 0; pass < 2; pass++) {
      for (let p = 0; p < j; p++) {
        const cp = q.subarray(p * m, (p + 1) * m);
        let dot = 0;
        for (let i = 0; i < m; i++) dot += cp[i] * cj[i];
        for (let i = 0; i < m; i++) cj[i] -= dot * cp[i];
      }
    }
    let norm = 0;
    for (let i = 0; i < m; i++) norm += cj[i] * cj[i];
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < m; i++) cj[i] /= norm;
  }
  const data = new Float32Array(t.size);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) data[r * cols + c] = gain * (tall ? q[c * m + r] : q[r * m + c]);
  }
  t.copyFromArray(data);
}

export type InitType = 'normal' | 'xavier' | 'kaiming' | 'orthogonal';

/** Modules that init_weights treats as conv/linear (weight + optional bias) or batch norm. */
export interface Initialisable {
  /** 'none': left as constructed (the reference's init_weights skips InstanceNorm2d) */
  initKind: 'weight' | 'batchnorm' | 'none';
  weight: Tensor | null;
  bias: Tensor | null;
}

function isInitialisable(m: unknown): m is Initialisable {
  return typeof m === 'object' && m !== null && 'initKind' in m;
}

/** The reference networks.init_weights over every conv, conv-transpose, linear and batch norm. */
export function initWeights(net: Module, type: InitType, gain: number, rng: Rng): void {
  for (const [, m] of net.namedModules()) {
    if (!isInitialisable(m) || !m.weight || m.initKind === 'none') continue;
    if (m.initKind === 'batchnorm') {
      fillNormal(m.weight, 1, gain, rng);
      if (m.bias) fillConstant(m.bias, 0);
      continue;
    }
    const w = m.weight;
    if (type === 'normal') fillNormal(w, 0, gain, rng);
    else if (type === 'xavier') {
      const { fanIn, fanOut } = fans(w.shape);
      fillNormal(w, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), rng);
    } else if (type === 'kaiming') fillNormal(w, 0, Math.sqrt(2 / fans(w.shape).fanIn), rng);
    else if (type === 'orthogonal') fillOrthogonal(w, gain, rng);
    else throw new Error(`initWeights: unknown init type '${String(type)}', expected normal, xavier, kaiming or orthogonal`);
    if (m.bias) fillConstant(m.bias, 0);
  }
}
