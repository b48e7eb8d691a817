/**
 * The training RNG: xoshiro128** (Blackman & Vigna), seeded through splitmix32 so nearby seeds
 * give unrelated streams. Its whole state is four uint32 words, exported as a plain JSON array so
 * a checkpoint restores the exact sequence (weight init, dropout seeds, image-pool choices).
 *
 * normal() draws two uniforms per value (no cached second Box-Muller value), so the state array
 * alone determines every future draw.
 */

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export class Rng {
  private s = new Uint32Array(4);

  constructor(seed = 0) {
    if (!Number.isFinite(seed)) throw new Error(`Rng: seed must be a finite number, got ${seed}`);
    const mix = splitmix32(Math.floor(seed) ^ Math.floor(seed / 4294967296));
    for (let i = 0; i < 4; i++) this.s[i] = mix();
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1; // all-zero is a fixed point
  }

  /** Next raw 32-bit output (unsigned). */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in [lo, hi) (default [0, 1)). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  /** Normal with the given mean and standard deviation (Box-Muller, one value per call). */
  normal(mean = 0, std = 1): number {
    const u = 1 - this.next(); // (0, 1]: log(u) is finite
    const v = this.next();
    return mean + std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new Error(`Rng.int: n must be a positive integer, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** A non-negative integer below 2^53, e.g. a seed for a native counter-based RNG (dropout). */
  seed53(): number {
    return Math.floor(this.next() * 9007199254740992);
  }

  /** The full state as four uint32 values: JSON-serialisable, restores the exact sequence. */
  getState(): number[] {
    return Array.from(this.s);
  }

  setState(state: readonly number[]): void {
    if (!Array.isArray(state) || state.length !== 4 || !state.every((x) => Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) {
      throw new Error(`Rng.setState: expected an array of 4 uint32 values, got ${JSON.stringify(state)}`);
    }
    if (state.every((x) => x === 0)) throw new Error('Rng.setState: the all-zero state is invalid for xoshiro128**');
    this.s.set(state);
  }
}
