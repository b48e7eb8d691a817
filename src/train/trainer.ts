/**
 * The training loop: epochs, the iteration cadence (log, samples, latest checkpoint, all counted
 * in images as the reference does), the lr schedule per epoch, evaluation/report/export hooks,
 * signal handling and resumption.
 *
 * Resumption restores everything that decides the next step: weights, Adam moments, image pools
 * (model.checkpointTensors/Meta), the training RNG, the schedule and the loader position (epoch +
 * next batch; the loader's order is a pure function of seed and epoch). A run stopped and resumed
 * therefore takes the same steps as one that never stopped.
 */
import { performance } from 'perf_hooks';
import * as fs from 'fs';
import * as path from 'path';
import type { Backend } from '../backend/device';
import type { UnalignedLoader } from '../data/types';
import type { TrainOptions } from '../options';
import { modelImageSize } from '../options';
import { LrScheduler, type ScheduleState } from '../optim/schedule';
import { copyFileAtomicSync } from '../util/atomic';
import type { Rng } from '../util/rng';
import { turnEventLoop } from '../util/yield';
import { CheckpointError, metadataJson, readCheckpoint, writeCheckpoint, type NamedTensor } from './checkpoint';
import { RunLogger, type Losses } from './logger';
import { epochCheckpointName, epochOfCheckpointName, type RunPaths } from './run';
import { writeSampleGrid, type Visuals } from './samples';

/** What the trainer needs of a model (CycleGANModel implements it). */
export interface TrainableModel {
  setInput(a: Float32Array, b: Float32Array, n: number): void;
  optimizeParameters(): void;
  currentLosses(): Losses;
  visuals(k: number): Visuals;
  setLearningRate(lr: number): void;
  checkpointTensors(): NamedTensor[];
  checkpointMeta(): unknown;
  loadCheckpoint(tensors: NamedTensor[], meta: never): void;
  parameterCount(): number;
  flopsPerImage(): number;
  /** releases backend memory now (GPU memory is not left to the garbage collector) */
  dispose?(): void;
}

export interface HookContext {
  model: TrainableModel;
  backend: Backend;
  options: TrainOptions;
  runDir: string;
  epoch: number;
  loader: UnalignedLoader;
  /** aborted when the run is asked to stop: a long hook (evaluation) gives up between batches */
  signal: AbortSignal;
}

/**
 * Optional collaborators. Each is awaited in the loop; an evaluator's metrics go to the log as an
 * `eval` record, the report hook rebuilds report.html from the log (throttled), the export hook
 * returns the files it wrote. A failing report is a warning; a failing evaluator or export is an error.
 */
export interface TrainerHooks {
  evaluate?: (ctx: HookContext & { samples: number }) => Promise<Record<string, unknown>>;
  report?: (runDir: string, final: boolean) => Promise<void> | void;
  export?: (ctx: HookContext) => Promise<string[]>;
  /** Called after every step, e.g. to stop a run from a library caller or a test. */
  afterStep?: (info: { epoch: number; iter: number; images: number; trainer: Trainer }) => void;
}

export interface TrainerDeps {
  options: TrainOptions;
  backend: Backend;
  loader: UnalignedLoader;
  model: TrainableModel;
  rng: Rng;
  paths: RunPaths;
  logger: RunLogger;
  hooks?: TrainerHooks;
  version: string;
  machine: Record<string, unknown>;
  /** Minimum seconds between report rebuilds during training. */
  reportIntervalSec?: number;
}

/**
 * Where training stands; `batch` is the next batch of `epoch`. The epoch's logged generator loss
 * (the plateau policy's signal) travels with it so a resumed epoch ends with the same mean.
 */
interface Position {
  epoch: number;
  batch: number;
  iteration: number;
  images: number;
  epochGLossSum: number;
  epochGLossCount: number;
}

export interface TrainResult {
  reason: 'completed' | 'signal' | 'stopped';
  epochs: number;
  iterations: number;
  images: number;
  imagesPerSec: number;
  seconds: number;
  lastCheckpoint: string | null;
  finalLosses: Losses | null;
}

export class NonFiniteLossError extends Error {
  constructor(readonly losses: Losses, epoch: number, iter: number, lastCheckpoint: string | null, tensor?: string) {
    super(
      `training diverged: non-finite ${tensor ? `values in ${tensor}` : 'loss'} at epoch ${epoch} iteration ${iter} (${Object.entries(losses).map(([k, v]) => `${k}=${v}`).join(' ')}). ` +
        (lastCheckpoint ? `The last good checkpoint is ${lastCheckpoint}. ` : 'No checkpoint was written yet. ') +
        'Try a lower --lr, --gan-mode lsgan, or --norm instance.',
    );
    this.name = 'NonFiniteLossError';
  }
}

const SAMPLE_COUNT = 4;

function crossed(before: number, after: number, every: number): boolean {
  return every > 0 && Math.floor(before / every) !== Math.floor(after / every);
}

function finite(losses: Losses): boolean {
  return Object.values(losses).every((v) => Number.isFinite(v));
}

function generatorLoss(l: Losses): number {
  return l.G_A + l.G_B + l.cycle_A + l.cycle_B + l.idt_A + l.idt_B;
}

export class Trainer {
  readonly schedule: LrScheduler;
  private position: Position;
  private stopReason: 'signal' | 'stopped' | null = null;
  private readonly stopping = new AbortController();
  private lastCheckpoint: string | null = null;
  private lastReport = 0;
  private readonly lastEpoch: number;
  private sessionImages = 0;
  private sessionSeconds = 0;
  /** seconds inside epochs' step loops: the session's images/s leaves evaluations and exports out */
  private trainingSeconds = 0;
  /** images in the batch the model holds now: visuals() can show at most that many */
  private lastBatchSize = 0;

  constructor(private readonly deps: TrainerDeps) {
    const o = deps.options;
    this.schedule = new LrScheduler(o);
    this.lastEpoch = o.nEpochs + o.nEpochsDecay;
    this.position = { epoch: o.epochCount, batch: 0, iteration: 0, images: 0, epochGLossSum: 0, epochGLossCount: 0 };
  }

  /** Asks the loop to save a checkpoint and return after the current step. */
  requestStop(reason: 'signal' | 'stopped' = 'stopped'): void {
    this.stopReason ??= reason;
    this.stopping.abort();
  }

  get currentPosition(): Readonly<Position> {
    return this.position;
  }

  /** Restores model, RNG, schedule and loader position from a checkpoint file. */
  resumeFrom(file: string): void {
    const { tensors, metadata } = readCheckpoint(file);
    const saved = metadataJson<Partial<Position>>(file, metadata, 'position');
    const position: Position = { epochGLossSum: 0, epochGLossCount: 0, ...saved } as Position;
    for (const key of ['epoch', 'batch', 'iteration', 'images'] as const) {
      if (!Number.isInteger(position[key]) || position[key] < 0) throw new CheckpointError(file, `__metadata__.position.${key} must be a non-negative integer, got ${JSON.stringify(position[key])}`);
    }
    this.deps.model.loadCheckpoint(tensors, metadataJson<never>(file, metadata, 'model'));
    this.deps.rng.setState(metadataJson<number[]>(file, metadata, 'rng'));
    this.schedule.setState(metadataJson<ScheduleState>(file, metadata, 'schedule'));
    this.position = position;
    this.lastCheckpoint = file;
  }

  /** The epoch the latest step belongs to (the position points at the next batch). */
  private trainedEpoch(): number {
    return this.position.batch === 0 ? this.position.epoch - 1 : this.position.epoch;
  }

  private metadata(): Record<string, string> {
    const p = this.position;
    return {
      format: 'cgtrain-checkpoint/1',
      cgtrain: this.deps.version,
      options: JSON.stringify(this.deps.options),
      epoch: String(this.trainedEpoch()),
      iteration: String(p.iteration),
      position: JSON.stringify(p),
      schedule: JSON.stringify(this.schedule.getState()),
      rng: JSON.stringify(this.deps.rng.getState()),
      model: JSON.stringify(this.deps.model.checkpointMeta()),
      time: new Date().toISOString(),
    };
  }

  /** Writes latest (and a kept copy for `keepAs`), unless the model has diverged. */
  private saveCheckpoint(keepAs: string | null): void {
    // Only a step of this session can have diverged the weights (a loaded checkpoint was checked).
    if (this.lastBatchSize > 0) {
      const losses = this.deps.model.currentLosses();
      if (!finite(losses)) throw new NonFiniteLossError(losses, this.position.epoch, this.position.iteration, this.lastCheckpoint);
    }
    const { latest } = this.deps.paths;
    const tensors = this.deps.model.checkpointTensors();
    // Finite losses can precede an update that overflowed: the weights themselves decide.
    const broken = tensors.find((t) => !t.data.every(Number.isFinite));
    if (broken) {
      throw new NonFiniteLossError(this.deps.model.currentLosses(), this.position.epoch, this.position.iteration, this.lastCheckpoint, broken.name);
    }
    writeCheckpoint(latest, tensors, this.metadata());
    this.lastCheckpoint = latest;
    this.deps.logger.record({ type: 'checkpoint', epoch: this.trainedEpoch(), iter: this.position.iteration, file: path.relative(this.deps.paths.runDir, latest) });
    if (keepAs) {
      this.keepLatestAs(keepAs);
      this.pruneEpochCheckpoints();
    }
  }

  /** --keep-epochs N: deletes all but the newest N epoch checkpoints (latest is not one of them). */
  private pruneEpochCheckpoints(): void {
    const keep = this.deps.options.keepEpochs;
    if (!(keep > 0)) return;
    const epochs = fs.readdirSync(this.deps.paths.checkpointsDir)
      .map(epochOfCheckpointName)
      .filter((e): e is number => e !== null)
      .sort((a, b) => b - a);
    for (const epoch of epochs.slice(keep)) fs.rmSync(path.join(this.deps.paths.checkpointsDir, epochCheckpointName(epoch)), { force: true });
  }

  /** Copies latest to checkpoints/<name> (atomically) and logs it; returns the copy's path. */
  private keepLatestAs(name: string): string {
    const kept = path.join(this.deps.paths.checkpointsDir, name);
    copyFileAtomicSync(this.deps.paths.latest, kept);
    this.deps.logger.record({ type: 'checkpoint', epoch: this.trainedEpoch(), iter: this.position.iteration, file: path.relative(this.deps.paths.runDir, kept) });
    return kept;
  }

  private async writeSamples(epoch: number, tag: string): Promise<void> {
    const o = this.deps.options;
    const count = Math.min(SAMPLE_COUNT, this.lastBatchSize);
    const visuals = this.deps.model.visuals(count);
    const geometry = { count, inputNc: o.inputNc, outputNc: o.outputNc, size: modelImageSize(o) };
    const file = await writeSampleGrid(this.deps.paths.runDir, tag, visuals, geometry);
    this.deps.logger.record({ type: 'sample', epoch, iter: this.position.iteration, file });
  }

  /** `force` skips the throttle (epoch ends); `final` marks the run's last rebuild. */
  private async report(force: boolean, final = false): Promise<void> {
    const hook = this.deps.hooks?.report;
    const interval = (this.deps.reportIntervalSec ?? 30) * 1000;
    if (!hook || (!force && performance.now() - this.lastReport < interval)) return;
    this.lastReport = performance.now();
    try {
      await hook(this.deps.paths.runDir, final);
    } catch (err) {
      this.deps.logger.say(`cgtrain: warning: could not rebuild the report: ${(err as Error).message}`);
    }
  }

  private context(epoch: number): HookContext {
    const { model, backend, options, loader, paths } = this.deps;
    return { model, backend, options, loader, runDir: paths.runDir, epoch, signal: this.stopping.signal };
  }

  /** Runs the remaining epochs; resolves with how it ended. */
  async run(): Promise<TrainResult> {
    const { logger } = this.deps;
    const started = performance.now();
    let finalLosses: Losses | null = null;
    let reason: TrainResult['reason'] = 'completed';
    try {
      while (this.position.epoch <= this.lastEpoch) {
        const outcome = await this.runEpoch();
        finalLosses = outcome.lastLosses ?? finalLosses;
        if (this.stopReason) {
          reason = this.stopReason;
          break;
        }
      }
    } catch (err) {
      if (err instanceof NonFiniteLossError) {
        const seconds = (performance.now() - started) / 1000;
        logger.close();
        logger.record({ type: 'end', time: new Date().toISOString(), epochs: this.position.epoch - 1, imagesPerSec: this.sessionImages / Math.max(this.trainingSeconds, 1e-9), reason: 'non-finite loss', seconds });
        await this.report(true, true);
      }
      throw err;
    }
    this.sessionSeconds = (performance.now() - started) / 1000;
    const imagesPerSec = this.sessionImages / Math.max(this.trainingSeconds, 1e-9);
    if (reason === 'completed' && this.deps.hooks?.export) {
      const files = await this.deps.hooks.export(this.context(this.lastEpoch));
      if (files.length > 0) {
        logger.record({ type: 'export', files: files.map((f) => path.relative(this.deps.paths.runDir, path.resolve(f))) });
        logger.say(`cgtrain: exported ${files.join(', ')}`);
      }
    }
    const epochsDone = Math.min(this.position.epoch - 1, this.lastEpoch);
    logger.record({ type: 'end', time: new Date().toISOString(), epochs: epochsDone, imagesPerSec, reason, seconds: this.sessionSeconds });
    await this.report(true, true);
    return {
      reason, epochs: epochsDone, iterations: this.position.iteration, images: this.position.images, imagesPerSec,
      seconds: this.sessionSeconds, lastCheckpoint: this.lastCheckpoint, finalLosses,
    };
  }

  private async runEpoch(): Promise<{ lastLosses: Losses | null }> {
    const { loader, model, options: o, logger } = this.deps;
    const epoch = this.position.epoch;
    const lr = this.schedule.lr(epoch);
    model.setLearningRate(lr);
    const epochStart = performance.now();
    let windowStart = epochStart;
    let windowImages = 0;
    let epochImages = 0;
    let lastLosses: Losses | null = null;
    const totalImages = (this.lastEpoch - o.epochCount + 1) * loader.epochSize;
    for await (const batch of loader.epoch(epoch, this.position.batch)) {
      model.setInput(batch.a, batch.b, batch.n);
      loader.recycle(batch); // uploaded (copied out synchronously on both backends): its arrays can take a later batch
      this.lastBatchSize = batch.n;
      model.optimizeParameters();
      const before = this.position.images;
      this.position.images += batch.n;
      this.position.iteration += 1;
      this.position.batch += 1;
      this.sessionImages += batch.n;
      windowImages += batch.n;
      epochImages += batch.n;
      const now = performance.now();
      const imagesPerSec = windowImages / Math.max((now - windowStart) / 1000, 1e-9);
      const shouldLog = crossed(before, this.position.images, o.printFreq);
      if (shouldLog) {
        const losses = model.currentLosses();
        if (!finite(losses)) throw new NonFiniteLossError(losses, epoch, this.position.iteration, this.lastCheckpoint);
        lastLosses = losses;
        this.position.epochGLossSum += generatorLoss(losses);
        this.position.epochGLossCount++;
        logger.record({ type: 'step', epoch, iter: this.position.iteration, images: this.position.images, time: new Date().toISOString(), lr, imagesPerSec, losses });
        windowStart = now;
        windowImages = 0;
      }
      logger.progress({
        epoch, lastEpoch: this.lastEpoch, iter: this.position.batch, itersPerEpoch: loader.batchesPerEpoch,
        done: Math.min(totalImages, (epoch - o.epochCount) * loader.epochSize + this.position.batch * o.batchSize),
        total: totalImages, imagesPerSec, losses: lastLosses ?? undefined,
      }, shouldLog);
      if (crossed(before, this.position.images, o.displayFreq)) await this.writeSamples(epoch, `epoch${String(epoch).padStart(3, '0')}_iter${String(this.position.iteration).padStart(7, '0')}`);
      this.deps.hooks?.afterStep?.({ epoch, iter: this.position.iteration, images: this.position.images, trainer: this });
      await turnEventLoop();
      if (this.stopReason) {
        this.trainingSeconds += (performance.now() - epochStart) / 1000;
        this.saveCheckpoint(null);
        logger.say(`cgtrain: stopped (${this.stopReason}) at epoch ${epoch} iteration ${this.position.iteration}; checkpoint ${this.lastCheckpoint}`);
        return { lastLosses };
      }
      if (crossed(before, this.position.images, o.saveLatestFreq)) this.saveCheckpoint(null);
      await this.report(false);
    }
    this.trainingSeconds += (performance.now() - epochStart) / 1000;
    const { epochGLossSum, epochGLossCount } = this.position;
    await this.finishEpoch(epoch, lr, epochStart, epochImages, epochGLossCount > 0 ? epochGLossSum / epochGLossCount : NaN);
    return { lastLosses };
  }

  private async finishEpoch(epoch: number, lr: number, epochStart: number, epochImages: number, meanGLoss: number): Promise<void> {
    const { logger, options: o } = this.deps;
    // A run stopped after an epoch's last batch resumes with nothing left of it: no throughput to
    // report (a 0 would pull down the report's throughput chart and average).
    const seconds = (performance.now() - epochStart) / 1000;
    const timing = epochImages > 0 ? { imagesPerSec: epochImages / Math.max(seconds, 1e-9), seconds } : {};
    logger.record({ type: 'epoch', epoch, time: new Date().toISOString(), lr, ...timing });
    const done = timing.imagesPerSec === undefined ? 'done (resumed after its last batch)' : `done in ${seconds.toFixed(1)} s, ${timing.imagesPerSec.toFixed(1)} img/s`;
    logger.say(`epoch ${epoch}/${this.lastEpoch} ${done}, lr ${lr.toExponential(3)}`);
    if (this.lastBatchSize > 0) await this.writeSamples(epoch, `epoch${String(epoch).padStart(3, '0')}`);
    this.schedule.endEpoch(meanGLoss);
    this.position = { ...this.position, epoch: epoch + 1, batch: 0, epochGLossSum: 0, epochGLossCount: 0 };
    const keep = o.saveEpochFreq > 0 && (epoch % o.saveEpochFreq === 0 || epoch === this.lastEpoch) ? epochCheckpointName(epoch) : null;
    this.saveCheckpoint(keep);
    if (this.deps.hooks?.evaluate && o.evalFreq > 0 && (epoch % o.evalFreq === 0 || epoch === this.lastEpoch)) await this.evaluate(epoch, keep);
    await this.report(true);
  }

  /**
   * The evaluate hook after epoch `epoch` (its checkpoints are written). A stop requested during
   * the evaluation (minutes on a CPU) abandons it: the epoch's weights are in the checkpoint, and
   * the log says how to evaluate them later.
   */
  private async evaluate(epoch: number, kept: string | null): Promise<void> {
    const { logger, options: o } = this.deps;
    try {
      const metrics = await this.deps.hooks!.evaluate!({ ...this.context(epoch), samples: o.evalSamples });
      logger.record({ type: 'eval', epoch, metrics });
    } catch (err) {
      if (!(this.stopping.signal.aborted && err === this.stopping.signal.reason)) throw err;
      // latest moves on when the run resumes: keep epoch `epoch` to evaluate.
      const file = kept ? path.join(this.deps.paths.checkpointsDir, kept) : this.keepLatestAs(epochCheckpointName(epoch));
      logger.say(`cgtrain: stopped during the evaluation of epoch ${epoch}; its generators are in ${file}: cgtrain eval --checkpoint ${file}`);
    }
  }
}
