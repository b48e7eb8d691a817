/**
 * The run's log: log.jsonl (one JSON record per line, the types of docs/architecture.md),
 * opt.json, and what the user watches: a cli-progress bar on a terminal, plain lines otherwise
 * (CI logs and pipes must not fill with carriage returns).
 */
import * as fs from 'fs';
import * as path from 'path';
import { SingleBar, Presets } from 'cli-progress';
import { formatDuration } from '../report/format';
import { formatLosses } from '../report/summary';
import { TensorBoardWriter } from '../report/tensorboard';
import { writeFileAtomicSync } from '../util/atomic';
import { LOG_FILE } from '../util/run-dir';

export type LossNames = 'D_A' | 'G_A' | 'cycle_A' | 'idt_A' | 'D_B' | 'G_B' | 'cycle_B' | 'idt_B';
export type Losses = Record<LossNames, number>;

export type LogRecord =
  /** images: the images per domain the run had trained on when this session began (0 for a new run) */
  | { type: 'start'; options: unknown; machine: Record<string, unknown>; time: string; images: number; resumedFrom?: string }
  | { type: 'step'; epoch: number; iter: number; images: number; time: string; lr: number; imagesPerSec: number; losses: Losses }
  | { type: 'epoch'; epoch: number; time: string; lr: number; imagesPerSec?: number; seconds?: number }
  | { type: 'sample'; epoch: number; iter: number; file: string }
  | { type: 'eval'; epoch: number; metrics: Record<string, unknown> }
  | { type: 'checkpoint'; epoch: number; iter: number; file: string }
  | { type: 'export'; files: string[] }
  | { type: 'end'; time: string; epochs: number; imagesPerSec: number; reason: string; seconds: number };

export interface ProgressState {
  epoch: number;
  lastEpoch: number;
  iter: number;
  itersPerEpoch: number;
  /** images done in this session and images the session will process in total */
  done: number;
  total: number;
  imagesPerSec: number;
  losses?: Losses;
}

export class RunLogger {
  readonly logFile: string;
  private bar: SingleBar | null = null;
  private readonly interactive: boolean;

  constructor(readonly runDir: string, options: { interactive?: boolean; quiet?: boolean } = {}) {
    fs.mkdirSync(runDir, { recursive: true });
    this.logFile = path.join(runDir, LOG_FILE);
    this.interactive = options.interactive ?? (process.stdout.isTTY === true && !process.env.CI);
    this.quiet = options.quiet ?? false;
  }

  private readonly quiet: boolean;
  private tensorboard: TensorBoardWriter | null = null;

  /** Appends synchronously: a record is on disk before training goes on, even if we crash next. */
  record(record: LogRecord): void {
    fs.appendFileSync(this.logFile, `${JSON.stringify(record)}\n`);
    this.tensorboard?.write(record);
  }

  /**
   * From here on, also writes the records as TensorBoard events (--tensorboard), in a new event
   * file of the run directory; `startImages` is where this session starts, `options` its
   * training options (their hyperparameters go to TensorBoard's HPARAMS dashboard).
   */
  openTensorBoard(startImages: number, resumed: boolean, options?: unknown): string {
    this.tensorboard?.close();
    this.tensorboard = new TensorBoardWriter(this.runDir, startImages, resumed, options);
    return this.tensorboard.file;
  }

  writeOptions(options: unknown): void {
    writeFileAtomicSync(path.join(this.runDir, 'opt.json'), `${JSON.stringify(options, null, 2)}\n`);
  }

  /** A message for the user, printed above the bar when there is one. */
  say(text: string): void {
    if (this.quiet) return;
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
    process.stdout.write(`${text}\n`);
  }

  progress(state: ProgressState, printLine: boolean): void {
    const eta = formatDuration((1000 * (state.total - state.done)) / Math.max(state.imagesPerSec, 1e-9));
    const losses = state.losses ? formatLosses(state.losses) : '';
    if (this.quiet) return;
    if (!this.interactive) {
      if (printLine) {
        const where = `epoch ${state.epoch}/${state.lastEpoch} iter ${state.iter}/${state.itersPerEpoch}`;
        process.stdout.write(`${where} | ${losses} | ${state.imagesPerSec.toFixed(1)} img/s | ETA ${eta}\n`);
      }
      return;
    }
    const payload = { epoch: `${state.epoch}/${state.lastEpoch}`, iter: `${state.iter}/${state.itersPerEpoch}`, losses, ips: state.imagesPerSec.toFixed(1), etaText: eta };
    if (!this.bar) {
      this.bar = new SingleBar({
        format: 'epoch {epoch} iter {iter} |{bar}| {percentage}% | {ips} img/s | ETA {etaText} | {losses}',
        hideCursor: true,
        clearOnComplete: false,
        etaBuffer: 50,
      }, Presets.shades_classic);
      this.bar.start(state.total, state.done, payload);
    } else {
      this.bar.update(state.done, payload);
    }
  }

  /** Stops the bar and closes the TensorBoard file; records after this go to log.jsonl only. */
  close(): void {
    if (this.bar) {
      this.bar.stop();
      this.bar = null;
    }
    this.tensorboard?.close();
    this.tensorboard = null;
  }
}
