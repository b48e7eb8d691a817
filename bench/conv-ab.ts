/**
 * A/B of CPU addon builds on the convolutions that dominate a training step. Every build is loaded
 * into this one process and the builds take turns call by call, so what the machine does to the
 * timings (other jobs, a shared VM's stolen time, clock changes) hits them alike; a comparison of
 * separate runs on a 2-vCPU VM moved 10-30% run to run, more than most kernel changes. Prints the
 * best time of each pass per build, and each build's time relative to the first.
 *
 *   cp build/Release/cgtrain_cpu.node /tmp/before.node      # then change the kernels and rebuild
 *   node dist/bench/conv-ab.js --addons /tmp/before.node,build/Release/cgtrain_cpu.node [--reps 15]
 *       [--threads 0] [--only 64x64]
 *
 * Shapes: the residual 3x3 256->256 conv of a 32x32 step (8x8 maps, batch 16 and 128, its input
 * already padded) and of a 256x256 step (64x64, batch 1, reflection padding in the conv).
 * Passes: forward, and the fused backward (data and weight gradients) that training calls.
 */
import * as path from 'path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import type { Binding, ConvParams } from '../src/backend/binding';
import { randomBuf } from './buffers';

interface Shape {
  name: string;
  n: number;
  c: number;
  /** input side (already padded when pad is 0) */
  h: number;
  pad: number;
}

const SHAPES: Shape[] = [
  { name: '8x8 batch 16', n: 16, c: 256, h: 10, pad: 0 },
  { name: '8x8 batch 128', n: 128, c: 256, h: 10, pad: 0 },
  { name: '64x64 batch 1', n: 1, c: 256, h: 64, pad: 1 },
];

function main(): void {
  const args = yargs(hideBin(process.argv))
    .option('addons', { type: 'string', demandOption: true, describe: 'comma-separated cgtrain_cpu.node files; the first is the baseline' })
    .option('reps', { type: 'number', default: 15, describe: 'turns per build and shape (best of them is printed)' })
    .option('threads', { type: 'number', default: 0, describe: 'CPU threads per build (0 = all cores)' })
    .option('only', { type: 'string', describe: 'shapes whose name contains this' })
    .strict()
    .parseSync();
  if (!(Number.isInteger(args.reps) && args.reps >= 1)) throw new Error(`--reps must be a positive integer, got ${args.reps}`);
  const files = args.addons.split(',').map((f) => path.resolve(f));
  const builds = files.map((file) => require(file) as Binding);
  for (const b of builds) b.init(args.threads);
  const shapes = SHAPES.filter((s) => !args.only || s.name.includes(args.only));
  if (shapes.length === 0) throw new Error(`--only ${args.only}: no shape matches (${SHAPES.map((s) => s.name).join(', ')})`);
  console.log(`conv A/B, best of ${args.reps} alternating turns; builds: ${files.map((f, i) => `[${i}] ${f}`).join(', ')}`);
  for (const shape of shapes) {
    const out = shape.h + 2 * shape.pad - 2;
    const p: ConvParams = {
      n: shape.n, cIn: shape.c, hIn: shape.h, wIn: shape.h, cOut: shape.c, hOut: out, wOut: out,
      kh: 3, kw: 3, sh: 1, sw: 1, ph: shape.pad, pw: shape.pad, oph: 0, opw: 0, padMode: shape.pad > 0 ? 1 : 0,
    };
    const xSize = p.n * p.cIn * p.hIn * p.wIn, ySize = p.n * p.cOut * out * out, wSize = p.cIn * p.cOut * 9;
    const bufs = builds.map((b) => ({
      x: randomBuf(b, xSize, 1), w: randomBuf(b, wSize, 2), bias: randomBuf(b, p.cOut, 3), dy: randomBuf(b, ySize, 4),
      y: b.alloc(ySize), dx: b.alloc(xSize), dw: b.alloc(wSize),
    }));
    const best = builds.map(() => ({ forward: Infinity, backward: Infinity }));
    const time = (fn: () => void): number => {
      const t0 = process.hrtime.bigint();
      fn();
      return Number(process.hrtime.bigint() - t0) / 1e6;
    };
    for (let rep = 0; rep <= args.reps; rep++) {
      builds.forEach((b, i) => {
        const u = bufs[i];
        const f = time(() => b.conv2dForward(p, u.x, u.w, u.bias, u.y));
        const g = time(() => b.conv2dBackward(p, u.x, u.dy, u.w, u.dx, u.dw));
        if (rep === 0) return; // the first turn warms caches and grows scratch buffers
        best[i].forward = Math.min(best[i].forward, f);
        best[i].backward = Math.min(best[i].backward, g);
      });
    }
    const rel = (v: number, base: number) => (v === base ? '' : ` (${((v / base - 1) * 100).toFixed(1)}%)`);
    const cells = best.map((r, i) => `[${i}] fwd ${r.forward.toFixed(2)}${rel(r.forward, best[0].forward)} bwd ${r.backward.toFixed(2)}${rel(r.backward, best[0].backward)}`);
    console.log(`  ${shape.name.padEnd(14)} ms  ${cells.join('  |  ')}`);
    bufs.forEach((u, i) => Object.values(u).forEach((buf) => builds[i].free(buf)));
  }
}

main();
