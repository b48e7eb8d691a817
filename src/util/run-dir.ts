/**
 * Where a run named on the command line lives: the path as given, else runs/<given> (the default
 * --runs-dir), whichever holds one of the files that mark a run. Shared by `--run` (translate,
 * eval, export) and `cgtrain report`, which differ only in the files they need.
 */
import * as fs from 'fs';
import * as path from 'path';

/** The run's log: one JSON record per line (src/train/logger.ts writes it, src/report/runlog.ts reads it). */
export const LOG_FILE = 'log.jsonl';

/** The path as given, then under ./runs. */
export function runDirCandidates(given: string): string[] {
  return [given, path.join('runs', given)];
}

/** The first candidate holding any of `markers` (file or directory names), or undefined. */
export function findRunDir(given: string, markers: readonly string[]): string | undefined {
  return runDirCandidates(given).find((dir) => markers.some((m) => fs.existsSync(path.join(dir, m))));
}
