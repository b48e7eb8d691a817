/**
 * PyTorch reference timings: finds a python3 that imports torch and runs
 * bench/torch/torch_cyclegan_step.py (training step or generator inference) with the same
 * configuration and thread count as cgtrain. Without such a python the result is a skip with
 * the reason, never an error: PyTorch is a comparison, not a dependency.
 *
 *   node dist/bench/torch/run.js [--size 32] [--batch 16] [--blocks 6] [--ngf 64] [--ndf 64]
 *                                [--threads N] [--steps 3] [--warmup 1] [--device cpu|cuda] [--infer]
 *
 * CGTRAIN_TORCH_PYTHON names the interpreter to try first.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { runJsonChild } from '../child';

export type TorchProbe = { ok: true; python: string; version: string; cuda: boolean } | { ok: false; reason: string };

export interface TorchRunConfig {
  size: number;
  batch: number;
  blocks: number;
  ngf: number;
  ndf: number;
  threads: number;
  steps: number;
  warmup: number;
  /** the timed steps last at least this long (the warm-up a quarter of it); absent: the counts alone */
  minSeconds?: number;
  device: 'cpu' | 'cuda';
  infer: boolean;
}

/** The script sits in the source tree (bench/torch), not in dist/: walk up from here to find it. */
export function torchScriptPath(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'bench', 'torch', 'torch_cyclegan_step.py');
    if (fs.existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) throw new Error('bench/torch/torch_cyclegan_step.py not found above ' + __dirname);
  }
}

/** Interpreters worth trying, first match wins: the user's choice, Debian's (python3-torch), then PATH. */
function pythonCandidates(): string[] {
  const list = [process.env.CGTRAIN_TORCH_PYTHON, '/usr/bin/python3', 'python3', 'python'].filter((p): p is string => !!p);
  return [...new Set(list)];
}

/** The first python that imports torch, with its version; otherwise why none could be used. */
export function findTorchPython(): TorchProbe {
  const probe = 'import json, torch; print(json.dumps({"version": torch.__version__, "cuda": torch.cuda.is_available()}))';
  const tried: string[] = [];
  for (const python of pythonCandidates()) {
    const r = spawnSync(python, ['-c', probe], { encoding: 'utf8', timeout: 120_000 });
    if (r.error) {
      tried.push(`${python}: ${(r.error as NodeJS.ErrnoException).code ?? r.error.message}`);
      continue;
    }
    if (r.status === 0) {
      try {
        const info = JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as { version: string; cuda: boolean };
        return { ok: true, python, version: info.version, cuda: info.cuda };
      } catch {
        tried.push(`${python}: unexpected output`);
        continue;
      }
    }
    const last = (r.stderr || '').trim().split('\n').pop() ?? `exit ${r.status}`;
    tried.push(`${python}: ${last}`);
  }
  return { ok: false, reason: `no python with torch (${tried.join('; ')}); install PyTorch or set CGTRAIN_TORCH_PYTHON` };
}

export function torchArgs(cfg: TorchRunConfig): string[] {
  const args = [
    torchScriptPath(), '--json', '--device', cfg.device, '--size', String(cfg.size), '--batch', String(cfg.batch),
    '--blocks', String(cfg.blocks), '--ngf', String(cfg.ngf), '--ndf', String(cfg.ndf), '--steps', String(cfg.steps),
    '--warmup', String(cfg.warmup), '--threads', String(cfg.threads),
  ];
  if (cfg.minSeconds) args.push('--min-seconds', String(cfg.minSeconds));
  return cfg.infer ? [...args, '--infer'] : args;
}

/** Runs the reference script once; the JSON it prints (ms_per_step, parameters, output_shapes, ...). */
export async function runTorch(python: string, cfg: TorchRunConfig, timeoutMs: number): Promise<Record<string, unknown>> {
  // PyTorch's own defaults stand (oneDNN convolutions, its BLAS), except the intra-op threads the script sets.
  const env = { ...process.env, PYTHONUNBUFFERED: '1' };
  return (await runJsonChild(python, torchArgs(cfg), timeoutMs, env)).json;
}

function parseArgs(argv: string[]): TorchRunConfig {
  const cfg: TorchRunConfig = { size: 32, batch: 16, blocks: 6, ngf: 64, ndf: 64, threads: 0, steps: 3, warmup: 1, device: 'cpu', infer: false };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (key === 'infer') cfg.infer = true;
    else if (key === 'device') {
      const v = argv[++i];
      if (v !== 'cpu' && v !== 'cuda') throw new Error(`--device must be cpu or cuda, got ${v}`);
      cfg.device = v;
    } else if (key in cfg) {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) throw new Error(`--${key} needs a non-negative integer, got ${argv[i]}`);
      (cfg as unknown as Record<string, number>)[key] = v;
    } else throw new Error(`unknown option ${argv[i]}`);
  }
  if (!cfg.threads) cfg.threads = require('os').cpus().length as number;
  return cfg;
}

if (require.main === module) {
  (async () => {
    const cfg = parseArgs(process.argv.slice(2));
    const probe = findTorchPython();
    if (!probe.ok) {
      console.log(JSON.stringify({ impl: 'torch', skipped: probe.reason }));
      return;
    }
    console.log(JSON.stringify(await runTorch(probe.python, cfg, 3_600_000)));
  })().catch((err: unknown) => {
    console.error(`bench/torch: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
