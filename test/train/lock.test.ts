import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { acquireRunLock, LOCK_FILE, RunLockedError } from '../../src/train/lock';
import { runSession } from '../../src/train/session';
import { tempDir, tinyOptions } from './tiny';

test('a run directory has one training process: a second lock names the holder; release frees it', () => {
  const dir = tempDir('lock');
  const release = acquireRunLock(dir, 'r');
  const file = path.join(dir, LOCK_FILE);
  assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).pid, process.pid);
  assert.throws(() => acquireRunLock(dir, 'r'), (err: Error) => err instanceof RunLockedError && new RegExp(`run 'r' is being trained by process ${process.pid} on `).test(err.message) && err.message.includes(file));
  release();
  assert.equal(fs.existsSync(file), false);
  release(); // idempotent
  acquireRunLock(dir, 'r')();
});

test('a lock left by a process that is gone is taken over; one from another host is respected', () => {
  const dir = tempDir('lock-stale');
  const file = path.join(dir, LOCK_FILE);
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  const deadPid = Number(gone.stdout);
  assert.ok(deadPid > 0);
  fs.writeFileSync(file, JSON.stringify({ pid: deadPid, host: os.hostname(), started: '2026-01-01T00:00:00Z' }));
  const release = acquireRunLock(dir, 'r');
  assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).pid, process.pid);
  release();
  fs.writeFileSync(file, 'not json');
  acquireRunLock(dir, 'r')(); // unreadable: stale
  fs.writeFileSync(file, JSON.stringify({ pid: deadPid, host: 'elsewhere.example', started: '2026-01-01T00:00:00Z' }));
  assert.throws(() => acquireRunLock(dir, 'r'), /process \d+ on elsewhere\.example .*delete the lock file/);
  assert.ok(fs.existsSync(file), 'another host\'s lock stays');
});

test('a fresh run whose name was not typed skips a directory another process is training; a typed name gets the lock error', async () => {
  const root = tempDir('lock-auto');
  const busy = path.join(root, 'runs', 'quick');
  fs.mkdirSync(busy, { recursive: true });
  // Held by a live process (this one) and nothing written yet: what a second demo started at the
  // same moment as the first sees.
  fs.writeFileSync(path.join(busy, LOCK_FILE), JSON.stringify({ pid: process.pid, host: os.hostname(), started: 'now' }));
  const session = await runSession({ given: tinyOptions(root, { nEpochs: 1, nEpochsDecay: 0 }), quiet: true, interactive: false });
  assert.equal(path.basename(session.runDir), 'quick-2');
  assert.equal(session.result.reason, 'completed');
  await assert.rejects(runSession({ given: tinyOptions(root, { name: 'quick', nEpochs: 1, nEpochsDecay: 0 }), quiet: true, interactive: false }), /run 'quick' is being trained by process \d+/);
  assert.ok(fs.existsSync(path.join(busy, LOCK_FILE)), 'the holder\'s lock is left alone');
});
