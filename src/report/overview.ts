/** The headline facts of a run (status, time, progress, speed, latest numbers), for the page and the terminal. */
import { flattenMetrics, isFiniteNumber, timeMs, type RunLog } from './runlog';

export type RunStatus = 'running' | 'finished' | 'stopped';

export interface RunOverview {
  status: RunStatus;
  /** why a run stopped (the end record's reason, or "no end record") */
  reason?: string;
  startedMs?: number;
  /** the end record's time, or the last record's time of a run that is not running */
  endedMs?: number;
  lastActivityMs: number;
  durationMs?: number;
  epochsDone: number;
  epochsTotal?: number;
  images?: number;
  imagesPerSec?: number;
  device?: string;
  latestLosses: Record<string, number>;
  latestMetrics: Record<string, number>;
  latestMetricsEpoch?: number;
}

/** Without an end record, a log untouched this long belongs to a process that died. */
export const STALE_RUN_MS = 15 * 60 * 1000;
const FINISHED_REASONS = new Set(['finished', 'completed', 'complete', 'done', 'epochs']);

/** `live` is set by a caller inside the training process, which knows the run is running. */
export function overviewOf(run: RunLog, options: { live?: boolean; nowMs?: number } = {}): RunOverview {
  const now = options.nowMs ?? Date.now();
  const startedMs = run.sessions[0]?.startMs;
  const lastActivityMs = lastRecordTime(run) ?? run.logModifiedMs;
  const { status, reason } = statusOf(run, options.live === true, now);
  const endedMs = status === 'running' ? undefined : timeMs(run.end?.time) ?? lastActivityMs;
  const lastStep = run.steps[run.steps.length - 1];
  const lastEval = run.evals[run.evals.length - 1];
  return {
    status,
    reason,
    startedMs,
    endedMs,
    lastActivityMs,
    durationMs: trainingTime(run, status === 'running' ? now : undefined),
    epochsDone: Math.max(0, ...run.epochs.map((e) => e.epoch)),
    epochsTotal: plannedEpochs(run.options),
    images: isFiniteNumber(lastStep?.images) ? lastStep.images : undefined,
    imagesPerSec: averageRate(run),
    device: deviceOf(run),
    latestLosses: lastStep ? { ...lastStep.losses } : {},
    latestMetrics: lastEval ? flattenMetrics(lastEval.metrics) : {},
    latestMetricsEpoch: lastEval?.epoch,
  };
}

/** Time spent training, summed over the sessions of a resumed run so the gaps between them do not count. */
function trainingTime(run: RunLog, runningUntil: number | undefined): number | undefined {
  let total: number | undefined;
  run.sessions.forEach((session, i) => {
    if (session.startMs === undefined) return;
    const last = i === run.sessions.length - 1 && runningUntil !== undefined ? runningUntil : session.lastMs ?? session.startMs;
    total = (total ?? 0) + Math.max(0, last - session.startMs);
  });
  return total;
}

function statusOf(run: RunLog, live: boolean, now: number): { status: RunStatus; reason?: string } {
  if (run.end) {
    const reason = typeof run.end.reason === 'string' ? run.end.reason : undefined;
    if (reason === undefined || FINISHED_REASONS.has(reason.toLowerCase())) return { status: 'finished', reason };
    return { status: 'stopped', reason };
  }
  if (live || now - run.logModifiedMs < STALE_RUN_MS) return { status: 'running' };
  return { status: 'stopped', reason: 'no end record: the training process ended without finishing the log' };
}

function plannedEpochs(options: Record<string, unknown>): number | undefined {
  const n = options.nEpochs;
  const decay = options.nEpochsDecay;
  if (!isFiniteNumber(n)) return undefined;
  const first = isFiniteNumber(options.epochCount) ? options.epochCount : 1;
  return first - 1 + n + (isFiniteNumber(decay) ? decay : 0);
}

/** The end record's figure when there is one; else the mean of the epochs' (steady-state) rates. */
function averageRate(run: RunLog): number | undefined {
  if (isFiniteNumber(run.end?.imagesPerSec)) return run.end?.imagesPerSec;
  const rates = run.epochs.map((e) => e.imagesPerSec).filter(isFiniteNumber);
  if (rates.length > 0) return rates.reduce((a, b) => a + b, 0) / rates.length;
  const stepRates = run.steps.map((s) => s.imagesPerSec).filter(isFiniteNumber);
  return stepRates.length > 0 ? stepRates[stepRates.length - 1] : undefined;
}

export function deviceOf(run: RunLog): string | undefined {
  const machine = run.start?.machine;
  if (!machine) return typeof run.options.device === 'string' ? run.options.device : undefined;
  const name = typeof machine.deviceName === 'string' ? machine.deviceName : undefined;
  const device = typeof machine.device === 'string' ? machine.device : undefined;
  // The GPU's operand precision (the CPU is always fp32, and says nothing).
  const precision = typeof machine.precision === 'string' && machine.precision !== 'fp32' ? `, ${machine.precision}` : '';
  if (device && name && !name.toLowerCase().includes(device.toLowerCase())) return `${device} (${name}${precision})`;
  return name ?? device;
}

function lastRecordTime(run: RunLog): number | undefined {
  const times = run.sessions.map((s) => s.lastMs).filter((t): t is number => t !== undefined);
  return times.length > 0 ? Math.max(...times) : undefined;
}
