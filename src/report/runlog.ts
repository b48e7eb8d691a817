/**
 * Reads a run directory (log.jsonl, opt.json) into typed records for the report and the summary.
 *
 * The log is written while training runs, so the reader is lenient: a torn last line, an unknown
 * record type or a missing field is noted in `problems` and skipped, never thrown, because a
 * report of a live run must still render from whatever is on disk.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { findRunDir, LOG_FILE } from '../util/run-dir';

export interface MachineInfo {
  cpu?: string;
  threads?: number;
  simd?: string;
  device?: string;
  deviceName?: string;
  [key: string]: unknown;
}

export interface StartRecord {
  type: 'start';
  options?: Record<string, unknown>;
  machine?: MachineInfo;
  time?: number | string;
}
export interface StepRecord {
  type: 'step';
  epoch: number;
  iter: number;
  images?: number;
  time?: number | string;
  lr?: number;
  imagesPerSec?: number;
  losses: Record<string, number>;
}
export interface EpochRecord { type: 'epoch'; epoch: number; time?: number | string; lr?: number; imagesPerSec?: number }
export interface SampleRecord { type: 'sample'; epoch: number; iter?: number; file: string }
export interface EvalRecord { type: 'eval'; epoch: number; metrics: Record<string, unknown> }
export interface CheckpointRecord { type: 'checkpoint'; epoch?: number; iter?: number; file: string }
export interface ExportRecord { type: 'export'; files: string[] }
export interface EndRecord { type: 'end'; time?: number | string; epochs?: number; imagesPerSec?: number; reason?: string }

export interface RunLog {
  runDir: string;
  name: string;
  start?: StartRecord;
  /** options from the start record, else from opt.json */
  options: Record<string, unknown>;
  steps: StepRecord[];
  epochs: EpochRecord[];
  samples: SampleRecord[];
  evals: EvalRecord[];
  checkpoints: CheckpointRecord[];
  exports: ExportRecord[];
  end?: EndRecord;
  /** one per start record: a resumed run appends a new session to the same log */
  sessions: { startMs?: number; lastMs?: number }[];
  /** when log.jsonl was last written (ms since 1970), the liveness signal of a run without `end` */
  logModifiedMs: number;
  problems: string[];
}

export class RunDirError extends Error {}

export { LOG_FILE };
export const OPTIONS_FILE = 'opt.json';

/** Accepts a run directory, or a run name under ./runs, and says which it tried when neither exists. */
export async function resolveRunDir(given: string): Promise<string> {
  const found = findRunDir(given, [LOG_FILE]);
  if (found) return path.resolve(found);
  throw new RunDirError(
    `no ${LOG_FILE} in ${given}${given.includes(path.sep) ? '' : ` or runs/${given}`}: ` +
      `pass the run directory that 'cgtrain train' wrote (runs/<name>)`,
  );
}

export async function readRunLog(runDir: string): Promise<RunLog> {
  const logPath = path.join(runDir, LOG_FILE);
  let text: string;
  let logModifiedMs: number;
  try {
    [text, logModifiedMs] = await Promise.all([fs.readFile(logPath, 'utf8'), fs.stat(logPath).then((s) => s.mtimeMs)]);
  } catch (err) {
    throw new RunDirError(`cannot read ${logPath}: ${(err as Error).message}`);
  }
  const run: RunLog = {
    runDir, name: path.basename(path.resolve(runDir)), options: {}, steps: [], epochs: [], samples: [],
    evals: [], checkpoints: [], exports: [], sessions: [], logModifiedMs, problems: [],
  };
  parseLogLines(text, run);
  run.options = asRecord(run.start?.options) ?? (await readOptionsFile(runDir, run.problems)) ?? {};
  return run;
}

/**
 * Each parsed line of log.jsonl's text with its 1-based number, in order; `notJson` hears of a
 * line that does not parse, except a torn final line, which is the writer mid-append.
 */
export function forEachLogLine(text: string, record: (value: unknown, line: number) => void, notJson: (line: number) => void): void {
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      if (index < lines.length - 1 || text.endsWith('\n')) notJson(index + 1);
      return;
    }
    record(value, index + 1);
  });
}

function parseLogLines(text: string, run: RunLog): void {
  forEachLogLine(text, (record, line) => {
    const problem = addRecord(record, run);
    if (problem) run.problems.push(`log.jsonl line ${line}: ${problem}`);
    else noteSessionTime(record as Record<string, unknown>, run);
  }, (line) => run.problems.push(`log.jsonl line ${line} is not JSON`));
}

/** Files the record under its type; returns why it was skipped, if it was. */
function addRecord(raw: unknown, run: RunLog): string | undefined {
  const r = asRecord(raw);
  if (!r) return 'not an object';
  switch (r.type) {
    case 'start':
      // A resumed run starts again in the same log: the newest options and machine apply, the old end does not.
      run.start = r as unknown as StartRecord;
      run.end = undefined;
      run.sessions.push({});
      return undefined;
    case 'step':
      if (!isFiniteNumber(r.epoch) || !asRecord(r.losses)) return 'step record without epoch or losses';
      addStep({ ...(r as unknown as StepRecord), iter: isFiniteNumber(r.iter) ? r.iter : run.steps.length }, run);
      return undefined;
    case 'epoch':
      if (!isFiniteNumber(r.epoch)) return 'epoch record without epoch';
      run.epochs = run.epochs.filter((e) => e.epoch < (r.epoch as number));
      run.epochs.push(r as unknown as EpochRecord);
      return undefined;
    case 'sample':
      if (typeof r.file !== 'string') return 'sample record without file';
      run.samples.push(r as unknown as SampleRecord);
      return undefined;
    case 'eval':
      if (!asRecord(r.metrics)) return 'eval record without metrics';
      run.evals.push(r as unknown as EvalRecord);
      return undefined;
    case 'checkpoint':
      if (typeof r.file !== 'string') return 'checkpoint record without file';
      run.checkpoints.push(r as unknown as CheckpointRecord);
      return undefined;
    case 'export':
      if (!Array.isArray(r.files)) return 'export record without files';
      run.exports.push({ type: 'export', files: r.files.filter((f): f is string => typeof f === 'string') });
      return undefined;
    case 'end':
      run.end = r as unknown as EndRecord;
      return undefined;
    default:
      // Record types added later must not break older readers.
      return undefined;
  }
}

/**
 * A run resumed from a checkpoint repeats the steps logged after that checkpoint; the repeat is
 * what the model now carries, so it replaces the old tail and the curves stay one line.
 */
function addStep(step: StepRecord, run: RunLog): void {
  const last = run.steps[run.steps.length - 1];
  if (last && isFiniteNumber(step.images) && isFiniteNumber(last.images) && step.images <= last.images) {
    const keep = run.steps.findIndex((s) => isFiniteNumber(s.images) && s.images >= (step.images as number));
    if (keep >= 0) run.steps.length = keep;
  }
  run.steps.push(step);
}

function noteSessionTime(record: Record<string, unknown>, run: RunLog): void {
  const ms = timeMs(record.time);
  if (ms === undefined) return;
  if (run.sessions.length === 0) run.sessions.push({});
  const session = run.sessions[run.sessions.length - 1];
  session.startMs ??= ms;
  session.lastMs = Math.max(session.lastMs ?? ms, ms);
}

async function readOptionsFile(runDir: string, problems: string[]): Promise<Record<string, unknown> | undefined> {
  try {
    return asRecord(JSON.parse(await fs.readFile(path.join(runDir, OPTIONS_FILE), 'utf8')));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') problems.push(`${OPTIONS_FILE}: ${(err as Error).message}`);
    return undefined;
  }
}

/** Record times may be ISO strings, ms or s since 1970; returns ms, or undefined. */
export function timeMs(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value < 1e11 ? value * 1000 : value;
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    return Number.isNaN(ms) ? undefined : ms;
  }
  return undefined;
}

/** Eval metrics may nest (`{A:{fid:..}}`); flattens numbers to dotted keys, drops the rest. */
export function flattenMetrics(metrics: Record<string, unknown>, prefix = ''): Record<string, number> {
  const flat: Record<string, number> = {};
  for (const [key, value] of Object.entries(metrics)) {
    const name = prefix ? `${prefix}.${key}` : key;
    if (isFiniteNumber(value)) flat[name] = value;
    else if (asRecord(value)) Object.assign(flat, flattenMetrics(value as Record<string, unknown>, name));
  }
  return flat;
}

export function isFiniteNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
