/** buildReport: runs/<name>/log.jsonl + samples -> runs/<name>/report.html, written atomically. */
import { promises as fs } from 'fs';
import * as path from 'path';
import { bestEvaluation } from '../eval/best';
import { BEST_CHECKPOINT } from '../train/run';
import { buildCharts } from './charts';
import { overviewOf } from './overview';
import { renderReport, type ModelFile } from './page';
import { readRunLog, type RunLog } from './runlog';
import { collectSamples, type ImageCache } from './samples';
import { writeFileAtomic } from '../util/atomic';

export const REPORT_FILE = 'report.html';

export interface BuildReportOptions {
  /** the caller is the training process itself, so the run is running whatever the log says */
  live?: boolean;
  /** encoded sample images from earlier builds (ReportWriter keeps one) */
  imageCache?: ImageCache;
  /** clock for tests */
  nowMs?: number;
}

/** Builds the report and returns its path. Readers never see a half-written file: temp file, then rename. */
export async function buildReport(runDir: string, options: BuildReportOptions = {}): Promise<string> {
  const run = await readRunLog(runDir);
  const generatedMs = options.nowMs ?? Date.now();
  const html = renderReport({
    run,
    overview: overviewOf(run, { live: options.live, nowMs: generatedMs }),
    charts: buildCharts(run),
    samples: await collectSamples(run, options.imageCache),
    models: await listModelFiles(run),
    generatedMs,
  });
  const target = path.join(runDir, REPORT_FILE);
  await writeFileAtomic(target, html);
  return target;
}

/** Exported models first (the files a user came for), then checkpoints newest first; sizes from disk. */
export async function listModelFiles(run: RunLog): Promise<ModelFile[]> {
  const files: ModelFile[] = [];
  const seen = new Set<string>();
  const add = async (file: string, kind: ModelFile['kind'], epoch?: number): Promise<void> => {
    const relative = relativeToRun(run.runDir, file);
    if (seen.has(relative)) return;
    seen.add(relative);
    const bytes = await fs.stat(path.resolve(run.runDir, file)).then((s) => s.size, () => undefined);
    if (bytes === undefined && kind === 'checkpoint') return; // deleted since (--keep-epochs)
    files.push({ file: relative, kind, bytes, epoch });
  };
  for (const record of run.exports) for (const file of record.files) await add(file, 'model');
  // An export that crashed before its record, or one made by `cgtrain export` later, still belongs here.
  const onDisk = await fs.readdir(run.runDir).catch(() => [] as string[]);
  for (const file of onDisk.filter((f) => f.endsWith('.onnx')).sort()) await add(file, 'model');
  for (const record of [...run.checkpoints].reverse()) await add(record.file, 'checkpoint', record.epoch);
  // the best evaluated epoch's copy (../eval/best.ts), when there is one
  await add(path.join('checkpoints', BEST_CHECKPOINT), 'checkpoint', bestEvaluation(run.evals)?.epoch);
  return files;
}

function relativeToRun(runDir: string, file: string): string {
  if (!path.isAbsolute(file)) return file;
  const relative = path.relative(path.resolve(runDir), file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? file : relative;
}

