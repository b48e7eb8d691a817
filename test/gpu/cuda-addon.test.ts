/**
 * The CUDA addon on any machine, GPU or not: it is built (whenever nvcc is installed), it loads
 * (static cudart: no driver needed), it binds the same surface as the CPU addon, and when no GPU
 * can run it says why through deviceInfo, every kernel call, loadBackend('cuda'), `--device cuda`
 * on the command line, and `auto` falls back to the CPU.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Binding } from '../../src/backend/binding';
import { cpuAddonPath, cudaAddonPath, loadBackend, packageRoot, type DeviceInfo } from '../../src/backend/device';
import { doctorData, doctorReport } from '../../src/backend/doctor';

function nvccAvailable(): boolean {
  if (process.env.CUDACXX && fs.existsSync(process.env.CUDACXX)) return true;
  if (fs.existsSync('/usr/local/cuda/bin/nvcc')) return true;
  return spawnSync('nvcc', ['--version'], { stdio: 'ignore' }).status === 0;
}

/** A driver is present when the kernel module's control device or libcuda is there. */
function driverPresent(): boolean {
  if (fs.existsSync('/dev/nvidiactl')) return true;
  const libDirs = ['/usr/lib/x86_64-linux-gnu', '/usr/lib64', '/usr/local/nvidia/lib64', '/usr/lib/aarch64-linux-gnu'];
  return libDirs.some((d) => fs.existsSync(path.join(d, 'libcuda.so.1')));
}

const addon = cudaAddonPath();
const built = fs.existsSync(addon);
const skipReason = built ? false : `the CUDA addon is not built (${addon}); nvcc is not installed here`;

test('the CUDA addon is built wherever nvcc is installed', () => {
  if (!built) {
    assert.ok(!nvccAvailable(), `nvcc is installed but ${addon} is missing: run 'npm run build:cuda' (the install step builds it)`);
  }
});

test('the CUDA addon loads and binds the same functions as the CPU addon', { skip: skipReason }, () => {
  const cuda = require(addon) as Binding;
  assert.equal(cuda.backendName(), 'cuda');
  const cudaNames = Object.keys(cuda).sort();
  assert.ok(cudaNames.length > 60, `only ${cudaNames.length} functions bound`);
  if (fs.existsSync(cpuAddonPath())) {
    const cpu = require(cpuAddonPath()) as Binding;
    const cpuNames = Object.keys(cpu).sort();
    assert.ok(cudaNames.includes('instanceNormReluForward') && cudaNames.includes('instanceNormReluBackward'), 'the fused norm + ReLU');
    assert.deepEqual(cudaNames, cpuNames);
  }
});

test('deviceInfo is JSON in the documented shape, with the reason when CUDA cannot run', { skip: skipReason }, () => {
  const cuda = require(addon) as Binding;
  const info = JSON.parse(cuda.deviceInfo()) as DeviceInfo;
  assert.equal(info.backend, 'cuda');
  assert.equal(typeof info.available, 'boolean');
  assert.match(String(info.runtimeVersion), /^\d+\.\d+$/);
  assert.ok(Array.isArray(info.devices));
  if (info.available) {
    assert.equal(info.reason, null);
    assert.ok(['fp32', 'tf32', 'bf16'].includes(String(info.precision)), `precision ${info.precision}`);
    assert.ok(info.devices!.length > 0);
    for (const d of info.devices!) {
      assert.equal(typeof d.name, 'string');
      assert.ok(d.totalMemory > 0);
      assert.match(d.computeCapability, /^\d+\.\d+$/);
    }
  } else {
    assert.equal(typeof info.reason, 'string');
    assert.ok(info.reason!.length > 10);
    if (!driverPresent()) {
      assert.match(info.reason!, /^no CUDA driver \(cudaGetDeviceCount returned 35: cudaErrorInsufficientDriver\)$/);
      assert.equal(info.driverVersion, undefined);
    }
  }
});

test('without a usable GPU every call fails with the reason instead of crashing', { skip: skipReason }, () => {
  const cuda = require(addon) as Binding;
  const info = JSON.parse(cuda.deviceInfo()) as DeviceInfo;
  if (info.available) return; // covered by test/gpu/parity.test.ts on GPU machines
  assert.throws(() => cuda.alloc(16), (err: Error) => {
    assert.match(err.message, /^cgtrain cuda: alloc: (cgk_alloc: )?CUDA is not available: /);
    assert.ok(err.message.includes(info.reason!), err.message);
    return true;
  });
  assert.throws(() => cuda.init(0), (err: Error) => err.message.includes(info.reason!));
  assert.throws(() => cuda.sync(), /CUDA is not available/);
  assert.throws(() => cuda.peakGflops(0.1), /CUDA is not available/);
  assert.throws(() => cuda.setPrecision(2), /setPrecision: (cgk_set_precision: )?CUDA is not available/);
  // Bookkeeping that needs no device still answers.
  assert.deepEqual(cuda.memoryStats(), { inUse: 0, cached: 0, peak: 0 });
  assert.doesNotThrow(() => cuda.emptyCache());
  assert.equal(cuda.simdLevel(), 0);
});

test("loadBackend('cuda') names the reason and the fix; 'auto' falls back to the CPU", { skip: skipReason }, () => {
  const cuda = require(addon) as Binding;
  const info = JSON.parse(cuda.deviceInfo()) as DeviceInfo;
  if (info.available) return;
  assert.throws(() => loadBackend('cuda', { quiet: true }), (err: Error) => {
    assert.match(err.message, /CUDA cannot run: /);
    assert.ok(err.message.includes(info.reason!), err.message);
    assert.match(err.message, /Fix: /);
    if (!driverPresent()) assert.match(err.message, /install the NVIDIA driver/);
    return true;
  });
  if (fs.existsSync(cpuAddonPath())) assert.equal(loadBackend('auto', { quiet: true }).kind, 'cpu');
});

function cliPackagesMissing(): string | false {
  try {
    require.resolve('yargs');
    require.resolve('onnxruntime-node');
    return false;
  } catch {
    return "the CLI's npm packages are not installed here";
  }
}

test('`cgtrain bench --device cuda` exits 1 with the reason on a machine that cannot run CUDA', { skip: skipReason || cliPackagesMissing() }, () => {
  const cuda = require(addon) as Binding;
  const info = JSON.parse(cuda.deviceInfo()) as DeviceInfo;
  if (info.available) return;
  const cli = path.join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
  const run = spawnSync(process.execPath, [cli, 'bench', '--device', 'cuda', '--steps', '1'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 1, `exit ${run.status}; stderr: ${run.stderr}`);
  assert.ok(run.stderr.includes(info.reason!), run.stderr);
  assert.match(run.stderr, /Fix: /);
});

test('`cgtrain doctor` reports the CUDA addon and why it cannot run', { skip: skipReason }, () => {
  const cuda = require(addon) as Binding;
  const info = JSON.parse(cuda.deviceInfo()) as DeviceInfo;
  const data = doctorData();
  assert.equal(data.cuda.built, true);
  assert.equal(data.cuda.available, info.available);
  assert.equal(data.cuda.info?.backend, 'cuda');
  const report = doctorReport();
  if (info.available) {
    assert.match(report, /status: +available/);
    assert.ok(report.includes(info.devices![0].name), report);
    return;
  }
  assert.ok(data.cuda.reason!.includes(info.reason!), data.cuda.reason!);
  assert.ok(report.includes(`unavailable: ${info.reason!}`), report);
  if (!cliPackagesMissing()) {
    const cli = path.join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
    const run = spawnSync(process.execPath, [cli, 'doctor'], { encoding: 'utf8', timeout: 60_000 });
    assert.ok(`${run.stdout}${run.stderr}`.includes(info.reason!), `${run.stdout}${run.stderr}`);
  }
});
