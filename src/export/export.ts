/**
 * Exporting a model's generators to ONNX files: one file per direction (G_A.onnx = AtoB,
 * G_B.onnx = BtoA), written atomically, then loaded back with onnxruntime-node and compared
 * with our own forward pass on a random input, so a wrong graph never ships silently.
 */
import * as fs from 'fs';
import * as path from 'path';
import { inFp32 } from '../backend/device';
import type { TrainOptions } from '../options';
import { modelImageSize } from '../options';
import type { Module } from '../nn/module';
import { Tensor, noGrad, tidy } from '../tensor';
import { generatorToOnnx } from './generator';
import { sizeConstraint, type Direction, type GeneratorDescription } from './metadata';
import { encodeModel } from './proto';
import { OnnxGeneratorSession, type NchwArray } from './runtime';
import { writeFileAtomicSync } from '../util/atomic';

/** What exportGenerators needs of a CycleGAN model. */
export interface GeneratorPair {
  netG_A: Module;
  netG_B: Module;
}

export const GENERATOR_FILES: Record<Direction, string> = { AtoB: 'G_A.onnx', BtoA: 'G_B.onnx' };

/**
 * Beyond this max abs difference the graph is wrong, not rounded differently. Our forward runs
 * in fp32 for the check, whatever --precision the model trained with, and agrees to ~1e-5; the
 * margin covers a GPU's own transcendental functions.
 */
export const EXPORT_CHECK_TOLERANCE = 1e-2;

export interface ExportedGenerator {
  direction: Direction;
  file: string;
  bytes: number;
  /** max |onnxruntime - our forward| on the check input */
  maxAbsDiff: number;
}

export function describeGenerator(options: TrainOptions, direction: Direction): GeneratorDescription {
  const aToB = direction === 'AtoB';
  return {
    direction,
    netG: options.netG,
    inputChannels: aToB ? options.inputNc : options.outputNc,
    outputChannels: aToB ? options.outputNc : options.inputNc,
    imageSize: modelImageSize(options),
    norm: options.norm,
    upsample: options.upsample,
    options,
  };
}

/** A deterministic input in [-1, 1] for the export check. */
function checkInput(channels: number, size: number): Float32Array {
  const data = new Float32Array(channels * size * size);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 12.9898) * 0.9;
  return data;
}

/** Our forward pass in eval mode; restores the module's training flag afterwards. */
export function forwardEval(generator: Module, data: Float32Array, shape: readonly number[]): NchwArray {
  const wasTraining = generator.training;
  generator.eval();
  try {
    return noGrad(() =>
      tidy(() => {
        const y = generator.forward(Tensor.fromArray(data, shape, generator.backend));
        if (y.shape.length !== 4) throw new Error(`cgtrain: the generator returned shape [${y.shape.join(', ')}], expected NCHW`);
        return { data: y.toFloat32Array(), shape: y.shape.slice() as NchwArray['shape'] };
      }),
    );
  } finally {
    generator.train(wasTraining);
  }
}

async function checkAgainstForward(file: string, generator: Module, g: GeneratorDescription): Promise<number> {
  const size = Math.max(g.imageSize, sizeConstraint(g.netG, g.imageSize).multiple);
  const shape: [number, number, number, number] = [1, g.inputChannels, size, size];
  const input = checkInput(g.inputChannels, size);
  const ours = inFp32(generator.backend, () => forwardEval(generator, input, shape).data);
  const session = await OnnxGeneratorSession.open(file);
  try {
    const theirs = (await session.run({ data: input, shape })).data;
    if (theirs.length !== ours.length) throw new Error(`cgtrain export: ${file} returned ${theirs.length} values, our forward ${ours.length}`);
    let diff = 0;
    for (let i = 0; i < ours.length; i++) diff = Math.max(diff, Math.abs(ours[i] - theirs[i]));
    if (!(diff <= EXPORT_CHECK_TOLERANCE)) {
      throw new Error(`cgtrain export: ${file} disagrees with our forward pass (max abs difference ${diff}); the file was kept for inspection`);
    }
    return diff;
  } finally {
    await session.close();
  }
}

/** Exports and checks each requested generator; see exportGenerators for the short form. */
export async function exportGeneratorFiles(model: GeneratorPair, options: TrainOptions, dir: string, directions: Direction[] = ['AtoB', 'BtoA']): Promise<ExportedGenerator[]> {
  const out: ExportedGenerator[] = [];
  for (const direction of directions) out.push(await exportGeneratorFile(model, options, direction, path.join(dir, GENERATOR_FILES[direction])));
  return out;
}

/** Writes one direction's generator to `file` (its folder is created), checked against our forward pass. */
export async function exportGeneratorFile(model: GeneratorPair, options: TrainOptions, direction: Direction, file: string): Promise<ExportedGenerator> {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const generator = direction === 'AtoB' ? model.netG_A : model.netG_B;
  const g = describeGenerator(options, direction);
  const bytes = encodeModel(generatorToOnnx(generator, g));
  writeFileAtomicSync(file, bytes);
  return { direction, file, bytes: bytes.length, maxAbsDiff: await checkAgainstForward(file, generator, g) };
}

/** Writes G_A.onnx and G_B.onnx (or the given directions) into `dir`; returns the file paths. */
export async function exportGenerators(model: GeneratorPair, options: TrainOptions, dir: string, directions?: Direction[]): Promise<string[]> {
  return (await exportGeneratorFiles(model, options, dir, directions)).map((e) => e.file);
}

function isGeneratorPair(model: unknown): model is GeneratorPair {
  const m = model as Partial<GeneratorPair> | null;
  return typeof m === 'object' && m !== null && typeof m.netG_A?.forward === 'function' && typeof m.netG_B?.forward === 'function';
}

/**
 * The trainer's export hook (TrainerHooks.export): when training completes, writes G_A.onnx and
 * G_B.onnx into the run directory, unless the run says --export false.
 */
export async function exportHook(ctx: { model: unknown; options: TrainOptions; runDir: string }): Promise<string[]> {
  if (!ctx.options.export) return [];
  if (!isGeneratorPair(ctx.model)) throw new Error('cgtrain export: the trained model has no netG_A/netG_B generators to export');
  return exportGenerators(ctx.model, ctx.options, ctx.runDir);
}
