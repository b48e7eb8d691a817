/**
 * The few lines the trainer prints when training ends: how it ended, how long and how fast, the
 * final losses and metrics, and where the report and the models are. Built from the same log as
 * the report, so the terminal and the page never disagree.
 */
import * as fs from 'fs';
import * as path from 'path';
import { bestEvaluation, formatScore, type SelectionScore } from '../eval/best';
import { isSpread } from '../eval/format';
import { BEST_CHECKPOINT, LATEST_CHECKPOINT } from '../train/run';
import { formatBytes, formatDuration, formatNumber, formatRate } from './format';
import { overviewOf, type RunOverview } from './overview';
import { listModelFiles, REPORT_FILE } from './report';
import type { ModelFile } from './page';
import { readRunLog } from './runlog';

export interface RunSummary {
  name: string;
  options: Record<string, unknown>;
  runDir: string;
  overview: RunOverview;
  /** path of report.html (whether or not it has been written yet) */
  reportFile: string;
  models: ModelFile[];
  /** with two evaluations or more: the best one and its checkpoint (when written) */
  best?: { epoch: number; score: SelectionScore; file?: string };
}

export interface SummaryFormat {
  /** ANSI bold/dim; the default follows whether stdout is a terminal and NO_COLOR */
  color?: boolean;
  /** paths are printed relative to this directory (default: the working directory) */
  cwd?: string;
}

/** The order the reference CycleGAN prints its losses in, so users read them where they expect. */
const LOSS_ORDER = ['D_A', 'G_A', 'cycle_A', 'idt_A', 'D_B', 'G_B', 'cycle_B', 'idt_B'];

export async function loadRunSummary(runDir: string): Promise<RunSummary> {
  const run = await readRunLog(path.resolve(runDir));
  const best = run.evals.length > 1 ? bestEvaluation(run.evals) : undefined;
  const bestFile = path.join(run.runDir, 'checkpoints', BEST_CHECKPOINT);
  return {
    name: run.name, options: run.options, runDir: run.runDir, overview: overviewOf(run), reportFile: path.join(run.runDir, REPORT_FILE), models: await listModelFiles(run),
    best: best && { ...best, file: fs.existsSync(bestFile) ? bestFile : undefined },
  };
}

export function formatSummary(summary: RunSummary, format: SummaryFormat = {}): string {
  const color = format.color ?? (process.stdout.isTTY === true && !process.env.NO_COLOR);
  const bold = (s: string): string => (color ? `\x1b[1m${s}\x1b[22m` : s);
  const dim = (s: string): string => (color ? `\x1b[2m${s}\x1b[22m` : s);
  const shown = (file: string): string => displayPath(path.resolve(summary.runDir, file), format.cwd);
  const o = summary.overview;
  const lines = [bold(headline(summary.name, o))];
  const row = (label: string, text: string): void => {
    if (text) lines.push(`  ${dim(label.padEnd(11))}${text}`);
  };
  row('losses', formatLosses(o.latestLosses));
  // the spreads (KID-std_AtoB, ...) stay in the report and the log: a summary line has no room for them
  const metrics = Object.fromEntries(Object.entries(o.latestMetrics).filter(([k]) => !isSpread(k)));
  row('metrics', Object.keys(metrics).length ? `${formatPairs(metrics)}  ${dim(`(epoch ${o.latestMetricsEpoch})`)}` : '');
  row('report', shown(summary.reportFile));
  const models = summary.models.filter((m) => m.kind === 'model');
  row('models', models.map((m) => `${shown(m.file)}${m.bytes === undefined ? '' : dim(` (${formatBytes(m.bytes)})`)}`).join(', '));
  // latest.safetensors is what --continue-train resumes from; an epoch copy only without it
  const checkpoints = summary.models.filter((m) => m.kind === 'checkpoint');
  const checkpoint = checkpoints.find((m) => path.basename(m.file) === LATEST_CHECKPOINT) ?? checkpoints[0];
  if (checkpoint) row('checkpoint', shown(checkpoint.file));
  if (summary.best) row('best', `epoch ${summary.best.epoch}, ${formatScore(summary.best.score)}${summary.best.file ? `: ${shown(summary.best.file)}` : ''}`);
  if (o.status === 'stopped') {
    if (o.reason) row('stopped', o.reason);
    row('resume', resumeCommand(summary));
  }
  return `${lines.join('\n')}\n`;
}

function resumeCommand(summary: RunSummary): string {
  const runsDir = summary.options.runsDir;
  const where = typeof runsDir === 'string' && runsDir !== 'runs' ? ` --runs-dir ${runsDir}` : '';
  return `cgtrain train --name ${summary.name}${where} --continue-train`;
}

function headline(name: string, o: RunOverview): string {
  const verb = o.status === 'finished' ? 'finished' : o.status === 'running' ? 'running' : 'stopped';
  const parts = [`Training ${name} ${verb}`];
  if (o.durationMs !== undefined) parts.push(`${o.status === 'running' ? 'for' : 'in'} ${formatDuration(o.durationMs)}`);
  const facts = [
    o.epochsTotal ? `${o.epochsDone}/${o.epochsTotal} epochs` : `${o.epochsDone} epochs`,
    o.images === undefined ? '' : `${o.images.toLocaleString('en-US')} images`,
    [o.imagesPerSec === undefined ? '' : formatRate(o.imagesPerSec), o.device ? `on ${o.device}` : ''].filter(Boolean).join(' '),
  ].filter(Boolean);
  return `${parts.join(' ')}: ${facts.join(', ')}`;
}

/** `D_A 0.21  G_A 0.35 ...` in the reference's order, unknown terms after; for the summary and progress bars. */
export function formatLosses(losses: Record<string, number>): string {
  const keys = [...LOSS_ORDER.filter((k) => k in losses), ...Object.keys(losses).filter((k) => !LOSS_ORDER.includes(k))];
  return formatPairs(Object.fromEntries(keys.map((k) => [k, losses[k]])));
}

function formatPairs(values: Record<string, number>): string {
  return Object.entries(values).map(([k, v]) => `${k} ${formatNumber(v)}`).join('  ');
}

function displayPath(file: string, cwd = process.cwd()): string {
  const relative = path.relative(cwd, file);
  return relative && !relative.startsWith('..') && !path.isAbsolute(relative) ? relative : file;
}
