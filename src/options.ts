/**
 * THE options module: every training option once, with its type, default, range and help text.
 * yargs builders, presets, opt.json, checkpoints and reports all read this table, so an option
 * added here appears everywhere. Names follow the reference PyTorch CycleGAN in kebab case.
 *
 * Defaults are not handed to yargs: a value the user did not type must stay distinguishable from
 * one they did, so that a preset overrides only the defaults (resolveOptions applies the layers
 * built-in default < preset < command line).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Argv, Options as YargsOption } from 'yargs';
import type { ModelConfig } from './train/cyclegan';
import { missingInceptionMessage, resolveInceptionOption } from './eval/inception-file';
import { defaultDataDir } from './data/sources';

export type OptionType = 'string' | 'number' | 'integer' | 'boolean';

export interface OptionSpec {
  /** kebab-case flag without the dashes, e.g. 'lambda-identity' */
  flag: string;
  /** the camelCase key in TrainOptions */
  key: keyof TrainOptions;
  type: OptionType;
  default: string | number | boolean | undefined;
  help: string;
  group: string;
  choices?: readonly string[];
  /** inclusive bounds for numbers */
  min?: number;
  max?: number;
  /** lower bound that the value must exceed (for rates and gains that cannot be 0) */
  above?: number;
}

export const PRESET_NAMES = ['quick', 'mnist2svhn', 'none'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];
export const NET_G = ['resnet_9blocks', 'resnet_6blocks', 'unet_256', 'unet_128', 'unet_32', 'mlp'] as const;
export const NET_D = ['basic', 'n_layers', 'pixel', 'resnet34'] as const;
export const LR_POLICIES = ['linear', 'step', 'cosine', 'plateau'] as const;

export interface TrainOptions extends Omit<ModelConfig, 'imageSize'> {
  name: string;
  preset: PresetName;
  device: 'auto' | 'cpu' | 'cuda';
  /** operand precision of convolutions and linear layers (src/backend/device.ts, PRECISIONS) */
  precision: 'auto' | 'fp32' | 'tf32' | 'bf16';
  threads: number;
  runsDir: string;
  // model, losses and optimiser: the CycleGAN model's own configuration (src/train/cyclegan.ts)
  // schedule
  lrPolicy: (typeof LR_POLICIES)[number];
  lrDecayIters: number;
  nEpochs: number;
  nEpochsDecay: number;
  epochCount: number;
  // training loop
  batchSize: number;
  seed: number;
  saveEpochFreq: number;
  keepEpochs: number;
  saveLatestFreq: number;
  continueTrain: boolean;
  checkpoint: string | undefined;
  displayFreq: number;
  printFreq: number;
  evalFreq: number;
  evalSamples: number;
  /** Inception-v3 ONNX file for the standard FID/KID/IS in evaluations */
  inception: string | undefined;
  export: boolean;
  /** also write TensorBoard event files into the run directory */
  tensorboard: boolean;
  // data
  dataset: 'mnist2svhn' | 'folder';
  dataroot: string | undefined;
  dataDir: string | undefined;
  mnist: string | undefined;
  svhn: string | undefined;
  preprocess: 'resize_and_crop' | 'crop' | 'scale_width' | 'scale_width_and_crop' | 'none';
  loadSize: number;
  cropSize: number;
  noFlip: boolean;
  maxDatasetSize: number;
  serialBatches: boolean;
  synthCount: number;
}

const G = { run: 'Run:', model: 'Model:', loss: 'Losses and optimiser:', sched: 'Schedule:', loop: 'Training loop:', data: 'Data:' };
const INT_MAX = 2 ** 31 - 1;

/* eslint-disable max-len */
export const OPTION_SPECS: readonly OptionSpec[] = [
  { flag: 'name', key: 'name', type: 'string', default: undefined, group: G.run, help: 'run name: results go to <runs-dir>/<name>/ (default: the preset name; with --dataset folder and no preset, the dataroot folder\'s name)' },
  { flag: 'preset', key: 'preset', type: 'string', default: 'quick', choices: PRESET_NAMES, group: G.run, help: 'a set of defaults: quick (a small CPU demo, minutes), mnist2svhn (the full 32x32 MNIST -> SVHN setup) or none (the reference CycleGAN\'s defaults, what --dataset folder gets when no preset is typed); explicit options override it' },
  { flag: 'device', key: 'device', type: 'string', default: 'auto', choices: ['auto', 'cpu', 'cuda'], group: G.run, help: 'where tensors live: auto uses CUDA when it can run' },
  { flag: 'precision', key: 'precision', type: 'string', default: 'auto', choices: ['auto', 'fp32', 'tf32', 'bf16'], group: G.run, help: 'operand precision of convolutions and linear layers: auto (tf32 on CUDA GPUs with tensor cores, as PyTorch; fp32 on the CPU), fp32, tf32, or bf16 (CUDA, compute capability 8.0+); weights, activations, sums and Adam stay float32' },
  { flag: 'threads', key: 'threads', type: 'integer', default: 0, min: 0, max: 1024, group: G.run, help: 'CPU threads (0 = all cores or $CGTRAIN_THREADS)' },
  { flag: 'runs-dir', key: 'runsDir', type: 'string', default: 'runs', group: G.run, help: 'directory holding one sub-directory per run' },

  { flag: 'net-g', key: 'netG', type: 'string', default: 'resnet_9blocks', choices: NET_G, group: G.model, help: 'generator architecture' },
  { flag: 'net-d', key: 'netD', type: 'string', default: 'basic', choices: NET_D, group: G.model, help: 'discriminator: basic (70x70 PatchGAN), n_layers, pixel (1x1 PatchGAN) or resnet34' },
  { flag: 'n-layers-d', key: 'nLayersD', type: 'integer', default: 3, min: 1, max: 8, group: G.model, help: 'strided conv layers of the n_layers discriminator' },
  { flag: 'ngf', key: 'ngf', type: 'integer', default: 64, min: 1, max: 1024, group: G.model, help: 'generator filters in the first conv layer' },
  { flag: 'ndf', key: 'ndf', type: 'integer', default: 64, min: 1, max: 1024, group: G.model, help: 'discriminator filters in the first conv layer' },
  { flag: 'norm', key: 'norm', type: 'string', default: 'instance', choices: ['instance', 'batch', 'none'], group: G.model, help: 'normalisation layers' },
  { flag: 'init-type', key: 'initType', type: 'string', default: 'normal', choices: ['normal', 'xavier', 'kaiming', 'orthogonal'], group: G.model, help: 'weight initialisation' },
  { flag: 'init-gain', key: 'initGain', type: 'number', default: 0.02, above: 0, max: 10, group: G.model, help: 'scale of normal, xavier and orthogonal initialisation' },
  { flag: 'no-dropout', key: 'noDropout', type: 'boolean', default: true, group: G.model, help: 'no dropout in the generator (the CycleGAN default; --no-dropout false enables it)' },
  { flag: 'upsample', key: 'upsample', type: 'string', default: 'transpose', choices: ['transpose', 'resize'], group: G.model, help: 'generator upsampling: transposed conv, or nearest resize + conv (no checkerboard)' },
  { flag: 'input-nc', key: 'inputNc', type: 'integer', default: 3, min: 1, max: 3, group: G.model, help: 'channels of domain A images: 1 (gray) or 3 (RGB)' },
  { flag: 'output-nc', key: 'outputNc', type: 'integer', default: 3, min: 1, max: 3, group: G.model, help: 'channels of domain B images: 1 (gray) or 3 (RGB)' },

  { flag: 'gan-mode', key: 'ganMode', type: 'string', default: 'lsgan', choices: ['lsgan', 'vanilla', 'wgangp', 'hinge'], group: G.loss, help: 'adversarial objective: lsgan (least squares), vanilla (BCE), wgangp (Wasserstein, without gradient penalty, as the reference CycleGAN) or hinge' },
  { flag: 'd-loss', key: 'dLoss', type: 'string', default: 'gan', choices: ['gan', 'focal', 'ghmc'], group: G.loss, help: 'discriminator loss: the gan-mode loss, focal loss or GHM-C' },
  { flag: 'focal-alpha', key: 'focalAlpha', type: 'number', default: 0.25, min: 0, max: 1, group: G.loss, help: 'focal loss class weight alpha' },
  { flag: 'focal-gamma', key: 'focalGamma', type: 'number', default: 2, min: 0, max: 10, group: G.loss, help: 'focal loss focusing exponent gamma' },
  { flag: 'ghm-bins', key: 'ghmBins', type: 'integer', default: 10, min: 1, max: 1000, group: G.loss, help: 'GHM-C gradient-density bins' },
  { flag: 'ghm-momentum', key: 'ghmMomentum', type: 'number', default: 0.75, min: 0, max: 0.999999, group: G.loss, help: 'GHM-C moving-average momentum of bin counts, in [0, 1)' },
  { flag: 'lambda-A', key: 'lambdaA', type: 'number', default: 10, min: 0, max: 1e4, group: G.loss, help: 'weight of the cycle loss A -> B -> A' },
  { flag: 'lambda-B', key: 'lambdaB', type: 'number', default: 10, min: 0, max: 1e4, group: G.loss, help: 'weight of the cycle loss B -> A -> B' },
  { flag: 'lambda-identity', key: 'lambdaIdentity', type: 'number', default: 0.5, min: 0, max: 100, group: G.loss, help: 'identity loss weight, relative to lambda-A/B (0 disables it)' },
  { flag: 'pool-size', key: 'poolSize', type: 'integer', default: 50, min: 0, max: 100000, group: G.loss, help: 'image-pool size of previously generated fakes (0 = no pool)' },
  { flag: 'lr', key: 'lr', type: 'number', default: 0.0002, above: 0, max: 1, group: G.loss, help: 'initial Adam learning rate' },
  { flag: 'beta1', key: 'beta1', type: 'number', default: 0.5, min: 0, max: 0.999999, group: G.loss, help: 'Adam beta1, in [0, 1)' },
  { flag: 'beta2', key: 'beta2', type: 'number', default: 0.999, min: 0, max: 0.999999, group: G.loss, help: 'Adam beta2, in [0, 1)' },

  { flag: 'lr-policy', key: 'lrPolicy', type: 'string', default: 'linear', choices: LR_POLICIES, group: G.sched, help: 'learning-rate policy (as the reference get_scheduler)' },
  { flag: 'lr-decay-iters', key: 'lrDecayIters', type: 'integer', default: 50, min: 1, max: INT_MAX, group: G.sched, help: 'step policy: multiply lr by 0.1 every this many epochs' },
  { flag: 'n-epochs', key: 'nEpochs', type: 'integer', default: 100, min: 0, max: 1e6, group: G.sched, help: 'epochs at the initial learning rate' },
  { flag: 'n-epochs-decay', key: 'nEpochsDecay', type: 'integer', default: 100, min: 0, max: 1e6, group: G.sched, help: 'epochs of learning-rate decay after n-epochs' },
  { flag: 'epoch-count', key: 'epochCount', type: 'integer', default: 1, min: 1, max: 1e6, group: G.sched, help: 'number of the first epoch (a resumed run takes it from the checkpoint)' },

  { flag: 'batch-size', key: 'batchSize', type: 'integer', default: 1, min: 1, max: 65536, group: G.loop, help: 'images per step and domain' },
  { flag: 'seed', key: 'seed', type: 'integer', default: 0, min: 0, max: 2 ** 32 - 1, group: G.loop, help: 'random seed for weights, data order, augmentation and pools' },
  { flag: 'save-epoch-freq', key: 'saveEpochFreq', type: 'integer', default: 5, min: 0, max: 1e6, group: G.loop, help: 'keep a checkpoint every this many epochs (0 = only latest)' },
  { flag: 'keep-epochs', key: 'keepEpochs', type: 'integer', default: 0, min: 0, max: 1e6, group: G.loop, help: 'keep only the newest N of those epoch checkpoints, deleting older ones (0 = keep all, as the reference); each holds weights and Adam state' },
  { flag: 'save-latest-freq', key: 'saveLatestFreq', type: 'integer', default: 5000, min: 0, max: 1e12, group: G.loop, help: 'overwrite latest.safetensors every this many images (0 = at epoch ends only)' },
  { flag: 'continue-train', key: 'continueTrain', type: 'boolean', default: false, group: G.loop, help: 'resume the run <name> from its latest checkpoint (or --checkpoint)' },
  { flag: 'checkpoint', key: 'checkpoint', type: 'string', default: undefined, group: G.loop, help: 'checkpoint file to resume from (implies --continue-train)' },
  { flag: 'display-freq', key: 'displayFreq', type: 'integer', default: 400, min: 0, max: 1e12, group: G.loop, help: 'write a sample grid every this many images (0 = at epoch ends only)' },
  { flag: 'print-freq', key: 'printFreq', type: 'integer', default: 100, min: 1, max: 1e12, group: G.loop, help: 'log losses every this many images' },
  { flag: 'eval-freq', key: 'evalFreq', type: 'integer', default: 0, min: 0, max: 1e6, group: G.loop, help: 'evaluate every this many epochs (0 = never; the last epoch is evaluated when > 0)' },
  { flag: 'eval-samples', key: 'evalSamples', type: 'integer', default: 10000, min: 2, max: 1e7, group: G.loop, help: 'test images per domain translated for each evaluation (fewer when the test set is smaller)' },
  { flag: 'inception', key: 'inception', type: 'string', default: undefined, group: G.loop, help: "Inception-v3 ONNX file, or 'fid' for the standard FID Inception ('cgtrain data download inception' makes it): evaluations add FID/KID/IS (see docs/evaluation.md)" },
  { flag: 'export', key: 'export', type: 'boolean', default: true, group: G.loop, help: 'export the generators to ONNX when training ends (--export false to skip)' },
  { flag: 'tensorboard', key: 'tensorboard', type: 'boolean', default: false, group: G.loop, help: 'also write TensorBoard event files (losses, lr, img/s, metrics, samples) into the run directory: tensorboard --logdir <runs-dir>' },

  { flag: 'dataset', key: 'dataset', type: 'string', default: 'mnist2svhn', choices: ['mnist2svhn', 'folder'], group: G.data, help: 'mnist2svhn (embedded MNIST -> synthetic or real SVHN) or folder (<dataroot>/trainA, trainB)' },
  { flag: 'dataroot', key: 'dataroot', type: 'string', default: undefined, group: G.data, help: 'folder dataset: directory with trainA/ trainB/ (testA/ testB/)' },
  { flag: 'data-dir', key: 'dataDir', type: 'string', default: undefined, group: G.data, help: 'where downloaded and cached datasets live (default: $CGTRAIN_DATA_DIR, else ~/.cache/cgtrain)' },
  { flag: 'mnist', key: 'mnist', type: 'string', default: undefined, group: G.data, help: 'real MNIST files (directory of idx files) instead of the embedded digits' },
  { flag: 'svhn', key: 'svhn', type: 'string', default: undefined, group: G.data, help: 'real SVHN train_32x32.mat instead of synthetic house numbers' },
  { flag: 'preprocess', key: 'preprocess', type: 'string', default: 'resize_and_crop', choices: ['resize_and_crop', 'crop', 'scale_width', 'scale_width_and_crop', 'none'], group: G.data, help: 'folder dataset: scaling and cropping at load time' },
  { flag: 'load-size', key: 'loadSize', type: 'integer', default: 286, min: 8, max: 8192, group: G.data, help: 'folder dataset: scale images to this size' },
  { flag: 'crop-size', key: 'cropSize', type: 'integer', default: 256, min: 8, max: 8192, group: G.data, help: 'folder dataset: then crop to this size' },
  { flag: 'no-flip', key: 'noFlip', type: 'boolean', default: false, group: G.data, help: 'no random horizontal flips' },
  { flag: 'max-dataset-size', key: 'maxDatasetSize', type: 'integer', default: 0, min: 0, max: 1e9, group: G.data, help: 'use at most this many images per domain (0 = all)' },
  { flag: 'serial-batches', key: 'serialBatches', type: 'boolean', default: false, group: G.data, help: 'take B images in order instead of randomly' },
  { flag: 'synth-count', key: 'synthCount', type: 'integer', default: 50000, min: 1, max: 1e7, group: G.data, help: 'mnist2svhn: synthetic house-number images to render (cached in --data-dir)' },
];
/* eslint-enable max-len */

const SPEC_BY_KEY = new Map(OPTION_SPECS.map((s) => [s.key, s]));

export const PRESETS: Record<PresetName, Partial<TrainOptions>> = {
  // A CPU demo that finishes in minutes on 2 cores and visibly turns digits into house numbers:
  // a narrow resnet at 32x32 and a few thousand images (sizes measured, see README).
  quick: {
    dataset: 'mnist2svhn', netG: 'resnet_6blocks', netD: 'basic', ngf: 16, ndf: 16,
    norm: 'instance', ganMode: 'lsgan', batchSize: 8, synthCount: 1000, maxDatasetSize: 1000,
    nEpochs: 2, nEpochsDecay: 2, printFreq: 400, displayFreq: 1000, saveEpochFreq: 1, saveLatestFreq: 1000, poolSize: 50,
    // The demo ends with metrics: digit accuracy, digit-FID/KID/IS and PRDC on 1000 test images
    // (the digit classifiers are trained once, about 1.5 minutes on 2 cores, and kept in --data-dir).
    evalFreq: 4, evalSamples: 1000,
  },
  // The full MNIST -> SVHN setup at 32x32.
  mnist2svhn: {
    dataset: 'mnist2svhn', netG: 'resnet_6blocks', netD: 'basic', ngf: 64, ndf: 64,
    norm: 'instance', ganMode: 'lsgan', batchSize: 128, nEpochs: 100, nEpochsDecay: 100, evalFreq: 20,
    printFreq: 1000, displayFreq: 10000, saveEpochFreq: 5, saveLatestFreq: 20000,
  },
  // The built-in defaults alone: the reference CycleGAN's (resnet_9blocks ngf 64, batch 1,
  // 100 + 100 epochs, every image). A folder dataset gets it unless a preset is typed: the quick
  // demo's narrow net, batch 8 and 4 epochs on 1000 images are no way to train horse2zebra.
  none: {},
};

/** A user-facing error about options; the CLI prints its message without a stack. */
export class OptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OptionsError';
  }
}

/** The default as help shows it, with the presets that change it (the built-in one applies to neither). */
function defaultText(spec: OptionSpec): string | undefined {
  const overrides = PRESET_NAMES.filter((p) => (PRESETS[p] as Record<string, unknown>)[spec.key] !== undefined)
    .map((p) => `${p}: ${JSON.stringify((PRESETS[p] as Record<string, unknown>)[spec.key])}`);
  const base = spec.default === undefined ? undefined : JSON.stringify(spec.default);
  if (overrides.length === 0) return base;
  return `${base ?? 'none'}; preset ${overrides.join(', ')}`;
}

function yargsOption(spec: OptionSpec, defaultOf?: (spec: OptionSpec) => unknown): YargsOption {
  const own = defaultOf?.(spec);
  const def = own === undefined ? defaultText(spec) : JSON.stringify(own);
  const range = spec.type === 'string' ? '' : rangeText(spec);
  return {
    type: spec.type === 'integer' ? 'number' : spec.type,
    describe: spec.help + range,
    group: spec.group,
    choices: spec.choices as string[] | undefined,
    defaultDescription: def,
    requiresArg: spec.type !== 'boolean',
  };
}

function rangeText(spec: OptionSpec): string {
  const lo = spec.above !== undefined ? `> ${spec.above}` : spec.min !== undefined ? `>= ${spec.min}` : '';
  const hi = spec.max !== undefined ? `<= ${spec.max}` : '';
  if (!lo && !hi) return '';
  return ` [${[lo, hi].filter(Boolean).join(', ')}]`;
}

/**
 * Adds every option of `specs` to a yargs builder (the train command uses all of them).
 * `defaultOf` gives a command's own defaults for help (bench resolves a different preset).
 */
export function addOptions<T>(y: Argv<T>, specs: readonly OptionSpec[] = OPTION_SPECS, defaultOf?: (spec: OptionSpec) => unknown): Argv<T> {
  // '--no-dropout' and '--no-flip' are options of their own, as in the reference CycleGAN,
  // not negations of 'dropout' and 'flip'.
  let out = y.parserConfiguration({ 'boolean-negation': false });
  for (const spec of specs) out = out.option(spec.flag, yargsOption(spec, defaultOf));
  return out;
}

/** camelCase values the user typed; yargs leaves untyped options undefined (it gets no defaults). */
export function typedOptions(argv: Record<string, unknown>): Record<string, unknown> {
  const given: Record<string, unknown> = {};
  for (const spec of OPTION_SPECS) {
    const value = argv[spec.flag];
    if (value !== undefined) given[spec.key] = value;
  }
  return given;
}

export function specFor(key: keyof TrainOptions): OptionSpec {
  const spec = SPEC_BY_KEY.get(key);
  if (!spec) throw new Error(`cgtrain: no option '${String(key)}'`);
  return spec;
}

/** Throws OptionsError when `value` breaks the spec's type, choices or range. */
export function checkValue(spec: OptionSpec, value: unknown): void {
  const where = `--${spec.flag}`;
  if (value === undefined) return;
  if (spec.type === 'boolean') {
    if (typeof value !== 'boolean') throw new OptionsError(`${where}: expected true or false, got ${JSON.stringify(value)}`);
    return;
  }
  if (spec.type === 'string') {
    if (typeof value !== 'string' || value === '') throw new OptionsError(`${where}: expected a non-empty string, got ${JSON.stringify(value)}`);
    if (spec.choices && !spec.choices.includes(value)) {
      throw new OptionsError(`${where}: expected one of ${spec.choices.join(', ')}, got '${value}'`);
    }
    return;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new OptionsError(`${where}: expected a number, got ${JSON.stringify(value)}`);
  }
  if (spec.type === 'integer' && !Number.isInteger(value)) throw new OptionsError(`${where}: expected an integer, got ${value}`);
  const tooLow = (spec.min !== undefined && value < spec.min) || (spec.above !== undefined && value <= spec.above);
  const tooHigh = spec.max !== undefined && value > spec.max;
  if (tooLow || tooHigh) throw new OptionsError(`${where}: expected a value${rangeText(spec)}, got ${value}`);
}

/** Relations between options that no single range can express. */
function checkConsistency(o: TrainOptions): void {
  if (o.device === 'cpu' && (o.precision === 'tf32' || o.precision === 'bf16')) {
    throw new OptionsError(`--precision ${o.precision}: the CPU backend computes in fp32; use --precision fp32 (or auto), or --device cuda on an NVIDIA GPU of compute capability 8.0+`);
  }
  for (const [flag, channels] of [['input-nc', o.inputNc], ['output-nc', o.outputNc]] as const) {
    if (channels !== 1 && channels !== 3) throw new OptionsError(`--${flag}: expected 1 (gray) or 3 (RGB), got ${channels}`);
  }
  if (o.nEpochs + o.nEpochsDecay < 1) throw new OptionsError('--n-epochs + --n-epochs-decay: expected at least 1 epoch in total, got 0');
  if (o.dataset === 'folder' && !o.dataroot) throw new OptionsError('--dataroot: required with --dataset folder (a directory with trainA/ and trainB/)');
  if (o.dataset === 'folder' && o.cropSize > o.loadSize && o.preprocess.includes('crop')) {
    throw new OptionsError(`--crop-size: expected <= --load-size (${o.loadSize}) when preprocessing crops, got ${o.cropSize}`);
  }
  if (o.lambdaIdentity > 0 && o.inputNc !== o.outputNc) {
    throw new OptionsError(`--lambda-identity: needs --input-nc == --output-nc (got ${o.inputNc} and ${o.outputNc}); set --lambda-identity 0`);
  }
  if (o.netG.startsWith('unet_')) {
    const size = modelImageSize(o);
    const levels = o.netG === 'unet_256' ? 8 : o.netG === 'unet_128' ? 7 : 5;
    if (size % 2 ** levels !== 0) {
      throw new OptionsError(`--net-g ${o.netG}: needs an image size divisible by ${2 ** levels}, got ${size}`);
    }
  }
  if (!/^[A-Za-z0-9._-]+$/.test(o.name)) {
    throw new OptionsError(`--name: expected letters, digits, '.', '_' or '-' (it names a directory), got '${o.name}'`);
  }
}

/**
 * What the evaluation during training needs, checked when training starts or resumes (it first
 * runs after --eval-freq epochs). Not part of resolveOptions: a checkpoint's options are resolved
 * again by translate and export, on machines without the run's --inception file.
 */
export function checkEvaluationOptions(o: TrainOptions): void {
  if (o.evalFreq > 0 && o.dataset === 'folder' && !o.inception) {
    throw new OptionsError(`--eval-freq ${o.evalFreq}: image folders have no digit labels, so the evaluation needs --inception fid (after 'cgtrain data download inception') or --inception FILE (an Inception-v3 ONNX model); or set --eval-freq 0`);
  }
  if (o.evalFreq > 0 && o.inception) {
    let file: string;
    try {
      file = resolveInceptionOption(o.inception, o.dataDir ?? defaultDataDir());
    } catch (err) {
      throw new OptionsError((err as Error).message);
    }
    if (!fs.existsSync(file)) throw new OptionsError(missingInceptionMessage(file));
  }
}

/** The preset's name, or for preset none the dataroot folder's name (as a valid run name) or the dataset. */
function defaultRunName(preset: PresetName, dataset: string, dataroot: string | undefined): string {
  if (preset !== 'none') return preset;
  if (dataset !== 'folder' || !dataroot) return dataset;
  const base = path.basename(path.resolve(dataroot)).replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[-.]+|-+$/g, '');
  return base || 'folder';
}

/**
 * The options of a run: built-in defaults, then the preset's, then what the user typed
 * (`given`: camelCase keys, undefined when not typed). Unknown keys are ignored (yargs adds
 * kebab-case duplicates and '_'/'$0'); strict parsing already rejected unknown flags.
 */
export function resolveOptions(given: Record<string, unknown>): TrainOptions {
  const presetName = (given.preset ?? (given.dataset === 'folder' ? 'none' : 'quick')) as PresetName;
  checkValue(specFor('preset'), presetName);
  const preset = PRESETS[presetName];
  const out: Record<string, unknown> = {};
  for (const spec of OPTION_SPECS) {
    const typed = given[spec.key];
    if (typed !== undefined) checkValue(spec, typed);
    const presetValue = (preset as Record<string, unknown>)[spec.key];
    out[spec.key] = typed !== undefined ? typed : presetValue !== undefined ? presetValue : spec.default;
  }
  out.preset = presetName;
  // A preset's evaluation cadence assumes labelled digits: an image folder is evaluated only with
  // an Inception model, or when --eval-freq is typed (checkEvaluationOptions then says what is missing).
  if (given.evalFreq === undefined && out.dataset === 'folder' && out.inception === undefined) out.evalFreq = 0;
  if (out.name === undefined) out.name = defaultRunName(presetName, out.dataset as string, out.dataroot as string | undefined);
  if (out.checkpoint !== undefined) out.continueTrain = true;
  const options = out as unknown as TrainOptions;
  checkConsistency(options);
  return options;
}

/** Validates a complete options object (e.g. read back from a checkpoint or opt.json). */
export function validateOptions(options: TrainOptions): TrainOptions {
  for (const spec of OPTION_SPECS) checkValue(spec, options[spec.key]);
  checkConsistency(options);
  return options;
}

/** mnist2svhn images are 32x32 (MNIST padded from 28, SVHN's own size). */
export const MNIST2SVHN_SIZE = 32;

/** The side of the square images the networks see. */
export function modelImageSize(o: Pick<TrainOptions, 'dataset' | 'cropSize' | 'loadSize' | 'preprocess'>): number {
  if (o.dataset === 'folder') return o.preprocess === 'none' || o.preprocess === 'scale_width' ? o.loadSize : o.cropSize;
  return MNIST2SVHN_SIZE;
}

/** Options that may differ between a run and its resumption without changing the model. */
export const RESUMABLE_CHANGES: ReadonlySet<keyof TrainOptions> = new Set<keyof TrainOptions>([
  'name', 'device', 'precision', 'threads', 'runsDir', 'continueTrain', 'checkpoint', 'nEpochs', 'nEpochsDecay', 'epochCount',
  'saveEpochFreq', 'keepEpochs', 'saveLatestFreq', 'displayFreq', 'printFreq', 'evalFreq', 'evalSamples', 'inception', 'export', 'tensorboard', 'dataDir', 'mnist', 'svhn', 'dataroot',
]);
