/**
 * Host cost of a CUDA training step, measured without a GPU: the JavaScript, N-API calls,
 * argument checks, caching allocator and engine choice behind every kernel launch. The step runs
 * on the emulated CUDA addon (scripts/build-cuda-emu.js) with $CGTRAIN_EMU_SKIP_KERNELS=1, which
 * counts each kernel launch and each device copy or fill and skips them, so a step's wall time is
 * its host side alone (its results are meaningless). On a GPU the driver adds a few
 * microseconds to each of those (cudaLaunchKernel, cudaMemcpyAsync), so a step cannot take less
 * than host ms + (launches + copies) x that, however fast its kernels: where the kernels take
 * less, the step is bound by the host. Convolution tuning is off (it times real
 * kernels); a tuned step launches the same kernels.
 *
 *   node scripts/build-cuda-emu.js && npm run build:ts && node dist/bench/host.js
 *       [--steps 30] [--warmup 10] [--launch-us 2.5] [--only 256] [--json FILE]
 *
 * The warm-up is longer than bench's: the host side is JavaScript, which V8 keeps optimizing
 * over the first few dozen steps (two warm-up steps read about twice the steady state).
 *
 * The configurations are the CUDA issue's targets: 32x32 resnet_6blocks batch 128 and 256x256
 * resnet_9blocks batch 1 (ngf = ndf = 64, basic D, instance norm, LSGAN, identity loss 0.5).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import { wrapBinding, type Binding } from '../src/backend/binding';
import { loadBackend, packageRoot } from '../src/backend/device';
import { benchOptions } from '../src/cli/commands/bench';
import { CycleGANModel } from '../src/train/cyclegan';
import { modelConfigOf } from '../src/train/session';
import { Rng } from '../src/util/rng';
import { runJsonChild } from './child';

interface Config {
  size: number;
  batch: number;
  blocks: number;
}

const CONFIGS: Config[] = [
  { size: 32, batch: 128, blocks: 6 },
  { size: 256, batch: 1, blocks: 9 },
];

interface HostResult {
  size: number;
  batch: number;
  blocks: number;
  /** median host time of a step, ms */
  msPerStep: number;
  /** backend functions called per step (alloc/free and sync counted apart) */
  callsPerStep: number;
  allocsPerStep: number;
  /** kernel launches per step */
  launchesPerStep: number;
  /** device copies and fills (cudaMemcpyAsync, cudaMemsetAsync) per step */
  copiesPerStep: number;
}

/** A binding whose calls are counted: per step, the work calls, and the allocator's alloc/free. */
function counted(binding: Binding): { binding: Binding; counts: { calls: number; allocs: number } } {
  const counts = { calls: 0, allocs: 0 };
  const bookkeeping = new Set(['sync', 'deviceInfo', 'memoryStats']);
  const wrapped = wrapBinding(binding, (key, fn) => (...args: unknown[]): unknown => {
    if (key === 'alloc' || key === 'free') counts.allocs++;
    else if (!bookkeeping.has(key)) counts.calls++;
    return fn(...args);
  });
  return { binding: wrapped, counts };
}

/** In the child: warm-up steps, then `steps` timed ones; prints one JSON line. */
function child(config: Config, steps: number, warmup: number): void {
  const options = benchOptions({
    given: { device: 'cuda', batchSize: config.batch, netG: `resnet_${config.blocks}blocks`, ngf: 64, ndf: 64 },
    size: config.size, steps, warmup,
  });
  const loaded = loadBackend('cuda', { quiet: true, precision: options.precision });
  const info = loaded.info as { emulated?: boolean; kernelsSkipped?: boolean };
  if (!info.emulated || !info.kernelsSkipped) throw new Error('bench/host: needs the emulated addon with CGTRAIN_EMU_SKIP_KERNELS=1');
  const { binding, counts } = counted(loaded.binding);
  const deviceOps = (): { launches: number; copies: number } => {
    const d = JSON.parse(loaded.binding.deviceInfo()) as { launches: number; copies: number };
    return { launches: d.launches, copies: d.copies };
  };
  const rng = new Rng(options.seed);
  const model = new CycleGANModel(modelConfigOf(options), { ...loaded, binding }, rng);
  const n = options.batchSize;
  const a = new Float32Array(n * options.inputNc * config.size * config.size);
  const b = new Float32Array(n * options.outputNc * config.size * config.size);
  const step = (): void => {
    model.setInput(a, b, n);
    model.optimizeParameters();
    binding.sync();
  };
  for (let i = 0; i < warmup; i++) step();
  const times: number[] = [];
  const calls0 = counts.calls, allocs0 = counts.allocs, ops0 = deviceOps();
  for (let i = 0; i < steps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  const result: HostResult = {
    ...config,
    msPerStep: times[times.length >> 1],
    callsPerStep: (counts.calls - calls0) / steps,
    allocsPerStep: (counts.allocs - allocs0) / steps,
    launchesPerStep: (deviceOps().launches - ops0.launches) / steps,
    copiesPerStep: (deviceOps().copies - ops0.copies) / steps,
  };
  process.stdout.write(JSON.stringify(result) + '\n');
}

function usage(message: string): never {
  process.stderr.write(`bench/host: ${message}\nusage: node dist/bench/host.js [--steps N] [--warmup N] [--launch-us US] [--only SIZE] [--json FILE]\n`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === '--child') {
    const [size, batch, blocks, steps, warmup] = argv.slice(1).map(Number);
    child({ size, batch, blocks }, steps, warmup);
    return;
  }
  let steps = 30, warmup = 10, launchUs = 2.5, only: number | null = null, json: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const value = argv[i + 1];
    if (argv[i] === '--steps') steps = Number(value);
    else if (argv[i] === '--warmup') warmup = Number(value);
    else if (argv[i] === '--launch-us') launchUs = Number(value);
    else if (argv[i] === '--only') only = Number(value);
    else if (argv[i] === '--json') json = value;
    else usage(`unknown argument ${argv[i]}`);
    i++;
  }
  if (!Number.isInteger(steps) || steps < 1) usage(`--steps must be a positive integer, got ${steps}`);
  if (!Number.isInteger(warmup) || warmup < 0) usage(`--warmup must be a non-negative integer, got ${warmup}`);
  if (!(launchUs >= 0)) usage(`--launch-us must be >= 0, got ${launchUs}`);
  const addon = path.join(packageRoot(), 'build', 'cuda-emu', 'cgtrain_cuda_emu.node');
  if (!fs.existsSync(addon)) usage(`${addon} is missing: build it with 'node scripts/build-cuda-emu.js'`);
  const env = { ...process.env, CGTRAIN_CUDA_ADDON: addon, CGTRAIN_EMU_SKIP_KERNELS: '1', CGTRAIN_CUDA_TUNE: '0', CGTRAIN_EMU_DEVICE_MB: String(1 << 20) };
  const rows: (HostResult & { floorMs: number; maxImagesPerSec: number })[] = [];
  console.log(`host cost of a CUDA training step (${os.cpus()[0]?.model ?? 'CPU'}, Node ${process.version}; kernels skipped, ${launchUs} us a launch added for the driver)`);
  for (const config of CONFIGS.filter((c) => only === null || c.size === only)) {
    const args = [__filename, '--child', String(config.size), String(config.batch), String(config.blocks), String(steps), String(warmup)];
    const { json: r } = await runJsonChild(process.execPath, args, 600_000, env);
    const result = r as unknown as HostResult;
    const floorMs = result.msPerStep + ((result.launchesPerStep + result.copiesPerStep) * launchUs) / 1000;
    rows.push({ ...result, floorMs, maxImagesPerSec: (1000 * result.batch) / floorMs });
    console.log(
      `  ${config.size}x${config.size} resnet_${config.blocks}blocks batch ${config.batch}: host ${result.msPerStep.toFixed(2)} ms/step, ` +
        `${result.callsPerStep.toFixed(0)} backend calls, ${result.launchesPerStep.toFixed(0)} kernel launches, ${result.copiesPerStep.toFixed(0)} copies/fills, ` +
        `${result.allocsPerStep.toFixed(0)} alloc/free; ` +
        `floor ${floorMs.toFixed(2)} ms/step = at most ${(1000 * result.batch / floorMs).toFixed(0)} images/s`,
    );
  }
  if (json) fs.writeFileSync(json, JSON.stringify({ launchUs, steps, warmup, rows }, null, 1) + '\n');
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`bench/host: ${err.message}\n`);
  process.exit(1);
});
