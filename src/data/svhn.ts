/**
 * SVHN format 2 (ufldl.stanford.edu/housenumbers): train_32x32.mat / test_32x32.mat hold X, a
 * 32x32x3xN uint8 array (MATLAB column-major: row, column, channel, image) and y, N labels 1..10
 * where 10 stands for the digit 0.
 */
import * as fs from 'fs';
import * as path from 'path';
import { MemoryDomain } from './domain';
import { DataError } from './errors';
import { readMatFile, type MatVariable } from './mat';

export const SVHN_FILES = { train: 'train_32x32.mat', test: 'test_32x32.mat' } as const;

/** The .mat file for `phase` when `location` is a folder, or `location` itself when it is a file. */
export function resolveSvhnFile(location: string, phase: 'train' | 'test'): string {
  if (!fs.existsSync(location)) throw new DataError(location, 'SVHN path does not exist (expected a .mat file or a folder holding train_32x32.mat / test_32x32.mat)');
  if (!fs.statSync(location).isDirectory()) return location;
  const file = path.join(location, SVHN_FILES[phase]);
  if (!fs.existsSync(file)) throw new DataError(location, `no ${SVHN_FILES[phase]} in this folder (run 'cgtrain data download svhn')`);
  return file;
}

/** X (HxWxCxN column-major) -> N x C x H x W row-major bytes. */
export function svhnToChw(x: MatVariable, source: string): { pixels: Uint8Array; count: number } {
  const [h, w, c, n] = [x.dims[0], x.dims[1], x.dims[2] ?? 1, x.dims[3] ?? 1];
  if (x.dims.length > 4 || h !== 32 || w !== 32 || c !== 3) {
    throw new DataError(source, `variable X has dimensions ${x.dims.join('x')}, expected 32x32x3xN`);
  }
  if (!x.data) throw new DataError(source, `variable X is not numeric (MATLAB class ${x.matlabClass})`);
  const src = x.data;
  const pixels = new Uint8Array(n * 3 * 1024);
  for (let img = 0; img < n; img++) {
    for (let ch = 0; ch < 3; ch++) {
      const srcBase = img * 3072 + ch * 1024, dstBase = img * 3072 + ch * 1024;
      // Column-major: consecutive source values walk down a column (rows change fastest).
      for (let col = 0; col < 32; col++) {
        for (let row = 0; row < 32; row++) {
          const v = src[srcBase + col * 32 + row];
          pixels[dstBase + row * 32 + col] = v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
        }
      }
    }
  }
  return { pixels, count: n };
}

export function svhnLabels(y: MatVariable, count: number, source: string): Int32Array {
  if (!y.data) throw new DataError(source, `variable y is not numeric (MATLAB class ${y.matlabClass})`);
  if (y.data.length !== count) throw new DataError(source, `variable y holds ${y.data.length} labels but X holds ${count} images`);
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const v = y.data[i];
    if (!Number.isInteger(v) || v < 1 || v > 10) throw new DataError(source, `label y(${i + 1}) = ${v}, expected an integer 1..10`);
    labels[i] = v === 10 ? 0 : v;
  }
  return labels;
}

export function loadSvhnMat(file: string, channels: number): MemoryDomain {
  const variables = readMatFile(file);
  const x = variables.find((v) => v.name === 'X');
  const y = variables.find((v) => v.name === 'y');
  if (!x) throw new DataError(file, `no variable X (found: ${variables.map((v) => v.name).join(', ') || 'none'}); expected SVHN format 2 (32x32 crops)`);
  const { pixels, count } = svhnToChw(x, file);
  const labels = y ? svhnLabels(y, count, file) : undefined;
  const name = `SVHN (${path.basename(file)}, ${count} images${labels ? '' : ', no labels'})`;
  return new MemoryDomain(name, pixels, [3, 32, 32], labels).withChannels(channels);
}
