import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { sampleRows, writeSampleGrid, type Visuals } from '../../src/train/samples';
import { tempDir } from './tiny';

function filled(count: number, channels: number, size: number, value: (i: number) => number): Float32Array {
  const out = new Float32Array(count * channels * size * size);
  for (let i = 0; i < count; i++) out.fill(value(i), i * channels * size * size, (i + 1) * channels * size * size);
  return out;
}

test('rows hold real A | fake B | rec A | real B | fake A | rec B, gray A repeated to colour', () => {
  const size = 2;
  const visuals: Visuals = {
    realA: filled(2, 1, size, (i) => 0.1 + i), recA: filled(2, 1, size, () => 0.2), fakeA: filled(2, 1, size, () => 0.3),
    realB: filled(2, 3, size, () => 0.4), fakeB: filled(2, 3, size, () => 0.5), recB: filled(2, 3, size, () => 0.6),
  };
  const { rows, channels } = sampleRows(visuals, { count: 2, inputNc: 1, outputNc: 3, size });
  assert.equal(channels, 3);
  assert.equal(rows.length, 2);
  const firstValues = rows.map((row) => row.map((image) => Number(image[0].toFixed(2))));
  assert.deepEqual(firstValues, [[0.1, 0.5, 0.2, 0.4, 0.3, 0.6], [1.1, 0.5, 0.2, 0.4, 0.3, 0.6]]);
  for (const image of rows[1]) assert.equal(image.length, 3 * size * size);
  assert.ok(rows[1][0].every((v) => Math.abs(v - 1.1) < 1e-6), 'the gray channel is repeated into all three');
  assert.throws(() => sampleRows({ ...visuals, fakeB: new Float32Array(3) }, { count: 2, inputNc: 1, outputNc: 3, size }), /visual fakeB holds 3 values, expected 2x3x2x2/);
});

test('writeSampleGrid writes a PNG of 6 columns and one row per sample', async () => {
  const dir = tempDir('samples');
  const size = 8;
  const v = () => filled(3, 3, size, (i) => i / 3 - 0.5);
  const file = await writeSampleGrid(dir, 'epoch001', { realA: v(), fakeB: v(), recA: v(), realB: v(), fakeA: v(), recB: v() }, { count: 3, inputNc: 3, outputNc: 3, size });
  assert.equal(file, path.join('samples', 'epoch001.png'));
  const meta = await sharp(fs.readFileSync(path.join(dir, file))).metadata();
  // 2x upscale of 6 tiles of 8 px and 3 rows, 2 px padding around tiles
  assert.equal(meta.width, 2 * (6 * size + 7 * 2));
  assert.equal(meta.height, 2 * (3 * size + 4 * 2));
});
