/**
 * Generators rebuilt from a training checkpoint: the options in its metadata say which network
 * to build, the `netG_A.*` / `netG_B.*` tensors fill it. Only the generators are built (no
 * discriminators, no optimiser state), so export and translation stay light.
 */
import type { Backend } from '../backend/device';
import { validateOptions, modelImageSize, type TrainOptions } from '../options';
import { defineG, type GeneratorSpec } from '../nn/networks';
import type { Module } from '../nn/module';
import { Rng } from '../util/rng';
import { CheckpointError, metadataJson, readCheckpoint, type NamedTensor } from '../train/checkpoint';
import type { Direction } from './metadata';

/** The state-dict prefix of each direction's generator in a CycleGAN checkpoint. */
export const GENERATOR_PREFIX: Record<Direction, string> = { AtoB: 'netG_A.', BtoA: 'netG_B.' };

export function generatorSpec(options: TrainOptions, direction: Direction): GeneratorSpec {
  const aToB = direction === 'AtoB';
  return {
    netG: options.netG,
    inputNc: aToB ? options.inputNc : options.outputNc,
    outputNc: aToB ? options.outputNc : options.inputNc,
    ngf: options.ngf,
    norm: options.norm,
    useDropout: !options.noDropout,
    upsample: options.upsample,
    imageSize: modelImageSize(options),
    initType: options.initType,
    initGain: options.initGain,
  };
}

/** A freshly initialised generator for `direction` (seeded, so tests are repeatable). */
export function buildGenerator(backend: Backend, options: TrainOptions, direction: Direction, seed = 0): Module {
  return defineG(backend, generatorSpec(options, direction), new Rng(seed));
}

export interface CheckpointGenerators {
  options: TrainOptions;
  generators: Partial<Record<Direction, Module>>;
}

function tensorsWithPrefix(file: string, tensors: NamedTensor[], prefix: string): [string, NamedTensor][] {
  const own = tensors.filter((t) => t.name.startsWith(prefix)).map((t): [string, NamedTensor] => [t.name.slice(prefix.length), t]);
  if (own.length === 0) throw new CheckpointError(file, `holds no '${prefix}*' tensors: not a CycleGAN checkpoint with that generator`);
  return own;
}

/** Reads a checkpoint and builds the requested generators on `backend`, in eval mode. */
export function loadCheckpointGenerators(file: string, backend: Backend, directions: Direction[]): CheckpointGenerators {
  const checkpoint = readCheckpoint(file);
  let options: TrainOptions;
  try {
    options = validateOptions(metadataJson<TrainOptions>(file, checkpoint.metadata, 'options'));
  } catch (err) {
    if (err instanceof CheckpointError) throw err;
    throw new CheckpointError(file, `its training options are not valid here: ${(err as Error).message}`);
  }
  const generators: Partial<Record<Direction, Module>> = {};
  for (const direction of directions) {
    const generator = buildGenerator(backend, options, direction);
    try {
      generator.loadStateDict(tensorsWithPrefix(file, checkpoint.tensors, GENERATOR_PREFIX[direction]));
    } catch (err) {
      generator.dispose();
      if (err instanceof CheckpointError) throw err;
      throw new CheckpointError(file, `${GENERATOR_PREFIX[direction]}* does not fit a ${options.netG} generator: ${(err as Error).message}`);
    }
    generators[direction] = generator.eval();
  }
  return { options, generators };
}
