/** The ONNX engine of loadTranslator: an exported generator run by onnxruntime-node. */
import { parseTranslationSpec, type TranslationSpec } from '../export/metadata';
import { OnnxGeneratorSession, type NchwArray, type OnnxModelFile } from '../export/runtime';
import type { GeneratorEngine } from './translator';

/**
 * The spec from cgtrain's metadata; for an ONNX file from elsewhere, from the fixed input
 * dimensions, so any [N, C, H, W] image-to-image model with [-1, 1] pixels can be used.
 */
function specOf(info: OnnxModelFile): TranslationSpec {
  if (info.metadata.input_channels !== undefined) return parseTranslationSpec(info.metadata, info.file);
  const [, c, h, w] = info.inputDims;
  if (typeof c !== 'number' || c <= 0 || info.inputDims.length !== 4) {
    throw new Error(`cgtrain: ${info.file} has no cgtrain metadata and its input [${info.inputDims.join(', ')}] is not NCHW with a fixed channel count`);
  }
  const fixed = typeof h === 'number' && h > 0 && h === w;
  return { direction: 'unknown', inputChannels: c, outputChannels: c, imageSize: fixed ? h : 256, sizeFixed: fixed, sizeMultiple: 1 };
}

class OnnxEngine implements GeneratorEngine {
  readonly name = 'onnxruntime-node (cpu)';
  constructor(
    private readonly session: OnnxGeneratorSession,
    readonly spec: TranslationSpec,
  ) {}

  get source(): string {
    return this.session.info.file;
  }

  run(x: NchwArray): Promise<NchwArray> {
    return this.session.run(x);
  }

  close(): Promise<void> {
    return this.session.close();
  }
}

export async function openOnnxEngine(file: string): Promise<GeneratorEngine> {
  const session = await OnnxGeneratorSession.open(file);
  return new OnnxEngine(session, specOf(session.info));
}
