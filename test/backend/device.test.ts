/**
 * Backend loading and `cgtrain doctor`: the CPU backend loads from the package root, the
 * report names what it found, and CUDA that cannot run fails with the reason and the fix.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cudaAddonPath, cudaFix, cudaUnavailableReason, doctorData, doctorReport, loadBackend, packageRoot } from '../../src/backend/device';
import { simdText } from '../../src/backend/doctor';

const root = packageRoot();

/** Runs a snippet in a fresh Node process (loading is cached per process) with extra env. */
function runNode(code: string, env: Record<string, string | undefined> = {}) {
  return spawnSync(process.execPath, ['-e', code], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
}

test('packageRoot finds the cgtrain package from the compiled file', () => {
  assert.equal(JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).name, 'cgtrain');
});

test('loadBackend("cpu") gives a working binding and parsed device info', () => {
  const backend = loadBackend('cpu', { quiet: true });
  assert.equal(backend.kind, 'cpu');
  assert.equal(backend.info.backend, 'cpu');
  assert.equal(backend.binding.backendName(), 'cpu');
  assert.throws(() => loadBackend('tpu' as 'cpu'), /unknown device 'tpu', expected cpu, cuda or auto/);
  assert.throws(() => loadBackend('cpu', { threads: -2 }), /threads must be a non-negative integer/);
});

test('doctorReport names the CPU, SIMD level, threads and the CUDA status', () => {
  const text = doctorReport();
  assert.match(text, /CPU backend/);
  assert.match(text, /simd: +(avx512|avx2|scalar)/);
  assert.match(text, /threads: +\d+/);
  assert.match(text, /CUDA backend/);
  assert.match(text, /--device auto would run on: (cpu|cuda)/);
  const data = doctorData();
  assert.equal(data.cpu.built, true);
  assert.equal(data.cuda.available, cudaUnavailableReason() === null);
  if (!data.cuda.available) assert.ok(text.includes('unavailable:'), 'the reason is printed');
});

test('cuda: a missing addon gives the build command as the fix', () => {
  const missing = path.join(root, 'no-such-dir', 'cgtrain_cuda.node');
  const run = runNode(`try { require('./dist/src/backend/device').loadBackend('cuda'); console.log('loaded'); } catch (e) { console.log(e.message); }`, { CGTRAIN_CUDA_ADDON: missing });
  assert.match(run.stdout, /CUDA cannot run: the CUDA addon is not built/);
  assert.match(run.stdout, /npm run build:cuda/);
  assert.match(run.stdout, /nvcc/);
});

test('auto falls back to the CPU with one line on stderr when CUDA cannot run', () => {
  const missing = path.join(root, 'no-such-dir', 'cgtrain_cuda.node');
  const run = runNode(`const b = require('./dist/src/backend/device').loadBackend('auto'); console.log(b.kind);`, { CGTRAIN_CUDA_ADDON: missing });
  assert.equal(run.stdout.trim(), 'cpu');
  const lines = run.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one stderr line, got: ${run.stderr}`);
  assert.match(lines[0], /running on the CPU .*CUDA is not available/);
  const quiet = runNode(`require('./dist/src/backend/device').loadBackend('auto', { quiet: true });`, { CGTRAIN_CUDA_ADDON: missing });
  assert.equal(quiet.stderr, '');
});

test('cuda: a built addon on a machine without a usable GPU explains why and how to fix it', (t) => {
  if (!fs.existsSync(cudaAddonPath())) return t.skip('the CUDA addon is not built here');
  const reason = cudaUnavailableReason();
  if (reason === null) return t.skip('CUDA is available on this machine');
  assert.throws(() => loadBackend('cuda'), (err: unknown) => {
    const message = (err as Error).message;
    return /CUDA cannot run/.test(message) && /Fix: /.test(message) && /--device cpu|driver|CUDA_VISIBLE_DEVICES/.test(message);
  });
});

test('cudaFix names the fix for each cudaGetDeviceCount failure', () => {
  assert.match(cudaFix('no CUDA driver (cudaGetDeviceCount returned 35: cudaErrorInsufficientDriver)'), /install the NVIDIA driver/);
  assert.match(cudaFix('driver too old (cudaGetDeviceCount returned 36: cudaErrorCallRequiresNewerDriver)'), /update the NVIDIA driver/);
  const saved = process.env.CUDA_VISIBLE_DEVICES;
  try {
    process.env.CUDA_VISIBLE_DEVICES = '';
    assert.match(cudaFix('no CUDA device (cudaGetDeviceCount returned 100: cudaErrorNoDevice)'), /CUDA_VISIBLE_DEVICES='' hides every GPU/);
    delete process.env.CUDA_VISIBLE_DEVICES;
    assert.match(cudaFix('no CUDA device (cudaGetDeviceCount returned 100: cudaErrorNoDevice)'), /no NVIDIA GPU visible/);
  } finally {
    if (saved === undefined) delete process.env.CUDA_VISIBLE_DEVICES;
    else process.env.CUDA_VISIBLE_DEVICES = saved;
  }
  assert.match(cudaFix('something else'), /cgtrain doctor/);
});

test('cgtrain doctor --json prints the same facts as JSON', () => {
  const run = spawnSync(process.execPath, [path.join(root, 'dist', 'src', 'cli', 'main.js'), 'doctor', '--json'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(run.status, 0, run.stderr);
  const data = JSON.parse(run.stdout);
  assert.equal(data.cpu.info.backend, 'cpu');
  assert.equal(typeof data.cuda.available, 'boolean');
});

test('doctor says what the scalar level is off x86, and which level is the best when another is forced', () => {
  assert.equal(simdText('avx512', 'avx512', 'x64'), 'avx512');
  assert.equal(simdText('scalar', 'avx2', 'x64'), 'scalar (best avx2)');
  assert.match(simdText('scalar', 'scalar', 'arm64'), /^scalar \(the portable kernels, which the compiler vectorises for this CPU, NEON on arm64/);
});
