/**
 * The checkpoint engine of loadTranslator: one generator rebuilt from a training checkpoint and
 * run by our own addon (CPU or CUDA) in eval mode, with the same spec an export would write.
 */
import { loadBackend } from '../backend/device';
import { describeGenerator, forwardEval } from '../export/export';
import { loadCheckpointGenerators } from '../export/from-checkpoint';
import { generatorMetadata, parseTranslationSpec, type TranslationSpec } from '../export/metadata';
import type { NchwArray } from '../export/runtime';
import type { Module } from '../nn/module';
import type { GeneratorEngine, LoadTranslatorOptions } from './translator';

class CheckpointEngine implements GeneratorEngine {
  constructor(
    readonly name: string,
    readonly source: string,
    readonly spec: TranslationSpec,
    private generator: Module | null,
  ) {}

  async run(x: NchwArray): Promise<NchwArray> {
    if (!this.generator) throw new Error(`cgtrain: the translator for ${this.source} was closed`);
    return forwardEval(this.generator, x.data, x.shape);
  }

  async close(): Promise<void> {
    this.generator?.dispose();
    this.generator = null;
  }
}

export async function openCheckpointEngine(file: string, options: LoadTranslatorOptions): Promise<GeneratorEngine> {
  const direction = options.direction ?? 'AtoB';
  const backend = loadBackend(options.device ?? 'auto', { threads: options.threads, quiet: true, precision: options.precision });
  const { options: trainOptions, generators } = loadCheckpointGenerators(file, backend, [direction]);
  const spec = parseTranslationSpec(generatorMetadata(describeGenerator(trainOptions, direction)), file);
  const where =
    backend.kind === 'cuda'
      ? `CUDA, ${backend.info.devices?.[0]?.name ?? 'GPU'}, ${backend.info.precision ?? 'fp32'}`
      : `CPU, ${backend.info.simd}, ${backend.info.threads} threads`;
  return new CheckpointEngine(`cgtrain addon (${where})`, file, spec, generators[direction]!);
}
