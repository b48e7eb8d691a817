/**
 * Convolution tuning on CUDA (cgk_set_conv_tuning): the first call of a GEMM shape times every
 * candidate engine and keeps the fastest whose result agrees with the exact-FP32 engine's; later
 * calls reuse the choice; results match the CPU at the precision in effect; forcing an engine or
 * turning tuning off bypasses it. Needs CUDA; the emulated addon runs it in `npm test`
 * (test/gpu/emulated-cuda.test.ts), where the times are the emulator's, so only the mechanism is
 * checked, never which engine wins.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { Binding, ConvParams } from '../../src/backend/binding';
import { cudaUnavailableReason, loadBackend, packageRoot, PRECISIONS } from '../../src/backend/device';
import { formatTuningTable, runName, summarizeTuning, tunedGemms, type TunedGemm } from '../../src/backend/tuning';
import { cpu, fromBuf, randomArray, toBuf, zerosBuf } from '../util/native';

const unavailable = cudaUnavailableReason();
const required = process.env.CGTRAIN_REQUIRE_CUDA === '1';
const skip = unavailable === null || required ? false : `CUDA cannot run here: ${unavailable.split('\n')[0]}`;

function conv(n: number, cIn: number, size: number, cOut: number, k: number, stride: number, pad: number): ConvParams {
  const out = Math.floor((size + 2 * pad - k) / stride) + 1;
  return { n, cIn, hIn: size, wIn: size, cOut, hOut: out, wOut: out, kh: k, kw: k, sh: stride, sw: stride, ph: pad, pw: pad, oph: 0, opw: 0 };
}

type Pass = 'forward' | 'backwardData' | 'backwardWeight';

/** Runs one conv2d pass on a backend with seeded operands; returns the output. */
function pass(b: Binding, p: ConvParams, which: Pass): Float32Array {
  const nx = p.n * p.cIn * p.hIn * p.wIn, nw = p.cOut * p.cIn * p.kh * p.kw, ny = p.n * p.cOut * p.hOut * p.wOut;
  const x = toBuf(b, randomArray(nx, 1)), w = toBuf(b, randomArray(nw, 2)), dy = toBuf(b, randomArray(ny, 3));
  const outN = which === 'forward' ? ny : which === 'backwardData' ? nx : nw;
  const out = zerosBuf(b, outN);
  if (which === 'forward') b.conv2dForward(p, x, w, null, out);
  else if (which === 'backwardData') b.conv2dBackwardData(p, dy, w, out);
  else b.conv2dBackwardWeight(p, x, dy, out);
  b.sync();
  const result = fromBuf(b, out, outN);
  for (const buf of [x, w, dy, out]) b.free(buf);
  return result;
}

/** max |a - ref| / max |ref| */
function relErr(a: Float32Array, ref: Float32Array): number {
  let err = 0, scale = 0;
  for (let i = 0; i < ref.length; i++) {
    err = Math.max(err, Math.abs(a[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return err / scale;
}

/** max |diff| / max |ref| that tuning allows a candidate (conv_tune.cu, max_diff_allowed) */
const ALLOWED: Record<string, number> = { tf32: 1e-2, bf16: 5e-2 };

function checkEntry(g: TunedGemm): void {
  const ran = g.candidates.filter((c) => c.ms !== undefined);
  assert.ok(ran.length >= 2, `${g.kind} ${g.M}x${g.N}x${g.K}: ${ran.length} candidates ran`);
  for (const c of ran) assert.ok(c.ms! > 0, `${runName(c)}: ${c.ms} ms`);
  // Every result was checked against the exact-FP32 engine's: all agree here, within rounding.
  assert.equal(g.reference, 'simt', 'checked against the FP32 engine');
  for (const c of ran) {
    assert.equal(typeof c.diff, 'number', `${runName(c)} was compared with the reference`);
    assert.ok(c.diff! <= ALLOWED[g.precision] && !c.rejected, `${runName(c)}: ${c.diff} of max, ${c.error ?? ''}`);
  }
  const fastest = Math.min(...ran.map((c) => c.ms!));
  assert.equal(g.chosen.ms, fastest, `${g.kind}: kept ${runName(g.chosen)} at ${g.chosen.ms} ms, the fastest took ${fastest}`);
  assert.ok(g.candidates.some((c) => runName(c) === runName(g.heuristic)), 'the rule\'s choice is among the candidates');
  assert.equal(new Set(g.candidates.map(runName)).size, g.candidates.length, 'no candidate twice');
  // Two stages are tried only as a variant of the fastest deep tc configuration, after it.
  for (const [i, c] of g.candidates.entries()) {
    if (c.stages !== 2) continue;
    const deep = g.candidates.findIndex((o) => o.stages === 0 && o.engine === c.engine && o.bm === c.bm && o.splits === c.splits);
    assert.ok(deep >= 0 && deep < i, `${runName(c)} follows its 3-stage twin`);
  }
}

test('tuning times each GEMM shape once, keeps the fastest, and matches the CPU (tf32)', { skip }, () => {
  const backend = loadBackend('cuda', { quiet: true, precision: 'tf32' });
  const b = backend.binding;
  b.setConvTuning(1);
  // On compute capability 9.0 the Hopper engine is among the candidates unless $CGTRAIN_CUDA_WGMMA=0.
  const wgmma = process.env.CGTRAIN_CUDA_WGMMA !== '0' && backend.info.devices?.[0]?.computeCapability === '9.0';
  assert.equal(b.convTuning(), 1);
  const key = (g: TunedGemm): string => `${g.kind} ${g.precision} ${JSON.stringify(g.geometry)}`;
  const before = new Set(tunedGemms(b).map(key));
  const p = conv(1, 64, 8, 128, 3, 1, 1);
  const passes: Pass[] = ['forward', 'backwardData', 'backwardWeight'];
  const first = passes.map((which) => pass(b, p, which));
  for (const [i, which] of passes.entries()) {
    const err = relErr(first[i], pass(cpu(), p, which));
    assert.ok(err < 4e-3, `${which}: ${err} of max against the CPU`);
  }
  const report = tunedGemms(b);
  const mine = report.filter((g) => !before.has(key(g)));
  // The backward-data runs as the forward convolution of dy with the flipped weight (one output
  // phase at stride 1): a second fwd GEMM, gathering dy's 128 channels into 64.
  assert.deepEqual(mine.map((g) => `${g.kind} ${g.M}x${g.N}x${g.K}`).sort(), ['fwd 128x64x576', 'fwd 64x64x1152', 'wgrad 128x576x64']);
  for (const g of mine) {
    assert.equal(g.precision, 'tf32');
    checkEntry(g);
    for (const c of g.candidates) assert.ok(['tc', 'mma64', 'wgmma', 'tc-nhwc'].includes(c.engine), `tf32 candidate ${c.engine}`);
    assert.equal(g.candidates.some((c) => c.engine === 'wgmma'), wgmma, `wgmma among the candidates: ${wgmma}`);
    // The tc engine on an NHWC copy: for forward GEMMs over a multiple of 32 channels (here 64 and 128).
    assert.equal(g.candidates.some((c) => c.engine === 'tc-nhwc'), g.kind === 'fwd', `${g.kind}: tc-nhwc among the candidates`);
  }
  // Again: the kept choices run, nothing is timed anew, the results are the same bits.
  const again = passes.map((which) => pass(b, p, which));
  assert.equal(tunedGemms(b).length, report.length);
  for (const [i, which] of passes.entries()) assert.deepEqual(again[i], first[i], `${which} repeats bit for bit`);

  const summary = summarizeTuning(report)!;
  assert.equal(summary.gemms, report.length);
  assert.equal(Object.values(summary.engines).reduce((a, c) => a + c, 0), report.length);
  assert.ok(summary.chosenMs <= summary.heuristicMs + 1e-9, `tuned ${summary.chosenMs} ms, rule ${summary.heuristicMs} ms`);
  assert.match(formatTuningTable(report, 10), /fwd 128x64x576 \(n1 64x8x8 -> 128x8x8, 3x3\/1\)/);

  // Off: a new shape runs by rule and is not recorded.
  b.setConvTuning(0);
  assert.equal(b.convTuning(), 0);
  pass(b, conv(1, 64, 4, 64, 3, 1, 1), 'forward');
  assert.equal(tunedGemms(b).length, report.length);
  b.setConvTuning(-1);
  assert.throws(() => b.setConvTuning(2), /setConvTuning: on = 2, expected -1 \(default\), 0 \(off\) or 1 \(on\)/);
});

test('under bf16 the candidates are the BF16 engines and the 64x64 TF32 one', { skip }, () => {
  const b = loadBackend('cuda', { quiet: true, precision: 'bf16' }).binding;
  b.setConvTuning(1);
  try {
    const p = conv(1, 32, 8, 96, 3, 1, 1);
    const err = relErr(pass(b, p, 'forward'), pass(cpu(), p, 'forward'));
    assert.ok(err < 1e-2, `forward: ${err} of max against the CPU`);
    const g = tunedGemms(b).find((e) => e.precision === 'bf16' && e.M === 96 && e.K === 288);
    assert.ok(g, 'the bf16 GEMM was tuned');
    checkEntry(g);
    for (const c of g.candidates) assert.ok(['bf16', 'tc-bf16', 'mma64'].includes(c.engine), `bf16 candidate ${c.engine}`);
  } finally {
    b.setPrecision(PRECISIONS.tf32);
  }
});

const emulated = unavailable === null && loadBackend('cuda', { quiet: true }).info.emulated === true;

const corruptSkip = skip || (emulated ? false : 'needs the emulated addon, whose $CGTRAIN_CUDA_TUNE_CORRUPT spoils one engine\'s results');

/** Tunes the forward of `p` with `engine`'s results spoiled while tuning; its tuned entry and output. */
function tuneSpoiled(engine: string, p: ConvParams): { g: TunedGemm; forward: Float32Array } {
  const b = loadBackend('cuda', { quiet: true, precision: 'tf32' }).binding;
  b.setConvTuning(1);
  process.env.CGTRAIN_CUDA_TUNE_CORRUPT = engine;
  let forward: Float32Array;
  try {
    forward = pass(b, p, 'forward');
  } finally {
    delete process.env.CGTRAIN_CUDA_TUNE_CORRUPT;
    b.setConvTuning(-1);
  }
  const g = tunedGemms(b).find((e) => e.kind === 'fwd' && e.M === p.cOut && e.K === p.cIn * p.kh * p.kw);
  assert.ok(g, 'the forward GEMM was tuned');
  // Whatever was kept, its result is the right one.
  const err = relErr(forward, pass(cpu(), p, 'forward'));
  assert.ok(err < 4e-3, `forward: ${err} of max against the CPU`);
  return { g, forward };
}

test('a candidate whose results are wrong is rejected, never kept', { skip: corruptSkip }, () => {
  const { g } = tuneSpoiled('mma64', conv(1, 48, 6, 80, 3, 2, 1));
  const spoiled = g.candidates.filter((c) => c.engine === 'mma64');
  assert.equal(spoiled.length, 1);
  assert.equal(spoiled[0].rejected, true);
  assert.ok(Math.abs(spoiled[0].diff! - 0.5) < 1e-3, `diff ${spoiled[0].diff}: the results times 1.5`);
  assert.match(spoiled[0].error!, /differs from the reference \(simt\) by 0\.5 of the largest value, more than the 1e-02 that tf32 rounding explains/);
  assert.notEqual(g.chosen.engine, 'mma64');
  for (const c of g.candidates.filter((c) => c.engine !== 'mma64')) assert.ok(!c.rejected && c.diff! < 1e-2, runName(c));
  const summary = summarizeTuning([g])!;
  assert.equal(summary.rejected, 1);
  assert.equal(summary.checked, g.candidates.filter((c) => c.ms !== undefined).length);
  assert.ok(summary.maxDiff < 1e-2);
  assert.match(formatTuningTable([g], 1), /REJECTED mma64 x\d+ \(5\.0e-1\)/);
});

test('the rule\'s own engine is checked too: a wrong tc is not kept; a wrong reference leaves the rule\'s choice', { skip: corruptSkip }, () => {
  const tc = tuneSpoiled('tc', conv(1, 40, 6, 72, 3, 1, 1)).g;
  assert.equal(tc.heuristic.engine, 'tc');
  for (const c of tc.candidates) assert.equal(c.rejected === true, c.engine === 'tc', `${runName(c)}: rejected ${c.rejected}`);
  assert.notEqual(tc.chosen.engine, 'tc');
  // Every candidate disagrees with a spoiled FP32 engine: the rule's choice runs, as untuned.
  const simt = tuneSpoiled('simt', conv(1, 40, 6, 88, 3, 1, 1)).g;
  assert.equal(simt.reference, 'simt');
  assert.ok(simt.candidates.every((c) => c.rejected), 'every candidate rejected');
  assert.equal(runName(simt.chosen), runName(simt.heuristic));
});

test('a forced engine ($CGTRAIN_CUDA_CONV) is not tuned; CGTRAIN_CUDA_TUNE=0 turns the default off', { skip }, () => {
  const script = `
    const { loadBackend } = require('./dist/src/backend/device');
    const b = loadBackend('cuda', { quiet: true }).binding;
    const p = { n: 1, cIn: 64, hIn: 8, wIn: 8, cOut: 64, hOut: 8, wOut: 8, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, oph: 0, opw: 0 };
    const x = b.alloc(64 * 64), w = b.alloc(64 * 64 * 9), y = b.alloc(64 * 64);
    b.fill(x, 0.5, 64 * 64); b.fill(w, 0.25, 64 * 64 * 9);
    b.conv2dForward(p, x, w, null, y);
    b.sync();
    console.log(JSON.stringify({ tuning: b.convTuning(), info: JSON.parse(b.deviceInfo()).convTuning, tuned: JSON.parse(b.convTuningReport()).length }));`;
  const runWith = (env: Record<string, string>): { tuning: number; info: boolean; tuned: number } => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete childEnv.NODE_TEST_CONTEXT;
    const r = spawnSync(process.execPath, ['-e', script], { cwd: packageRoot(), encoding: 'utf8', env: childEnv, timeout: 300_000 });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  };
  assert.deepEqual(runWith({ CGTRAIN_CUDA_CONV: 'tc', CGTRAIN_CUDA_TUNE: '1' }), { tuning: 1, info: true, tuned: 0 });
  assert.deepEqual(runWith({ CGTRAIN_CUDA_CONV: 'auto', CGTRAIN_CUDA_TUNE: '0' }), { tuning: 0, info: false, tuned: 0 });
  assert.deepEqual(runWith({ CGTRAIN_CUDA_CONV: 'auto', CGTRAIN_CUDA_TUNE: '1' }), { tuning: 1, info: true, tuned: 1 });
});

test('the CPU backend does not tune: it refuses 1 and reports nothing', () => {
  const b = cpu();
  assert.equal(b.convTuning(), 0);
  b.setConvTuning(0);
  b.setConvTuning(-1);
  assert.throws(() => b.setConvTuning(1), /the CPU backend picks its convolution kernels by rule/);
  assert.deepEqual(tunedGemms(b), []);
});
