/** `cgtrain data`: download datasets, preview them as PNG grids, and show what a run would load. */
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { defaultDataDir, loadDomain, openUnalignedLoader, resolveDataOptions, writeGridPng } from '../../data';
import { batchToRows } from '../../data/grid';
import { CYCLEGAN_DATASETS, downloadCycleGanDataset, isCycleGanDataset, type CycleGanDataset } from '../../data/cyclegan-datasets';
import { downloadDataset, REMOTE_DATASETS } from '../../data/download';
import { renderSynthHouseNumbers, synthSeed } from '../../data/synth';

const say = (line: string) => process.stderr.write(`${line}\n`);

interface DownloadArgs {
  dataset: 'mnist' | 'svhn' | CycleGanDataset;
  dir?: string;
  'data-dir': string;
  'base-url'?: string;
}

interface PreviewArgs {
  what: 'synth-svhn' | 'mnist' | 'svhn';
  out?: string;
  count: number;
  columns: number;
  scale: number;
  seed: number;
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
  describe: 'download MNIST (IDX .gz) or SVHN (format 2 .mat) with resume and SHA-256 checks, or a CycleGAN image dataset (horse2zebra, ...) as trainA/trainB/testA/testB folders',
  builder: (y: Argv) =>
    y
      .positional('dataset', { choices: ['mnist', 'svhn', ...CYCLEGAN_DATASETS] as const, demandOption: true })
      .option('data-dir', dataDirOption)
      .option('dir', { type: 'string', describe: 'target folder (default <data-dir>/<dataset>, where training looks)' })
      .option('base-url', { type: 'string', describe: 'fetch from this mirror instead of the official hosts' })
      .example('$0 data download horse2zebra', 'the CycleGAN authors\' horse2zebra (111 MB zip), then: cgtrain train --dataset folder --dataroot <the folder it prints>') as unknown as Argv<DownloadArgs>,
  handler: async (args) => {
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
      .positional('what', { choices: ['synth-svhn', 'mnist', 'svhn'] as const, demandOption: true })
      .option('out', { type: 'string', describe: 'PNG file (default <what>-preview.png)' })
      .option('count', { type: 'number', default: 160, describe: 'images in the grid' })
      .option('columns', { type: 'number', default: 16 })
      .option('scale', { type: 'number', default: 3, describe: 'integer upscale of the grid' })
      .option('seed', { type: 'number', default: 0 })
      .option('data-dir', dataDirOption)
      .option('mnist', { type: 'string', describe: 'MNIST IDX file or folder' })
      .option('svhn', { type: 'string', describe: 'SVHN .mat file or folder' }) as unknown as Argv<PreviewArgs>,
  handler: async (args) => {
    if (!Number.isInteger(args.count) || args.count < 1) throw new Error(`--count must be a positive integer, got ${args.count}`);
    const out = args.out ?? `${args.what}-preview.png`;
    let images: Float32Array;
    let n: number;
    let labels: Int32Array | undefined;
    if (args.what === 'synth-svhn') {
      const set = renderSynthHouseNumbers(synthSeed(args.seed, 'train'), args.count);
      images = Float32Array.from(set.pixels, (v) => v / 127.5 - 1);
      ({ labels } = set);
      n = args.count;
    } else {
      const opts = resolveDataOptions({ dataset: 'mnist2svhn', dataDir: args['data-dir'], mnist: args.mnist, svhn: args.svhn, seed: args.seed, synthCount: Math.max(args.count, 1000) });
      const domain = await loadDomain(opts, args.what === 'mnist' ? 'A' : 'B', 'train', args.count, say);
      say(`preview of ${domain.name}`);
      ({ images, n, labels } = domain);
    }
    const shape = { c: 3, h: 32, w: 32 };
    await writeGridPng(out, batchToRows(images, n, shape, args.columns), shape, { scale: args.scale });
    say(`wrote ${out} (${n} images${labels ? `, labels row by row: ${Array.from(labels.subarray(0, Math.min(n, args.columns))).join(' ')} ...` : ''})`);
  },
};

const info: CommandModule<object, InfoArgs> = {
  command: 'info',
  describe: 'say which files a training run would load and how many images each domain has',
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
  },
};

export const dataCommand: CommandModule = {
  command: 'data <command>',
  describe: 'datasets: download, preview, info',
  builder: (y: Argv) => y.command(download).command(preview).command(info).demandCommand(1),
  handler: () => {},
};
