/**
 * `cgtrain runs`: one line per run of a runs directory (status, progress, speed, device, the best
 * evaluation), newest first, from each run's log.jsonl, as the report reads it; running means a
 * live process holds the run's train.lock.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import { bestEvaluation, type SelectionScore } from '../eval/best';
import { formatDuration, formatRate, formatTime } from './format';
import { overviewOf, type RunStatus } from './overview';
import { readRunLog, LOG_FILE } from './runlog';
import { runLocked } from '../train/lock';

export interface RunRow {
  name: string;
  runDir: string;
  status: RunStatus;
  epochsDone: number;
  epochsTotal?: number;
  imagesPerSec?: number;
  device?: string;
  durationMs?: number;
  lastActivityMs: number;
  best?: { epoch: number; score: SelectionScore };
  /** a log that could not be read: the reason, the rest left out */
  problem?: string;
}

/** The runs under runsDir (each sub-directory with a log.jsonl), the most recently active first. */
export async function listRuns(runsDir: string, nowMs = Date.now()): Promise<RunRow[]> {
  let entries: string[];
  try {
    entries = await fs.readdir(runsDir);
  } catch (err) {
    throw new Error(`--runs-dir ${runsDir}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such directory (pass the --runs-dir cgtrain train wrote its runs to)' : (err as Error).message}`);
  }
  const rows: RunRow[] = [];
  for (const name of entries.sort()) {
    const runDir = path.join(runsDir, name);
    const log = await fs.stat(path.join(runDir, LOG_FILE)).catch(() => null);
    if (!log?.isFile()) continue;
    try {
      const run = await readRunLog(runDir);
      // the run's lock says whether a training process holds it now; without one, a run with no
      // end record has stopped, however recently its log changed
      const locked = runLocked(runDir);
      const o = overviewOf(run, { nowMs, live: locked });
      const status = o.status === 'running' && !locked ? 'stopped' : o.status;
      rows.push({
        name, runDir, status, epochsDone: o.epochsDone, epochsTotal: o.epochsTotal, imagesPerSec: o.imagesPerSec,
        device: o.device, durationMs: o.durationMs, lastActivityMs: o.lastActivityMs, best: bestEvaluation(run.evals),
      });
    } catch (err) {
      rows.push({ name, runDir, status: 'stopped', epochsDone: 0, lastActivityMs: log.mtimeMs, problem: (err as Error).message });
    }
  }
  return rows.sort((a, b) => b.lastActivityMs - a.lastActivityMs);
}

/** The rows as an aligned table (no rows: a sentence saying so). */
export function formatRunsTable(rows: RunRow[], runsDir: string): string {
  if (rows.length === 0) return `no runs in ${runsDir} (cgtrain train writes one per --name)`;
  const header = ['name', 'status', 'epochs', 'speed', 'time', 'device', 'best', 'last activity'];
  const body = rows.map((r) => [
    r.name,
    r.problem ? 'unreadable' : r.status,
    r.epochsTotal ? `${r.epochsDone}/${r.epochsTotal}` : String(r.epochsDone),
    formatRate(r.imagesPerSec),
    r.durationMs === undefined ? '-' : formatDuration(r.durationMs),
    r.device ?? '-',
    r.best ? `${r.best.score.metric} ${r.best.score.value.toFixed(2)} @${r.best.epoch}` : '-',
    formatTime(r.lastActivityMs),
  ]);
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((row) => row[i].length)));
  const line = (row: string[]) => row.map((cell, i) => cell.padEnd(widths[i])).join('  ').trimEnd();
  const problems = rows.filter((r) => r.problem).map((r) => `  ${r.name}: ${r.problem}`);
  return [line(header), ...body.map(line), ...(problems.length ? ['', ...problems] : [])].join('\n');
}
