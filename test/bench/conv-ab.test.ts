import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { cpuAddonPath } from '../../src/backend/device';

const script = path.join(__dirname, '..', '..', 'bench', 'conv-ab.js');

test('bench/conv-ab times two builds turn by turn and prints each against the first', () => {
  const addon = cpuAddonPath();
  const r = spawnSync(process.execPath, [script, '--addons', `${addon},${addon}`, '--reps', '1', '--threads', '1', '--only', '64x64'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /best of 1 alternating turns; builds: \[0\] .*cgtrain_cpu\.node, \[1\] /);
  assert.match(r.stdout, /64x64 batch 1 +ms {2}\[0\] fwd \d+\.\d\d bwd \d+\.\d\d {2}\| {2}\[1\] fwd \d+\.\d\d( \(-?\d+\.\d%\))? bwd /);
  const none = spawnSync(process.execPath, [script, '--addons', addon, '--only', 'nothing'], { encoding: 'utf8', timeout: 60_000 });
  assert.notEqual(none.status, 0);
  assert.match(none.stderr, /--only nothing: no shape matches \(8x8 batch 16, 8x8 batch 128, 64x64 batch 1\)/);
});
