/**
 * loadTranslator: one object that turns images into translated PNGs, whether the generator comes
 * from an exported ONNX file (run by onnxruntime-node) or from a training checkpoint (run by our
 * own addon on the CPU or CUDA). Both engines see the same NCHW [-1, 1] tensors; the image side
 * (decode, channels, resize, encode) lives in ./image.
 */
import * as fs from 'fs';
import type { PrecisionName } from '../backend/device';
import type { Direction, TranslationSpec } from '../export/metadata';
import { decodeImage, encodeImage, type ImageFormat, type ImageSize } from './image';
import { openOnnxEngine } from './onnx-engine';
import { openCheckpointEngine } from './checkpoint-engine';
import type { NchwArray } from '../export/runtime';

export type { NchwArray } from '../export/runtime';
export type { TranslationSpec, Direction } from '../export/metadata';

/** What runs the generator: both take and return NCHW float32 in [-1, 1]. */
export interface GeneratorEngine {
  readonly name: string;
  readonly source: string;
  readonly spec: TranslationSpec;
  run(x: NchwArray): Promise<NchwArray>;
  close(): Promise<void>;
}

export interface LoadTranslatorOptions {
  /** for a checkpoint, which generator: AtoB (G_A, the default) or BtoA (G_B) */
  direction?: Direction;
  /** for a checkpoint, where our addon runs it (default auto); not allowed for ONNX models */
  device?: 'cpu' | 'cuda' | 'auto';
  /** for a checkpoint, the convolutions' operand precision (see --precision of train; default auto) */
  precision?: PrecisionName | 'auto';
  threads?: number;
}

export interface TranslateImageOptions {
  /**
   * Run at the image's own size (rounded to the sizes the model accepts) and return an image of
   * that size, instead of resizing to the training size. Ignored by fixed-size models.
   */
  keepSize?: boolean;
  /** the encoding of the result (default png) */
  format?: ImageFormat;
}

export interface Translator {
  readonly engine: string;
  readonly source: string;
  readonly spec: TranslationSpec;
  /** An image file path or encoded image bytes (PNG, JPEG, ...) -> the translated image as PNG (or JPEG) bytes. */
  translate(input: string | Buffer, options?: TranslateImageOptions): Promise<Buffer>;
  /** An NCHW float32 batch in [-1, 1] -> the generator's NCHW output in [-1, 1]. */
  translateTensor(data: Float32Array, shape: readonly number[]): Promise<NchwArray>;
  close(): Promise<void>;
}

/** safetensors: an 8-byte little-endian header length, then a JSON header starting with '{'. */
export function looksLikeSafetensors(file: string): boolean {
  const head = Buffer.alloc(9);
  const fd = fs.openSync(file, 'r');
  try {
    if (fs.readSync(fd, head, 0, 9, 0) < 9) return false;
  } finally {
    fs.closeSync(fd);
  }
  return head[8] === 0x7b && head.readBigUInt64LE(0) < BigInt(fs.statSync(file).size);
}

export async function loadTranslator(file: string, options: LoadTranslatorOptions = {}): Promise<Translator> {
  if (!fs.existsSync(file)) throw new Error(`cgtrain: model file ${file} does not exist`);
  if (!fs.statSync(file).isFile()) throw new Error(`cgtrain: model ${file} is not a file (expected an .onnx model or a .safetensors checkpoint)`);
  if (looksLikeSafetensors(file)) return new ImageTranslator(await openCheckpointEngine(file, options));
  if (options.device !== undefined || options.precision !== undefined) {
    const what = options.device !== undefined ? '--device selects our addon' : '--precision sets our addon\'s convolutions';
    throw new Error(`cgtrain: ${file} is an ONNX model, which onnxruntime runs on the CPU; ${what} and needs a checkpoint (.safetensors)`);
  }
  if (options.direction !== undefined) {
    const engine = await openOnnxEngine(file);
    if (engine.spec.direction !== 'unknown' && engine.spec.direction !== options.direction) {
      await engine.close();
      throw new Error(`cgtrain: ${file} translates ${engine.spec.direction}, but direction ${options.direction} was asked for`);
    }
    return new ImageTranslator(engine);
  }
  return new ImageTranslator(await openOnnxEngine(file));
}

function roundToMultiple(value: number, multiple: number): number {
  return Math.max(multiple, Math.round(value / multiple) * multiple);
}

class ImageTranslator implements Translator {
  constructor(private readonly generator: GeneratorEngine) {}

  get engine(): string {
    return this.generator.name;
  }

  get source(): string {
    return this.generator.source;
  }

  get spec(): TranslationSpec {
    return this.generator.spec;
  }

  async translate(input: string | Buffer, options: TranslateImageOptions = {}): Promise<Buffer> {
    const { imageSize, sizeFixed, sizeMultiple, inputChannels } = this.spec;
    const label = typeof input === 'string' ? input : '<image buffer>';
    if (typeof input === 'string' && !fs.existsSync(input)) throw new Error(`cgtrain: image ${input} does not exist`);
    let size: ImageSize | null = { width: imageSize, height: imageSize };
    let keep = false;
    if (options.keepSize && !sizeFixed) {
      size = null;
      keep = true;
    }
    let image = await decodeImage(input, inputChannels, size, label);
    if (keep) {
      const rounded = { width: roundToMultiple(image.original.width, sizeMultiple), height: roundToMultiple(image.original.height, sizeMultiple) };
      if (rounded.width !== image.original.width || rounded.height !== image.original.height) image = await decodeImage(input, inputChannels, rounded, label);
    }
    const out = await this.translateTensor(image.data, image.shape);
    return encodeImage(out.data, out.shape, 0, keep ? image.original : null, options.format ?? 'png');
  }

  async translateTensor(data: Float32Array, shape: readonly number[]): Promise<NchwArray> {
    this.checkInput(data, shape);
    return this.generator.run({ data, shape: [shape[0], shape[1], shape[2], shape[3]] });
  }

  private checkInput(data: Float32Array, shape: readonly number[]): void {
    const { inputChannels, imageSize, sizeFixed, sizeMultiple } = this.spec;
    const where = `cgtrain: ${this.source}: input tensor`;
    if (!(data instanceof Float32Array)) throw new Error(`${where} must be a Float32Array`);
    if (shape.length !== 4 || !shape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new Error(`${where} shape [${shape.join(', ')}] must be NCHW: four positive integers`);
    }
    const [n, c, h, w] = shape;
    if (c !== inputChannels) throw new Error(`${where} has ${c} channels, the model expects ${inputChannels}`);
    if (data.length !== n * c * h * w) throw new Error(`${where} holds ${data.length} values, shape [${shape.join(', ')}] needs ${n * c * h * w}`);
    if (sizeFixed && (h !== imageSize || w !== imageSize)) {
      throw new Error(`${where} is ${h}x${w}, the model takes exactly ${imageSize}x${imageSize}`);
    }
    if (!sizeFixed && sizeMultiple > 4 && (h % sizeMultiple !== 0 || w % sizeMultiple !== 0)) {
      throw new Error(`${where} is ${h}x${w}, the model needs height and width that are multiples of ${sizeMultiple}`);
    }
  }

  close(): Promise<void> {
    return this.generator.close();
  }
}
