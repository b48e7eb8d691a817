/** `cgtrain data`: download datasets, preview them as PNG grids, and show what a run would load. */
import * as fs from 'fs';
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { defaultDataDir, loadDomain, openUnalignedLoader, resolveDataOptions, writeGridPng } from '../../data';
import { batchToRows } from '../../data/grid';
import { CYCLEGAN_DATASETS, downloadCycleGanDataset, isCycleGanDataset, type CycleGanDataset } from '../../data/cyclegan-datasets';
import { downloadDataset, REMOTE_DATASETS } from '../../data/download';
import { renderSynthHouseNumbers, synthSeed } from '../../data/synth';
import { installFidInception } from '../../eval/fid-weights';
import { CLASSIFIER_DOMAINS, classifierPath } from '../../eval/classifier-store';
import { FID_WEIGHTS, fidInceptionPath } from '../../eval/inception-file';
import { readCheckpointMetadata } from '../../train/checkpoint';
import type { Preprocess } from '../../data/types';

const say = (line: string) => process.stderr.write(`${line}\n`);

interface DownloadArgs {
  dataset: 'mnist' | 'svhn' | 'inception' | CycleGanDataset;
  dir?: string;
  weights?: string;
  'data-dir': string;
  'base-url'?: string;
}

interface PreviewArgs {
  what: 'synth-svhn' | 'mnist' | 'svhn' | 'folder';
  out?: string;
  count?: number;
  columns?: number;
  scale?: number;
  seed: number;
  dataroot?: string;
  preprocess?: string;
  'load-size'?: number;
  'crop-size'?: number;
  'no-flip'?: boolean;
  'data-dir': string;
  mnist?: string;
  svhn?: string;
}

interface InfoArgs {
  dataset: 'mnist2svhn' | 'folder';
  dataroot?: string;
  'data-dir': string;
  mnist?: string;
  svhn?: string;
  'synth-count': number;
}

const dataDirOption = {
  type: 'string',
  default: defaultDataDir(),
  defaultDescription: '$CGTRAIN_DATA_DIR, else $XDG_CACHE_HOME/cgtrain, else ~/.cache/cgtrain',
  describe: 'where downloads and caches live',
} as const;

const download: CommandModule<object, DownloadArgs> = {
  command: 'download <dataset>',
  describe: 'download MNIST (IDX .gz) or SVHN (format 2 .mat) with resume and SHA-256 checks, a CycleGAN image dataset (horse2zebra, ...) as trainA/trainB/testA/testB folders, or the FID Inception-v3 (pytorch-fid\'s weights, converted to ONNX for --inception fid)',
  builder: (y: Argv) =>
    y
      .positional('dataset', { choices: ['mnist', 'svhn', 'inception', ...CYCLEGAN_DATASETS] as const, demandOption: true })
      .option('data-dir', dataDirOption)
      .option('dir', { type: 'string', describe: 'target folder (default <data-dir>/<dataset>, where training looks)' })
      .option('base-url', { type: 'string', describe: 'fetch from this mirror instead of the official hosts' })
      .option('weights', { type: 'string', describe: `inception: convert this local copy of ${FID_WEIGHTS.file} instead of downloading it (torch hub's cache is used when it has one)` })
      .example('$0 data download horse2zebra', 'the CycleGAN authors\' horse2zebra (111 MB zip), then: cgtrain train --dataset folder --dataroot <the folder it prints>')
      .example('$0 data download inception', 'the standard FID network (92 MB of weights), then: cgtrain train --dataset folder ... --inception fid') as unknown as Argv<DownloadArgs>,
  handler: async (args) => {
    if (args.dataset === 'inception') {
      const file = await installFidInception(args['data-dir'], { dir: args.dir, weights: args.weights, baseUrl: args['base-url'], log: say });
      const where = args.dir ? file : 'fid';
      say(`inception: ${file}\n  use it with: --inception ${where} (train, eval)`);
      return;
    }
    if (args.weights !== undefined) throw new Error('--weights: only for `cgtrain data download inception`');
    if (isCycleGanDataset(args.dataset)) {
      const { dir, counts } = await downloadCycleGanDataset(args.dataset, args['data-dir'], { dir: args.dir, baseUrl: args['base-url'], log: say });
      const folders = Object.entries(counts).map(([folder, n]) => `${folder} ${n}`).join(', ');
      say(`${args.dataset}: ${folders} images in ${dir}\n  train with: cgtrain train --dataset folder --dataroot ${dir}`);
      return;
    }
    const dir = args.dir ?? path.join(args['data-dir'], args.dataset);
    const files = await downloadDataset(REMOTE_DATASETS[args.dataset as 'mnist' | 'svhn'], dir, { baseUrl: args['base-url'], log: say });
    say(`${args.dataset}: ${files.length} files in ${dir}`);
  },
};

const preview: CommandModule<object, PreviewArgs> = {
  command: 'preview <what>',
  describe: 'write a PNG grid of a dataset (synth-svhn renders fresh synthetic house numbers)',
  builder: (y: Argv) =>
    y
      .positional('what', { choices: ['synth-svhn', 'mnist', 'svhn', 'folder'] as const, demandOption: true })
      .option('out', { type: 'string', describe: 'PNG file (default <what>-preview.png)' })
      .option('count', { type: 'number', describe: 'images in the grid (default 160; folder: 8 of each domain)' })
      .option('columns', { type: 'number', describe: 'images per row (default 16; folder: --count, so A and B rows alternate)' })
      .option('scale', { type: 'number', describe: 'integer upscale of the grid (default 3; folder 1)' })
      .option('dataroot', { type: 'string', describe: 'folder: the dataset (trainA, trainB); one training batch of each domain, preprocessed as training would' })
      .option('preprocess', { type: 'string', describe: 'folder: as for train (default resize_and_crop)' })
      .option('load-size', { type: 'number', describe: 'folder: as for train (default 286)' })
      .option('crop-size', { type: 'number', describe: 'folder: as for train (default 256)' })
      .option('no-flip', { type: 'boolean', describe: 'folder: as for train' })
      .option('seed', { type: 'number', default: 0 })
      .option('data-dir', dataDirOption)
      .option('mnist', { type: 'string', describe: 'MNIST IDX file or folder' })
      .option('svhn', { type: 'string', describe: 'SVHN .mat file or folder' }) as unknown as Argv<PreviewArgs>,
  handler: async (args) => {
    const folder = args.what === 'folder';
    const count = args.count ?? (folder ? 8 : 160);
    if (!Number.isInteger(count) || count < 1) throw new Error(`--count must be a positive integer, got ${count}`);
    const columns = args.columns ?? (folder ? count : 16);
    const out = args.out ?? `${args.what}-preview.png`;
    let images: Float32Array;
    let n: number;
    let labels: Int32Array | undefined;
    let shape = { c: 3, h: 32, w: 32 };
    let perDomain: number | undefined;
    if (folder) {
      const picked = await folderPreview(args, count, columns);
      ({ images, n, shape, perDomain } = picked);
    } else if (args.what === 'synth-svhn') {
      const set = renderSynthHouseNumbers(synthSeed(args.seed, 'train'), count);
      images = Float32Array.from(set.pixels, (v) => v / 127.5 - 1);
      ({ labels } = set);
      n = count;
    } else {
      const opts = resolveDataOptions({ dataset: 'mnist2svhn', dataDir: args['data-dir'], mnist: args.mnist, svhn: args.svhn, seed: args.seed, synthCount: Math.max(count, 1000) });
      const domain = await loadDomain(opts, args.what === 'mnist' ? 'A' : 'B', 'train', count, say);
      say(`preview of ${domain.name}`);
      ({ images, n, labels } = domain);
    }
    await writeGridPng(out, batchToRows(images, n, shape, columns), shape, { scale: args.scale ?? (folder ? 1 : 3) });
    const what = perDomain !== undefined ? `${perDomain} images of A, then ${perDomain} of B` : `${n} images`;
    say(`wrote ${out} (${what}${labels ? `, labels row by row: ${Array.from(labels.subarray(0, Math.min(n, columns))).join(' ')} ...` : ''})`);
  },
};

/**
 * The first training batch of a folder dataset, `count` images of each domain as the loader
 * hands them to a step (resized, cropped, flipped): A's rows, then B's.
 */
async function folderPreview(args: PreviewArgs, count: number, columns: number): Promise<{ images: Float32Array; n: number; shape: { c: number; h: number; w: number }; perDomain: number }> {
  if (!args.dataroot) throw new Error('data preview folder: --dataroot DIR is required (a folder with trainA and trainB)');
  // resolveDataOptions keeps its defaults for the options left undefined (and checks --preprocess).
  const opts = resolveDataOptions({
    dataset: 'folder', dataroot: args.dataroot, dataDir: args['data-dir'], seed: args.seed, batchSize: count,
    preprocess: args.preprocess as Preprocess | undefined, loadSize: args['load-size'], cropSize: args['crop-size'], noFlip: args['no-flip'],
  });
  const loader = await openUnalignedLoader(opts, say);
  try {
    const [c, h, w] = loader.shapeA;
    if (loader.shapeB.join('x') !== loader.shapeA.join('x')) throw new Error(`data preview folder: A is ${loader.shapeA.join('x')} but B is ${loader.shapeB.join('x')}; one grid needs one size`);
    for await (const batch of loader.epoch(1)) {
      // A's rows, then B's: with fewer images than a row, pad A's last row so B starts a new one.
      const size = c * h * w;
      const aRows = Math.ceil(batch.n / columns) * columns;
      const images = new Float32Array((aRows + batch.n) * size).fill(1);
      images.set(batch.a.subarray(0, batch.n * size));
      images.set(batch.b.subarray(0, batch.n * size), aRows * size);
      say(`preview of ${loader.describe()}`);
      return { images, n: aRows + batch.n, shape: { c, h, w }, perDomain: batch.n };
    }
    throw new Error('data preview folder: the loader gave no batch');
  } finally {
    await loader.close();
  }
}

const info: CommandModule<object, InfoArgs> = {
  command: 'info',
  describe: 'say which files a training run would load, how many images each domain has, and what the data dir holds for evaluation',
  builder: (y: Argv) =>
    y
      .option('dataset', { choices: ['mnist2svhn', 'folder'] as const, default: 'mnist2svhn' as const })
      .option('dataroot', { type: 'string', describe: 'folder with trainA, trainB, testA, testB (--dataset folder)' })
      .option('data-dir', dataDirOption)
      .option('mnist', { type: 'string' })
      .option('svhn', { type: 'string' })
      .option('synth-count', { type: 'number', default: 50000 }) as unknown as Argv<InfoArgs>,
  handler: async (args) => {
    const loader = await openUnalignedLoader(
      resolveDataOptions({ dataset: args.dataset, dataroot: args.dataroot, dataDir: args['data-dir'], mnist: args.mnist, svhn: args.svhn, synthCount: args['synth-count'] }),
      (line) => {
        if (!line.startsWith('data: ')) say(line); // the loader's summary: printed below, on stdout
      },
    );
    process.stdout.write(`${loader.describe()}\nA: ${loader.sizeA} images of ${loader.shapeA.join('x')}; B: ${loader.sizeB} images of ${loader.shapeB.join('x')}\n`);
    await loader.close();
    process.stdout.write(`${evaluationInventory(args['data-dir']).join('\n')}\n`);
  },
};

/** What the data dir holds for evaluation: the digit classifiers, the FID Inception, the downloaded image datasets. */
export function evaluationInventory(dataDir: string): string[] {
  const classifiers = CLASSIFIER_DOMAINS.flatMap((domain) => {
    const file = classifierPath(dataDir, domain);
    if (!fs.existsSync(file)) return [];
    try {
      const accuracy = Number(readCheckpointMetadata(file).testAccuracy);
      return [`${domain} (${Number.isFinite(accuracy) ? `${(accuracy * 100).toFixed(2)}%` : 'accuracy unknown'})`];
    } catch (err) {
      return [`${domain} (unreadable: ${(err as Error).message})`];
    }
  });
  const fidModel = fidInceptionPath(dataDir);
  const folders = fs.existsSync(dataDir)
    ? fs.readdirSync(dataDir).filter((name) => fs.existsSync(path.join(dataDir, name, 'trainA')) && fs.existsSync(path.join(dataDir, name, 'trainB'))).sort()
    : [];
  return [
    `in ${dataDir}:`,
    `  digit classifiers: ${classifiers.length ? classifiers.join(', ') : 'none yet (the first mnist2svhn evaluation trains them, about 1.5 CPU minutes)'}`,
    `  FID Inception:     ${fs.existsSync(fidModel) ? `${fidModel} (--inception fid)` : "not made ('cgtrain data download inception' makes it)"}`,
    `  image datasets:    ${folders.length ? folders.join(', ') : 'none (cgtrain data download horse2zebra, ...)'}`,
  ];
}

export const dataCommand: CommandModule = {
  command: 'data <command>',
  describe: 'datasets and the FID Inception: download, preview, info',
  builder: (y: Argv) => y.command(download).command(preview).command(info).demandCommand(1),
  handler: () => {},
};
