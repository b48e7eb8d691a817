/**
 * The metadata_props every exported generator carries, so another application can feed it
 * without knowing cgtrain: how to normalise pixels, how many channels go in and out, which sizes
 * the graph accepts, the direction, and the training options that produced it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { packageRoot } from '../backend/device';

export type Direction = 'AtoB' | 'BtoA';

export const INPUT_NORMALIZATION = '[-1,1]: x/127.5 - 1';
export const OUTPUT_DENORMALIZATION = '[-1,1]: (y + 1) * 127.5, clamped to [0, 255]';

/** Which input sizes a generator's graph accepts. */
export interface SizeConstraint {
  /** true when height and width are fixed (the mlp generator) */
  fixed: boolean;
  /** height and width must be multiples of this for the output to have the input's size */
  multiple: number;
  /** one sentence for people */
  text: string;
}

function unetDowns(netG: string): number {
  const size = Number(/^unet_(\d+)$/.exec(netG)?.[1]);
  return Math.round(Math.log2(size));
}

export function sizeConstraint(netG: string, imageSize: number): SizeConstraint {
  if (netG === 'mlp') {
    return { fixed: true, multiple: imageSize, text: `fixed: the mlp generator takes exactly ${imageSize}x${imageSize} images (batch is dynamic)` };
  }
  if (netG.startsWith('unet_')) {
    const multiple = 2 ** unetDowns(netG);
    return { fixed: false, multiple, text: `dynamic but constrained: height and width must be multiples of ${multiple} (${unetDowns(netG)} stride-2 levels whose skip connections must line up)` };
  }
  if (netG.startsWith('resnet_')) {
    return { fixed: false, multiple: 4, text: 'dynamic: any height and width of at least 8; multiples of 4 give an output the size of the input' };
  }
  throw new Error(`cgtrain export: unknown generator architecture '${netG}' (expected resnet_Nblocks, unet_N or mlp)`);
}

export interface GeneratorDescription {
  direction: Direction;
  netG: string;
  inputChannels: number;
  outputChannels: number;
  /** the training image size (height = width) */
  imageSize: number;
  norm: string;
  upsample: string;
  /** the training options, written verbatim as JSON */
  options: object;
}

let versionCache: string | undefined;

export function cgtrainVersion(): string {
  if (!versionCache) versionCache = String(JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).version);
  return versionCache;
}

const CHANNEL_NAMES: Record<number, string> = { 1: 'gray', 2: 'gray+alpha', 3: 'RGB', 4: 'RGBA' };

export function channelLayout(channels: number): string {
  return CHANNEL_NAMES[channels] ?? `${channels} channels`;
}

/** Domain names for a direction: AtoB reads domain A images and writes domain B images. */
export function domains(direction: Direction): { from: 'A' | 'B'; to: 'A' | 'B' } {
  return direction === 'AtoB' ? { from: 'A', to: 'B' } : { from: 'B', to: 'A' };
}

export function generatorMetadata(g: GeneratorDescription): Record<string, string> {
  const size = sizeConstraint(g.netG, g.imageSize);
  const { from, to } = domains(g.direction);
  return {
    cgtrain_version: cgtrainVersion(),
    direction: g.direction,
    description: `CycleGAN generator ${g.direction === 'AtoB' ? 'G_A' : 'G_B'}: domain ${from} -> domain ${to}`,
    generator: g.netG,
    norm: g.norm,
    upsample: g.upsample,
    layout: 'NCHW float32',
    input_channels: String(g.inputChannels),
    output_channels: String(g.outputChannels),
    input_channel_order: channelLayout(g.inputChannels),
    output_channel_order: channelLayout(g.outputChannels),
    image_size: String(g.imageSize),
    size_fixed: String(size.fixed),
    size_multiple: String(size.multiple),
    size_constraint: size.text,
    input_normalization: INPUT_NORMALIZATION,
    output_denormalization: OUTPUT_DENORMALIZATION,
    training_options: JSON.stringify(g.options),
  };
}

/** The metadata fields a translator needs, parsed and checked; `source` names the file in errors. */
export interface TranslationSpec {
  direction: Direction | 'unknown';
  inputChannels: number;
  outputChannels: number;
  imageSize: number;
  sizeFixed: boolean;
  sizeMultiple: number;
}

function positiveInt(meta: Record<string, string>, key: string, source: string): number {
  const value = Number(meta[key]);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`cgtrain: ${source}: metadata '${key}' is '${meta[key] ?? '(missing)'}', expected a positive integer (was it written by cgtrain export?)`);
  }
  return value;
}

export function parseTranslationSpec(meta: Record<string, string>, source: string): TranslationSpec {
  if (meta.input_normalization !== undefined && meta.input_normalization !== INPUT_NORMALIZATION) {
    throw new Error(`cgtrain: ${source}: unsupported input_normalization '${meta.input_normalization}', expected '${INPUT_NORMALIZATION}'`);
  }
  const direction = meta.direction === 'AtoB' || meta.direction === 'BtoA' ? meta.direction : 'unknown';
  return {
    direction,
    inputChannels: positiveInt(meta, 'input_channels', source),
    outputChannels: positiveInt(meta, 'output_channels', source),
    imageSize: positiveInt(meta, 'image_size', source),
    sizeFixed: meta.size_fixed === 'true',
    sizeMultiple: meta.size_multiple ? positiveInt(meta, 'size_multiple', source) : 1,
  };
}
