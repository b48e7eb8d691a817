/** Shared tiny training settings: nets and data small enough for a few CPU seconds per run. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import type { LogRecord } from '../../src/train/logger';

/** A fresh directory under the OS temp dir, removed when the test process exits. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cgtrain-${prefix}-`));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** camelCase options as `cgtrain train` would receive them typed. */
export function tinyOptions(root: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    runsDir: path.join(root, 'runs'), dataDir: path.join(root, 'data'), device: 'cpu', threads: 1,
    netG: 'resnet_6blocks', netD: 'basic', ngf: 4, ndf: 4, batchSize: 2, maxDatasetSize: 8, synthCount: 8,
    nEpochs: 1, nEpochsDecay: 1, printFreq: 1, displayFreq: 0, saveEpochFreq: 1, saveLatestFreq: 0, poolSize: 3,
    seed: 7, export: false, evalFreq: 0, ...extra,
  };
}

/** The same options as command-line arguments. */
export function tinyArgs(root: string, extra: Record<string, unknown> = {}): string[] {
  const args: string[] = [];
  for (const [key, value] of Object.entries(tinyOptions(root, extra))) {
    const flag = key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/^lambda-(a|b)$/, (_m, d: string) => `lambda-${d.toUpperCase()}`);
    args.push(`--${flag}`, String(value));
  }
  return args;
}

export function readLog(runDir: string): LogRecord[] {
  return fs.readFileSync(path.join(runDir, 'log.jsonl'), 'utf8').trim().split('\n').map((line) => JSON.parse(line) as LogRecord);
}

export function stepLosses(records: LogRecord[]): number[][] {
  return records.filter((r) => r.type === 'step').map((r) => Object.values((r as Extract<LogRecord, { type: 'step' }>).losses));
}
