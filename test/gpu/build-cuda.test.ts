/**
 * scripts/build-cuda.js outside the compiler: `--optional` (the install step) must let a
 * machine without nvcc install with one line of explanation, while an explicit build fails, and
 * a malformed CGTRAIN_CUDA_ARCHS is rejected before anything compiles.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { packageRoot } from '../../src/backend/device';

const script = path.join(packageRoot(), 'scripts', 'build-cuda.js');
const noNvcc = { ...process.env, CUDACXX: '/nonexistent/nvcc' };

test('--optional without nvcc prints one line and exits 0', () => {
  const run = spawnSync(process.execPath, [script, '--optional'], { encoding: 'utf8', env: noNvcc });
  assert.equal(run.status, 0, run.stderr);
  const lines = run.stdout.trim().split('\n');
  assert.equal(lines.length, 1, run.stdout);
  assert.match(lines[0], /^cgtrain: nvcc not found \(CUDACXX=\/nonexistent\/nvcc does not exist\); skipping the CUDA addon/);
  assert.match(lines[0], /npm run build:cuda/);
});

test('an explicit build without nvcc fails with the fix', () => {
  const run = spawnSync(process.execPath, [script], { encoding: 'utf8', env: noNvcc });
  assert.equal(run.status, 1);
  assert.match(run.stderr, /nvcc not found.*Install the CUDA toolkit/);
});

test('a malformed CGTRAIN_CUDA_ARCHS is rejected before compiling', () => {
  const env = { ...process.env, CGTRAIN_CUDA_ARCHS: 'sm_90' };
  const run = spawnSync(process.execPath, [script], { encoding: 'utf8', env });
  if (/nvcc not found|cmake not found|cmake-js not installed/.test(run.stderr)) return; // rejected earlier, for the toolchain
  assert.equal(run.status, 2);
  assert.match(run.stderr, /CGTRAIN_CUDA_ARCHS="sm_90" is not a list of compute capabilities/);
});

test('unknown options are rejected', () => {
  const run = spawnSync(process.execPath, [script, '--fast'], { encoding: 'utf8', env: noNvcc });
  assert.equal(run.status, 2);
  assert.match(run.stderr, /unknown option --fast/);
});
