import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { defaultDataDir, loadDomain, openUnalignedLoader, resolveDataOptions } from '../../src/data';
import { matBytes, svhnVariables, tempDir, writeMnistFolder } from './fixtures';

test('mnist2svhn prefers files in dataDir over the offline sources, and says so', async () => {
  const dataDir = tempDir('sources');
  writeMnistFolder(path.join(dataDir, 'mnist'), 20, { gzip: true });
  fs.mkdirSync(path.join(dataDir, 'svhn'));
  fs.writeFileSync(path.join(dataDir, 'svhn', 'train_32x32.mat'), matBytes(svhnVariables(12), { compress: true }));
  const loader = await openUnalignedLoader(resolveDataOptions({ dataset: 'mnist2svhn', dataDir, batchSize: 8 }));
  assert.equal(loader.describe(), 'A: MNIST (train-images-idx3-ubyte.gz, 20 digits) | B: SVHN (train_32x32.mat, 12 images)');
  assert.equal(loader.epochSize, 20);
  await loader.close();
});

test('--mnist and --svhn name files explicitly; a missing one is an error, not a silent fallback', async () => {
  const dir = tempDir('sources');
  writeMnistFolder(dir, 7);
  const svhnFile = path.join(dir, 'custom.mat');
  fs.writeFileSync(svhnFile, matBytes(svhnVariables(4)));
  const opts = resolveDataOptions({ dataset: 'mnist2svhn', dataDir: tempDir('empty'), mnist: path.join(dir, 't10k-images-idx3-ubyte'), svhn: svhnFile, inputNc: 1 });
  const a = await loadDomain(opts, 'A', 'test');
  assert.equal(a.n, 7);
  assert.deepEqual(a.shape, [1, 32, 32]);
  assert.equal(a.images.length, 7 * 1024);
  assert.deepEqual(Array.from(a.labels!), [0, 1, 2, 3, 4, 5, 6]);
  const b = await loadDomain(opts, 'B', 'test', 3);
  assert.equal(b.n, 3, 'max limits the count');
  assert.deepEqual(Array.from(b.labels!), [1, 2, 3]);
  await assert.rejects(loadDomain({ ...opts, svhn: path.join(dir, 'nope.mat') }, 'B', 'train'), /nope\.mat: SVHN path does not exist/);
  await assert.rejects(loadDomain(opts, 'B', 'test', 0), /loadDomain: max must be a positive integer, got 0/);
});

test('loadDomain of the offline mnist2svhn test sets gives labelled [-1, 1] arrays', async () => {
  const opts = resolveDataOptions({ dataset: 'mnist2svhn', dataDir: tempDir('eval'), synthCount: 100 });
  const a = await loadDomain(opts, 'A', 'test', 50);
  assert.equal(a.n, 50);
  assert.deepEqual(a.shape, [3, 32, 32]);
  assert.ok(a.images.every((v) => v >= -1 && v <= 1));
  const b = await loadDomain(opts, 'B', 'test');
  assert.equal(b.n, 100);
  assert.match(b.name, /synthetic house numbers \(100 test/);
  assert.equal(b.labels!.length, 100);
});

test('the default data directory is documented and overridable', () => {
  assert.equal(defaultDataDir({ CGTRAIN_DATA_DIR: '/data/cg' }), '/data/cg');
  assert.equal(defaultDataDir({ XDG_CACHE_HOME: '/xdg' }), path.join('/xdg', 'cgtrain'));
  assert.match(defaultDataDir({ HOME: '/home/u' }), /\.cache[\\/]cgtrain$/);
});
