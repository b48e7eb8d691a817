/**
 * The evaluator end to end on tiny generators, tiny classifiers and small test sets: the metric
 * names, their ranges, the identity translation as a plumbing check, the Inception path with a
 * stand-in ONNX model, the trainer hook (log + checkpoint) and `cgtrain eval`.
 */
import { before, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { resolveOptions, type TrainOptions } from '../../src/options';
import { buildGenerator } from '../../src/export/from-checkpoint';
import { exportGeneratorFiles } from '../../src/export/export';
import { Identity } from '../../src/nn';
import { evaluateTranslation, type EvalMetrics } from '../../src/eval/evaluator';
import { evaluationHook } from '../../src/eval/hook';
import { formatMetricsTable } from '../../src/eval/format';
import { classifierData, loadClassifier, classifierPath } from '../../src/eval/classifier-store';
import { classify } from '../../src/eval/classifier';
import { labelAccuracy } from '../../src/eval/accuracy';
import { InceptionModel, resizeBilinear } from '../../src/eval/inception';
import { runSession } from '../../src/train/session';
import { readCheckpoint } from '../../src/train/checkpoint';
import { cpuBackend } from '../util/native';
import { readLog, tempDir, tinyOptions } from '../train/tiny';
import { tinyClassifiers, writeStandInInception } from './fixtures';

const cli = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const root = tempDir('eval');
const dataDir = path.join(root, 'data');
let options: TrainOptions;
const settings = { samples: 40, kidSubsets: 4, kidSubsetSize: 30 };

before(async () => {
  await tinyClassifiers(cpuBackend(), dataDir);
  options = resolveOptions(tinyOptions(root, { synthCount: 48 }));
});

function numbers(m: EvalMetrics): Record<string, number> {
  return Object.fromEntries(Object.entries(m).filter((e): e is [string, number] => typeof e[1] === 'number'));
}

test('both directions get accuracy, digit-FID/KID/IS and PRDC, each within its range', async () => {
  const backend = cpuBackend();
  const generators = { AtoB: buildGenerator(backend, options, 'AtoB', 1), BtoA: buildGenerator(backend, options, 'BtoA', 2) };
  try {
    const m = numbers(await evaluateTranslation({ backend, generators, options, settings }));
    for (const dir of ['AtoB', 'BtoA']) {
      for (const name of ['accuracy', 'digit-FID', 'digit-KID', 'digit-KID-std', 'digit-IS', 'digit-IS-std', 'precision', 'recall', 'density', 'coverage']) {
        assert.ok(Number.isFinite(m[`${name}_${dir}`]), `${name}_${dir} = ${m[`${name}_${dir}`]}`);
      }
      assert.ok(m[`accuracy_${dir}`] >= 0 && m[`accuracy_${dir}`] <= 1);
      assert.ok(m[`digit-FID_${dir}`] > 0, 'an untrained generator is far from the target domain');
      assert.ok(m[`digit-IS_${dir}`] >= 1 && m[`digit-IS_${dir}`] <= 10);
      for (const p of ['precision', 'recall', 'coverage']) assert.ok(m[`${p}_${dir}`] >= 0 && m[`${p}_${dir}`] <= 1);
    }
    const mnist = await classifierData('mnist', { dataDir }, 'test', 40);
    const mnistClassifier = loadClassifier(classifierPath(dataDir, 'mnist'), backend);
    try {
      assert.equal(m['accuracy-real_A'], labelAccuracy((await classify(mnistClassifier.model, mnist.images, mnist.n)).predicted, mnist.labels));
    } finally {
      mnistClassifier.model.dispose();
    }
    assert.ok(m['accuracy-real_B'] >= 0 && m['accuracy-real_B'] <= 1);
    assert.ok(!Object.keys(m).some((k) => /^(FID|KID|IS)_/.test(k)), 'no Inception metrics without --inception');
    const table = formatMetricsTable(m);
    assert.match(table, /digit-FID\s+\S+\s+\S+/);
    assert.match(table, /A->B \(G_A\)/);
  } finally {
    generators.AtoB.dispose();
    generators.BtoA.dispose();
  }
});

test('the two directions\' FIDs compute at once: the second starts before the first is awaited, each keeps its place', async () => {
  // fidOffThread is replaced by one whose first answer waits for the second call (or 5 s, then
  // the directions ran one after the other): on Inception features each is a minute on a worker.
  const module = require('../../src/eval/fid-thread') as typeof import('../../src/eval/fid-thread');
  const real = module.fidOffThread;
  const calls: number[] = [];
  let release: () => void = () => undefined;
  const secondCall = new Promise<void>((resolve) => (release = resolve));
  let waitedOut = false;
  module.fidOffThread = async (x, y, o) => {
    calls.push(calls.length);
    if (calls.length === 1) {
      const timer = new Promise<void>((resolve) => setTimeout(() => ((waitedOut = true), resolve()), 5000).unref());
      await Promise.race([secondCall, timer]);
    } else {
      release();
    }
    return real(x, y, o);
  };
  const backend = cpuBackend();
  const generators = { AtoB: buildGenerator(backend, options, 'AtoB', 1), BtoA: buildGenerator(backend, options, 'BtoA', 2) };
  try {
    const m = await evaluateTranslation({ backend, generators, options, settings });
    assert.equal(calls.length, 2);
    assert.equal(waitedOut, false, 'the B->A FID was asked for while the A->B one was pending');
    const keys = Object.keys(m);
    const at = (k: string) => keys.indexOf(k);
    assert.ok(at('accuracy_AtoB') < at('digit-FID_AtoB') && at('digit-FID_AtoB') < at('digit-KID_AtoB') && at('digit-KID_AtoB') < at('accuracy_BtoA') &&
      at('accuracy_BtoA') < at('digit-FID_BtoA') && at('digit-FID_BtoA') < at('digit-KID_BtoA'), `metric order: ${keys.join(', ')}`);
    for (const dir of ['AtoB', 'BtoA']) assert.ok(Number.isFinite(m[`digit-FID_${dir}`]) && (m[`digit-FID_${dir}`] as number) > 0, `digit-FID_${dir}`);
  } finally {
    module.fidOffThread = real;
    generators.AtoB.dispose();
    generators.BtoA.dispose();
  }
});

test('with identity generators, accuracy is the target classifier on the source images and labels', async () => {
  const backend = cpuBackend();
  const identity = new Identity(backend);
  const all = await evaluateTranslation({ backend, generators: { AtoB: identity }, options, settings: { ...settings, directions: ['AtoB'] } });
  const m = numbers(all);
  const confusion = JSON.parse((all.info as Record<string, string>).confusion_AtoB) as number[][];
  assert.equal(confusion.flat().reduce((a, b) => a + b, 0), 40, 'one count per translated image');
  assert.equal(confusion.reduce((a, row, t) => a + row[t], 0) / 40, m.accuracy_AtoB, 'the diagonal is the accuracy');
  const mnist = await classifierData('mnist', { dataDir }, 'test', 40);
  const synthClassifier = loadClassifier(classifierPath(dataDir, 'synth-svhn'), backend);
  try {
    const expected = labelAccuracy((await classify(synthClassifier.model, mnist.images, mnist.n)).predicted, mnist.labels);
    assert.equal(m.accuracy_AtoB, expected);
    assert.equal(m.accuracy_BtoA, undefined, 'only the requested direction');
  } finally {
    synthClassifier.model.dispose();
  }
});

test('an aborted signal stops the evaluation between generator batches, with the signal\'s reason', async () => {
  const backend = cpuBackend();
  const stop = new AbortController();
  let forwards = 0;
  const aborting = new (class extends Identity {
    override forward(x: Parameters<Identity['forward']>[0]) {
      forwards++;
      stop.abort(new Error('stop requested'));
      return super.forward(x);
    }
  })(backend);
  await assert.rejects(
    evaluateTranslation({ backend, generators: { AtoB: aborting }, options, settings: { ...settings, batchSize: 8, directions: ['AtoB'] }, signal: stop.signal }),
    /stop requested/,
  );
  assert.equal(forwards, 1, 'the first batch of 8 of 40 images, then it gave up');
});

test('bilinear resize matches torch F.interpolate(align_corners=False)', () => {
  const out = resizeBilinear(Float32Array.from([1, 2, 3, 4]), 1, 1, 2, 2, 4, 4);
  assert.deepEqual(Array.from(out), [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4]);
  const constant = resizeBilinear(new Float32Array(2 * 3 * 32 * 32).fill(-0.25), 2, 3, 32, 32, 299, 299);
  assert.ok(constant.every((v) => v === -0.25));
});

test('Inception metrics run through onnxruntime with a stand-in model of the same interface', async () => {
  const { file, logitWeights } = writeStandInInception(root);
  const model = await InceptionModel.open(file);
  try {
    // Gray images are repeated into RGB; features are the channel means of the 299x299 resize.
    const n = 3;
    const images = Float32Array.from({ length: n * 32 * 32 }, (_, i) => Math.sin(i) * 0.8);
    const out = await model.run(images, n, 1, 32, 32, { batchSize: 2 });
    assert.equal(out.featureDim, 3);
    assert.equal(out.classes, 4);
    for (let i = 0; i < n; i++) {
      const resized = resizeBilinear(images.subarray(i * 1024, (i + 1) * 1024), 1, 1, 32, 32, 299, 299);
      const mean = resized.reduce((a, b) => a + b, 0) / resized.length;
      for (let c = 0; c < 3; c++) assert.ok(Math.abs(out.features[i * 3 + c] - mean) < 1e-5, `image ${i} channel ${c}`);
      const logits = [0, 1, 2, 3].map((k) => mean * (logitWeights[k * 3] + logitWeights[k * 3 + 1] + logitWeights[k * 3 + 2]));
      const z = logits.reduce((a, l) => a + Math.exp(l), 0);
      for (let k = 0; k < 4; k++) assert.ok(Math.abs(out.probs![i * 4 + k] - Math.exp(logits[k]) / z) < 1e-5);
    }
    // a run on CUDA asks for onnxruntime's CUDA provider: the same outputs there, or the CPU with the reason
    const gpu = await InceptionModel.open(file, { gpu: true });
    try {
      if (gpu.provider === 'cuda') {
        const onGpu = await gpu.run(images, n, 1, 32, 32, { batchSize: 2 });
        for (let i = 0; i < out.features.length; i++) assert.ok(Math.abs(onGpu.features[i] - out.features[i]) < 1e-4, `feature ${i} on CUDA`);
      } else {
        assert.match(gpu.gpuProblem ?? '', /CUDA|providers_cuda/);
      }
    } finally {
      await gpu.close();
    }
  } finally {
    await model.close();
  }
  const backend = cpuBackend();
  const identity = new Identity(backend);
  // the real images' Inception outputs are computed once per process: a second evaluation runs
  // Inception on the translations only, and gets the same numbers
  const runs: number[] = [];
  const run = InceptionModel.prototype.run;
  InceptionModel.prototype.run = function (this: InceptionModel, ...args: Parameters<typeof run>) {
    runs.push(args[1]);
    return run.apply(this, args);
  };
  let first: Record<string, number>;
  let second: Record<string, number>;
  try {
    first = numbers(await evaluateTranslation({ backend, generators: { AtoB: identity }, options, settings: { ...settings, directions: ['AtoB'], inception: file } }));
    assert.equal(runs.length, 2, 'first evaluation: the real B images, then the translations');
    second = numbers(await evaluateTranslation({ backend, generators: { AtoB: identity }, options, settings: { ...settings, directions: ['AtoB'], inception: file } }));
    assert.equal(runs.length, 3, 'second evaluation: the translations only');
  } finally {
    InceptionModel.prototype.run = run;
  }
  for (const key of ['FID_AtoB', 'KID_AtoB', 'IS_AtoB', 'digit-FID_AtoB']) assert.ok(Number.isFinite(first[key]), `${key} = ${first[key]}`);
  for (const key of ['FID_AtoB', 'KID_AtoB', 'IS_AtoB']) assert.equal(second[key], first[key], key);
  await assert.rejects(evaluateTranslation({ backend, generators: { AtoB: identity }, options, settings: { ...settings, inception: path.join(root, 'missing.onnx') } }), /--inception: no such file/);
});

test('an ONNX model that gives no pool features (a cgtrain generator) is named, not run into a huge covariance', async () => {
  const backend = cpuBackend();
  const generator = buildGenerator(backend, options, 'AtoB', 3);
  try {
    const [exported] = await exportGeneratorFiles({ netG_A: generator, netG_B: generator }, options, path.join(root, 'not-inception'), ['AtoB']);
    const model = await InceptionModel.open(exported.file);
    try {
      await assert.rejects(model.run(new Float32Array(2 * 3 * 32 * 32), 2, 3, 32, 32),
        /--inception \S*G_A\.onnx: output 0 \(\S+\) has shape \[2, 3, \d+, \d+\] for 2 images; expected pool features \[N, D\] or \[N, D, 1, 1\]/);
    } finally {
      await model.close();
    }
  } finally {
    generator.dispose();
  }
});

test('folder datasets without --inception are refused with the way out', async () => {
  const folder = { ...options, dataset: 'folder' as const, dataroot: root };
  await assert.rejects(evaluateTranslation({ backend: cpuBackend(), generators: {}, options: folder, settings }), /pass --inception fid .* or --inception FILE/);
});

test('the trainer hook writes eval records and annotates the checkpoints; cgtrain eval reads them back', async () => {
  const lines: string[] = [];
  const session = await runSession({
    given: tinyOptions(root, { name: 'evalrun', synthCount: 48, evalFreq: 1, evalSamples: 24, nEpochs: 1, nEpochsDecay: 1 }),
    hooks: { evaluate: evaluationHook({ log: (l) => lines.push(l) }) }, quiet: true,
  });
  const evals = readLog(session.runDir).filter((r) => r.type === 'eval') as unknown as { epoch: number; metrics: Record<string, unknown> }[];
  assert.deepEqual(evals.map((r) => r.epoch), [1, 2]);
  assert.ok(typeof evals[1].metrics['digit-FID_AtoB'] === 'number' && typeof evals[1].metrics.accuracy_BtoA === 'number');
  assert.ok(lines.some((l) => /^epoch 2: accuracy-real_A/.test(l)), lines.join('\n'));
  const latest = path.join(session.runDir, 'checkpoints', 'latest.safetensors');
  const annotated = JSON.parse(readCheckpoint(latest).metadata.eval);
  assert.equal(annotated.epoch, 2);
  assert.equal(annotated.metrics['digit-FID_AtoB'], evals[1].metrics['digit-FID_AtoB']);
  assert.equal(JSON.parse(readCheckpoint(path.join(session.runDir, 'checkpoints', 'epoch_1.safetensors')).metadata.eval).epoch, 1);
  // checkpoints/best.safetensors: the epoch with the lower mean digit-FID of the two
  const meanFid = (m: Record<string, unknown>) => ((m['digit-FID_AtoB'] as number) + (m['digit-FID_BtoA'] as number)) / 2;
  const bestEpoch = meanFid(evals[1].metrics) < meanFid(evals[0].metrics) ? 2 : 1;
  const best = readCheckpoint(path.join(session.runDir, 'checkpoints', 'best.safetensors'));
  assert.equal(JSON.parse(best.metadata.eval).epoch, bestEpoch);
  assert.equal(best.metadata.epoch, String(bestEpoch));
  assert.ok(lines.some((l) => l.startsWith(`best so far: epoch ${bestEpoch}, digit-FID `)), lines.join('\n'));

  const r = spawnSync(process.execPath, [cli, 'eval', '--checkpoint', latest, '--samples', '24', '--json', '--device', 'cpu', '--threads', '1'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { metrics: Record<string, unknown> };
  // The same generators, data and classifiers: the same numbers as the training-time evaluation.
  assert.equal(out.metrics['digit-FID_AtoB'], evals[1].metrics['digit-FID_AtoB']);
  assert.equal(out.metrics.accuracy_BtoA, evals[1].metrics.accuracy_BtoA);
  const table = spawnSync(process.execPath, [cli, 'eval', '--checkpoint', latest, '--samples', '24', '--direction', 'AtoB', '--device', 'cpu'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /^metric\s+A->B \(G_A\)\s+real A\s+real B/m);
  // 24 samples fit in one KID subset: one estimate, printed without a spread of 0.
  assert.match(table.stdout, /digit-KID\s+\S+e[+-]\d+\s/);
  assert.doesNotMatch(table.stdout, /± 0\.000e\+0/);
  assert.match(table.stdout, /not comparable with published FID/);
  // --run DIR --best: the best epoch's checkpoint, for eval, export (into <run>/best/) and translate
  const bestFile = path.join(session.runDir, 'checkpoints', 'best.safetensors');
  const viaRun = spawnSync(process.execPath, [cli, 'eval', '--run', session.runDir, '--best', '--samples', '24', '--json', '--device', 'cpu', '--threads', '1'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(viaRun.status, 0, viaRun.stderr);
  const bestOut = JSON.parse(viaRun.stdout) as { checkpoint: string; metrics: Record<string, unknown> };
  assert.equal(path.resolve(bestOut.checkpoint), bestFile);
  assert.equal(bestOut.metrics['digit-FID_AtoB'], evals[bestEpoch - 1].metrics['digit-FID_AtoB']);
  const exported = spawnSync(process.execPath, [cli, 'export', '--run', session.runDir, '--best', '--direction', 'AtoB'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(exported.status, 0, exported.stderr);
  assert.ok(fs.existsSync(path.join(session.runDir, 'best', 'G_A.onnx')), exported.stdout);
  const lone = spawnSync(process.execPath, [cli, 'export', '--checkpoint', latest, '--best'], { encoding: 'utf8' });
  assert.notEqual(lone.status, 0);
  assert.match(lone.stderr, /--best picks a run's best checkpoint: pass --run NAME with it/);
  const missing = spawnSync(process.execPath, [cli, 'eval'], { encoding: 'utf8' });
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /--checkpoint FILE/);
});

test('the metrics table prints a spread only where there is one', () => {
  const table = formatMetricsTable({ 'digit-KID_AtoB': 0.0123, 'digit-KID-std_AtoB': 0.0004, 'digit-KID_BtoA': 0.5, 'digit-KID-std_BtoA': 0, 'IS_AtoB': 2.5 } as EvalMetrics);
  const row = table.split('\n').find((l) => l.startsWith('digit-KID'))!;
  assert.match(row, /1\.230e-2 ± 4\.000e-4/);
  assert.match(row, /5\.000e-1$/);
  assert.doesNotMatch(row, /± 0\.000e\+0/);
  assert.match(table, /^IS\s+2\.500/m);
});
