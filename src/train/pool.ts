/**
 * ImagePool of the reference (util/image_pool.py): a history of generated images so the
 * discriminator also sees older fakes. Per image: while the pool is filling, store it and return
 * it; then with probability 0.5 return a random stored image and put the new one in its place,
 * else return the new image. Images stay on the device in one preallocated buffer; the choices
 * come from the seeded Rng, and the contents are exported for checkpoints.
 *
 * A query moves the batch with three block copies, not one copy an image (a launch each on a GPU:
 * 128-image batches made a third of a CUDA step's device operations). The reference's sequence
 * is resolved on the host first: a slot already overwritten in this query hands out the image
 * now in it, the pool's old images are read before any is overwritten, and a slot overwritten
 * twice takes the last.
 */
import type { Backend } from '../backend/device';
import { Tensor, shapeString } from '../tensor';
import type { Rng } from '../util/rng';

export class ImagePool {
  private storage: Tensor | null = null;
  private imageShape: number[] = [];
  private imageSize = 0;
  /** images stored so far (at most poolSize) */
  count = 0;

  constructor(readonly poolSize: number, readonly backend: Backend, private readonly rng: Rng) {
    if (!Number.isInteger(poolSize) || poolSize < 0) throw new Error(`ImagePool: poolSize must be a non-negative integer, got ${poolSize}`);
  }

  private ensureStorage(shape: readonly number[]): void {
    const image = shape.slice(1);
    const size = image.reduce((p, d) => p * d, 1);
    if (this.storage) {
      if (size !== this.imageSize || image.some((d, i) => d !== this.imageShape[i])) {
        throw new Error(`ImagePool: images of shape ${shapeString(image)} do not match the pool's ${shapeString(this.imageShape)}`);
      }
      return;
    }
    this.imageShape = image;
    this.imageSize = size;
    this.storage = Tensor.empty([this.poolSize, ...image], this.backend).keep();
  }

  /**
   * Returns a new tensor [N, ...] (not part of any graph) mixing `images` with stored ones.
   * With poolSize 0 it returns a detached alias of the input.
   */
  query(images: Tensor): Tensor {
    if (this.poolSize === 0) return images.detach();
    this.ensureStorage(images.shape);
    const n = images.shape[0];
    const fromImages: number[] = []; // [output image, input image] pairs
    const fromPool: number[] = []; // [output image, slot holding its old image] pairs
    const written = new Map<number, number>(); // slot -> the input image now in it
    for (let i = 0; i < n; i++) {
      if (this.count < this.poolSize) {
        written.set(this.count++, i);
        fromImages.push(i, i);
      } else if (this.rng.uniform(0, 1) > 0.5) {
        const id = this.rng.int(this.poolSize);
        const held = written.get(id);
        if (held === undefined) fromPool.push(i, id);
        else fromImages.push(i, held);
        written.set(id, i);
      } else {
        fromImages.push(i, i);
      }
    }
    const out = Tensor.empty(images.shape, images.backend);
    const b = images.binding;
    const store = this.storage!;
    const size = this.imageSize;
    if (fromImages.length > 0) b.copyBlocks(out.buf, images.buf, size, Int32Array.from(fromImages));
    if (fromPool.length > 0) b.copyBlocks(out.buf, store.buf, size, Int32Array.from(fromPool));
    if (written.size > 0) b.copyBlocks(store.buf, images.buf, size, Int32Array.from([...written].flat()));
    return out;
  }

  /** The stored images [count, ...] for a checkpoint (null while empty). */
  stateTensor(): { shape: number[]; data: Float32Array } | null {
    if (!this.storage || this.count === 0) return null;
    const data = new Float32Array(this.count * this.imageSize);
    this.storage.binding.download(this.storage.buf, data);
    return { shape: [this.count, ...this.imageShape], data };
  }

  loadState(state: { shape: readonly number[]; data: Float32Array } | null): void {
    if (state === null) {
      this.count = 0;
      return;
    }
    const count = state.shape[0];
    if (count > this.poolSize) throw new Error(`ImagePool.loadState: ${count} images exceed the pool size ${this.poolSize}`);
    this.ensureStorage(state.shape);
    if (state.data.length !== count * this.imageSize) {
      throw new Error(`ImagePool.loadState: ${state.data.length} values do not fill shape ${shapeString(state.shape)}`);
    }
    if (count > 0) this.storage!.binding.upload(this.storage!.buf, state.data);
    this.count = count;
  }

  dispose(): void {
    this.storage?.dispose();
    this.storage = null;
    this.count = 0;
  }
}
