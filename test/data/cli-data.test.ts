import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import yargs from 'yargs';
import { dataCommand, evaluationInventory } from '../../src/cli/commands/data';
import { writeCheckpoint } from '../../src/train/checkpoint';
import { tempDir } from './fixtures';

async function run(argv: string[]): Promise<void> {
  await yargs(argv)
    .strict()
    .command(dataCommand)
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    })
    .exitProcess(false)
    .parseAsync();
}

test('cgtrain data preview synth-svhn writes a PNG grid of the asked size', async () => {
  const out = path.join(tempDir('cli'), 'grid.png');
  await run(['data', 'preview', 'synth-svhn', '--out', out, '--count', '10', '--columns', '5', '--scale', '1']);
  const meta = await sharp(out).metadata();
  assert.equal(meta.width, 5 * 32 + 6 * 2);
  assert.equal(meta.height, 2 * 32 + 3 * 2);
});

test('cgtrain data preview mnist and data info work offline; bad arguments are refused', async () => {
  const dir = tempDir('cli');
  const out = path.join(dir, 'mnist.png');
  await run(['data', 'preview', 'mnist', '--out', out, '--count', '4', '--data-dir', dir]);
  assert.equal((await sharp(out).metadata()).width, (4 * 32 + 5 * 2) * 3, 'default --scale 3');
  await assert.rejects(run(['data', 'preview', 'synth-svhn', '--count', '0']), /--count must be a positive integer, got 0/);
  await assert.rejects(run(['data', 'download', 'cifar']), /Invalid values/);
  await assert.rejects(run(['data', 'info', '--dataset', 'folder', '--dataroot', path.join(dir, 'none')]), /none: --dataroot does not exist/);
});

test('cgtrain data preview folder shows a training batch of A and of B, preprocessed as training would', async () => {
  const root = tempDir('cli-preview-folder');
  const colours = { trainA: { r: 250, g: 0, b: 0 }, trainB: { r: 0, g: 0, b: 250 } };
  for (const [d, background] of Object.entries(colours)) {
    fs.mkdirSync(path.join(root, d));
    for (let i = 0; i < 3; i++) await sharp({ create: { width: 40, height: 30, channels: 3, background } }).png().toFile(path.join(root, d, `${i}.png`));
  }
  const out = path.join(root, 'preview.png');
  await run(['data', 'preview', 'folder', '--dataroot', root, '--out', out, '--count', '2', '--load-size', '20', '--crop-size', '16']);
  const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([info.width, info.height], [2 * 16 + 3 * 2, 2 * 16 + 3 * 2], 'a row of 2 A crops over a row of 2 B crops, 16x16 each, --scale 1');
  const pixel = (x: number, y: number) => Array.from(data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3));
  assert.deepEqual(pixel(2 + 8, 2 + 8), [250, 0, 0], 'first row: domain A');
  assert.deepEqual(pixel(2 + 8, 2 + 16 + 2 + 8), [0, 0, 250], 'second row: domain B');
  await assert.rejects(run(['data', 'preview', 'folder', '--out', out]), /--dataroot DIR is required/);
});

test('cgtrain data info describes a folder dataset once: the description and sizes on stdout', async () => {
  const root = tempDir('cli-info');
  for (const d of ['trainA', 'trainB']) {
    fs.mkdirSync(path.join(root, d));
    for (let i = 0; i < 2; i++) {
      await sharp({ create: { width: 20 + i, height: 18, channels: 3, background: { r: 40 * i, g: 90, b: 200 } } }).png().toFile(path.join(root, d, `${i}.png`));
    }
  }
  const cli = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
  const r = spawnSync(process.execPath, [cli, 'data', 'info', '--dataset', 'folder', '--dataroot', root], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const description = `A: images A (2 images in ${path.join(root, 'trainA')})`;
  assert.equal((r.stdout + r.stderr).split(description).length - 1, 1, `${r.stdout}\n---\n${r.stderr}`);
  assert.match(r.stdout, /^A: 2 images of 3x256x256; B: 2 images of 3x256x256$/m);
});

test('data info lists what the data dir holds for evaluation: classifiers, the FID Inception, image datasets', () => {
  const dataDir = tempDir('inventory');
  const empty = evaluationInventory(dataDir);
  assert.deepEqual(empty, [
    `in ${dataDir}:`,
    '  digit classifiers: none yet (the first mnist2svhn evaluation trains them, about 1.5 CPU minutes)',
    "  FID Inception:     not made ('cgtrain data download inception' makes it)",
    '  image datasets:    none (cgtrain data download horse2zebra, ...)',
  ]);
  writeCheckpoint(path.join(dataDir, 'classifiers', 'mnist.safetensors'), [{ name: 'w', shape: [1], data: new Float32Array(1) }], { testAccuracy: '0.9843' });
  fs.writeFileSync(path.join(dataDir, 'classifiers', 'svhn.safetensors'), 'broken');
  fs.mkdirSync(path.join(dataDir, 'inception'));
  fs.writeFileSync(path.join(dataDir, 'inception', 'pt_inception-2015-12-05.onnx'), 'x');
  for (const d of ['horse2zebra/trainA', 'horse2zebra/trainB', 'mnist', 'half/trainA']) fs.mkdirSync(path.join(dataDir, d), { recursive: true });
  const lines = evaluationInventory(dataDir);
  assert.match(lines[1], /^ {2}digit classifiers: mnist \(98\.43%\), svhn \(unreadable: .*\)$/);
  assert.equal(lines[2], `  FID Inception:     ${path.join(dataDir, 'inception', 'pt_inception-2015-12-05.onnx')} (--inception fid)`);
  assert.equal(lines[3], '  image datasets:    horse2zebra');
});
