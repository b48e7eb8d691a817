/**
 * Data-pipeline throughput: images/s of the folder loader decoding 256x256 JPEGs (generated
 * once into a temp folder with sharp), for several --preprocess modes, and of the synthetic
 * house-number renderer. Every figure is printed with its configuration and the machine.
 *
 *   node dist/bench/data.js [--images 1000] [--batch 16] [--repeat 1] [--dir /tmp/cgtrain-bench-jpeg] [--synth 50000] [--json out.json]
 *
 * --repeat N measures N epochs after the warm-up one and reports the median epoch (and the range):
 * on a shared machine single figures swing by 15% or more from run to run.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { performance } from 'perf_hooks';
import sharp from 'sharp';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { openUnalignedLoader, resolveDataOptions, type Preprocess } from '../src/data';
import { renderSynthParallel } from '../src/data/synth';

interface BenchArgs {
  images: number;
  batch: number;
  repeat: number;
  dir: string;
  synth: number;
  modes: string;
  json?: string;
}

/** Photo-like JPEGs: smooth gradients plus noise, so the decoder has real entropy to chew on. */
async function makeJpegs(dir: string, count: number): Promise<void> {
  const perDomain = Math.ceil(count / 2);
  for (const domain of ['trainA', 'trainB']) {
    const folder = path.join(dir, domain);
    fs.mkdirSync(folder, { recursive: true });
    const have = fs.readdirSync(folder).filter((f) => f.endsWith('.jpg')).length;
    for (let i = have; i < perDomain; i++) {
      const pixels = Buffer.alloc(256 * 256 * 3);
      for (let p = 0, y = 0; y < 256; y++) for (let x = 0; x < 256; x++, p += 3) {
        const noise = (Math.sin(x * 12.9898 + y * 78.233 + i) * 43758.5453) % 1;
        pixels[p] = (x + i * 7) & 255;
        pixels[p + 1] = (y + i * 13) & 255;
        pixels[p + 2] = 128 + 60 * noise;
      }
      await sharp(pixels, { raw: { width: 256, height: 256, channels: 3 } }).jpeg({ quality: 90 }).toFile(path.join(folder, `${String(i).padStart(5, '0')}.jpg`));
    }
  }
}

interface Throughput {
  imagesPerSec: number;
  images: number;
  seconds: number;
  /** CPU time (all threads) per image: robust to other processes sharing the machine. */
  cpuMsPerImage: number;
  /** With --repeat: every measured epoch's images/s and CPU ms/image (the fields above are the medians). */
  epochs?: Array<{ imagesPerSec: number; cpuMsPerImage: number }>;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

async function folderThroughput(dir: string, preprocess: Preprocess, batchSize: number, repeat: number): Promise<Throughput> {
  const opts = resolveDataOptions({ dataset: 'folder', dataroot: dir, preprocess, loadSize: preprocess === 'crop' ? 256 : 286, cropSize: 256, batchSize, seed: 1 });
  const loader = await openUnalignedLoader(opts);
  // One warm-up epoch fills the OS page cache, as in a long training run.
  for await (const _ of loader.epoch(0)) void _;
  const epochs: Array<{ images: number; seconds: number; imagesPerSec: number; cpuMsPerImage: number }> = [];
  for (let e = 1; e <= repeat; e++) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    let images = 0;
    for await (const batch of loader.epoch(e)) {
      images += 2 * batch.n;
      loader.recycle(batch); // as the trainer does once a batch is uploaded
    }
    const cpu = process.cpuUsage(cpuStart);
    const seconds = (performance.now() - start) / 1000;
    epochs.push({ images, seconds, imagesPerSec: images / seconds, cpuMsPerImage: (cpu.user + cpu.system) / 1000 / images });
  }
  await loader.close();
  if (repeat === 1) {
    const { images, seconds, imagesPerSec, cpuMsPerImage } = epochs[0];
    return { imagesPerSec, images, seconds, cpuMsPerImage };
  }
  return {
    imagesPerSec: median(epochs.map((e) => e.imagesPerSec)),
    images: epochs[0].images,
    seconds: median(epochs.map((e) => e.seconds)),
    cpuMsPerImage: median(epochs.map((e) => e.cpuMsPerImage)),
    epochs: epochs.map(({ imagesPerSec, cpuMsPerImage }) => ({ imagesPerSec, cpuMsPerImage })),
  };
}

async function main(): Promise<void> {
  const args = (await yargs(hideBin(process.argv))
    .option('images', { type: 'number', default: 1000, describe: 'JPEGs to generate (half per domain)' })
    .option('batch', { type: 'number', default: 16 })
    .option('repeat', { type: 'number', default: 1, describe: 'measured epochs per mode; the median is reported' })
    .option('dir', { type: 'string', default: path.join(os.tmpdir(), 'cgtrain-bench-jpeg') })
    .option('synth', { type: 'number', default: 50000, describe: 'synthetic house numbers to render (0 skips)' })
    .option('modes', { type: 'string', default: 'crop,resize_and_crop' })
    .option('json', { type: 'string' })
    .strict()
    .parse()) as unknown as BenchArgs;
  const machine = `${os.cpus()[0]?.model ?? 'cpu'} x${os.availableParallelism?.() ?? os.cpus().length}, load ${os.loadavg()[0].toFixed(1)}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? 4}, sharp ${sharp.versions.sharp} concurrency ${sharp.concurrency()}`;
  console.log(`machine: ${machine}`);
  await makeJpegs(args.dir, args.images);
  const results: Record<string, unknown> = { machine };
  for (const mode of args.modes.split(',') as Preprocess[]) {
    const repeat = Math.max(1, Math.floor(args.repeat));
    const r = await folderThroughput(args.dir, mode, args.batch, repeat);
    const cores = os.availableParallelism?.() ?? os.cpus().length;
    const range = (pick: (e: { imagesPerSec: number; cpuMsPerImage: number }) => number, digits: number) =>
      r.epochs ? ` [${Math.min(...r.epochs.map(pick)).toFixed(digits)}-${Math.max(...r.epochs.map(pick)).toFixed(digits)}]` : '';
    console.log(
      `folder loader, 256x256 JPEG, --preprocess ${mode}, batch ${args.batch}${repeat > 1 ? `, median of ${repeat} epochs` : ''}: ` +
        `${r.imagesPerSec.toFixed(0)}${range((e) => e.imagesPerSec, 0)} images/s wall (${r.images} images in ${r.seconds.toFixed(2)} s); ` +
        `${r.cpuMsPerImage.toFixed(2)}${range((e) => e.cpuMsPerImage, 2)} CPU ms/image = ${((cores * 1000) / r.cpuMsPerImage).toFixed(0)} images/s on ${cores} idle cores; ` +
        `load ${os.loadavg()[0].toFixed(1)}`,
    );
    results[`folder_${mode}`] = r;
  }
  if (args.synth > 0) {
    const start = performance.now();
    const cpuStart = process.cpuUsage();
    await renderSynthParallel(987, args.synth);
    const cpu = process.cpuUsage(cpuStart);
    const seconds = (performance.now() - start) / 1000;
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    const cores = os.availableParallelism?.() ?? os.cpus().length;
    console.log(
      `synthetic house numbers: ${args.synth} rendered in ${seconds.toFixed(1)} s wall (${(args.synth / seconds).toFixed(0)} images/s); ` +
        `${cpuSeconds.toFixed(1)} CPU s = ${(cpuSeconds / cores).toFixed(1)} s on ${cores} idle cores`,
    );
    results.synth = { count: args.synth, seconds, cpuSeconds };
  }
  if (args.json) fs.writeFileSync(args.json, JSON.stringify(results, null, 2));
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
