/**
 * Test helpers for the native backend: one CPU backend per test process, seeded random data,
 * and upload/download helpers that keep the tests short. Every kernel test imports from here.
 */
import type { Binding, Buf } from '../../src/backend/binding';
import { loadBackend, type Backend } from '../../src/backend/device';

let cpuBackendCache: Backend | undefined;

/** The CPU backend, loaded once per process (quiet, default threads). */
export function cpuBackend(): Backend {
  if (!cpuBackendCache) cpuBackendCache = loadBackend('cpu', { quiet: true });
  return cpuBackendCache;
}

/** The typed binding of the CPU backend. */
export function cpu(): Binding {
  return cpuBackend().binding;
}

/** mulberry32: a tiny seeded PRNG so every test run sees the same data. Returns [0, 1). */
export function seededRng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n uniform values in [lo, hi) from a seeded RNG. */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  const rng = seededRng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rng();
  return out;
}

/** n standard-normal values (Box-Muller) from a seeded RNG. */
export function randomNormal(n: number, seed: number, mean = 0, std = 1): Float32Array {
  const rng = seededRng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(rng(), 1e-12);
    const v = rng();
    out[i] = mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return out;
}

/** A backend buffer holding `data` (plus `extra` floats of zeros after it). */
export function toBuf(b: Binding, data: ArrayLike<number>, extra = 0): Buf {
  const buf = b.alloc(data.length + extra);
  const host = data instanceof Float32Array ? data : Float32Array.from(data);
  if (extra > 0) b.fill(buf, 0, data.length + extra);
  if (host.length > 0) b.upload(buf, host);
  return buf;
}

/** A zero-filled backend buffer of n floats. */
export function zerosBuf(b: Binding, n: number): Buf {
  const buf = b.alloc(n);
  if (n > 0) b.fill(buf, 0, n);
  return buf;
}

/** The first n floats of a buffer (all of it when n is omitted). */
export function fromBuf(b: Binding, buf: Buf, n = b.size(buf), offset = 0): Float32Array {
  const out = new Float32Array(n);
  if (n > 0) b.download(buf, out, offset);
  return out;
}

/** Frees every buffer given; tolerant of null so call sites can pass optional buffers. */
export function freeAll(b: Binding, ...bufs: (Buf | null | undefined)[]): void {
  for (const buf of bufs) if (buf) b.free(buf);
}

export const SENTINEL = -12345.678;

/**
 * A buffer of `n` floats followed by `guard` sentinel floats. `check()` throws when a kernel
 * wrote past element n (the glue allows buffers larger than the shape needs, so an
 * out-of-bounds write lands in the guard instead of corrupting the heap silently).
 */
export interface GuardedBuf {
  buf: Buf;
  n: number;
  values(): Float32Array;
  check(label: string): void;
}

export function guardedBuf(b: Binding, data: ArrayLike<number> | number, guard = 37): GuardedBuf {
  const n = typeof data === 'number' ? data : data.length;
  const host = new Float32Array(n + guard).fill(SENTINEL);
  if (typeof data === 'number') host.fill(0, 0, n);
  else host.set(data as ArrayLike<number>);
  const buf = b.alloc(n + guard);
  if (n + guard > 0) b.upload(buf, host);
  return {
    buf,
    n,
    values: () => fromBuf(b, buf, n),
    check(label: string): void {
      const tail = fromBuf(b, buf, guard, n);
      for (let i = 0; i < guard; i++) {
        if (tail[i] !== Math.fround(SENTINEL)) {
          throw new Error(`${label}: wrote past its ${n} elements (guard index ${i} = ${tail[i]})`);
        }
      }
    },
  };
}

/** Largest |a[i] - b[i]| and where it is, for assertion messages. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): { diff: number; index: number } {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths differ (${a.length} vs ${b.length})`);
  let diff = 0;
  let index = -1;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > diff || Number.isNaN(d)) {
      diff = Number.isNaN(d) ? Infinity : d;
      index = i;
    }
  }
  return { diff, index };
}

/** Throws unless |actual - expected| <= atol + rtol * |expected| everywhere. */
export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string, rtol = 1e-5, atol = 1e-6): void {
  if (actual.length !== expected.length) {
    throw new Error(`${label}: length ${actual.length}, expected ${expected.length}`);
  }
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= atol + rtol * Math.abs(expected[i]))) {
      throw new Error(`${label}: index ${i}: got ${actual[i]}, expected ${expected[i]} (|diff| ${err}, rtol ${rtol}, atol ${atol})`);
    }
  }
}

/** SIMD levels this machine can run (always includes 0 = scalar), for path-comparison tests. */
export function simdLevels(b: Binding): number[] {
  b.setSimd(-1);
  const best = b.simdLevel();
  const levels: number[] = [];
  for (let l = 0; l <= best; l++) levels.push(l);
  return levels;
}
