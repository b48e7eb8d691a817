/**
 * The data contract the trainer and evaluation code against. Shapes are [c, h, w]; every image
 * that leaves src/data is NCHW float32 in [-1, 1].
 */

export type Preprocess = 'resize_and_crop' | 'crop' | 'scale_width' | 'scale_width_and_crop' | 'none';
export const PREPROCESS_MODES: readonly Preprocess[] = ['resize_and_crop', 'crop', 'scale_width', 'scale_width_and_crop', 'none'];

export interface DataOptions {
  dataset: 'mnist2svhn' | 'folder';
  dataroot?: string;
  dataDir: string;
  mnist?: string;
  svhn?: string;
  phase: 'train' | 'test';
  preprocess: Preprocess;
  loadSize: number;
  cropSize: number;
  noFlip: boolean;
  maxDatasetSize: number;
  inputNc: number;
  outputNc: number;
  serialBatches: boolean;
  seed: number;
  batchSize: number;
  synthCount: number;
  imageSize: number;
  /** Batches prepared ahead of the consumer (default 4). */
  prefetch?: number;
}

export interface Batch {
  a: Float32Array;
  b: Float32Array;
  n: number;
  labelsA?: Int32Array;
  labelsB?: Int32Array;
  index: number;
}

export interface UnalignedLoader {
  describe(): string;
  sizeA: number;
  sizeB: number;
  epochSize: number;
  shapeA: [number, number, number];
  shapeB: [number, number, number];
  batchesPerEpoch: number;
  epoch(epoch: number, startBatch?: number): AsyncIterable<Batch>;
  /**
   * Hands back a batch whose arrays the caller no longer reads (e.g. once uploaded), so a later
   * batch reuses them instead of allocating 2 x 12.6 MB (256x256, batch 16) for the GC to collect.
   */
  recycle(batch: Batch): void;
  close(): Promise<void>;
}

export interface LoadedDomain {
  images: Float32Array;
  labels?: Int32Array;
  n: number;
  shape: [number, number, number];
  name: string;
}

export type Shape3 = [number, number, number];
