/**
 * A run's directory (<runs-dir>/<name>/) and which checkpoint a resumed run starts from.
 *   opt.json, log.jsonl, checkpoints/latest.safetensors, checkpoints/epoch_<n>.safetensors,
 *   samples/*.png, report.html, *.onnx
 */
import * as fs from 'fs';
import * as path from 'path';
import type { TrainOptions } from '../options';
import { OPTION_SPECS, OptionsError, RESUMABLE_CHANGES, validateOptions } from '../options';
import { findRunDir, LOG_FILE, runDirCandidates } from '../util/run-dir';
import { metadataJson, readCheckpointMetadata } from './checkpoint';
import { runLocked } from './lock';

export interface RunPaths {
  runDir: string;
  checkpointsDir: string;
  latest: string;
}

/** checkpoints/<this>: where a run resumes from, rewritten at every save. */
export const LATEST_CHECKPOINT = 'latest.safetensors';
/** checkpoints/<this>: the evaluated epoch with the lowest FID (../eval/best.ts keeps it). */
export const BEST_CHECKPOINT = 'best.safetensors';

export function runPaths(runsDir: string, name: string): RunPaths {
  const runDir = path.resolve(runsDir, name);
  const checkpointsDir = path.join(runDir, 'checkpoints');
  return { runDir, checkpointsDir, latest: path.join(checkpointsDir, LATEST_CHECKPOINT) };
}

export function epochCheckpointName(epoch: number): string {
  return `epoch_${epoch}.safetensors`;
}

/** The epoch of a file name epochCheckpointName made, else null. */
export function epochOfCheckpointName(name: string): number | null {
  const m = /^epoch_(\d+)\.safetensors$/.exec(name);
  return m ? Number(m[1]) : null;
}

/**
 * The directory a --run argument names: the path as typed, else runs/<name>, whichever holds a
 * run (a log.jsonl, checkpoints/ or an exported generator; a dataset folder named like the run
 * is not one).
 */
export function runDirOf(run: string): string {
  const found = findRunDir(run, [LOG_FILE, 'checkpoints', 'G_A.onnx', 'G_B.onnx']);
  if (found) return found;
  throw new Error(`--run ${run}: neither ${runDirCandidates(run).join(' nor ')} holds a run (the log.jsonl, checkpoints/ and G_A.onnx that 'cgtrain train' writes)`);
}

/** checkpoints/latest.safetensors of a run, or with `best` checkpoints/best.safetensors (written when a run evaluates). */
export function runCheckpoint(run: string, best: boolean): string {
  const dir = runDirOf(run);
  const file = path.join(dir, 'checkpoints', best ? BEST_CHECKPOINT : LATEST_CHECKPOINT);
  if (!fs.existsSync(file)) {
    throw new Error(best
      ? `--run ${run} --best: ${file} does not exist; a run keeps its best evaluated epoch there when it evaluates (--eval-freq)`
      : `--run ${run}: ${file} does not exist (the run has not saved a checkpoint yet)`);
  }
  return file;
}

function hasHistory(paths: RunPaths): boolean {
  return fs.existsSync(paths.latest) || fs.existsSync(path.join(paths.runDir, LOG_FILE));
}

/**
 * Picks the run directory. A fresh run never writes over an existing one: when the user named
 * the run that is an error with the two ways out (or, when a process holds it, the lock's error);
 * when the name came from the preset (a demo run twice), the next free name `<name>-2`,
 * `<name>-3`, ... is taken instead, skipping directories a training process holds.
 */
export function chooseRunName(options: TrainOptions, nameGiven: boolean): string {
  if (options.continueTrain) return options.name;
  const first = runPaths(options.runsDir, options.name);
  if (nameGiven) {
    if (hasHistory(first) && !runLocked(first.runDir)) {
      throw new OptionsError(
        `--name ${options.name}: ${first.runDir} already holds a run. ` +
          'Pass --continue-train to resume it, or another --name to start a new one.',
      );
    }
    return options.name; // a locked one fails when the session takes the lock, naming the holder
  }
  const free = (paths: RunPaths) => !hasHistory(paths) && !runLocked(paths.runDir);
  if (free(first)) return options.name;
  for (let i = 2; ; i++) {
    const candidate = `${options.name}-${i}`;
    if (free(runPaths(options.runsDir, candidate))) return candidate;
  }
}

/** The checkpoint a resumed run loads, or null for a fresh run; throws when it is missing. */
export function resumeCheckpoint(options: TrainOptions, paths: RunPaths): string | null {
  if (options.checkpoint !== undefined) {
    const file = path.resolve(options.checkpoint);
    if (!fs.existsSync(file)) throw new OptionsError(`--checkpoint: no such file ${file}`);
    return file;
  }
  if (!options.continueTrain) return null;
  if (!fs.existsSync(paths.latest)) {
    throw new OptionsError(
      `--continue-train: run '${options.name}' has no checkpoint (${paths.latest} is missing). ` +
        'Check --name and --runs-dir, name a file with --checkpoint, or drop --continue-train to start fresh.',
    );
  }
  return paths.latest;
}

export function createRunDirs(paths: RunPaths): void {
  fs.mkdirSync(paths.checkpointsDir, { recursive: true });
  fs.mkdirSync(path.join(paths.runDir, 'samples'), { recursive: true });
}

/**
 * Undoes createRunDirs for a run that failed before writing anything (a missing dataset, say):
 * removes its folders only while they are empty, so nothing a run wrote is ever deleted.
 */
export function removeEmptyRunDirs(paths: RunPaths): void {
  for (const dir of [paths.checkpointsDir, path.join(paths.runDir, 'samples'), paths.runDir]) {
    try {
      fs.rmdirSync(dir);
    } catch {
      // not empty (or already gone): keep it
    }
  }
}

/**
 * The options of a resumed run: the checkpoint's, except those in RESUMABLE_CHANGES that the
 * user typed (more epochs, other cadences, another device). Typing a model-defining option with a
 * different value is an error: the weights in the file were trained with the saved one.
 */
export function mergeResumedOptions(saved: TrainOptions, typed: Record<string, unknown>, checkpointFile: string): TrainOptions {
  const merged: Record<string, unknown> = { ...saved };
  for (const spec of OPTION_SPECS) {
    const value = typed[spec.key];
    if (value === undefined || spec.key === 'preset') continue;
    if (RESUMABLE_CHANGES.has(spec.key)) {
      merged[spec.key] = value;
    } else if (JSON.stringify(value) !== JSON.stringify(saved[spec.key])) {
      throw new OptionsError(
        `--${spec.flag} ${String(value)}: ${checkpointFile} was trained with --${spec.flag} ${String(saved[spec.key])}; ` +
          'a resumed run keeps the options that shape the model and data. Drop the option, or start a new run with another --name.',
      );
    }
  }
  merged.continueTrain = true;
  return validateOptions(merged as unknown as TrainOptions);
}

export function readSavedOptions(file: string): TrainOptions {
  const metadata = readCheckpointMetadata(file);
  const saved = metadataJson<TrainOptions>(file, metadata, 'options');
  // A checkpoint from an older cgtrain may lack options added since: they take their defaults.
  for (const spec of OPTION_SPECS) {
    if (!(spec.key in saved) && spec.default !== undefined) (saved as unknown as Record<string, unknown>)[spec.key] = spec.default;
  }
  return saved;
}
