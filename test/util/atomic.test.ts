/** Atomic file writes: the target is whole or untouched, and no temp file survives a failure. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { copyFileAtomicSync, writeFileAtomic, writeFileAtomicSync } from '../../src/util/atomic';
import { tempDir } from '../train/tiny';

const temps = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

test('writes replace the target whole, creating its folder, and leave no temp file', async () => {
  const dir = tempDir('atomic');
  const file = path.join(dir, 'new', 'folder', 'a.bin');
  writeFileAtomicSync(file, Uint8Array.from([1, 2, 3]));
  assert.deepEqual([...fs.readFileSync(file)], [1, 2, 3]);
  writeFileAtomicSync(file, 'text');
  assert.equal(fs.readFileSync(file, 'utf8'), 'text');
  writeFileAtomicSync(file, (fd) => {
    fs.writeSync(fd, 'in ');
    fs.writeSync(fd, 'pieces');
  });
  assert.equal(fs.readFileSync(file, 'utf8'), 'in pieces');
  await writeFileAtomic(path.join(dir, 'other', 'b.txt'), 'async');
  assert.equal(fs.readFileSync(path.join(dir, 'other', 'b.txt'), 'utf8'), 'async');
  copyFileAtomicSync(file, path.join(dir, 'copy.bin'));
  assert.equal(fs.readFileSync(path.join(dir, 'copy.bin'), 'utf8'), 'in pieces');
  for (const d of [dir, path.dirname(file), path.join(dir, 'other')]) assert.deepEqual(temps(d), [], d);
});

test('a write that fails half-way (a full disk, say) keeps the old file and removes the temp file', async () => {
  const dir = tempDir('atomic-fail');
  const file = path.join(dir, 'checkpoint.bin');
  writeFileAtomicSync(file, 'old');
  assert.throws(() => writeFileAtomicSync(file, (fd) => {
    fs.writeSync(fd, 'half of the new');
    throw new Error('ENOSPC: no space left on device, write');
  }), /ENOSPC/);
  assert.equal(fs.readFileSync(file, 'utf8'), 'old');
  assert.deepEqual(temps(dir), []);
  // A target that cannot be replaced (a folder of that name): the rename fails, the temp goes.
  fs.mkdirSync(path.join(dir, 'taken'));
  fs.writeFileSync(path.join(dir, 'taken', 'x'), 'x');
  assert.throws(() => writeFileAtomicSync(path.join(dir, 'taken'), 'data'));
  await assert.rejects(writeFileAtomic(path.join(dir, 'taken'), 'data'));
  assert.throws(() => copyFileAtomicSync(file, path.join(dir, 'taken')));
  assert.throws(() => copyFileAtomicSync(path.join(dir, 'missing'), path.join(dir, 'c.bin')), /ENOENT/);
  assert.deepEqual(temps(dir), []);
  assert.ok(!fs.existsSync(path.join(dir, 'c.bin')));
});
