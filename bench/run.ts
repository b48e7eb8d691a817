/**
 * `npm run bench`: cgtrain against the TensorFlow.js baseline and PyTorch on the same CycleGAN
 * configurations, the training step and generator inference (with onnxruntime-node), run
 * alternately several times. Prints a markdown table of medians (images/s, ms/step, GFLOP/s,
 * % of the machine's peak, time vs cgtrain) and writes it with the raw samples as JSON.
 *
 *   npm run bench -- [--configs target,h2z,small] [--repeats 3] [--threads N] [--json FILE] [--md FILE]
 *                    [--skip-tfjs] [--skip-torch] [--skip-infer] [--quick] [--readme README.md]
 *   node dist/bench/run.js --from-gpu OUT/bench.jsonl [--json FILE] [--md FILE] [--readme README.md]
 *
 * Each measurement is its own process (dist/src/cli/main.js bench, dist/bench/tfjs/step.js,
 * bench/torch/torch_cyclegan_step.py, dist/bench/infer.js), so no implementation's threads or
 * memory slow the next. The full run writes bench/results/latest.{json,md} by default.
 * --from-gpu turns scripts/gpu-check.sh's bench.jsonl (cgtrain and PyTorch on the lent GPU) into
 * the same table; see bench/gpu.sh.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { CONV_ALGOS, convAlgoFromEnv } from '../src/backend/device';
import { runJsonChild } from './child';
import { findTorchPython, runTorch, type TorchProbe } from './torch/run';
import {
  configLabel, median, renderMarkdown, replaceBlock, summarize,
  type BenchConfig, type Check, type Machine, type Mode, type Report, type Sample, type Skip,
} from './table';

/** A configuration and how many timed steps each implementation gets per run. */
interface ConfigSpec extends BenchConfig {
  steps: number;
  tfjsSteps: number;
  /** How long the pure-JS TensorFlow.js backend would take here, when too long: it then runs only with tfjs-node. */
  tfjsPureJs: { step: string; infer: string } | null;
}

const CONFIGS: ConfigSpec[] = [
  // The issue's CPU target: the mnist2svhn model at batch 16.
  { name: 'target', size: 32, blocks: 6, ngf: 64, ndf: 64, batch: 16, steps: 6, tfjsSteps: 1,
    tfjsPureJs: { step: 'hours per training step', infer: 'about a minute per inference batch' } },
  // The reference CycleGAN's own setup (horse2zebra and the other folder datasets): 256x256 resnet_9blocks, batch 1.
  { name: 'h2z', size: 256, blocks: 9, ngf: 64, ndf: 64, batch: 1, steps: 3, tfjsSteps: 1,
    tfjsPureJs: { step: 'about a day per training step', infer: 'about five minutes per image' } },
  // Small enough for TensorFlow.js's pure-JS backend (tens of seconds per step on 2 loaded cores).
  { name: 'small', size: 32, blocks: 6, ngf: 8, ndf: 8, batch: 2, steps: 3, tfjsSteps: 1, tfjsPureJs: null },
];

const WARMUP = 1;
const INFER_ITERS = 5;
/**
 * Every cgtrain, PyTorch and onnxruntime-node run also times for at least this long (and warms up
 * a quarter of it): a small model's step or batch takes milliseconds, and a handful of them right
 * after start-up times the JIT and the caches, not the engine.
 */
const MIN_SECONDS = 2;
const TFJS_INFER_ITERS = 3;
/** A hung child costs at most this; the slowest honest run (pure-JS tfjs) takes a few minutes. */
const CHILD_TIMEOUT_MS = 30 * 60_000;

interface Options {
  configs: ConfigSpec[];
  repeats: number;
  threads: number;
  json: string | null;
  md: string | null;
  readme: string | null;
  skipTfjs: boolean;
  skipTorch: boolean;
  skipInfer: boolean;
  quick: boolean;
  fromGpu: string | null;
}

const USAGE = 'usage: node dist/bench/run.js [--configs target,h2z,small] [--repeats N] [--threads N] [--json FILE] [--md FILE] ' +
  '[--readme FILE] [--skip-tfjs] [--skip-torch] [--skip-infer] [--quick] [--from-gpu BENCH.jsonl]';

function usage(message: string): never {
  process.stderr.write(`bench: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function parseConfigs(value: string): ConfigSpec[] {
  return value.split(',').map((name) => CONFIGS.find((c) => c.name === name.trim()) ??
    usage(`unknown configuration '${name}' (known: ${CONFIGS.map((c) => `${c.name} = ${configLabel(c)}`).join('; ')})`));
}

export function parseArgs(argv: string[]): Options {
  const o: Options = {
    configs: CONFIGS, repeats: 3, threads: os.cpus().length, json: null, md: null, readme: null,
    skipTfjs: false, skipTorch: false, skipInfer: false, quick: false, fromGpu: null,
  };
  let configsGiven = false;
  let repeatsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = (): string => argv[++i] ?? usage(`${flag} needs a value`);
    const positive = (): number => {
      const v = Number(value());
      return Number.isInteger(v) && v > 0 ? v : usage(`${flag} needs a positive integer, got '${argv[i]}'`);
    };
    if (flag === '--configs') (o.configs = parseConfigs(value())), (configsGiven = true);
    else if (flag === '--repeats') (o.repeats = positive()), (repeatsGiven = true);
    else if (flag === '--threads') o.threads = positive();
    else if (flag === '--json') o.json = value();
    else if (flag === '--md') o.md = value();
    else if (flag === '--readme') o.readme = value();
    else if (flag === '--from-gpu') o.fromGpu = value();
    else if (flag === '--skip-tfjs') o.skipTfjs = true;
    else if (flag === '--skip-torch') o.skipTorch = true;
    else if (flag === '--skip-infer') o.skipInfer = true;
    else if (flag === '--quick') o.quick = true;
    else if (flag === '--help' || flag === '-h') (process.stdout.write(`${USAGE}\n`), process.exit(0));
    else usage(`unknown option '${flag}'`);
  }
  if (o.quick) {
    // A smoke run: the small configuration once, nothing written unless asked.
    if (!configsGiven) o.configs = CONFIGS.filter((c) => c.name === 'small');
    if (!repeatsGiven) o.repeats = 1;
  } else if (!o.fromGpu) {
    o.json ??= 'bench/results/latest.json';
    o.md ??= 'bench/results/latest.md';
  }
  return o;
}

/** The repository root: compiled files live in dist/bench, sources in bench. */
function repoRoot(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${__dirname}`);
  }
}

const ROOT = repoRoot();
const DIST = path.join(ROOT, 'dist');

function num(json: Record<string, unknown>, key: string): number {
  const v = json[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`result has no numeric '${key}': ${JSON.stringify(json).slice(0, 300)}`);
  return v;
}

/** What a run measured, before it becomes a Sample. */
interface Measured {
  impl: string;
  label: string;
  ms: number;
  gflopPerImage: number;
  /** Parameters of the four networks together, when the implementation reports them. */
  parameters?: number;
  outputShapes?: { generator: number[]; discriminator: number[] };
  peakGflops?: number;
  extra?: Record<string, unknown>;
}

interface Runner {
  impl: string;
  run(cfg: ConfigSpec): Promise<Measured[]>;
}

function cgtrainStep(threads: number): Runner {
  return {
    impl: 'cgtrain',
    async run(cfg) {
      const args = [path.join(DIST, 'src', 'cli', 'main.js'), 'bench', '--json', '--device', 'cpu', '--threads', String(threads),
        '--size', String(cfg.size), '--batch-size', String(cfg.batch), '--net-g', `resnet_${cfg.blocks}blocks`, '--net-d', 'basic',
        '--ngf', String(cfg.ngf), '--ndf', String(cfg.ndf), '--steps', String(cfg.steps), '--warmup', String(WARMUP),
        '--min-seconds', String(MIN_SECONDS)];
      const { json } = await runJsonChild(process.execPath, args, CHILD_TIMEOUT_MS);
      return [{
        impl: 'cgtrain', label: `cgtrain (cpu, ${json.simd}, ${json.threads} threads${json.convAlgo && json.convAlgo !== 'direct' ? ', Winograd 3x3' : ''})`, ms: num(json, 'msPerStep'),
        gflopPerImage: num(json, 'gflopPerImage'), parameters: num(json, 'parameters'), peakGflops: num(json, 'peakGflops'), extra: json,
      }];
    },
  };
}

function tfjsLabel(json: Record<string, unknown>): string {
  const backend = String(json.backend);
  return `TensorFlow.js ${String(json.impl).replace(/^tfjs /, '')} (${backend}${backend.includes('pure JS') ? ', 1 thread' : ''})`;
}

function tfjsRunner(mode: Mode): Runner {
  return {
    impl: 'tfjs',
    async run(cfg) {
      const steps = mode === 'step' ? cfg.tfjsSteps : TFJS_INFER_ITERS;
      const args = [path.join(DIST, 'bench', 'tfjs', 'step.js'), '--json', '--size', String(cfg.size), '--batch', String(cfg.batch),
        '--blocks', String(cfg.blocks), '--ngf', String(cfg.ngf), '--ndf', String(cfg.ndf), '--steps', String(steps), '--warmup', String(WARMUP)];
      const { json } = await runJsonChild(process.execPath, mode === 'infer' ? [...args, '--infer'] : args, CHILD_TIMEOUT_MS);
      const p = json.parameters as { generator: number; discriminator: number };
      return [{
        impl: 'tfjs', label: tfjsLabel(json), ms: num(json, 'medianMsPerStep'), gflopPerImage: num(json, 'gflopPerImage'),
        parameters: 2 * (p.generator + p.discriminator), outputShapes: json.outputShapes as Measured['outputShapes'],
      }];
    },
  };
}

function torchRunner(mode: Mode, python: string, threads: number): Runner {
  return {
    impl: 'torch',
    async run(cfg) {
      const steps = mode === 'step' ? cfg.steps : INFER_ITERS;
      const json = await runTorch(python, { ...cfg, threads, steps, warmup: WARMUP, minSeconds: MIN_SECONDS, device: 'cpu', infer: mode === 'infer' }, CHILD_TIMEOUT_MS);
      const p = json.parameters as { generator: number; discriminator: number } | undefined;
      return [{
        impl: 'torch', label: `PyTorch ${String(json.impl).replace(/^torch /, '')} (cpu, ${json.threads} threads)`, ms: num(json, 'ms_per_step'),
        gflopPerImage: num(json, 'gflop_per_image'), parameters: p && 2 * (p.generator + p.discriminator),
        outputShapes: json.output_shapes as Measured['outputShapes'],
      }];
    },
  };
}

function onnxruntimeVersion(): string {
  try {
    return (require('onnxruntime-node/package.json') as { version: string }).version;
  } catch {
    return '?';
  }
}

/** bench/infer.ts times our addon and onnxruntime-node on the same exported generator in one process. */
function addonAndOnnxInfer(threads: number): Runner {
  return {
    impl: 'cgtrain',
    async run(cfg) {
      const file = path.join(os.tmpdir(), `cgtrain-bench-infer-${process.pid}.json`);
      const args = [path.join(DIST, 'bench', 'infer.js'), '--device', 'cpu', '--threads', String(threads), '--net-g', `resnet_${cfg.blocks}blocks`,
        '--ngf', String(cfg.ngf), '--size', String(cfg.size), '--batch', String(cfg.batch), '--iters', String(INFER_ITERS),
        '--warmup', String(WARMUP), '--min-seconds', String(MIN_SECONDS), '--json', file];
      try {
        await runJsonChild(process.execPath, args, CHILD_TIMEOUT_MS).catch((err: Error) => {
          // infer.js prints text and writes JSON to the file: "no JSON object" on stdout is expected.
          if (!/printed no JSON object/.test(err.message)) throw err;
        });
        const json = JSON.parse(fs.readFileSync(file, 'utf8')) as { msPerImage: { cgtrain: number; onnxruntimeNode: number }; maxAbsDiff: number };
        const common = { gflopPerImage: NaN, extra: { maxAbsDiff: json.maxAbsDiff } };
        return [
          { impl: 'cgtrain', label: `cgtrain addon (cpu, ${threads} threads${convAlgoFromEnv() !== CONV_ALGOS.direct ? ', Winograd 3x3' : ''})`, ms: json.msPerImage.cgtrain * cfg.batch, ...common },
          { impl: 'onnxruntime-node', label: `onnxruntime-node ${onnxruntimeVersion()} (cpu, ${threads} threads)`, ms: json.msPerImage.onnxruntimeNode * cfg.batch, ...common },
        ];
      } finally {
        fs.rmSync(file, { force: true });
      }
    },
  };
}

function tfjsNativeInstalled(): boolean {
  try {
    require.resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
}

interface Plan {
  runners: Record<Mode, Runner[]>;
  skipped: Skip[];
  /** Which configurations an implementation skips, and why. */
  skipFor(mode: Mode, impl: string, cfg: ConfigSpec): string | null;
  versions: Record<string, string>;
}

function plan(o: Options, torch: TorchProbe | null): Plan {
  const tfjsNative = tfjsNativeInstalled();
  const step: Runner[] = [cgtrainStep(o.threads)];
  const infer: Runner[] = o.skipInfer ? [] : [addonAndOnnxInfer(o.threads)];
  const skipped: Skip[] = [];
  const skipAll = (impl: string, reason: string) => {
    for (const cfg of o.configs) for (const mode of ['step', 'infer'] as const) skipped.push({ mode, config: cfg.name, impl, reason });
  };
  const add = (make: (mode: Mode) => Runner) => {
    step.push(make('step'));
    if (!o.skipInfer) infer.push(make('infer'));
  };
  if (o.skipTfjs) skipAll('tfjs', '--skip-tfjs');
  else add(tfjsRunner);
  if (o.skipTorch) skipAll('torch', '--skip-torch');
  else if (torch && !torch.ok) skipAll('torch', torch.reason);
  else if (torch && torch.ok) add((mode) => torchRunner(mode, torch.python, o.threads));
  const skipFor = (mode: Mode, impl: string, cfg: ConfigSpec): string | null =>
    impl === 'tfjs' && cfg.tfjsPureJs && !tfjsNative
      ? `too slow for the pure-JS backend at this size (${cfg.tfjsPureJs[mode]}); runs when @tensorflow/tfjs-node is installed`
      : null;
  for (const cfg of o.configs) {
    for (const mode of ['step', 'infer'] as const) {
      for (const r of mode === 'step' ? step : infer) {
        const reason = skipFor(mode, r.impl, cfg);
        if (reason) skipped.push({ mode, config: cfg.name, impl: r.impl, reason });
      }
    }
  }
  return { runners: { step, infer }, skipped, skipFor, versions: { tfjs: tfjsNative ? 'tfjs-node' : 'pure JS' } };
}

/** Rotates the order each repeat so no implementation always runs first (on a cooler or quieter machine). */
function rotate<T>(list: T[], by: number): T[] {
  if (list.length === 0) return list;
  const k = by % list.length;
  return [...list.slice(k), ...list.slice(0, k)];
}

interface Collected {
  samples: Sample[];
  measured: Array<Measured & { mode: Mode; config: string }>;
  failures: Skip[];
  loads: number[];
}

/** Other engineers rebuild the addon under this lock (docs): wait for a rebuild to finish before starting a run. */
function waitForBuildLock(): void {
  const lock = '/tmp/cgtrain-build.lock';
  if (fs.existsSync(lock)) spawnSync('flock', [lock, 'true'], { stdio: 'ignore', timeout: 20 * 60_000 });
}

/** One retry after a failure: a rebuild of the addon or dist/ in the same tree makes a run fail for reasons that are not its own. */
async function runOrRetry(runner: Runner, cfg: ConfigSpec, what: string): Promise<Measured[]> {
  waitForBuildLock();
  try {
    return await runner.run(cfg);
  } catch (err) {
    process.stderr.write(`${what}: failed (${err instanceof Error ? err.message : String(err)}); retrying once in 30 s\n`);
    await new Promise((resolve) => setTimeout(resolve, 30_000));
    waitForBuildLock();
    return runner.run(cfg);
  }
}

async function measureAll(o: Options, p: Plan): Promise<Collected> {
  const out: Collected = { samples: [], measured: [], failures: [], loads: [] };
  const started = Date.now();
  for (let repeat = 0; repeat < o.repeats; repeat++) {
    for (const mode of ['step', 'infer'] as const) {
      for (const cfg of o.configs) {
        for (const runner of rotate(p.runners[mode], repeat)) {
          if (p.skipFor(mode, runner.impl, cfg)) continue;
          const load1 = os.loadavg()[0];
          out.loads.push(load1);
          const what = `[${repeat + 1}/${o.repeats} ${Math.round((Date.now() - started) / 1000)}s load ${load1.toFixed(1)}] ${mode} ${cfg.name} ${runner.impl}`;
          try {
            for (const m of await runOrRetry(runner, cfg, what)) {
              out.measured.push({ ...m, mode, config: cfg.name });
              out.samples.push({ mode, config: cfg.name, impl: m.impl, label: m.label, repeat, ms: m.ms, gflopPerImage: m.gflopPerImage, load1 });
              process.stderr.write(`${what}: ${m.impl} ${m.ms.toFixed(1)} ms/${mode === 'step' ? 'step' : 'batch'}\n`);
            }
          } catch (err) {
            const reason = err instanceof Error ? err.message : String(err);
            out.failures.push({ mode, config: cfg.name, impl: runner.impl, reason: `run ${repeat + 1} failed: ${reason}`, failed: true });
            process.stderr.write(`${what}: FAILED ${reason}\n`);
          }
        }
      }
    }
  }
  return out;
}

/** Inference FLOP: 2 x generator MACs per image, from the torch or tfjs runs of the same configuration. */
function fillInferenceFlops(samples: Sample[]): void {
  for (const s of samples) {
    if (s.mode !== 'infer' || s.gflopPerImage > 0) continue;
    const known = samples.find((t) => t.mode === 'infer' && t.config === s.config && t.gflopPerImage > 0);
    if (known) s.gflopPerImage = known.gflopPerImage;
  }
}

/** The implementations must build the same networks and count the same FLOP. */
export function consistencyChecks(measured: Array<Measured & { mode: Mode; config: string }>): Check[] {
  const checks: Check[] = [];
  const configs = [...new Set(measured.map((m) => m.config))];
  for (const config of configs) {
    const own = measured.filter((m) => m.config === config);
    const byImpl = (pick: (m: Measured) => unknown, mode?: Mode) => {
      const seen = new Map<string, string>();
      for (const m of own.filter((x) => !mode || x.mode === mode)) {
        const v = pick(m);
        if (v !== undefined && v !== null && !(typeof v === 'number' && Number.isNaN(v))) seen.set(m.impl, JSON.stringify(v));
      }
      return seen;
    };
    const compare = (what: string, seen: Map<string, string>) => {
      if (seen.size < 2) return;
      const values = new Set(seen.values());
      checks.push({ config, what, ok: values.size === 1, detail: [...seen].map(([impl, v]) => `${impl} ${v}`).join(', ') });
    };
    compare('parameters of G_A + G_B + D_A + D_B', byImpl((m) => m.parameters));
    compare('output shapes of G and D for one image (NCHW)', byImpl((m) => m.outputShapes));
    compare('GFLOP per training image', byImpl((m) => round6(m.gflopPerImage), 'step'));
  }
  return checks;
}

function round6(x: number): number {
  return Number(x.toPrecision(6));
}

function machineOf(measured: Measured[], threads: number): Machine {
  const cg = measured.find((m) => m.impl === 'cgtrain' && m.extra && 'simd' in m.extra);
  const peaks = measured.map((m) => m.peakGflops).filter((x): x is number => x !== undefined);
  const cpu = String(cg?.extra?.device ?? os.cpus()[0]?.model ?? 'unknown CPU');
  const cores = os.cpus().length;
  const simd = cg?.extra?.simd as string | undefined;
  const memory = `${Math.round(os.totalmem() / 2 ** 30)} GiB RAM`;
  return {
    description: `${cpu} (${cores} cores${simd ? `, cgtrain uses ${simd}` : ''}, ${memory})`,
    // Other load can only lower a measured peak, so the machine's peak is the best of the measurements.
    cpu, cores, simd, threads, peakGflops: peaks.length ? Math.max(...peaks) : null,
    node: `Node ${process.version}`, os: `${os.type()} ${os.release()}`,
  };
}

function procedureText(o: Options): string {
  const per = o.configs.map((c) => `${c.name} = ${configLabel(c)}: ${WARMUP} warmup + ${c.steps} timed steps (TensorFlow.js ${c.tfjsSteps})`).join('; ');
  const atLeast = `cgtrain, PyTorch and onnxruntime-node keep timing past those counts until their timed steps or batches last ${MIN_SECONDS} s, after at least ${MIN_SECONDS / 4} s of warm-up.`;
  return `Each of ${o.repeats} rounds runs every implementation once per configuration, one process each, in an order rotated every round; ` +
    `a row is the median over rounds of each run's median. Training: ${per}. Inference: the generator G_A alone, the whole batch per call ` +
    `(${INFER_ITERS} timed batches; TensorFlow.js ${TFJS_INFER_ITERS}), outputs read back to the host. cgtrain, PyTorch and onnxruntime-node use ` +
    `${o.threads} threads; TensorFlow.js's pure-JS backend runs on one. ${atLeast}`;
}

function commandText(argv: string[]): string {
  return argv.length ? `npm run bench -- ${argv.join(' ')}` : 'npm run bench';
}

function writeOutputs(report: Report, o: Options, markdown: string, block: string): void {
  const write = (file: string, text: string) => {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    fs.writeFileSync(file, text);
    process.stderr.write(`wrote ${file}\n`);
  };
  if (o.json) write(o.json, `${JSON.stringify(report, null, 1)}\n`);
  if (o.md) write(o.md, markdown);
  // In the README the block sits under "## Benchmarks" / "### CPU": drop the title, push the table headings down a level.
  const inReadme = markdown.replace(/^## .*\n\n/, '').replace(/^### /gm, '#### ');
  if (o.readme) write(o.readme, replaceBlock(fs.readFileSync(o.readme, 'utf8'), block, inReadme));
}

async function benchCpu(o: Options, argv: string[]): Promise<void> {
  const t0 = Date.now();
  const loadStart = os.loadavg();
  const torch = o.skipTorch ? null : findTorchPython();
  if (torch && !torch.ok) process.stderr.write(`bench: PyTorch skipped: ${torch.reason}\n`);
  const p = plan(o, torch);
  process.stderr.write(`bench: ${o.configs.map((c) => `${c.name} = ${configLabel(c)}`).join('; ')}; ${o.repeats} rounds; ` +
    `implementations: ${[...new Set([...p.runners.step, ...p.runners.infer].map((r) => r.impl))].join(', ')}; load ${loadStart.map((x) => x.toFixed(1)).join(' ')}\n`);
  const c = await measureAll(o, p);
  fillInferenceFlops(c.samples);
  const machine = machineOf(c.measured, o.threads);
  const report: Report = {
    title: 'CPU benchmark', command: commandText(argv), time: new Date().toISOString(), seconds: (Date.now() - t0) / 1000, machine,
    load: { start: loadStart, end: os.loadavg(), min1: Math.min(...c.loads), max1: Math.max(...c.loads) },
    repeats: o.repeats, configs: o.configs.map(({ name, size, blocks, ngf, ndf, batch }) => ({ name, size, blocks, ngf, ndf, batch })),
    procedure: procedureText(o), rows: summarize(c.samples, o.configs, machine.peakGflops), samples: c.samples,
    skipped: [...p.skipped, ...c.failures], checks: consistencyChecks(c.measured),
  };
  const markdown = renderMarkdown(report);
  process.stdout.write(`\n${markdown}`);
  writeOutputs(report, o, markdown, 'bench:cpu');
  if (report.checks.some((ch) => !ch.ok)) process.exitCode = 1;
}

const GPU_VARIANTS: Record<string, string> = { nowgmma: 'without wgmma', bf16: 'BF16', untuned: 'engines by rule' };

/** scripts/gpu-check.sh's bench.jsonl: cgtrain bench --json lines (with "impl":"cgtrain") and the torch script's lines. */
export function gpuSamples(lines: Array<Record<string, unknown>>): { samples: Sample[]; configs: BenchConfig[]; peaks: number[]; device: string | null } {
  const samples: Sample[] = [];
  const configs: BenchConfig[] = [];
  const peaks: number[] = [];
  let device: string | null = null;
  for (const l of lines) {
    // gpu-check.sh's cgtrain runs: 'cgtrain' (the default engines), 'cgtrain-nowgmma' (tuning
    // without the Hopper engine), 'cgtrain-bf16' (--precision bf16), '-untuned' (engines by rule)
    const variant = /^cgtrain(?:-(.+))?$/.exec(String(l.impl));
    const variantLabel = variant?.[1]?.split('-').map((v) => GPU_VARIANTS[v] ?? v).join(', ');
    const isOurs = variant !== null;
    const size = Number(l.size);
    const batch = Number(l.batch);
    const blocks = isOurs ? Number(/resnet_(\d+)blocks/.exec(String(l.netG))?.[1] ?? NaN) : Number(l.blocks);
    const name = `${size}px-b${batch}`;
    if (!configs.some((c) => c.name === name)) configs.push({ name, size, blocks, ngf: Number(l.ngf), ndf: Number(l.ndf ?? 64), batch });
    if (isOurs && typeof l.peakGflops === 'number') peaks.push(l.peakGflops);
    device ??= (isOurs ? (l.device as string) : (l.gpu as string)) ?? null;
    samples.push({
      mode: 'step', config: name, impl: isOurs ? String(l.impl) : 'torch', repeat: 0, load1: NaN,
      label: isOurs ? `cgtrain (cuda${variantLabel ? `, ${variantLabel}` : ''})` : `PyTorch ${String(l.impl).replace(/^torch /, '')} (cuda, cuDNN${l.no_tf32 ? '' : ', TF32 allowed'})`,
      ms: Number(isOurs ? l.msPerStep : l.ms_per_step), gflopPerImage: Number(isOurs ? l.gflopPerImage : l.gflop_per_image),
    });
  }
  return { samples, configs, peaks, device };
}

function benchFromGpu(o: Options, argv: string[]): void {
  const file = o.fromGpu!;
  const lines = fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const { samples, configs, peaks, device } = gpuSamples(lines);
  let name = device ?? 'unknown GPU';
  try {
    const info = JSON.parse(fs.readFileSync(path.join(path.dirname(file), 'device.json'), 'utf8')) as { devices?: Array<{ name: string }>; driverVersion?: unknown };
    name = info.devices?.[0]?.name ?? name;
  } catch {
    // device.json is optional: the bench lines name the GPU too
  }
  const peak = peaks.length ? median(peaks) : null;
  const report: Report = {
    // The file sits wherever the device tool put it: the command names it by what wrote it.
    title: `GPU benchmark (${name})`,
    command: `bash bench/gpu.sh, then ${commandText(argv.map((a) => (a === file ? '$OUT/bench.jsonl' : a))).replace('npm run bench --', 'node dist/bench/run.js')}`,
    time: fs.statSync(file).mtime.toISOString(), seconds: NaN,
    machine: { description: name, cpu: name, cores: 0, threads: 0, peakGflops: peak, node: 'Node (packed by shared/gpu/pack-node.sh)', os: 'the lent GPU machine' },
    load: { start: [], end: [], min1: NaN, max1: NaN }, repeats: 1, configs,
    procedure: 'One run each (scripts/gpu-check.sh: 2 warmup + 10 timed steps), cgtrain then PyTorch; a row is that run\'s median. ' +
      'The peak is the FP32 FMA peak of the CUDA cores: TF32 tensor cores (used by both by default) can exceed it.',
    rows: summarize(samples, configs, peak), samples, skipped: [], checks: [],
  };
  const markdown = renderMarkdown(report);
  process.stdout.write(markdown);
  writeOutputs(report, o, markdown, 'bench:gpu');
}

if (require.main === module) {
  const argv = process.argv.slice(2);
  const o = parseArgs(argv);
  (o.fromGpu ? Promise.resolve(benchFromGpu(o, argv)) : benchCpu(o, argv)).catch((err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}
