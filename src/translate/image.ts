/**
 * Images in and out of a generator, with sharp: decode PNG/JPEG (or anything sharp reads), convert
 * the channels to what the model takes, resize, and map pixels to [-1, 1] NCHW float32; and back
 * from a generator's NCHW output to a PNG. The pixel mapping is the one in the model metadata
 * (x/127.5 - 1 in, (y + 1) * 127.5 out).
 */
import sharp from 'sharp';
import type { Metadata, OutputInfo, Sharp } from 'sharp';
import { describeError } from '../data/errors';

export interface ImageSize {
  width: number;
  height: number;
}

export interface DecodedImage {
  /** [1, channels, height, width] in [-1, 1] */
  data: Float32Array;
  shape: [1, number, number, number];
  /** the size of the image as stored, before any resize */
  original: ImageSize;
}

const CHANNELS: Record<number, string> = { 1: 'gray', 2: 'gray+alpha', 3: 'RGB', 4: 'RGBA' };
const describe = (channels: number) => `${channels} channel${channels === 1 ? '' : 's'} (${CHANNELS[channels] ?? 'unknown'})`;

/**
 * Conversions that keep the picture's meaning are done (color <-> gray, dropping alpha); one the
 * model needs but the image lacks (alpha) is an error, as is a model with an unusual channel count.
 */
function convertChannels(image: Sharp, have: number, hasAlpha: boolean, want: number, label: string): Sharp {
  const wrong = () => new Error(`cgtrain: image ${label} has ${describe(have)}, but the model expects ${describe(want)}`);
  switch (want) {
    case 1:
      return image.removeAlpha().toColourspace('b-w');
    case 3:
      return image.removeAlpha().toColourspace('srgb');
    case 2:
      if (!hasAlpha) throw wrong();
      return image.toColourspace('b-w');
    case 4:
      if (!hasAlpha) throw wrong();
      return image.toColourspace('srgb');
    default:
      throw wrong();
  }
}

/** Decodes an image file or an encoded image Buffer into a model input. `size` null keeps the stored size. */
export async function decodeImage(input: string | Buffer, channels: number, size: ImageSize | null, label = typeof input === 'string' ? input : '<buffer>'): Promise<DecodedImage> {
  let meta: Metadata;
  try {
    meta = await sharp(input).metadata();
  } catch (err) {
    throw new Error(`cgtrain: cannot read image ${label}: ${describeError(err)}`);
  }
  if (!meta.width || !meta.height || !meta.channels) throw new Error(`cgtrain: cannot read image ${label}: no size or channel count in its header`);
  const original = { width: meta.width, height: meta.height };
  // autoOrient: a JPEG's EXIF rotation is part of what the user sees as the picture.
  let pipeline = convertChannels(sharp(input).autoOrient(), meta.channels, Boolean(meta.hasAlpha), channels, label);
  if (size && (size.width !== original.width || size.height !== original.height)) {
    // bicubic, as the reference CycleGAN's transforms.Resize
    pipeline = pipeline.resize(size.width, size.height, { fit: 'fill', kernel: 'cubic' });
  }
  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await pipeline.raw().toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new Error(`cgtrain: cannot decode image ${label}: ${describeError(err)}`);
  }
  const { width, height } = raw.info;
  if (raw.info.channels !== channels) {
    throw new Error(`cgtrain: image ${label} decoded to ${describe(raw.info.channels)}, expected ${describe(channels)}`);
  }
  return { data: hwcBytesToChw(raw.data, width, height, channels), shape: [1, channels, height, width], original };
}

export function hwcBytesToChw(bytes: Uint8Array, width: number, height: number, channels: number): Float32Array {
  const plane = width * height;
  const out = new Float32Array(plane * channels);
  for (let p = 0; p < plane; p++) for (let c = 0; c < channels; c++) out[c * plane + p] = bytes[p * channels + c] / 127.5 - 1;
  return out;
}

/** Image `index` of an NCHW batch in [-1, 1] as interleaved 8-bit pixels. */
export function chwToHwcBytes(data: Float32Array, shape: readonly number[], index = 0): Buffer {
  const [, channels, height, width] = shape;
  const plane = width * height;
  const base = index * channels * plane;
  const out = Buffer.alloc(plane * channels);
  for (let p = 0; p < plane; p++) {
    for (let c = 0; c < channels; c++) {
      const v = Math.round((data[base + c * plane + p] + 1) * 127.5);
      out[p * channels + c] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return out;
}

export type ImageFormat = 'png' | 'jpeg';

/** Image `index` of a generator output as PNG (default) or JPEG bytes, resized to `size` when given. */
export async function encodeImage(data: Float32Array, shape: readonly number[], index = 0, size: ImageSize | null = null, format: ImageFormat = 'png'): Promise<Buffer> {
  const [, channels, height, width] = shape;
  if (channels < 1 || channels > 4) throw new Error(`cgtrain: cannot write a ${channels}-channel image (1 to 4 channels)`);
  if (format === 'jpeg' && (channels === 2 || channels === 4)) throw new Error(`cgtrain: JPEG has no alpha channel; write the ${describe(channels)} output as PNG`);
  let image = sharp(chwToHwcBytes(data, shape, index), { raw: { width, height, channels: channels as 1 | 2 | 3 | 4 } });
  if (size && (size.width !== width || size.height !== height)) image = image.resize(size.width, size.height, { fit: 'fill', kernel: 'cubic' });
  return format === 'jpeg' ? image.jpeg({ quality: 95 }).toBuffer() : image.png().toBuffer();
}

export function encodePng(data: Float32Array, shape: readonly number[], index = 0, size: ImageSize | null = null): Promise<Buffer> {
  return encodeImage(data, shape, index, size, 'png');
}
