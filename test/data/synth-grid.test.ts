import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { batchToRows, writeGridPng } from '../../src/data/grid';
import { decodeSynthCache, loadSynthDomain, renderSynthHouseNumbers, synthCachePath, synthSeed } from '../../src/data/synth';
import { tempDir } from './fixtures';

test('synthetic house numbers are deterministic per (seed, index) and labelled 0..9', () => {
  const a = renderSynthHouseNumbers(11, 40);
  const b = renderSynthHouseNumbers(11, 40);
  assert.deepEqual(a.pixels, b.pixels);
  assert.deepEqual(a.labels, b.labels);
  const tail = renderSynthHouseNumbers(11, 10, 30);
  assert.deepEqual(tail.pixels, a.pixels.subarray(30 * 3072), 'image i does not depend on where a range starts');
  const other = renderSynthHouseNumbers(12, 40);
  assert.notDeepEqual(other.pixels, a.pixels);
  assert.ok(a.labels.every((l) => l >= 0 && l <= 9));
  assert.ok(new Set(a.labels).size >= 8, 'labels vary');
});

test('synthetic images look like photographs of digits: varied colour, visible contrast, not flat', () => {
  const set = renderSynthHouseNumbers(3, 60);
  const means: number[] = [];
  let flat = 0;
  for (let n = 0; n < 60; n++) {
    const image = set.pixels.subarray(n * 3072, (n + 1) * 3072);
    let min = 255, max = 0, sum = 0;
    for (const v of image) {
      min = Math.min(min, v);
      max = Math.max(max, v);
      sum += v;
    }
    if (max - min < 40) flat++;
    means.push(sum / 3072);
  }
  assert.ok(flat <= 3, `${flat} of 60 images have almost no contrast`);
  const spread = Math.max(...means) - Math.min(...means);
  assert.ok(spread > 80, `mean brightness varies across images (spread ${spread.toFixed(0)})`);
});

test('loadSynthDomain caches to dataDir, reuses the cache, and re-renders a damaged one', async () => {
  const dir = tempDir('synth');
  const first = await loadSynthDomain(dir, 4, 50, 'train', 3);
  assert.match(first.name, /rendered in .* cached in/);
  const file = synthCachePath(dir, synthSeed(4, 'train'), 50, 'train');
  assert.ok(fs.existsSync(file));
  assert.deepEqual(fs.readdirSync(path.dirname(file)).filter((f) => f.endsWith('.tmp')), [], 'no temp files left');
  const second = await loadSynthDomain(dir, 4, 50, 'train', 3);
  assert.match(second.name, /\(50 train, cached\)/);
  assert.deepEqual(second.pixels, first.pixels);
  fs.truncateSync(file, 1000);
  const logs: string[] = [];
  const third = await loadSynthDomain(dir, 4, 50, 'train', 1, (l) => logs.push(l));
  assert.ok(logs.some((l) => /ignoring the cache .*expected \d+ \(truncated\?\)/.test(l)), logs.join('\n'));
  assert.deepEqual(third.shape, [1, 32, 32]);
  const test = await loadSynthDomain(dir, 4, 20, 'test', 3);
  assert.notDeepEqual(test.pixels.subarray(0, 3072), first.pixels.subarray(0, 3072), 'test set is drawn separately');
  assert.throws(() => decodeSynthCache(new Uint8Array(30), 1, 1, 'c.bin'), /c\.bin: not a synthetic house-number cache/);
});

test('writeGridPng lays out rows of [-1, 1] CHW images with padding, atomically', async () => {
  const dir = tempDir('grid');
  const file = path.join(dir, 'sub', 'grid.png');
  const red = new Float32Array(3 * 4 * 4);
  red.fill(1, 0, 16);
  red.fill(-1, 16);
  const gray = new Float32Array(3 * 4 * 4).fill(0);
  const images = new Float32Array(3 * 48);
  images.set(red, 0);
  images.set(gray, 48);
  images.set(red, 96);
  const rows = batchToRows(images, 3, { c: 3, h: 4, w: 4 }, 2);
  assert.equal(rows.length, 2);
  await writeGridPng(file, rows, { c: 3, h: 4, w: 4 }, { pad: 1 });
  const { data, info } = await sharp(file).raw().toBuffer({ resolveWithObject: true });
  assert.equal(info.width, 2 * 4 + 3);
  assert.equal(info.height, 2 * 4 + 3);
  const px = (x: number, y: number) => Array.from(data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3));
  assert.deepEqual(px(0, 0), [255, 255, 255], 'padding');
  assert.deepEqual(px(1, 1), [255, 0, 0], 'first tile is red');
  assert.deepEqual(px(6, 1), [128, 128, 128], 'second tile is mid gray (0 -> 128)');
  assert.deepEqual(px(1, 6), [255, 0, 0], 'second row');
  assert.deepEqual(px(6, 6), [255, 255, 255], 'missing tile stays background');
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['grid.png']);
  await assert.rejects(writeGridPng(file, [[new Float32Array(5)]], { c: 3, h: 4, w: 4 }), /row 0 image 0 holds 5 values, expected 3x4x4/);
});
