import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { acquireRunLock, LOCK_FILE, RunLockedError } from '../../src/train/lock';
import { tempDir } from './tiny';

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
