/** Backend buffers for the kernel benchmarks (bench/kernels.ts, bench/conv-ab.ts). */
import type { Binding, Buf } from '../src/backend/binding';

/** n floats uniform in [-0.5, 0.5) from a fixed LCG seed, uploaded to a new buffer of `b`. */
export function randomBuf(b: Binding, n: number, seed: number): Buf {
  const host = new Float32Array(n);
  let state = seed >>> 0;
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    host[i] = state / 4294967296 - 0.5;
  }
  const buf = b.alloc(n);
  b.upload(buf, host);
  return buf;
}
