/**
 * Inner products between rows of two feature sets, the one expensive step of KID and PRDC
 * (10,000 x 10,000 x 128 is 1.3e10 multiply-adds). Two providers:
 *  - hostDots: double precision in JavaScript, the reference and the fallback;
 *  - backendDots: the addon's linear kernel (packed GEMM on the CPU, CUDA on a GPU), float32
 *    products that the callers then combine in double precision.
 * Callers ask for one block of rows at a time, so memory stays at rows x m values.
 */
import { inFp32, type Backend } from '../backend/device';
import { Tensor, noGrad, tidy } from '../tensor';
import * as F from '../ops';
import type { FeatureMatrix } from './linalg';

export interface DotProducts {
  /** out[i * y.n + j] = <x row (start + i), y row j> for i < count. */
  block(x: FeatureMatrix, start: number, count: number, y: FeatureMatrix): Float64Array | Float32Array;
  readonly name: string;
}

export const hostDots: DotProducts = {
  name: 'host (float64)',
  block(x, start, count, y) {
    const d = x.d;
    const out = new Float64Array(count * y.n);
    const row = new Float64Array(d);
    for (let i = 0; i < count; i++) {
      for (let k = 0; k < d; k++) row[k] = x.data[(start + i) * d + k];
      for (let j = 0; j < y.n; j++) {
        let s = 0;
        const base = j * d;
        for (let k = 0; k < d; k++) s += row[k] * y.data[base + k];
        out[i * y.n + j] = s;
      }
    }
    return out;
  },
};

function toFloat32(a: Float32Array | Float64Array): Float32Array {
  return a instanceof Float32Array ? a : Float32Array.from(a);
}

/** Dot products on the backend; keeps the most recent y uploaded, since callers reuse it per block. */
export function backendDots(backend: Backend): DotProducts & { dispose(): void } {
  let cachedY: { source: FeatureMatrix['data']; tensor: Tensor } | null = null;
  const yTensor = (y: FeatureMatrix): Tensor => {
    if (cachedY?.source !== y.data) {
      cachedY?.tensor.dispose();
      cachedY = { source: y.data, tensor: Tensor.fromArray(toFloat32(y.data), [y.n, y.d], backend).keep() };
    }
    return cachedY.tensor;
  };
  return {
    name: `${backend.kind} GEMM (float32)`,
    block(x, start, count, y) {
      const w = yTensor(y);
      const rows = toFloat32(x.data.subarray(start * x.d, (start + count) * x.d));
      // float32 products even where the backend's GEMMs default to TF32 (CUDA) or run BF16.
      return inFp32(backend, () => noGrad(() => tidy(() => F.linear(Tensor.fromArray(rows, [count, x.d], backend), w).toFloat32Array())));
    },
    dispose() {
      cachedY?.tensor.dispose();
      cachedY = null;
    },
  };
}

/** Squared norms of each row, in double precision. */
export function rowSquaredNorms(f: FeatureMatrix): Float64Array {
  const out = new Float64Array(f.n);
  for (let i = 0; i < f.n; i++) {
    let s = 0;
    for (let k = 0; k < f.d; k++) s += f.data[i * f.d + k] ** 2;
    out[i] = s;
  }
  return out;
}

/** Rows `indices` of f as a new matrix. */
export function selectRows(f: FeatureMatrix, indices: ArrayLike<number>): FeatureMatrix {
  const out = new Float64Array(indices.length * f.d);
  for (let i = 0; i < indices.length; i++) out.set(f.data.subarray(indices[i] * f.d, (indices[i] + 1) * f.d), i * f.d);
  return { data: out, n: indices.length, d: f.d };
}
