import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'path';
import sharp from 'sharp';
import yargs from 'yargs';
import { dataCommand } from '../../src/cli/commands/data';
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
  await assert.rejects(run(['data', 'info', '--dataset', 'folder', '--dataroot', path.join(dir, 'none')]), /trainA: image folder does not exist/);
});
