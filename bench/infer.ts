/**
 * Generator inference: ms/image of our addon vs onnxruntime-node on the same model and batch.
 * The generator is built from the options (random weights) or read from a checkpoint, exported
 * to ONNX in a temporary folder, and both engines run the same input; their outputs are compared
 * so a fast wrong answer cannot hide. Both timings include moving the batch in and out.
 *
 *   node dist/bench/infer.js --net-g resnet_6blocks --ngf 64 --size 32 --batch 16 [--device cpu|cuda] [--json out.json]
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import * as ort from 'onnxruntime-node';
import { loadBackend, type Backend } from '../src/backend/device';
import { resolveOptions, type TrainOptions } from '../src/options';
import { exportGeneratorFiles, forwardEval } from '../src/export/export';
import { buildGenerator, loadCheckpointGenerators } from '../src/export/from-checkpoint';
import type { Module } from '../src/nn/module';
import { timeCalls } from '../src/util/timing';

interface InferArgs {
  netG: string;
  ngf: number;
  size: number;
  batch: number;
  iters: number;
  warmup: number;
  minSeconds: number;
  device: 'cpu' | 'cuda' | 'auto';
  threads: number;
  checkpoint?: string;
  json?: string;
}

function parseArgs(argv: string[]): InferArgs {
  return yargs(argv)
    .strict()
    .option('net-g', { type: 'string', default: 'resnet_6blocks', describe: 'generator architecture' })
    .option('ngf', { type: 'number', default: 64 })
    .option('size', { type: 'number', default: 32, describe: 'image height = width' })
    .option('batch', { type: 'number', default: 16 })
    .option('iters', { type: 'number', default: 10, describe: 'timed batches per engine' })
    .option('warmup', { type: 'number', default: 2 })
    .option('min-seconds', { type: 'number', default: 0, describe: 'each engine keeps timing past --iters until its timed batches last this long (and warms up a quarter of it)' })
    .option('device', { choices: ['cpu', 'cuda', 'auto'] as const, default: 'cpu' as const, describe: 'where our addon runs (onnxruntime-node runs on the CPU)' })
    .option('threads', { type: 'number', default: 0, describe: 'CPU threads for both engines (0 = all cores)' })
    .option('checkpoint', { type: 'string', describe: 'use G_A of this checkpoint instead of random weights' })
    .option('json', { type: 'string', describe: 'also write the result as JSON here' })
    .parseSync() as unknown as InferArgs;
}

function generatorOf(args: InferArgs, backend: Backend): { options: TrainOptions; generator: Module } {
  if (args.checkpoint) {
    const { options, generators } = loadCheckpointGenerators(args.checkpoint, backend, ['AtoB']);
    return { options, generator: generators.AtoB! };
  }
  const folder = args.size === 32 ? {} : { dataset: 'folder', dataroot: os.tmpdir(), loadSize: args.size, cropSize: args.size };
  const options = resolveOptions({ preset: 'quick', netG: args.netG, ngf: args.ngf, ...folder });
  return { options, generator: buildGenerator(backend, options, 'AtoB') };
}

/** Mean ms per batch: the mean, not the median, keeps the garbage-collection pauses that both engines' callers pay. */
async function timeRuns(args: InferArgs, run: () => unknown): Promise<{ ms: number; batches: number }> {
  const times = await timeCalls({ warmup: args.warmup, steps: args.iters, minSeconds: args.minSeconds }, run);
  return { ms: times.reduce((a, b) => a + b, 0) / times.length, batches: times.length };
}

async function main(): Promise<void> {
  const args = parseArgs(hideBin(process.argv));
  const backend = loadBackend(args.device, { threads: args.threads, quiet: true });
  const { options, generator } = generatorOf(args, backend);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgtrain-bench-infer-'));
  try {
    const [exported] = await exportGeneratorFiles({ netG_A: generator, netG_B: generator }, options, dir, ['AtoB']);
    const threads = backend.kind === 'cpu' ? backend.info.threads ?? os.cpus().length : os.cpus().length;
    const session = await ort.InferenceSession.create(exported.file, { executionProviders: ['cpu'], intraOpNumThreads: threads, interOpNumThreads: 1 });
    const size = options.netG === 'mlp' ? 32 : args.size;
    const shape = [args.batch, options.inputNc, size, size];
    const input = new Float32Array(shape.reduce((a, b) => a * b, 1)).map((_, i) => Math.sin(i * 0.37));
    const ours = await timeRuns(args, () => {
      const y = forwardEval(generator, input, shape);
      backend.binding.sync();
      return y;
    });
    const feed = { [session.inputNames[0]]: new ort.Tensor('float32', input, shape) };
    const theirs = await timeRuns(args, () => session.run(feed));
    const a = forwardEval(generator, input, shape).data;
    const b = (await session.run(feed))[session.outputNames[0]].data as Float32Array;
    let diff = 0;
    for (let i = 0; i < a.length; i++) diff = Math.max(diff, Math.abs(a[i] - b[i]));
    const device = backend.kind === 'cuda' ? `CUDA ${backend.info.devices?.[0]?.name ?? ''}` : `CPU ${backend.info.cpu?.model ?? os.cpus()[0].model} (${backend.info.simd}, ${threads} threads)`;
    const result = {
      bench: 'generator inference',
      config: { netG: options.netG, ngf: options.ngf, norm: options.norm, batch: args.batch, size, batches: { cgtrain: ours.batches, onnxruntimeNode: theirs.batches }, minSeconds: args.minSeconds, checkpoint: args.checkpoint ?? null },
      machine: { ours: device, onnxruntime: `CPU ${os.cpus()[0].model} (${threads} intra-op threads)`, node: process.version },
      msPerImage: { cgtrain: ours.ms / args.batch, onnxruntimeNode: theirs.ms / args.batch },
      maxAbsDiff: diff,
    };
    process.stdout.write(
      `generator inference, ${options.netG} ngf ${options.ngf} ${options.norm}, batch ${args.batch} x ${options.inputNc}x${size}x${size}\n` +
        `  cgtrain addon (${device}): ${(ours.ms / args.batch).toFixed(3)} ms/image (${ours.batches} timed batches)\n` +
        `  onnxruntime-node (CPU, ${threads} threads): ${(theirs.ms / args.batch).toFixed(3)} ms/image (${theirs.batches} timed batches)\n` +
        `  ratio onnxruntime/cgtrain: ${(theirs.ms / ours.ms).toFixed(2)}x; outputs agree to ${diff.toExponential(1)} (max abs)\n`,
    );
    if (args.json) fs.writeFileSync(args.json, `${JSON.stringify(result, null, 2)}\n`);
    await session.release();
  } finally {
    generator.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/infer: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
