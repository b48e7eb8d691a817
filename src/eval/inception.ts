/**
 * Standard Inception FID/KID/IS with an Inception-v3 ONNX file (`--inception FILE`, or `fid` for
 * the one `cgtrain data download inception` converts: ./fid-weights.ts), run by onnxruntime-node. Images are prepared as pytorch-fid prepares them: bilinearly resized
 * to 299x299 (align_corners=False, as F.interpolate) and kept in [-1, 1] (pytorch-fid maps its
 * [0, 1] input to [-1, 1]; ours already is). Gray images are repeated into RGB.
 * The model contract: input NCHW float32 (3 x 299 x 299, or the fixed size the file declares);
 * output 0 = pool features ([N, 2048] or [N, 2048, 1, 1]), optional output 1 = class logits
 * (softmax is applied for IS). cgtrain ships no Inception weights; only that command downloads them.
 */
import * as fs from 'fs';
import * as path from 'path';
import type * as Ort from 'onnxruntime-node';
import { ort, readOnnxModel } from '../export/runtime';
import { missingInceptionMessage } from './inception-file';
import { toRgb } from './classifier';

export const INCEPTION_SIZE = 299;
/** The widest feature vector accepted (Inception-v3's pool3 has 2048). */
const MAX_FEATURES = 16384;

/**
 * Bilinear resize of NCHW images, align_corners=False and no antialiasing (torch's
 * F.interpolate(mode='bilinear'), which pytorch-fid uses): source coordinate (i + 0.5) * in/out - 0.5,
 * clamped at the edges.
 */
export function resizeBilinear(src: Float32Array, n: number, c: number, h: number, w: number, outH: number, outW: number): Float32Array {
  if (src.length !== n * c * h * w) throw new Error(`resizeBilinear: ${src.length} values are not ${n}x${c}x${h}x${w}`);
  const out = new Float32Array(n * c * outH * outW);
  const axis = (outSize: number, inSize: number) => {
    const lo = new Int32Array(outSize), hi = new Int32Array(outSize), frac = new Float64Array(outSize);
    const scale = inSize / outSize;
    for (let i = 0; i < outSize; i++) {
      const s = Math.max((i + 0.5) * scale - 0.5, 0);
      lo[i] = Math.min(Math.floor(s), inSize - 1);
      hi[i] = Math.min(lo[i] + 1, inSize - 1);
      frac[i] = s - lo[i];
    }
    return { lo, hi, frac };
  };
  const ys = axis(outH, h);
  const xs = axis(outW, w);
  for (let p = 0; p < n * c; p++) {
    const base = p * h * w;
    const obase = p * outH * outW;
    for (let y = 0; y < outH; y++) {
      const r0 = base + ys.lo[y] * w, r1 = base + ys.hi[y] * w, fy = ys.frac[y];
      for (let x = 0; x < outW; x++) {
        const x0 = xs.lo[x], x1 = xs.hi[x], fx = xs.frac[x];
        const top = src[r0 + x0] * (1 - fx) + src[r0 + x1] * fx;
        const bottom = src[r1 + x0] * (1 - fx) + src[r1 + x1] * fx;
        out[obase + y * outW + x] = top * (1 - fy) + bottom * fy;
      }
    }
  }
  return out;
}

export interface InceptionOutputs {
  n: number;
  features: Float32Array;
  featureDim: number;
  /** softmax of output 1, when the model has one */
  probs?: Float32Array;
  classes?: number;
}

function softmaxRows(logits: Float32Array, n: number, k: number): Float32Array {
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) max = Math.max(max, logits[i * k + c]);
    let sum = 0;
    for (let c = 0; c < k; c++) sum += Math.exp(logits[i * k + c] - max);
    for (let c = 0; c < k; c++) out[i * k + c] = Math.exp(logits[i * k + c] - max) / sum;
  }
  return out;
}

/** Why onnxruntime-node cannot have a CUDA provider here (its library is not installed), or undefined. */
function missingCudaProvider(): string | undefined {
  const root = path.dirname(require.resolve('onnxruntime-node/package.json'));
  const bin = path.join(root, 'bin');
  const dirs = fs.existsSync(bin) ? fs.readdirSync(bin).filter((d) => d.startsWith('napi-v')).map((d) => path.join(bin, d, process.platform, process.arch)) : [];
  if (dirs.some((d) => fs.existsSync(path.join(d, 'libonnxruntime_providers_cuda.so')))) return undefined;
  return `onnxruntime-node was installed without it: no libonnxruntime_providers_cuda.so in ${dirs[0] ?? bin}; its installer fetches it unless onnxruntime-node-install=skip`;
}

export class InceptionModel {
  private constructor(
    readonly file: string,
    private readonly session: Ort.InferenceSession,
    private readonly inputName: string,
    readonly size: [number, number],
    /** the onnxruntime execution provider it runs on */
    readonly provider: 'cuda' | 'cpu',
    /** with `gpu` asked: why the CUDA provider did not load (then it runs on the CPU) */
    readonly gpuProblem?: string,
  ) {}

  /**
   * Opens an Inception-v3 ONNX file. `gpu` (a run on CUDA) tries onnxruntime's CUDA provider
   * first, which onnxruntime-node's installer fetches where it can (with CUDA 12 and cuDNN on
   * the machine): Inception-v3 is ~5.7 GFLOP per image, minutes per 10,000 images on a CPU.
   */
  static async open(file: string, options: { gpu?: boolean } = {}): Promise<InceptionModel> {
    if (!fs.existsSync(file)) throw new Error(missingInceptionMessage(file));
    const info = readOnnxModel(file);
    const dims = info.inputDims;
    if (dims.length !== 4) throw new Error(`--inception ${file}: the input is rank ${dims.length}, expected NCHW images`);
    const side = (d: number | string) => (typeof d === 'number' && d > 0 ? d : INCEPTION_SIZE);
    const bytes = fs.readFileSync(file);
    let gpuProblem = options.gpu ? missingCudaProvider() : undefined;
    if (options.gpu && !gpuProblem) {
      try {
        // severity 4 (fatal only): a provider that does not load is reported below, once, not as onnxruntime's red log line
        const session = await ort().InferenceSession.create(bytes, { executionProviders: ['cuda', 'cpu'], logSeverityLevel: 4 });
        return new InceptionModel(file, session, info.inputName, [side(dims[2]), side(dims[3])], 'cuda');
      } catch (err) {
        gpuProblem = (err as Error).message.split('\n')[0];
      }
    }
    let session: Ort.InferenceSession;
    try {
      session = await ort().InferenceSession.create(bytes, { executionProviders: ['cpu'] });
    } catch (err) {
      throw new Error(`--inception ${file}: onnxruntime could not load it: ${(err as Error).message}`);
    }
    return new InceptionModel(file, session, info.inputName, [side(dims[2]), side(dims[3])], 'cpu', gpuProblem);
  }

  /** Runs n NCHW images in [-1, 1] (1 or 3 channels, any size) through the model in batches. */
  async run(images: Float32Array, n: number, c: number, h: number, w: number, options: { batchSize?: number; signal?: AbortSignal } = {}): Promise<InceptionOutputs> {
    const batchSize = options.batchSize ?? 16;
    const rgb = toRgb(images, n, c, h * w);
    const [outH, outW] = this.size;
    let features: Float32Array | undefined;
    let logits: Float32Array | undefined;
    let featureDim = 0;
    let classes = 0;
    for (let start = 0; start < n; start += batchSize) {
      options.signal?.throwIfAborted();
      const count = Math.min(batchSize, n - start);
      const resized = resizeBilinear(rgb.subarray(start * 3 * h * w, (start + count) * 3 * h * w), count, 3, h, w, outH, outW);
      const result = await this.runBatch(resized, count, outH, outW);
      const f = result[this.session.outputNames[0]];
      this.checkFeatures(f.dims, count);
      featureDim = f.data.length / count;
      features ??= new Float32Array(n * featureDim);
      features.set(f.data as Float32Array, start * featureDim);
      if (this.session.outputNames.length > 1) {
        const l = result[this.session.outputNames[1]];
        classes = l.data.length / count;
        logits ??= new Float32Array(n * classes);
        logits.set(l.data as Float32Array, start * classes);
      }
    }
    return { n, features: features ?? new Float32Array(0), featureDim, ...(logits ? { probs: softmaxRows(logits, n, classes), classes } : {}) };
  }

  /**
   * Output 0 must be pool features, [N, D] or [N, D, 1, 1]: another model (a cgtrain generator,
   * say, whose images would make a 268203-wide "feature") is named, not run into a covariance
   * matrix that cannot be allocated.
   */
  private checkFeatures(dims: readonly number[], count: number): void {
    const features = dims.length === 2 || (dims.length === 4 && dims[2] === 1 && dims[3] === 1);
    if (dims[0] === count && features && dims[1] >= 1 && dims[1] <= MAX_FEATURES) return;
    throw new Error(
      `--inception ${this.file}: output 0 (${this.session.outputNames[0]}) has shape [${dims.join(', ')}] for ${count} images; ` +
        `expected pool features [N, D] or [N, D, 1, 1] with D <= ${MAX_FEATURES} (2048 for Inception-v3). Is it an Inception-v3 feature model?`,
    );
  }

  private async runBatch(data: Float32Array, count: number, h: number, w: number): Promise<Ort.InferenceSession.ReturnType> {
    try {
      return await this.session.run({ [this.inputName]: new (ort().Tensor)('float32', data, [count, 3, h, w]) });
    } catch (err) {
      throw new Error(`--inception ${this.file}: running it on [${count}, 3, ${h}, ${w}] failed: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
