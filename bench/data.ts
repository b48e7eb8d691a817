/**
 * Data-pipeline throughput: images/s of the folder loader decoding 256x256 JPEGs (generated
 * once into a temp folder with sharp), for several --preprocess modes, and of the synthetic
 * house-number renderer. Every figure is printed with its configuration and the machine.
 *
 *   node dist/bench/data.js [--images 1000] [--batch 16] [--dir /tmp/cgtrain-bench-jpeg] [--synth 50000] [--json out.json]
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
}

async function folderThroughput(dir: string, preprocess: Preprocess, batchSize: number): Promise<Throughput> {
  const opts = resolveDataOptions({ dataset: 'folder', dataroot: dir, preprocess, loadSize: preprocess === 'crop' ? 256 : 286, cropSize: 256, batchSize, seed: 1 });
  const loader = await openUnalignedLoader(opts);
  // One warm-up epoch fills the OS page cache, as in a long training run.
  for await (const _ of loader.epoch(0)) void _;
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  let images = 0;
  for await (const batch of loader.epoch(1)) images += 2 * batch.n;
  const cpu = process.cpuUsage(cpuStart);
  const seconds = (performance.now() - start) / 1000;
  await loader.close();
  return { imagesPerSec: images / seconds, images, seconds, cpuMsPerImage: (cpu.user + cpu.system) / 1000 / images };
}

async function main(): Promise<void> {
  const args = (await yargs(hideBin(process.argv))
    .option('images', { type: 'number', default: 1000, describe: 'JPEGs to generate (half per domain)' })
    .option('batch', { type: 'number', default: 16 })
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
    const r = await folderThroughput(args.dir, mode, args.batch);
    const cores = os.availableParallelism?.() ?? os.cpus().length;
    console.log(
      `folder loader, 256x256 JPEG, --preprocess ${mode}, batch ${args.batch}: ${r.imagesPerSec.toFixed(0)} images/s wall ` +
        `(${r.images} images in ${r.seconds.toFixed(2)} s); ${r.cpuMsPerImage.toFixed(2)} CPU ms/image = ${((cores * 1000) / r.cpuMsPerImage).toFixed(0)} images/s on ${cores} idle cores`,
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
