/**
 * Kernel benchmark: the convolutions of one 32x32 CycleGAN training step (ResNet generator and
 * 3-layer PatchGAN discriminator), each pass timed on the native backend and reported as GFLOP/s
 * and as a fraction of the measured FP32 FMA peak.
 *
 *   npm run bench:kernels -- [--batch 128] [--repeat 5] [--device cpu|cuda] [--peak-seconds 1]
 *                            [--only NAME] [--json FILE]
 *
 * Set CGTRAIN_THREADS to fix the CPU thread count. The machine's load average is printed with the
 * results, because other work on the same cores lowers every figure.
 */
import * as fs from 'fs';
import * as os from 'os';
import type { Binding, ConvParams } from '../src/backend/binding';
import { convAlgoInEffect, loadBackend, type BackendKind } from '../src/backend/device';
import { randomBuf } from './buffers';

interface ConvLayer {
  name: string;
  transpose: boolean;
  cIn: number;
  cOut: number;
  hIn: number;
  k: number;
  s: number;
  p: number;
  op: number;
}

/** The convolution shapes of the 32x32 step; reflection padding is applied before the conv, so its input is already padded. */
const LAYERS: ConvLayer[] = [
  { name: 'G c7s1-64 (7x7 3->64, 38->32)', transpose: false, cIn: 3, cOut: 64, hIn: 38, k: 7, s: 1, p: 0, op: 0 },
  { name: 'G d128 (3x3 s2 64->128, 32->16)', transpose: false, cIn: 64, cOut: 128, hIn: 32, k: 3, s: 2, p: 1, op: 0 },
  { name: 'G d256 (3x3 s2 128->256, 16->8)', transpose: false, cIn: 128, cOut: 256, hIn: 16, k: 3, s: 2, p: 1, op: 0 },
  { name: 'G residual (3x3 256->256, 10->8)', transpose: false, cIn: 256, cOut: 256, hIn: 10, k: 3, s: 1, p: 0, op: 0 },
  { name: 'G u128 (T 3x3 s2 256->128, 8->16)', transpose: true, cIn: 256, cOut: 128, hIn: 8, k: 3, s: 2, p: 1, op: 1 },
  { name: 'G u64 (T 3x3 s2 128->64, 16->32)', transpose: true, cIn: 128, cOut: 64, hIn: 16, k: 3, s: 2, p: 1, op: 1 },
  { name: 'G c7s1-3 (7x7 64->3, 38->32)', transpose: false, cIn: 64, cOut: 3, hIn: 38, k: 7, s: 1, p: 0, op: 0 },
  { name: 'D C64 (4x4 s2 3->64, 32->16)', transpose: false, cIn: 3, cOut: 64, hIn: 32, k: 4, s: 2, p: 1, op: 0 },
  { name: 'D C128 (4x4 s2 64->128, 16->8)', transpose: false, cIn: 64, cOut: 128, hIn: 16, k: 4, s: 2, p: 1, op: 0 },
  { name: 'D C256 (4x4 s2 128->256, 8->4)', transpose: false, cIn: 128, cOut: 256, hIn: 8, k: 4, s: 2, p: 1, op: 0 },
  { name: 'D C512 (4x4 s1 256->512, 4->3)', transpose: false, cIn: 256, cOut: 512, hIn: 4, k: 4, s: 1, p: 1, op: 0 },
  { name: 'D out (4x4 s1 512->1, 3->2)', transpose: false, cIn: 512, cOut: 1, hIn: 3, k: 4, s: 1, p: 1, op: 0 },
];

interface Options {
  batch: number;
  repeat: number;
  device: BackendKind;
  peakSeconds: number;
  only: string | null;
  json: string | null;
}

function usage(message: string): never {
  process.stderr.write(`bench:kernels: ${message}\nusage: node dist/bench/kernels.js [--batch N] [--repeat N] [--device cpu|cuda] [--peak-seconds S] [--only TEXT] [--json FILE]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { batch: 128, repeat: 5, device: 'cpu', peakSeconds: 1, only: null, json: null };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) usage(`${flag} needs a value`);
    const positive = (name: string) => {
      const v = Number(value);
      if (!(v > 0) || (name !== 'peak-seconds' && !Number.isInteger(v))) usage(`--${name} must be a positive ${name === 'peak-seconds' ? 'number' : 'integer'}, got '${value}'`);
      return v;
    };
    if (flag === '--batch') opts.batch = positive('batch');
    else if (flag === '--repeat') opts.repeat = positive('repeat');
    else if (flag === '--peak-seconds') opts.peakSeconds = positive('peak-seconds');
    else if (flag === '--json') opts.json = value;
    else if (flag === '--only') opts.only = value;
    else if (flag === '--device') {
      if (value !== 'cpu' && value !== 'cuda') usage(`--device must be cpu or cuda, got '${value}'`);
      opts.device = value;
    } else usage(`unknown option '${flag}'`);
    i++;
  }
  return opts;
}

function convParams(layer: ConvLayer, batch: number): ConvParams {
  const hOut = layer.transpose
    ? (layer.hIn - 1) * layer.s - 2 * layer.p + layer.k + layer.op
    : Math.floor((layer.hIn + 2 * layer.p - layer.k) / layer.s) + 1;
  return {
    n: batch, cIn: layer.cIn, hIn: layer.hIn, wIn: layer.hIn, cOut: layer.cOut, hOut, wOut: hOut,
    kh: layer.k, kw: layer.k, sh: layer.s, sw: layer.s, ph: layer.p, pw: layer.p, oph: layer.op, opw: layer.op,
  };
}

/** Multiply-adds x 2 of one pass; the same for all three passes of a layer. */
function convFlops(p: ConvParams, transpose: boolean): number {
  const pixels = transpose ? p.n * p.hIn * p.wIn : p.n * p.hOut * p.wOut;
  return 2 * pixels * p.cIn * p.cOut * p.kh * p.kw;
}

interface PassResult {
  bestMs: number;
  medianMs: number;
  bestGflops: number;
  medianGflops: number;
  bestPeakFraction: number;
  medianPeakFraction: number;
  /** GFLOP per CPU-second of this process over the peak measured the same way (CPU backend):
   *  the kernel's efficiency even while other jobs share the cores. */
  cpuTimePeakFraction: number | null;
}

/** The measured peak, and for the CPU the same peak per CPU-second of this process. */
interface Peak {
  gflops: number;
  perCpuSecond: number | null;
}

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function measurePeak(b: Binding, seconds: number, cpuBackend: boolean): Peak {
  const wall0 = process.hrtime.bigint();
  const cpu0 = cpuSeconds();
  const gflops = b.peakGflops(seconds);
  const wall = Number(process.hrtime.bigint() - wall0) / 1e9;
  const cpu = cpuSeconds() - cpu0;
  return { gflops, perCpuSecond: cpuBackend && cpu > 0 ? (gflops * wall) / cpu : null };
}

function timePass(b: Binding, run: () => void, flops: number, repeat: number, peak: Peak): PassResult {
  run();
  b.sync();
  const times: number[] = [];
  let cpuTotal = 0;
  for (let r = 0; r < repeat; r++) {
    const cpu0 = cpuSeconds();
    const t0 = process.hrtime.bigint();
    run();
    b.sync();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    cpuTotal += cpuSeconds() - cpu0;
  }
  times.sort((x, y) => x - y);
  const best = times[0];
  const median = times[Math.floor(times.length / 2)];
  const gflops = (ms: number) => flops / (ms * 1e6);
  const perCpuSecond = cpuTotal > 0 ? (flops * repeat) / cpuTotal / 1e9 : 0;
  return {
    bestMs: best, medianMs: median, bestGflops: gflops(best), medianGflops: gflops(median),
    bestPeakFraction: gflops(best) / peak.gflops, medianPeakFraction: gflops(median) / peak.gflops,
    cpuTimePeakFraction: peak.perCpuSecond ? perCpuSecond / peak.perCpuSecond : null,
  };
}

function benchLayer(b: Binding, layer: ConvLayer, opts: Options, peak: Peak) {
  const p = convParams(layer, opts.batch);
  const xSize = p.n * p.cIn * p.hIn * p.wIn;
  const ySize = p.n * p.cOut * p.hOut * p.wOut;
  const wSize = p.cIn * p.cOut * p.kh * p.kw;
  const x = randomBuf(b, xSize, 1);
  const w = randomBuf(b, wSize, 2);
  const bias = randomBuf(b, p.cOut, 3);
  const dy = randomBuf(b, ySize, 4);
  const y = b.alloc(ySize);
  const dx = b.alloc(xSize);
  const dw = b.alloc(wSize);
  const flops = convFlops(p, layer.transpose);
  try {
    const passes = layer.transpose
      ? {
          forward: () => b.convTranspose2dForward(p, x, w, bias, y),
          backwardData: () => b.convTranspose2dBackwardData(p, dy, w, dx),
          backwardWeight: () => b.convTranspose2dBackwardWeight(p, x, dy, dw),
        }
      : {
          forward: () => b.conv2dForward(p, x, w, bias, y),
          backwardData: () => b.conv2dBackwardData(p, dy, w, dx),
          backwardWeight: () => b.conv2dBackwardWeight(p, x, dy, dw),
        };
    return {
      name: layer.name,
      params: p,
      transpose: layer.transpose,
      gflopPerPass: flops / 1e9,
      forward: timePass(b, passes.forward, flops, opts.repeat, peak),
      backwardData: timePass(b, passes.backwardData, flops, opts.repeat, peak),
      backwardWeight: timePass(b, passes.backwardWeight, flops, opts.repeat, peak),
    };
  } finally {
    for (const buf of [x, w, bias, dy, y, dx, dw]) b.free(buf);
  }
}

function pct(f: number): string {
  return `${(100 * f).toFixed(1)}%`.padStart(6);
}

function main(): void {
  const opts = parseArgs(process.argv.slice(2));
  const backend = loadBackend(opts.device, { quiet: true });
  const b = backend.binding;
  const info = backend.info;
  const loadBefore = os.loadavg();
  const peak = measurePeak(b, opts.peakSeconds, info.backend === 'cpu');
  const machine = {
    backend: info.backend,
    cpu: info.cpu?.model ?? os.cpus()[0]?.model ?? 'unknown',
    device: info.devices?.[0]?.name ?? null,
    threads: b.numThreads(),
    simd: info.simd ?? null,
    logicalCpus: os.cpus().length,
    loadAverage: loadBefore,
    node: process.version,
  };
  process.stdout.write(
    `machine: ${machine.cpu}${machine.device ? ` / ${machine.device}` : ''}; backend ${machine.backend}, ` +
      `${machine.threads} threads, simd ${machine.simd ?? 'n/a'}; load average ${loadBefore.map((l) => l.toFixed(2)).join(' ')}\n` +
      `measured FP32 FMA peak: ${peak.gflops.toFixed(1)} GFLOP/s` +
      (peak.perCpuSecond ? ` (${peak.perCpuSecond.toFixed(1)} GFLOP per CPU-second)` : '') +
      `; batch ${opts.batch}, repeat ${opts.repeat}\n` +
      `3x3 stride-1 convs: ${convAlgoInEffect(machine.backend, info.simd, b.convAlgo())} (CGTRAIN_CONV_ALGO; auto = Winograd F(4x4,3x3) where it pays); ` +
      `GFLOP/s count a direct convolution's multiply-adds\n\n`,
  );
  const header = `${'layer'.padEnd(36)} ${'GFLOP'.padStart(6)}  ${'forward'.padEnd(31)} ${'backward data'.padEnd(31)} ${'backward weight'.padEnd(31)}`;
  process.stdout.write(`${header}\n`);
  const results = [];
  for (const layer of LAYERS) {
    if (opts.only && !layer.name.includes(opts.only)) continue;
    const r = benchLayer(b, layer, opts, peak);
    results.push(r);
    const cell = (pass: PassResult) =>
      (`${pass.bestGflops.toFixed(0).padStart(4)}/${pass.medianGflops.toFixed(0).padStart(4)} ${pct(pass.bestPeakFraction)}/${pct(pass.medianPeakFraction)}` +
        (pass.cpuTimePeakFraction === null ? '' : ` ${pct(pass.cpuTimePeakFraction)}`)).padEnd(31);
    process.stdout.write(`${layer.name.padEnd(36)} ${r.gflopPerPass.toFixed(2).padStart(6)}  ${cell(r.forward)} ${cell(r.backwardData)} ${cell(r.backwardWeight)}\n`);
  }
  const loadAfter = os.loadavg();
  process.stdout.write(
    `\nper pass: GFLOP/s best/median, fraction of the peak best/median (wall clock)` +
      (peak.perCpuSecond ? `, and per CPU-second of this process against the peak measured the same way` : '') +
      `\nload average after: ${loadAfter.map((l) => l.toFixed(2)).join(' ')}\n`,
  );
  if (opts.json) {
    const report = { time: new Date().toISOString(), machine, peakGflops: peak.gflops, peakGflopsPerCpuSecond: peak.perCpuSecond, batch: opts.batch, repeat: opts.repeat, loadAverageAfter: loadAfter, layers: results };
    fs.writeFileSync(opts.json, JSON.stringify(report, null, 2) + '\n');
    process.stdout.write(`wrote ${opts.json}\n`);
  }
}

main();
