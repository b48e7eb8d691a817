/**
 * One training session, assembled: options -> run directory -> backend, data, model -> trainer,
 * with signal handling. The `train` command and the integration tests both start training here.
 */
import * as fs from 'fs';
import { loadBackend, type Backend } from '../backend/device';
import { defaultDataDir, openUnalignedLoader } from '../data';
import type { DataOptions } from '../data/types';
import { cgtrainVersion } from '../export/metadata';
import { checkEvaluationOptions, modelImageSize, resolveOptions, type TrainOptions } from '../options';
import { Rng } from '../util/rng';
import { CycleGANModel, type ModelConfig } from './cyclegan';
import { formatSummary, loadRunSummary } from '../report/summary';
import { acquireRunLock, RunLockedError } from './lock';
import { RunLogger } from './logger';
import { chooseRunName, createRunDirs, mergeResumedOptions, removeEmptyRunDirs, readSavedOptions, resumeCheckpoint, runPaths, type RunPaths } from './run';
import { Trainer, type TrainableModel, type TrainerHooks, type TrainResult } from './trainer';

export function modelConfigOf(o: TrainOptions): ModelConfig {
  return {
    netG: o.netG, netD: o.netD, nLayersD: o.nLayersD, ngf: o.ngf, ndf: o.ndf, norm: o.norm, initType: o.initType,
    initGain: o.initGain, noDropout: o.noDropout, upsample: o.upsample, inputNc: o.inputNc, outputNc: o.outputNc,
    ganMode: o.ganMode, dLoss: o.dLoss, focalAlpha: o.focalAlpha, focalGamma: o.focalGamma, ghmBins: o.ghmBins,
    ghmMomentum: o.ghmMomentum, lambdaA: o.lambdaA, lambdaB: o.lambdaB, lambdaIdentity: o.lambdaIdentity,
    poolSize: o.poolSize, lr: o.lr, beta1: o.beta1, beta2: o.beta2, imageSize: modelImageSize(o),
  };
}

export function dataOptionsOf(o: TrainOptions, phase: 'train' | 'test' = 'train'): DataOptions {
  return {
    dataset: o.dataset, dataroot: o.dataroot, dataDir: o.dataDir ?? defaultDataDir(), mnist: o.mnist, svhn: o.svhn, phase,
    preprocess: o.preprocess, loadSize: o.loadSize, cropSize: o.cropSize, noFlip: o.noFlip,
    maxDatasetSize: o.maxDatasetSize === 0 ? Infinity : o.maxDatasetSize, inputNc: o.inputNc, outputNc: o.outputNc,
    serialBatches: o.serialBatches, seed: o.seed, batchSize: o.batchSize, synthCount: o.synthCount, imageSize: modelImageSize(o),
  };
}

function machineOf(backend: Backend): Record<string, unknown> {
  const info = backend.info;
  return {
    cpu: info.cpu?.model, threads: info.threads, simd: info.simd, device: backend.kind,
    deviceName: info.devices?.[0]?.name ?? info.cpu?.model, precision: info.precision,
  };
}

export interface SessionOptions {
  /** camelCase options as typed (undefined = not typed) */
  given: Record<string, unknown>;
  hooks?: TrainerHooks;
  interactive?: boolean;
  quiet?: boolean;
  /** install SIGINT/SIGTERM handlers that save a checkpoint and stop (the CLI does) */
  handleSignals?: boolean;
  /** wraps the model the trainer drives, e.g. to instrument or fault-inject it */
  wrapModel?: (model: CycleGANModel) => TrainableModel;
}

export interface Session {
  options: TrainOptions;
  runDir: string;
  resumedFrom: string | null;
  result: TrainResult;
}

/**
 * Resolves options, including a resumed run's saved ones; returns them with the run paths.
 * `--checkpoint FILE` without `--name` continues the run the file belongs to (its saved name
 * and runs directory), not the preset's.
 */
export function prepareRun(given: Record<string, unknown>) {
  let options = resolveOptions(given);
  if (options.checkpoint !== undefined && given.name === undefined) {
    const file = resumeCheckpoint(options, runPaths(options.runsDir, options.name));
    const saved = file ? readSavedOptions(file) : undefined;
    if (saved) options = { ...options, name: saved.name, runsDir: (given.runsDir as string | undefined) ?? saved.runsDir };
  }
  const name = chooseRunName(options, given.name !== undefined);
  const runsDir = options.runsDir;
  options = { ...options, name };
  const paths = runPaths(runsDir, name);
  const resumedFrom = resumeCheckpoint(options, paths);
  if (resumedFrom) options = mergeResumedOptions(readSavedOptions(resumedFrom), given, resumedFrom);
  options = { ...options, name, runsDir };
  checkEvaluationOptions(options);
  return { options, paths, resumedFrom };
}

function presetText(preset: TrainOptions['preset']): string {
  return preset === 'none' ? "no preset: the reference CycleGAN's defaults" : `preset ${preset}`;
}

/**
 * The first SIGINT or SIGTERM asks the trainer to stop after the current step (with a checkpoint)
 * and removes these handlers, so that a second one takes the default action and ends the process
 * at once, even in the middle of a step (a step can take minutes on a CPU; a signal handler could
 * only run after it). A run killed that way resumes from its last checkpoint; its lock is taken
 * over (src/train/lock.ts). Returns the uninstaller.
 */
export function installSignals(trainer: Pick<Trainer, 'requestStop'>, logger: Pick<RunLogger, 'say'>): () => void {
  const uninstall = (): void => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  function onSignal(signal: NodeJS.Signals): void {
    uninstall();
    logger.say(`cgtrain: ${signal}: saving a checkpoint after this step (press Ctrl-C again to quit at once, without it)`);
    trainer.requestStop('signal');
  }
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return uninstall;
}

/**
 * A note when the epoch checkpoints this run will keep add up to more than 2 GB: each holds the
 * weights and Adam's two moments (12 bytes a parameter, plus the image pools), and a 200-epoch
 * resnet_9blocks run with --save-epoch-freq 5 keeps 40 of them.
 */
export function checkpointDiskNote(o: TrainOptions, fromEpoch: number, parameters: number): string | null {
  const last = o.nEpochs + o.nEpochsDecay;
  let kept = 0;
  for (let e = fromEpoch; o.saveEpochFreq > 0 && e <= last; e++) if (e % o.saveEpochFreq === 0 || e === last) kept++;
  if (o.keepEpochs > 0) kept = Math.min(kept, o.keepEpochs);
  const each = parameters * 12;
  if (kept * each <= 2e9) return null;
  const gb = (bytes: number) => `${(bytes / 1e9).toFixed(1)} GB`;
  return `cgtrain: note: this run keeps ${kept} epoch checkpoints of at least ${(each / 1e6).toFixed(0)} MB (${gb(kept * each)} in all; --save-epoch-freq ${o.saveEpochFreq}); --keep-epochs N keeps only the newest N`;
}

/** A device (or host) allocation failed during training: says which settings and what to try. */
export class OutOfMemoryError extends Error {
  constructor(options: TrainOptions, device: string, cause: Error, checkpoint: string | null) {
    const smaller = Math.max(1, Math.floor(options.batchSize / 2));
    const size = modelImageSize(options);
    const tries = [options.batchSize > 1 ? `--batch-size ${smaller}` : null, options.dataset === 'folder' && size > 64 ? 'a smaller --crop-size' : null,
      options.ngf > 16 || options.ndf > 16 ? 'smaller --ngf/--ndf' : null].filter(Boolean);
    super(
      `the ${device} ran out of memory training with --batch-size ${options.batchSize} on ${size}x${size} images ` +
        `(${options.netG} ngf ${options.ngf}, ${options.netD} ndf ${options.ndf}): ${cause.message.replace(/^cgtrain (cpu|cuda): /, '')}\n` +
        `  Try ${tries.length ? tries.join(', or ') : 'a smaller model'}` +
        `${options.continueTrain ? ' (a resumed run keeps its model options: start a new --name to change them)' : ''}.` +
        `${checkpoint ? ` The last checkpoint, ${checkpoint}, is intact.` : ''}`,
    );
    this.name = 'OutOfMemoryError';
  }
}

function isOutOfMemory(err: unknown): err is Error {
  return err instanceof Error && /out of (device |host )?memory/i.test(err.message);
}

/** The start block's `eval:` line: when and how the run evaluates, or how to turn it on. */
export function evaluationPlan(o: TrainOptions, hooked: boolean): string {
  if (!hooked) return 'off (no evaluation hook in this session)';
  const metrics = o.inception
    ? `${o.dataset === 'mnist2svhn' ? 'digit metrics and ' : ''}FID/KID/IS with ${o.inception === 'fid' ? 'the FID Inception' : o.inception}`
    : 'digit accuracy, digit-FID/KID/IS, PRDC';
  if (o.evalFreq > 0) return `every ${o.evalFreq} epoch${o.evalFreq === 1 ? '' : 's'} and the last, on up to ${o.evalSamples} test images per domain: ${metrics}`;
  if (o.dataset === 'folder') return "off (image folders are evaluated with an Inception model: 'cgtrain data download inception', then --inception fid --eval-freq N)";
  return 'off (--eval-freq N evaluates every N epochs)';
}

export async function runSession(session: SessionOptions): Promise<Session> {
  const { options, paths, resumedFrom, release } = prepareLockedRun(session.given);
  let finished = false;
  try {
    const result = await trainRun(session, options, paths, resumedFrom);
    finished = true;
    return result;
  } finally {
    release();
    if (!finished) removeEmptyRunDirs(paths);
  }
}

/**
 * prepareRun, then the run's lock. A fresh run whose name was not typed (two demos started at
 * once both pick 'quick') moves on to the next free name when another process got there first;
 * otherwise the lock's error stands.
 */
function prepareLockedRun(given: Record<string, unknown>) {
  for (let attempt = 0; ; attempt++) {
    const prepared = prepareRun(given);
    createRunDirs(prepared.paths);
    try {
      return { ...prepared, release: acquireRunLock(prepared.paths.runDir, prepared.options.name) };
    } catch (err) {
      const automaticName = given.name === undefined && !prepared.options.continueTrain;
      if (!(err instanceof RunLockedError && automaticName && attempt < 10)) throw err;
    }
  }
}

async function trainRun(session: SessionOptions, options: TrainOptions, paths: RunPaths, resumedFrom: string | null): Promise<Session> {
  const logger = new RunLogger(paths.runDir, { interactive: session.interactive, quiet: session.quiet });
  const backend = loadBackend(options.device, { threads: options.threads, quiet: session.quiet, precision: options.precision });
  const loader = await openUnalignedLoader(dataOptionsOf(options), (line) => logger.say(`cgtrain: ${line}`));
  const uninstall: Array<() => void> = [];
  let cycleGan: CycleGANModel | undefined;
  try {
    const rng = new Rng(options.seed);
    cycleGan = new CycleGANModel(modelConfigOf(options), backend, rng);
    const model: TrainableModel = session.wrapModel ? session.wrapModel(cycleGan) : cycleGan;
    const machine = machineOf(backend);
    const trainer = new Trainer({ options, backend, loader, model, rng, paths, logger, hooks: session.hooks, version: cgtrainVersion(), machine });
    if (resumedFrom) trainer.resumeFrom(resumedFrom);
    logger.writeOptions(options);
    const p = trainer.currentPosition;
    const tensorboard = options.tensorboard ? logger.openTensorBoard(p.images, resumedFrom !== null, options) : null;
    logger.record({ type: 'start', options, machine, time: new Date().toISOString(), images: p.images, ...(resumedFrom ? { resumedFrom } : {}) });
    logger.say(
      `cgtrain: run '${options.name}' in ${paths.runDir} (${resumedFrom ? `resuming epoch ${p.epoch} batch ${p.batch} from ${resumedFrom}` : `new run, ${presetText(options.preset)}`})\n` +
        `  data: ${loader.epochSize} images/epoch, ${loader.batchesPerEpoch} batches of ${options.batchSize}\n` +
        `  model: ${options.netG} / ${options.netD}, ngf ${options.ngf} ndf ${options.ndf}, ${(model.parameterCount() / 1e6).toFixed(2)} M parameters, ` +
        `${(model.flopsPerImage() / 1e9).toFixed(2)} GFLOP/image per step; ${backend.kind} (${String(machine.deviceName ?? '')}, ${String(machine.precision ?? 'fp32')})\n` +
        `  eval: ${evaluationPlan(options, session.hooks?.evaluate !== undefined)}` +
        (tensorboard ? `\n  tensorboard: ${tensorboard} (tensorboard --logdir ${options.runsDir})` : ''),
    );
    const disk = checkpointDiskNote(options, p.epoch, model.parameterCount());
    if (disk) logger.say(disk);
    if (p.epoch > options.nEpochs + options.nEpochsDecay) {
      logger.say(`cgtrain: run '${options.name}' already finished epoch ${p.epoch - 1} of ${options.nEpochs + options.nEpochsDecay}; raise --n-epochs or --n-epochs-decay to train further`);
    }
    if (session.handleSignals) uninstall.push(installSignals(trainer, logger));
    const result = await trainer.run();
    logger.close();
    logger.say(formatSummary(await loadRunSummary(paths.runDir)).trimEnd());
    return { options, runDir: paths.runDir, resumedFrom, result };
  } catch (err) {
    if (isOutOfMemory(err)) {
      throw new OutOfMemoryError(options, backend.kind === 'cuda' ? 'GPU' : 'CPU', err, fs.existsSync(paths.latest) ? paths.latest : null);
    }
    throw err;
  } finally {
    for (const u of uninstall) u();
    logger.close();
    cycleGan?.dispose();
    await loader.close();
  }
}

