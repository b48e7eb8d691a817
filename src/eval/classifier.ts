/**
 * The digit classifier behind the digit metrics: a small CNN on 3x32x32 images in [-1, 1],
 *   conv3x3 32 - relu - maxpool2 - conv3x3 64 - relu - maxpool2 - conv3x3 128 - relu - maxpool2
 *   - flatten (2048) - linear 128 (the penultimate features) - relu - linear 10,
 * built from src/nn layers, so it runs on the CPU or CUDA backend like the CycleGAN.
 * Digit-FID/KID/PRDC use the 128 linear outputs (before the relu: no dead zeros in the
 * covariance), digit-IS and label accuracy use the softmax.
 */
import type { Backend } from '../backend/device';
import { Module, Conv2d, Linear } from '../nn';
import * as F from '../ops';
import { Tensor, noGrad, tidy } from '../tensor';
import { Rng } from '../util/rng';
import { turnEventLoop } from '../util/yield';
import { argmaxRows } from './accuracy';

export const FEATURE_DIM = 128;
export const NUM_CLASSES = 10;
export const CLASSIFIER_IMAGE_SHAPE: [number, number, number] = [3, 32, 32];

export class DigitClassifier extends Module {
  readonly conv1: Conv2d;
  readonly conv2: Conv2d;
  readonly conv3: Conv2d;
  readonly fc1: Linear;
  readonly fc2: Linear;

  constructor(backend: Backend, rng = new Rng(0)) {
    super(backend);
    this.conv1 = this.registerModule('conv1', new Conv2d(backend, 3, 32, 3, { padding: 1, rng }));
    this.conv2 = this.registerModule('conv2', new Conv2d(backend, 32, 64, 3, { padding: 1, rng }));
    this.conv3 = this.registerModule('conv3', new Conv2d(backend, 64, 128, 3, { padding: 1, rng }));
    this.fc1 = this.registerModule('fc1', new Linear(backend, 128 * 4 * 4, FEATURE_DIM, { rng }));
    this.fc2 = this.registerModule('fc2', new Linear(backend, FEATURE_DIM, NUM_CLASSES, { rng }));
  }

  /** conv - relu - maxpool, releasing each intermediate once the next op consumed it. */
  private block(conv: Conv2d, x: Tensor): Tensor {
    const c = conv.forward(x);
    const r = F.relu(c);
    c.release();
    const p = F.maxPool2d(r, 2);
    r.release();
    return p;
  }

  /** [N, 3, 32, 32] -> { features [N, 128], logits [N, 10] }. */
  forwardWithFeatures(x: Tensor): { features: Tensor; logits: Tensor } {
    const [, c, h, w] = x.shape;
    if (x.shape.length !== 4 || c !== 3 || h !== 32 || w !== 32) {
      throw new Error(`DigitClassifier: expected images [N, 3, 32, 32], got [${x.shape.join(', ')}]`);
    }
    const h1 = this.block(this.conv1, x);
    const h2 = this.block(this.conv2, h1);
    h1.release();
    const h3 = this.block(this.conv3, h2);
    h2.release();
    const features = this.fc1.forward(h3);
    h3.release();
    const hidden = F.relu(features);
    const logits = this.fc2.forward(hidden);
    hidden.release();
    return { features, logits };
  }

  forward(x: Tensor): Tensor {
    const { features, logits } = this.forwardWithFeatures(x);
    features.release();
    return logits;
  }
}

export interface Classification {
  n: number;
  /** [n, 128] penultimate features */
  features: Float32Array;
  /** [n, 10] softmax probabilities */
  probs: Float32Array;
  predicted: Int32Array;
}

/** Repeats a gray plane into RGB (runs with --input-nc/--output-nc 1) so the classifier can read it. */
export function toRgb(images: Float32Array, n: number, channels: number, plane: number): Float32Array {
  if (channels === 3) return images;
  if (channels !== 1) throw new Error(`digit classifier: images have ${channels} channels, expected 1 or 3`);
  const out = new Float32Array(n * 3 * plane);
  for (let i = 0; i < n; i++) {
    const src = images.subarray(i * plane, (i + 1) * plane);
    for (let c = 0; c < 3; c++) out.set(src, (i * 3 + c) * plane);
  }
  return out;
}

/**
 * Features, probabilities and predictions for n images (NCHW, 3x32x32), in eval batches; between
 * batches the event loop turns, and an aborted `signal` stops it.
 */
export async function classify(model: DigitClassifier, images: Float32Array, n: number, options: { batchSize?: number; signal?: AbortSignal } = {}): Promise<Classification> {
  const batchSize = options.batchSize ?? 256;
  const length = 3 * 32 * 32;
  if (images.length !== n * length) throw new Error(`classify: ${images.length} values are not ${n} images of 3x32x32`);
  const features = new Float32Array(n * FEATURE_DIM);
  const probs = new Float32Array(n * NUM_CLASSES);
  const wasTraining = model.training;
  model.eval();
  try {
    for (let start = 0; start < n; start += batchSize) {
      if (start > 0) await turnEventLoop(options.signal);
      const count = Math.min(batchSize, n - start);
      noGrad(() => tidy(() => {
        const x = Tensor.fromArray(images.subarray(start * length, (start + count) * length), [count, 3, 32, 32], model.backend);
        const out = model.forwardWithFeatures(x);
        features.set(out.features.toFloat32Array(), start * FEATURE_DIM);
        probs.set(F.softmax(out.logits).toFloat32Array(), start * NUM_CLASSES);
      }));
    }
  } finally {
    model.train(wasTraining);
  }
  return { n, features, probs, predicted: argmaxRows(probs, n, NUM_CLASSES) };
}
