/**
 * The unaligned loader (the reference's unaligned_dataset): batch i of an epoch pairs images of A
 * and B that have nothing to do with each other. Each domain walks its own permutation, drawn
 * from (seed, epoch, domain); when one domain is smaller it starts a fresh permutation, so every
 * image of both domains is seen each epoch (epochSize = max(sizeA, sizeB)). With serialBatches,
 * both domains go in file order (A[i % sizeA], B[i % sizeB]).
 *
 * Batches are prepared ahead: up to `prefetch` batches are being read at once, each image an
 * independent promise (folder decodes run on libuv's thread pool through sharp), so the trainer
 * finds the next batch ready.
 */
import type { Domain } from './domain';
import { permutation, Rng, STREAM } from './rng';
import type { Batch, DataOptions, Shape3, UnalignedLoader } from './types';

/** Index of the `position`-th image of an epoch in one domain. */
export class EpochOrder {
  private readonly rounds = new Map<number, Uint32Array>();
  constructor(private readonly size: number, private readonly serial: boolean, private readonly seed: number, private readonly epoch: number, private readonly stream: number) {}

  at(position: number): number {
    if (this.serial) return position % this.size;
    const round = Math.floor(position / this.size);
    let order = this.rounds.get(round);
    if (!order) {
      order = permutation(this.size, Rng.derive(this.seed, this.stream, this.epoch, round));
      this.rounds.set(round, order);
      // Only the current round is needed: positions only move forwards.
      this.rounds.delete(round - 1);
    }
    return order[position % this.size];
  }
}

/**
 * A Float32Array whose memory is not zeroed (Buffer.allocUnsafeSlow: malloc, not calloc). A
 * 16 x 3 x 256 x 256 batch is 12.6 MB per domain; zeroing it only for every value to be
 * overwritten costs about 0.05 ms per 256x256 image, and recycled heap memory is also spared
 * the page faults of fresh zero pages. Not from Buffer's shared pool, so the array owns its
 * whole ArrayBuffer, as `new Float32Array(n)` does.
 */
export function uninitializedFloat32(length: number): Float32Array {
  return new Float32Array(Buffer.allocUnsafeSlow(4 * length).buffer, 0, length);
}

export class Loader implements UnalignedLoader {
  readonly sizeA: number;
  readonly sizeB: number;
  readonly epochSize: number;
  readonly shapeA: Shape3;
  readonly shapeB: Shape3;
  readonly batchesPerEpoch: number;
  private closed = false;
  /** Arrays of recycled batches, for readBatch to fill again (at most a few per domain). */
  private readonly spare: Float32Array[] = [];

  constructor(private readonly a: Domain, private readonly b: Domain, private readonly opts: Pick<DataOptions, 'batchSize' | 'seed' | 'serialBatches' | 'prefetch'>) {
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 1) throw new Error(`loader: batchSize must be a positive integer, got ${opts.batchSize}`);
    this.sizeA = a.size;
    this.sizeB = b.size;
    this.epochSize = Math.max(a.size, b.size);
    this.shapeA = a.shape;
    this.shapeB = b.shape;
    this.batchesPerEpoch = Math.ceil(this.epochSize / opts.batchSize);
  }

  describe(): string {
    return `A: ${this.a.name} | B: ${this.b.name}`;
  }

  epoch(epoch: number, startBatch = 0): AsyncIterable<Batch> {
    if (!Number.isInteger(epoch) || epoch < 0) throw new Error(`loader: epoch must be a non-negative integer, got ${epoch}`);
    if (!Number.isInteger(startBatch) || startBatch < 0 || startBatch > this.batchesPerEpoch) {
      throw new Error(`loader: startBatch must be an integer in 0..${this.batchesPerEpoch}, got ${startBatch}`);
    }
    const { seed, serialBatches } = this.opts;
    const orderA = new EpochOrder(this.sizeA, serialBatches, seed, epoch, STREAM.orderA);
    const orderB = new EpochOrder(this.sizeB, serialBatches, seed, epoch, STREAM.orderB);
    const prefetch = Math.max(1, this.opts.prefetch ?? 4);
    const self = this;
    return {
      async *[Symbol.asyncIterator]() {
        const pending: Array<Promise<Batch>> = [];
        let next = startBatch;
        const fill = () => {
          while (pending.length < prefetch && next < self.batchesPerEpoch && !self.closed) {
            const promise = self.readBatch(next++, epoch, orderA, orderB);
            // Keep a rejected prefetch from being reported as unhandled before it is awaited.
            promise.catch(() => {});
            pending.push(promise);
          }
        };
        fill();
        while (pending.length > 0) {
          const batch = await pending.shift()!;
          fill();
          if (self.closed) return;
          yield batch;
        }
      },
    };
  }

  /** Batch `index`: positions index*batchSize ... in each domain's epoch order. */
  private async readBatch(index: number, epoch: number, orderA: EpochOrder, orderB: EpochOrder): Promise<Batch> {
    const first = index * this.opts.batchSize;
    const n = Math.min(this.opts.batchSize, this.epochSize - first);
    const lenA = this.shapeA[0] * this.shapeA[1] * this.shapeA[2];
    const lenB = this.shapeB[0] * this.shapeB[1] * this.shapeB[2];
    // Every read writes its whole image, so the batch memory need not be zeroed first.
    const batch: Batch = { a: this.takeArray(n * lenA), b: this.takeArray(n * lenB), n, index };
    if (this.a.labels) batch.labelsA = new Int32Array(n);
    if (this.b.labels) batch.labelsB = new Int32Array(n);
    const reads: Array<void | Promise<void>> = [];
    for (let k = 0; k < n; k++) {
      const position = first + k;
      const ia = orderA.at(position), ib = orderB.at(position);
      if (batch.labelsA) batch.labelsA[k] = this.a.labels![ia];
      if (batch.labelsB) batch.labelsB[k] = this.b.labels![ib];
      // Augmentation randomness hangs on (seed, epoch, position), not on decode order.
      reads.push(this.a.read(ia, batch.a, k * lenA, Rng.derive(this.opts.seed, STREAM.augmentA, epoch, position)));
      reads.push(this.b.read(ib, batch.b, k * lenB, Rng.derive(this.opts.seed, STREAM.augmentB, epoch, position)));
    }
    await Promise.all(reads);
    return batch;
  }

  recycle(batch: Batch): void {
    // Enough for every prefetched batch of both domains; more would only hold memory.
    const keep = 2 * (Math.max(1, this.opts.prefetch ?? 4) + 1);
    for (const array of [batch.a, batch.b]) {
      if (this.spare.length < keep && !this.spare.includes(array)) this.spare.push(array);
    }
  }

  private takeArray(length: number): Float32Array {
    const i = this.spare.findIndex((array) => array.length === length);
    return i >= 0 ? this.spare.splice(i, 1)[0] : uninitializedFloat32(length);
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([this.a.close?.(), this.b.close?.()]);
  }
}
