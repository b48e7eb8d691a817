/**
 * Runtime of the CPU backend: device info, thread pool, SIMD switching, the caching allocator,
 * buffer handles and transfers, and that every argument error is an Error, never a crash.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpu, cpuBackend, freeAll, fromBuf, randomArray, toBuf, zerosBuf } from '../util/native';
import { cpuAddonPath, loadBackend } from '../../src/backend/device';

const b = cpu();

test('deviceInfo describes the CPU backend as documented', () => {
  const info = JSON.parse(b.deviceInfo());
  assert.equal(info.backend, 'cpu');
  assert.equal(info.available, true);
  assert.equal(info.reason, null);
  assert.equal(info.threads, b.numThreads());
  assert.ok(['avx512', 'avx2', 'scalar'].includes(info.simd));
  assert.equal(typeof info.cpu.model, 'string');
  assert.ok(Array.isArray(info.cpu.features));
  assert.equal(b.backendName(), 'cpu');
  assert.equal(cpuBackend().kind, 'cpu');
});

test('setSimd switches the level, refuses levels above the machine, -1 restores the best', () => {
  b.setSimd(-1);
  const best = b.simdLevel();
  b.setSimd(0);
  assert.equal(b.simdLevel(), 0);
  assert.equal(JSON.parse(b.deviceInfo()).simd, 'scalar');
  if (best < 2) assert.throws(() => b.setSimd(2), /setSimd: level 2 \(avx512\) is not supported by this CPU/);
  assert.throws(() => b.setSimd(3), /setSimd: level = 3/);
  b.setSimd(-1);
  assert.equal(b.simdLevel(), best);
});

test('the CPU computes in fp32: setPrecision takes fp32 and -1, refuses tf32 and bf16 with the fix', () => {
  assert.equal(b.precision(), 0);
  assert.equal(JSON.parse(b.deviceInfo()).precision, 'fp32');
  b.setPrecision(0);
  b.setPrecision(-1);
  assert.throws(() => b.setPrecision(2), /the CPU backend computes in fp32 only \(asked for bf16\); tf32 and bf16 need the CUDA backend/);
  assert.throws(() => b.setPrecision(1), /asked for tf32/);
  assert.throws(() => b.setPrecision(3), /precision = 3, expected -1 \(default\), 0 \(fp32\), 1 \(tf32\) or 2 \(bf16\)/);
  assert.equal(b.precision(), 0);
  // Through loadBackend: the option's name and the fix.
  assert.throws(() => loadBackend('cpu', { quiet: true, precision: 'bf16' }), /--precision bf16 cannot run on the CPU: .*\n  Fix: use --precision fp32 \(or auto\) on the CPU, or --device cuda/s);
  assert.equal(loadBackend('cpu', { quiet: true, precision: 'fp32' }).info.precision, 'fp32');
});

test('the thread pool resizes and gives the same results at 1 and n threads', () => {
  const before = b.numThreads();
  const n = 300_000;
  const x = randomArray(n, 1), y = randomArray(n, 2);
  const run = () => {
    const xb = toBuf(b, x), yb = toBuf(b, y), out = zerosBuf(b, n), s = zerosBuf(b, 1);
    b.add(xb, yb, out, n);
    b.tanhForward(out, out, n);
    b.sum(out, s, n);
    const result = [fromBuf(b, out), fromBuf(b, s)];
    freeAll(b, xb, yb, out, s);
    return result;
  };
  try {
    b.init(1);
    assert.equal(b.numThreads(), 1);
    const single = run();
    b.init(3);
    assert.equal(b.numThreads(), 3);
    const multi = run();
    assert.deepEqual(multi[0], single[0]);
    assert.deepEqual(multi[1], single[1], 'chunked double sums do not depend on the thread count');
  } finally {
    b.init(before);
  }
  assert.throws(() => b.init(-1), /init: threads = -1/);
});

test('the pool survives repeated resizing with work right after each resize', { timeout: 20_000 }, () => {
  const before = b.numThreads();
  const n = 200_000;
  const xb = toBuf(b, randomArray(n, 3)), yb = zerosBuf(b, n);
  try {
    for (let i = 0; i < 40; i++) {
      b.init(1 + (i % 4));
      b.affine(xb, 1, 1, yb, n); // a region that needs every worker of the new pool
    }
  } finally {
    b.init(before);
    freeAll(b, xb, yb);
  }
});

test('CGTRAIN_THREADS sets the default pool size; a bad value is a clear error', () => {
  const script = `const b = require(${JSON.stringify(cpuAddonPath())}); try { b.init(0); console.log(b.numThreads()); } catch (e) { console.log(e.message); }`;
  const good = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, CGTRAIN_THREADS: '3' }, encoding: 'utf8' });
  assert.equal(good.stdout.trim(), '3');
  const bad = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, CGTRAIN_THREADS: 'lots' }, encoding: 'utf8' });
  assert.match(bad.stdout, /CGTRAIN_THREADS='lots', expected an integer from 1 to 4096/);
});

test('CGTRAIN_CONV_ALGO picks the 3x3 convolution algorithm; a bad value is a clear error', () => {
  const device = JSON.stringify(require.resolve('../../src/backend/device'));
  const script = `const d = require(${device}); try { console.log(d.loadBackend('cpu').binding.convAlgo()); } catch (e) { console.log(e.message); }`;
  const run = (value: string | undefined) => {
    const env = { ...process.env };
    if (value === undefined) delete env.CGTRAIN_CONV_ALGO;
    else env.CGTRAIN_CONV_ALGO = value;
    return spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' }).stdout.trim();
  };
  assert.equal(run(undefined), '1');
  assert.equal(run('direct'), '0');
  assert.equal(run('Winograd'), '2');
  assert.match(run('fast'), /CGTRAIN_CONV_ALGO='fast' is not an algorithm; expected direct, auto, winograd/);
});

test('the caching allocator reuses freed blocks and reports in-use, cached and peak bytes', () => {
  b.emptyCache();
  const start = b.memoryStats();
  const a = b.alloc(10_000);
  const afterAlloc = b.memoryStats();
  assert.ok(afterAlloc.inUse >= start.inUse + 40_000, 'in-use grows by at least the request');
  assert.ok(afterAlloc.peak >= afterAlloc.inUse);
  b.free(a);
  const afterFree = b.memoryStats();
  assert.equal(afterFree.inUse, start.inUse);
  assert.ok(afterFree.cached >= 40_000, 'the block is cached, not returned');
  const again = b.alloc(9_990); // same size bucket: served from the cache
  assert.equal(b.memoryStats().cached, afterFree.cached - (afterAlloc.inUse - start.inUse));
  b.free(again);
  b.emptyCache();
  assert.equal(b.memoryStats().cached, 0);
});

test('handles dropped without free() are collected: V8 hears of the allocator footprint growing', () => {
  // 400 x 4 MB never freed: 1.6 GB if nothing collected them. Run in a fresh process so this
  // test's allocator and heap start empty; the loop yields now and then so finalizers can run.
  const script = `
    const b = require(${JSON.stringify(require.resolve('../../src/backend/device'))}).loadBackend('cpu', { quiet: true }).binding;
    (async () => {
      for (let i = 0; i < 400; i++) { b.alloc(1 << 20); if (i % 10 === 9) await new Promise((r) => setImmediate(r)); }
      console.log(b.memoryStats().peak);
    })();`;
  const run = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  const peakMB = Number(run.stdout.trim()) / 2 ** 20;
  assert.ok(peakMB > 0 && peakMB < 1000, `peak ${peakMB.toFixed(0)} MB: dropped handles were not collected`);
});

test('buffers: size, freed handles, offsets of upload/download', () => {
  const buf = b.alloc(8);
  assert.equal(b.size(buf), 8);
  b.upload(buf, Float32Array.from([1, 2, 3]), 5);
  const out = new Float32Array(2);
  b.download(buf, out, 6);
  assert.deepEqual(Array.from(out), [2, 3]);
  assert.throws(() => b.upload(buf, new Float32Array(4), 5), /upload: dst holds 8 floats, needs 9 for 4 floats at offset 5/);
  assert.throws(() => b.download(buf, new Float32Array(9)), /download: src holds 8 floats, needs 9/);
  assert.throws(() => (b.upload as (...a: unknown[]) => void)(buf, [1, 2]), /upload: src must be a Float32Array/);
  assert.throws(() => (b.download as (...a: unknown[]) => void)(buf, new Float64Array(2)), /download: dst must be a Float32Array/);
  assert.throws(() => b.alloc(-1), /alloc: nFloats = -1/);
  b.free(buf);
  assert.throws(() => b.size(buf), /size: buf: buffer was freed/);
  assert.throws(() => b.free(buf), /free: buf: buffer was freed/);
  assert.throws(() => b.upload(buf, new Float32Array(1)), /buffer was freed/);
});

test('wrong argument kinds throw errors everywhere instead of crashing', () => {
  // Call every function with junk: each must throw an Error (or, for argument-free ones, return).
  const junk: unknown[] = [undefined, null, 'x', {}, -2, 1.5, [1]];
  const noArgs = new Set(['backendName', 'numThreads', 'deviceInfo', 'simdLevel', 'convAlgo', 'precision', 'convTuning', 'convTuningReport', 'sync', 'timerMark', 'timerRead', 'memoryStats', 'emptyCache']);
  for (const [name, fn] of Object.entries(b as unknown as Record<string, (...a: unknown[]) => unknown>)) {
    if (noArgs.has(name)) continue;
    for (const value of junk) {
      if (name === 'peakGflops' && value === 1.5) continue; // a valid duration
      const args = Array.from({ length: 14 }, () => value);
      assert.throws(() => fn(...args), (err: unknown) => err instanceof Error && err.message.startsWith(`cgtrain cpu: ${name}:`), `${name}(${String(value)}...)`);
    }
  }
});

test('timer marks: indices in call order, ms from the first mark, cleared by each read', () => {
  b.timerRead(); // marks left by another test
  assert.equal(b.timerMark(), 0);
  const x = toBuf(b, randomArray(1 << 20, 5));
  const y = b.alloc(1 << 20);
  try {
    for (let i = 0; i < 20; i++) b.reluForward(x, y, 1 << 20);
    assert.equal(b.timerMark(), 1);
    assert.equal(b.timerMark(), 2);
    const ms = b.timerRead();
    assert.ok(ms instanceof Float64Array);
    assert.equal(ms.length, 3);
    assert.equal(ms[0], 0);
    assert.ok(ms[1] > 0, `20 relus over 1M floats take time: ${ms[1]} ms`);
    assert.ok(ms[2] >= ms[1]);
    assert.equal(b.timerRead().length, 0, 'the read cleared the marks');
    assert.equal(b.timerMark(), 0, 'indices start again at 0');
    b.timerRead();
  } finally {
    freeAll(b, x, y);
  }
});
