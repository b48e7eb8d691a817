import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as path from 'path';

const cli = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

test('cgtrain bench --json reports speed, FLOP rate against peak, and memory', () => {
  const args = ['bench', '--device', 'cpu', '--threads', '1', '--ngf', '4', '--ndf', '4', '--batch-size', '2', '--steps', '2', '--warmup', '1', '--json'];
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  assert.equal(result.backend, 'cpu');
  assert.deepEqual([result.netG, result.netD, result.ngf, result.ndf, result.batch, result.size, result.steps], ['resnet_6blocks', 'basic', 4, 4, 2, 32, 2]);
  for (const key of ['msPerStep', 'imagesPerSec', 'gflops', 'gflopPerImage', 'peakGflops', 'percentOfPeak', 'peakRssMB', 'peakBackendMemoryMB']) {
    assert.ok(Number.isFinite(result[key]) && result[key] > 0, `${key} = ${result[key]}`);
  }
  assert.ok(Math.abs(result.imagesPerSec - (2 * 1000) / result.msPerStep) < 1e-6 * result.imagesPerSec);
  assert.ok(Math.abs(result.gflops - result.gflopPerImage * result.imagesPerSec) < 1e-6 * result.gflops);
});

test('cgtrain bench --profile times every backend call of extra steps', () => {
  const args = ['bench', '--device', 'cpu', '--threads', '1', '--ngf', '4', '--ndf', '4', '--batch-size', '2', '--steps', '1', '--warmup', '0', '--profile', '2', '--json'];
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const { profile } = JSON.parse(r.stdout);
  assert.equal(profile.steps, 2);
  const fns = new Map<string, { callsPerStep: number; msPerStep: number }>(profile.byFunction.map((row: { op: string }) => [row.op, row]));
  for (const fn of ['conv2dForward', 'conv2dBackward', 'convTranspose2dForward', 'adamStep', 'instanceNormForward']) assert.ok(fns.has(fn), `${fn} in ${[...fns.keys()]}`);
  // Each function's calls are the sum of its per-shape rows; the stem is a reflect-padded 3->4 7x7 conv.
  for (const [fn, row] of fns) {
    const calls = profile.byCall.filter((c: { op: string }) => c.op.split(' ')[0] === fn).reduce((s: number, c: { callsPerStep: number }) => s + c.callsPerStep, 0);
    assert.ok(Math.abs(calls - row.callsPerStep) < 1e-9, fn);
  }
  assert.ok(profile.byCall.some((c: { op: string }) => /^conv2dForward n\d+ 3->4 32x32->32x32 k7 s1 p3 reflect$/.test(c.op)), 'the stem conv row');
});

test('cgtrain bench rejects bad sizes and step counts', () => {
  const r = spawnSync(process.execPath, [cli, 'bench', '--steps', '0'], { encoding: 'utf8', timeout: 30_000 });
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /--steps: expected an integer >= 1, got 0/);
});

test('cgtrain bench --min-seconds times past --steps until the steps last that long', () => {
  const args = ['bench', '--device', 'cpu', '--threads', '1', '--ngf', '4', '--ndf', '4', '--batch-size', '2', '--steps', '1', '--warmup', '0', '--min-seconds', '0.5', '--json'];
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout);
  // a step of this model takes a few milliseconds: many more than the one step asked for
  assert.ok(result.steps > 5, `steps ${result.steps}`);
  assert.ok(result.steps * result.msPerStepMin <= 60_000);
  const bad = spawnSync(process.execPath, [cli, 'bench', '--min-seconds', '-1'], { encoding: 'utf8', timeout: 30_000 });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--min-seconds: expected seconds from 0 to 3600, got -1/);
});
