/**
 * The data pipeline's public surface: the unaligned loader for training, whole labelled domains
 * for evaluation, image grids, and the MNIST -> 32x32x3 conversion. See docs/datasets.md.
 */
import { Loader } from './loader';
import { Rng } from './rng';
import { openDomain, resolveDataOptions } from './sources';
import type { DataOptions, LoadedDomain, UnalignedLoader } from './types';

export type { Batch, DataOptions, LoadedDomain, Preprocess, Shape3, UnalignedLoader } from './types';
export { PREPROCESS_MODES } from './types';
export { DataError } from './errors';
export { DATA_DEFAULTS, defaultDataDir, resolveDataOptions } from './sources';
export { mnistTo32, mnistTo32Float, MNIST_TARGET_SIDE } from './mnist';
export { batchToRows, renderGrid, writeGridPng, type GridOptions, type GridShape } from './grid';
export { renderSynthHouseNumbers } from './synth';

/** Opens both domains for opts.phase and returns a loader over unaligned pairs. */
export async function openUnalignedLoader(options: DataOptions, log: (line: string) => void = () => {}): Promise<UnalignedLoader> {
  const opts = resolveDataOptions(options);
  const a = await openDomain(opts, 'A', opts.phase, log);
  const b = await openDomain(opts, 'B', opts.phase, log);
  const loader = new Loader(a, b, opts);
  log(`data: ${loader.describe()}`);
  return loader;
}

/** A whole domain as one NCHW float32 array in [-1, 1] (for evaluation), in the source's order, no flips. */
export async function loadDomain(options: DataOptions, domain: 'A' | 'B', phase: 'train' | 'test', max?: number, log: (line: string) => void = () => {}): Promise<LoadedDomain> {
  // Evaluation wants the images as they are: no random flips; crops stay (folder shapes need them).
  const opts = resolveDataOptions({ ...options, phase, noFlip: true });
  if (max !== undefined && !(max === Infinity || (Number.isInteger(max) && max >= 1))) throw new Error(`loadDomain: max must be a positive integer, got ${max}`);
  const source = await openDomain(opts, domain, phase, log, Math.min(max ?? Infinity, opts.maxDatasetSize));
  const [c, h, w] = source.shape;
  const length = c * h * w;
  const images = new Float32Array(source.size * length);
  const chunk = 64;
  for (let start = 0; start < source.size; start += chunk) {
    const reads: Array<void | Promise<void>> = [];
    for (let i = start; i < Math.min(source.size, start + chunk); i++) reads.push(source.read(i, images, i * length, Rng.derive(opts.seed, i)));
    await Promise.all(reads);
  }
  await source.close?.();
  return { images, labels: source.labels?.slice(), n: source.size, shape: [c, h, w], name: source.name };
}
