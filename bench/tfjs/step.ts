/**
 * The TensorFlow.js baseline: the same CycleGAN training step as cgtrain's and
 * shared/reference/torch_cyclegan_step.py (resnet_Nblocks generators, 70x70 PatchGAN discriminators,
 * instance norm without affine, LSGAN + cycle L1 x10 + identity L1 x5, Adam 2e-4 / 0.5), written with
 * tfjs-core ops. It uses tfjs-node when it is installed (it downloads libtensorflow at install time,
 * so it is not a dependency here) and otherwise the pure-JS CPU backend. TensorFlow.js is NHWC, so
 * filters are [kh, kw, in, out]; the arithmetic is the same as NCHW.
 *
 * Usage: node dist/bench/tfjs/step.js --size 32 --batch 4 --blocks 6 --ngf 16 --ndf 16 --steps 3 [--warmup 1] [--infer] [--json]
 * --infer times generator inference (G_A forward of the batch, `steps` batches) instead of the training step.
 */
import type * as TF from '@tensorflow/tfjs-core';

export interface TfjsStepConfig {
  size: number;
  batch: number;
  blocks: number;
  ngf: number;
  ndf: number;
  steps: number;
  warmup: number;
}

export interface TfjsStepResult {
  impl: string;
  backend: string;
  config: TfjsStepConfig;
  mode: 'step' | 'infer';
  /** Per network (one generator, one discriminator), to compare with cgtrain's and torch's. */
  parameters: { generator: number; discriminator: number };
  /** Output shapes of one image through G and D, in NCHW order like cgtrain's and torch's. */
  outputShapes: { generator: number[]; discriminator: number[] };
  msPerStep: number[];
  medianMsPerStep: number;
  imagesPerSec: number;
  gflopPerImage: number;
  gflops: number;
}

/** Loads tfjs-node when present (real TensorFlow kernels), else tfjs-core + the pure-JS CPU backend. */
export async function loadTfjs(): Promise<{ tf: typeof TF; backend: string }> {
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const tf = require('@tensorflow/tfjs-node') as typeof TF;
    return { tf, backend: 'tensorflow (tfjs-node)' };
  } catch {
    // tfjs-node is optional: the pure-JS backend below is the baseline that installs everywhere.
  }
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  // The full @tensorflow/tfjs bundle: tfjs-core with its gradients registered, and the CPU backend.
  const tf = require('@tensorflow/tfjs') as typeof TF;
  await tf.setBackend('cpu');
  return { tf, backend: 'cpu (pure JS)' };
}

/** Builds the networks' variables and forward functions, counting conv MACs per image on demand. */
class Nets {
  readonly gVars: TF.Variable[] = [];
  readonly dVars: TF.Variable[] = [];
  private macs = 0;
  private counting = false;

  constructor(private readonly tf: typeof TF, private readonly cfg: TfjsStepConfig) {}

  private weight(list: TF.Variable[], shape: number[]): TF.Variable {
    const v = this.tf.variable(this.tf.randomNormal(shape, 0, 0.02));
    list.push(v);
    return v;
  }

  private bias(list: TF.Variable[], n: number): TF.Variable {
    const v = this.tf.variable(this.tf.zeros([n]));
    list.push(v);
    return v;
  }

  /** conv with explicit zero padding (as PyTorch's Conv2d(padding=p)), then 'valid'. */
  conv(list: TF.Variable[], cin: number, cout: number, k: number, stride: number, pad: number, bias: boolean) {
    const tf = this.tf;
    const w = this.weight(list, [k, k, cin, cout]);
    const b = bias ? this.bias(list, cout) : null;
    return (x: TF.Tensor4D): TF.Tensor4D => {
      const xp = pad ? tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]) : x;
      let y = tf.conv2d(xp, w as TF.Tensor4D, stride, 'valid');
      if (this.counting) this.macs += (y.size / y.shape[0]) * cin * k * k;
      if (b) y = tf.add(y, b);
      return y;
    };
  }

  /** ConvTranspose2d(k3, s2, p1, output_padding 1): doubles the size, like the reference. */
  convTranspose(list: TF.Variable[], cin: number, cout: number) {
    const tf = this.tf;
    const w = this.weight(list, [3, 3, cout, cin]);
    const b = this.bias(list, cout);
    return (x: TF.Tensor4D): TF.Tensor4D => {
      const [n, h, wd] = x.shape;
      const y = tf.conv2dTranspose(x, w as TF.Tensor4D, [n, 2 * h, 2 * wd, cout], 2, 'same');
      if (this.counting) this.macs += h * wd * cin * cout * 9;
      return tf.add(y, b);
    };
  }

  instanceNorm(x: TF.Tensor4D): TF.Tensor4D {
    const { mean, variance } = this.tf.moments(x, [1, 2], true);
    return this.tf.mul(this.tf.sub(x, mean), this.tf.rsqrt(this.tf.add(variance, 1e-5)));
  }

  reflect(x: TF.Tensor4D, p: number): TF.Tensor4D {
    return this.tf.mirrorPad(x, [[0, 0], [p, p], [p, p], [0, 0]], 'reflect');
  }

  generator(): (x: TF.Tensor4D) => TF.Tensor4D {
    const { tf } = this;
    const { ngf, blocks } = this.cfg;
    const v = this.gVars;
    const stem = this.conv(v, 3, ngf, 7, 1, 0, true);
    const down = [this.conv(v, ngf, ngf * 2, 3, 2, 1, true), this.conv(v, ngf * 2, ngf * 4, 3, 2, 1, true)];
    const res = Array.from({ length: blocks }, () => [
      this.conv(v, ngf * 4, ngf * 4, 3, 1, 0, true),
      this.conv(v, ngf * 4, ngf * 4, 3, 1, 0, true),
    ]);
    const up = [this.convTranspose(v, ngf * 4, ngf * 2), this.convTranspose(v, ngf * 2, ngf)];
    const head = this.conv(v, ngf, 3, 7, 1, 0, true);
    return (x) => {
      let h = tf.relu(this.instanceNorm(stem(this.reflect(x, 3))));
      for (const d of down) h = tf.relu(this.instanceNorm(d(h)));
      for (const [c1, c2] of res) {
        const r = tf.relu(this.instanceNorm(c1(this.reflect(h, 1))));
        h = tf.add(h, this.instanceNorm(c2(this.reflect(r, 1))));
      }
      for (const u of up) h = tf.relu(this.instanceNorm(u(h)));
      return tf.tanh(head(this.reflect(h, 3)));
    };
  }

  discriminator(): (x: TF.Tensor4D) => TF.Tensor4D {
    const { tf } = this;
    const ndf = this.cfg.ndf;
    const v = this.dVars;
    const first = this.conv(v, 3, ndf, 4, 2, 1, true);
    // The reference sets use_bias = True with instance norm (norm_layer is InstanceNorm2d), as cgtrain and torch do.
    const mids = [
      this.conv(v, ndf, ndf * 2, 4, 2, 1, true),
      this.conv(v, ndf * 2, ndf * 4, 4, 2, 1, true),
      this.conv(v, ndf * 4, ndf * 8, 4, 1, 1, true),
    ];
    const last = this.conv(v, ndf * 8, 1, 4, 1, 1, true);
    return (x) => {
      let h = tf.leakyRelu(first(x), 0.2);
      for (const m of mids) h = tf.leakyRelu(this.instanceNorm(m(h)), 0.2);
      return last(h);
    };
  }

  /** Conv MACs of one image through `net`. */
  countMacs(net: (x: TF.Tensor4D) => TF.Tensor4D): number {
    this.macs = 0;
    this.counting = true;
    this.tf.tidy(() => net(this.tf.zeros([1, this.cfg.size, this.cfg.size, 3]) as TF.Tensor4D));
    this.counting = false;
    return this.macs;
  }
}

function countParams(vars: TF.Variable[]): number {
  return vars.reduce((s, v) => s + v.size, 0);
}

interface CycleGANNets {
  nets: Nets;
  GA: (x: TF.Tensor4D) => TF.Tensor4D;
  GB: (x: TF.Tensor4D) => TF.Tensor4D;
  DA: (x: TF.Tensor4D) => TF.Tensor4D;
  DB: (x: TF.Tensor4D) => TF.Tensor4D;
  parameters: { generator: number; discriminator: number };
}

/** Two generators and two discriminators; one builder collects their variables in gVars/dVars. */
function buildNets(tf: typeof TF, cfg: TfjsStepConfig): CycleGANNets {
  const nets = new Nets(tf, cfg);
  const GA = nets.generator();
  const generator = countParams(nets.gVars);
  const GB = nets.generator();
  const DA = nets.discriminator();
  const discriminator = countParams(nets.dVars);
  const DB = nets.discriminator();
  return { nets, GA, GB, DA, DB, parameters: { generator, discriminator } };
}

/** NHWC -> NCHW, so shapes compare directly with cgtrain's and torch's. */
function nchw(shape: number[]): number[] {
  return [shape[0], shape[3], shape[1], shape[2]];
}

function outputShapesOf(tf: typeof TF, m: CycleGANNets, size: number): { generator: number[]; discriminator: number[] } {
  return tf.tidy(() => {
    const x = tf.zeros([1, size, size, 3]) as TF.Tensor4D;
    return { generator: nchw(m.GA(x).shape), discriminator: nchw(m.DA(x).shape) };
  });
}

/** Parameter counts and output shapes of the tfjs networks, without timing anything. */
export async function describeTfjsModel(cfg: Omit<TfjsStepConfig, 'steps' | 'warmup'>): Promise<{
  backend: string; parameters: { generator: number; discriminator: number }; outputShapes: { generator: number[]; discriminator: number[] };
}> {
  const { tf, backend } = await loadTfjs();
  const m = buildNets(tf, { ...cfg, steps: 0, warmup: 0 });
  try {
    return { backend, parameters: m.parameters, outputShapes: outputShapesOf(tf, m, cfg.size) };
  } finally {
    for (const v of [...m.nets.gVars, ...m.nets.dVars]) v.dispose();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Runs `run` warmup times, then times it `steps` times (ms each). */
async function timeRuns(cfg: TfjsStepConfig, run: () => Promise<void> | void): Promise<number[]> {
  for (let i = 0; i < cfg.warmup; i++) await run();
  const times: number[] = [];
  for (let i = 0; i < cfg.steps; i++) {
    const t0 = process.hrtime.bigint();
    await run();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return times;
}

function resultOf(tf: typeof TF, backend: string, cfg: TfjsStepConfig, m: CycleGANNets, mode: 'step' | 'infer', flopPerImage: number, times: number[]): TfjsStepResult {
  const ms = median(times);
  return {
    impl: `tfjs ${tf.version_core}`,
    backend,
    config: cfg,
    mode,
    parameters: m.parameters,
    outputShapes: outputShapesOf(tf, m, cfg.size),
    msPerStep: times,
    medianMsPerStep: ms,
    imagesPerSec: (cfg.batch * 1000) / ms,
    gflopPerImage: flopPerImage / 1e9,
    gflops: (flopPerImage * cfg.batch) / (ms / 1000) / 1e9,
  };
}

/** Runs the training step `steps` times after `warmup` steps and returns the timings. */
export async function runTfjsStep(cfg: TfjsStepConfig): Promise<TfjsStepResult> {
  const { tf, backend } = await loadTfjs();
  tf.randomNormal([1]).dispose();
  const m = buildNets(tf, cfg);
  const { nets, GA, GB, DA, DB } = m;
  const gMacs = nets.countMacs(GA);
  const dMacs = nets.countMacs(DA);
  const optG = tf.train.adam(2e-4, 0.5, 0.999);
  const optD = tf.train.adam(2e-4, 0.5, 0.999);
  const shape: [number, number, number, number] = [cfg.batch, cfg.size, cfg.size, 3];
  const A = tf.sub(tf.mul(tf.randomUniform(shape), 2), 1) as TF.Tensor4D;
  const B = tf.sub(tf.mul(tf.randomUniform(shape), 2), 1) as TF.Tensor4D;
  const mse = (p: TF.Tensor, target: number) => tf.mean(tf.square(tf.sub(p, target)));
  const l1 = (a: TF.Tensor, b: TF.Tensor) => tf.mean(tf.abs(tf.sub(a, b)));

  const step = () => {
    let fakeB: TF.Tensor4D | null = null;
    let fakeA: TF.Tensor4D | null = null;
    optG.minimize(() => {
      const fB = GA(A);
      const fA = GB(B);
      fakeB = tf.keep(fB);
      fakeA = tf.keep(fA);
      // tfjs has no gradient for addN, so the terms are summed pairwise.
      const gan = tf.add(mse(DA(fB), 1), mse(DB(fA), 1));
      const cycle = tf.mul(tf.add(l1(GB(fB), A), l1(GA(fA), B)), 10);
      const identity = tf.mul(tf.add(l1(GA(B), B), l1(GB(A), A)), 5);
      return tf.add(tf.add(gan, cycle), identity) as TF.Scalar;
    }, false, nets.gVars);
    optD.minimize(() => {
      const lossA = tf.mul(tf.add(mse(DA(B), 1), mse(DA(fakeB!), 0)), 0.5);
      const lossB = tf.mul(tf.add(mse(DB(A), 1), mse(DB(fakeA!), 0)), 0.5);
      return tf.add(lossA, lossB) as TF.Scalar;
    }, false, nets.dVars);
    (fakeA as TF.Tensor | null)?.dispose();
    (fakeB as TF.Tensor | null)?.dispose();
  };

  const times = await timeRuns(cfg, step);
  // 6 G and 6 D forwards per image; backward ~ 2x forward (torch_cyclegan_step.py's count).
  return resultOf(tf, backend, cfg, m, 'step', 3 * 2 * (6 * gMacs + 6 * dMacs), times);
}

/** Generator inference: G_A forward of a batch, the result read back to the host (as a user would). */
export async function runTfjsInference(cfg: TfjsStepConfig): Promise<TfjsStepResult> {
  const { tf, backend } = await loadTfjs();
  const m = buildNets(tf, cfg);
  const gMacs = m.nets.countMacs(m.GA);
  const x = tf.sub(tf.mul(tf.randomUniform([cfg.batch, cfg.size, cfg.size, 3]), 2), 1) as TF.Tensor4D;
  const times = await timeRuns(cfg, async () => {
    const y = tf.tidy(() => m.GA(x));
    await y.data();
    y.dispose();
  });
  return resultOf(tf, backend, cfg, m, 'infer', 2 * gMacs, times);
}

function parseArgs(argv: string[]): TfjsStepConfig & { json: boolean; infer: boolean } {
  const cfg = { size: 32, batch: 4, blocks: 6, ngf: 16, ndf: 16, steps: 3, warmup: 1, json: false, infer: false };
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (key === 'json' || key === 'infer') cfg[key] = true;
    else if (key in cfg) {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value < 0) throw new Error(`--${key} needs a non-negative integer, got ${argv[i]}`);
      (cfg as Record<string, number | boolean>)[key] = value;
    } else throw new Error(`unknown option ${argv[i]} (expected --size --batch --blocks --ngf --ndf --steps --warmup --infer --json)`);
  }
  return cfg;
}

if (require.main === module) {
  const { json, infer, ...cfg } = parseArgs(process.argv.slice(2));
  (infer ? runTfjsInference(cfg) : runTfjsStep(cfg)).then((r) => {
    if (json) console.log(JSON.stringify(r));
    else
      console.log(`${r.impl} [${r.backend}] ${r.mode} size=${cfg.size} batch=${cfg.batch} blocks=${cfg.blocks} ngf=${cfg.ngf}: ` +
        `${r.medianMsPerStep.toFixed(1)} ms/${infer ? 'batch' : 'step'}, ${r.imagesPerSec.toFixed(2)} img/s, ${r.gflops.toFixed(2)} GFLOP/s ` +
        `(G ${r.parameters.generator} params, D ${r.parameters.discriminator} params)`);
  }).catch((err) => {
    console.error(`bench/tfjs: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  });
}
