/**
 * `cgtrain bench`: full CycleGAN training steps on random data. Prints ms/step, images/s, the
 * achieved GFLOP/s (model.flopsPerImage(), the reference's 3 x forward convention) against the
 * machine's measured peak, and peak memory (backend allocator and process RSS).
 */
import type { Argv, CommandModule } from 'yargs';
import { convAlgoInEffect, loadBackend, type ConvAlgoName } from '../../backend/device';
import { BindingProfiler, formatProfile, rowsByKind, type DeviceTime, type ProfileRow } from '../../backend/profile';
import { formatTuningSummary, formatTuningTable, summarizeTuning, tunedGemms, type TunedGemm, type TuningSummary } from '../../backend/tuning';
import { addOptions, OPTION_SPECS, resolveOptions, typedOptions, type TrainOptions } from '../../options';
import { CycleGANModel } from '../../train/cyclegan';
import { modelConfigOf } from '../../train/session';
import { Rng } from '../../util/rng';
import { timeCalls } from '../../util/timing';

/** The training options bench exposes; the rest keep their training defaults. */
const BENCH_KEYS = new Set<keyof TrainOptions>([
  'device', 'precision', 'threads', 'netG', 'netD', 'nLayersD', 'ngf', 'ndf', 'norm', 'ganMode', 'dLoss', 'lambdaIdentity', 'batchSize', 'upsample', 'seed',
]);
const BENCH_SPECS = OPTION_SPECS.filter((s) => BENCH_KEYS.has(s.key));

export interface BenchConfig {
  given: Record<string, unknown>;
  size: number;
  steps: number;
  warmup: number;
  /** the timed steps last at least this long together, and the warm-up a quarter of it (util/timing.ts) */
  minSeconds?: number;
  /** extra steps to run with every backend call timed (0 or absent: none) */
  profileSteps?: number;
}

export interface BenchResult {
  backend: string;
  device: string;
  simd?: string;
  threads?: number;
  /** operand precision of the convolutions (fp32, tf32, bf16) */
  precision: string;
  netG: string;
  netD: string;
  ngf: number;
  ndf: number;
  norm: string;
  size: number;
  batch: number;
  steps: number;
  msPerStep: number;
  msPerStepMin: number;
  imagesPerSec: number;
  gflopPerImage: number;
  gflops: number;
  peakGflops: number;
  /** How 3x3 stride-1 convolutions ran: 'auto' = Winograd F(4x4,3x3) where it pays ($CGTRAIN_CONV_ALGO). */
  convAlgo: ConvAlgoName;
  percentOfPeak: number;
  parameters: number;
  peakBackendMemoryMB: number;
  peakRssMB: number;
  /** with profileSteps: time per backend function, and per function and conv shape */
  profile?: { steps: number; syncMs: number; byFunction: ProfileRow[]; byCall: ProfileRow[]; deviceTime?: DeviceTime };
  /** CUDA with convolution tuning: what it kept against the rule, over the GEMM shapes of a step */
  convTuning?: TuningSummary;
  /** with profileSteps and tuning: every tuned GEMM */
  tunedGemms?: TunedGemm[];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function randomImages(rng: Rng, count: number): Float32Array {
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = rng.uniform(-1, 1);
  return data;
}

/** Options as training would resolve them, with bench's defaults (the 32x32 mnist2svhn model, batch 16). */
export function benchOptions(config: BenchConfig): TrainOptions {
  // A folder dataset with crop-size = size makes the option checks (e.g. unet divisibility) see the bench size.
  return resolveOptions({
    preset: 'mnist2svhn', batchSize: 16, ...config.given,
    dataset: 'folder', dataroot: '(random data)', preprocess: 'crop', loadSize: config.size, cropSize: config.size,
  });
}

export async function runBench(config: BenchConfig): Promise<BenchResult> {
  const options = benchOptions(config);
  const profileSteps = config.profileSteps ?? 0;
  const profiler = profileSteps > 0 ? new BindingProfiler() : null;
  const loaded = loadBackend(options.device, { threads: options.threads, quiet: true, precision: options.precision });
  const backend = profiler ? profiler.wrapBackend(loaded) : loaded;
  const binding = backend.binding;
  const rng = new Rng(options.seed);
  const model = new CycleGANModel(modelConfigOf(options), backend, rng);
  const n = options.batchSize;
  const a = randomImages(rng, n * options.inputNc * config.size * config.size);
  const b = randomImages(rng, n * options.outputNc * config.size * config.size);
  const step = (): void => {
    model.setInput(a, b, n);
    model.optimizeParameters();
    binding.sync();
  };
  // The FMA peak, measured before and after the steps: on a shared machine one measurement can
  // land in a moment when a core is taken (half the peak, and '% of peak' twice the truth).
  const peakBefore = binding.peakGflops(0.25);
  let peakRss = process.memoryUsage().rss;
  const times = await timeCalls({ warmup: config.warmup, steps: config.steps, minSeconds: config.minSeconds ?? 0 }, () => {
    step();
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  });
  const losses = model.currentLosses();
  if (!Object.values(losses).every(Number.isFinite)) throw new Error(`bench: non-finite losses ${JSON.stringify(losses)}`);
  const ms = median(times);
  const flopsPerImage = model.flopsPerImage();
  const gflops = (flopsPerImage * n) / (ms / 1000) / 1e9;
  const peakGflops = Math.max(peakBefore, binding.peakGflops(0.25));
  if (profiler) {
    profiler.record(profileSteps, step);
    // On CUDA also the device's own time per call (timer marks, no syncs): how busy the GPU is.
    if (backend.kind === 'cuda') profiler.recordDeviceTime(profileSteps, step);
  }
  const tuned = tunedGemms(binding);
  const convTuning = summarizeTuning(tuned);
  return {
    ...(profiler
      ? { profile: { steps: profileSteps, syncMs: profiler.syncMs, byFunction: profiler.rows(true), byCall: profiler.rows(false), ...(profiler.deviceTime ? { deviceTime: profiler.deviceTime } : {}) } }
      : {}),
    ...(convTuning ? { convTuning } : {}),
    ...(convTuning && profiler ? { tunedGemms: tuned } : {}),
    convAlgo: convAlgoInEffect(backend.kind, backend.info.simd, binding.convAlgo()),
    backend: backend.kind, device: String(backend.info.devices?.[0]?.name ?? backend.info.cpu?.model ?? backend.kind),
    simd: backend.info.simd, threads: binding.numThreads(), precision: String(backend.info.precision ?? 'fp32'), netG: options.netG, netD: options.netD, ngf: options.ngf, ndf: options.ndf,
    norm: options.norm, size: config.size, batch: n, steps: times.length, msPerStep: ms, msPerStepMin: Math.min(...times),
    imagesPerSec: n / (ms / 1000), gflopPerImage: flopsPerImage / 1e9, gflops, peakGflops, percentOfPeak: (100 * gflops) / peakGflops,
    parameters: model.parameterCount(), peakBackendMemoryMB: binding.memoryStats().peak / 2 ** 20,
    peakRssMB: Math.max(peakRss, process.resourceUsage().maxRSS * 1024) / 2 ** 20,
  };
}

export function formatBench(r: BenchResult): string {
  return [
    `cgtrain bench: ${r.backend} (${r.device}${r.simd ? `, ${r.simd}` : ''}${r.backend === 'cpu' ? `, ${r.threads} threads` : ''}, ${r.precision})`,
    `  model: ${r.netG} ngf ${r.ngf} / ${r.netD} ndf ${r.ndf}, ${r.norm} norm, ${(r.parameters / 1e6).toFixed(2)} M parameters; ${r.size}x${r.size}, batch ${r.batch}, ${r.steps} timed steps`,
    `  ${r.msPerStep.toFixed(1)} ms/step (median; best ${r.msPerStepMin.toFixed(1)}), ${r.imagesPerSec.toFixed(2)} images/s`,
    `  ${r.gflops.toFixed(1)} GFLOP/s achieved (${r.gflopPerImage.toFixed(3)} GFLOP/image), ${r.percentOfPeak.toFixed(1)}% of the measured peak ${r.peakGflops.toFixed(1)} GFLOP/s`,
    ...(r.convAlgo === 'direct' ? [] : [`  (3x3 convs: Winograd F(4x4,3x3) ${r.convAlgo === 'auto' ? 'where it pays' : 'always'}; GFLOP counts a direct convolution's multiply-adds, so % of peak can pass 100)`]),
    `  peak memory: backend ${r.peakBackendMemoryMB.toFixed(0)} MB, process RSS ${r.peakRssMB.toFixed(0)} MB`,
    ...(r.convTuning ? [formatTuningSummary(r.convTuning)] : []),
    ...(r.tunedGemms ? [formatTuningTable(r.tunedGemms, 40)] : []),
    ...(r.profile
      ? [
          `profile over ${r.profile.steps} more steps, by function:`, formatProfile(r.profile.byFunction, 15, r.profile.syncMs),
          ...(r.profile.deviceTime
            ? [`  device busy ${r.profile.deviceTime.busyMs.toFixed(2)} ms a step: ${(100 * r.profile.deviceTime.busyMs / r.msPerStep).toFixed(0)}% of the timed steps' ` +
                `${r.msPerStep.toFixed(2)} ms (steps with timer marks, no syncs: ${r.profile.deviceTime.spanMs.toFixed(2)} ms from first mark to last)`]
            : []),
          'by kind of work (as bench/torch/torch_profile.py groups PyTorch\'s kernels):', formatProfile(rowsByKind(r.profile.byFunction), 10, r.profile.syncMs),
          'by function and convolution shape:', formatProfile(r.profile.byCall, 25, r.profile.syncMs),
        ]
      : []),
  ].join('\n');
}

export const benchCommand: CommandModule<object, Record<string, unknown>> = {
  command: 'bench',
  describe: 'time CycleGAN training steps on random data (ms/step, images/s, GFLOP/s, % of peak, memory)',
  builder: (y: Argv<object>) => {
    const defaults = benchOptions({ given: {}, size: 32, steps: 1, warmup: 0 });
    return addOptions(y, BENCH_SPECS, (spec) => defaults[spec.key])
      .option('size', { type: 'number', describe: 'image side in pixels', defaultDescription: '32', requiresArg: true })
      .option('steps', { type: 'number', describe: 'timed steps', defaultDescription: '10', requiresArg: true })
      .option('warmup', { type: 'number', describe: 'untimed steps first', defaultDescription: '2', requiresArg: true })
      .option('min-seconds', { type: 'number', describe: 'keep timing past --steps until the timed steps last this long (the warm-up a quarter of it): for steps of milliseconds', defaultDescription: '0', requiresArg: true })
      .option('json', { type: 'boolean', describe: 'print one JSON object instead of text' })
      .option('profile', { type: 'number', describe: 'then run N more steps timing every backend call (on CUDA each call waits for its kernels; then N more with GPU timer marks around each call)', requiresArg: true })
      .example('$0 bench', '32x32 resnet_6blocks ngf 64, basic D, batch 16')
      .example('$0 bench --batch-size 128 --json', 'the mnist2svhn batch size, as JSON')
      .example('$0 bench --profile 3', 'also time each backend call over 3 more steps')
      .example('$0 bench --device cuda --precision bf16', 'BF16 tensor-core convolutions') as Argv<Record<string, unknown>>;
  },
  handler: async (argv) => {
    const int = (name: string, value: unknown, fallback: number, min: number): number => {
      const v = value === undefined ? fallback : value;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new Error(`--${name}: expected an integer >= ${min}, got ${String(v)}`);
      return v;
    };
    const seconds = (name: string, value: unknown): number => {
      const v = value === undefined ? 0 : value;
      if (typeof v !== 'number' || !(v >= 0 && v <= 3600)) throw new Error(`--${name}: expected seconds from 0 to 3600, got ${String(v)}`);
      return v;
    };
    const config: BenchConfig = {
      given: typedOptions(argv),
      size: int('size', argv.size, 32, 8),
      steps: int('steps', argv.steps, 10, 1),
      warmup: int('warmup', argv.warmup, 2, 0),
      profileSteps: int('profile', argv.profile, 0, 0),
      minSeconds: seconds('min-seconds', argv.minSeconds),
    };
    const result = await runBench(config);
    process.stdout.write(argv.json ? `${JSON.stringify(result)}\n` : `${formatBench(result)}\n`);
  },
};
