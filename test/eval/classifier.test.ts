/** The digit classifier pipeline on a tiny subset: train, save, load, classify. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { classifierData, classifierPath, ensureClassifier, loadClassifier, trainAndSaveClassifier } from '../../src/eval/classifier-store';
import { classify, DigitClassifier, toRgb } from '../../src/eval/classifier';
import { shiftImage } from '../../src/eval/train-classifier';
import { labelAccuracy } from '../../src/eval/accuracy';
import { readCheckpointMetadata, writeCheckpoint } from '../../src/train/checkpoint';
import { cpuBackend } from '../util/native';
import { tempDir } from '../train/tiny';

test('a classifier trained on 768 MNIST digits beats chance by far, and round-trips through its file', async () => {
  const backend = cpuBackend();
  const dataDir = tempDir('eval-clf');
  const trained = await trainAndSaveClassifier(backend, { domain: 'mnist', data: { dataDir }, training: { epochs: 2, batchSize: 32 }, maxTrain: 768, maxTest: 200 });
  try {
    assert.ok(trained.testAccuracy > 0.6, `test accuracy ${trained.testAccuracy} after 2 tiny epochs`);
    const file = classifierPath(dataDir, 'mnist');
    assert.equal(trained.file, file);
    const meta = readCheckpointMetadata(file);
    assert.equal(meta.format, 'cgtrain-digit-classifier/1');
    assert.equal(Number(meta.testAccuracy), trained.testAccuracy);
    assert.match(meta.trainSource, /MNIST/);
    assert.ok(Number(meta.featureScale) > 0, 'the feature RMS the digit metrics divide by');
    assert.equal(Number(meta.featureScale), trained.featureScale);
    assert.deepEqual(fs.readdirSync(path.dirname(file)).filter((f) => f.endsWith('.tmp')), [], 'atomic write leaves no temp file');

    const test = await classifierData('mnist', { dataDir }, 'test', 200);
    const before = await classify(trained.model, test.images, test.n);
    const loaded = loadClassifier(file, backend);
    try {
      const after = await classify(loaded.model, test.images, test.n);
      assert.deepEqual(Array.from(after.predicted), Array.from(before.predicted));
      assert.deepEqual(after.features, before.features);
      assert.equal(labelAccuracy(after.predicted, test.labels), trained.testAccuracy);
      assert.equal(after.features.length, test.n * 128);
      for (let i = 0; i < 5; i++) {
        const row = after.probs.subarray(i * 10, i * 10 + 10).reduce((a, b) => a + b, 0);
        assert.ok(Math.abs(row - 1) < 1e-5, 'softmax rows sum to 1');
      }
    } finally {
      loaded.model.dispose();
    }
    // ensureClassifier finds the saved file instead of training again.
    const ensured = await ensureClassifier(backend, 'mnist', { dataDir }, () => assert.fail('should not train'));
    ensured.model.dispose();
  } finally {
    trained.model.dispose();
  }
});

test('loading a file that is not a classifier names the problem and the fix', () => {
  const dir = tempDir('eval-clf-bad');
  const file = path.join(dir, 'x.safetensors');
  writeCheckpoint(file, [{ name: 'w', shape: [1], data: new Float32Array(1) }], { format: 'cgtrain-checkpoint/1' });
  assert.throws(() => loadClassifier(file, cpuBackend()), /format 'cgtrain-checkpoint\/1', expected cgtrain-digit-classifier\/1.*train-classifier/);
});

test('svhn without the SVHN files says how to get them', async () => {
  await assert.rejects(classifierData('svhn', { dataDir: tempDir('eval-nosvhn') }, 'train'), /cgtrain data download svhn/);
});

test('shift augmentation moves pixels and replicates edges; gray images become RGB', () => {
  const src = new Float32Array(3 * 1024);
  src[5 * 32 + 7] = 1; // channel 0, y 5, x 7
  for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) src[1024 + y * 32 + x] = x + 1; // channel 1: a ramp in x
  const out = new Float32Array(3 * 1024);
  shiftImage(src, 0, 2, -1, out, 0);
  assert.equal(out[4 * 32 + 9], 1, 'moved right 2 and up 1');
  assert.equal(out.subarray(0, 1024).reduce((a, b) => a + b, 0), 1);
  assert.equal(out[1024 + 31 * 32 + 0], 1, 'the replicated left edge');
  assert.equal(out[1024 + 31 * 32 + 1], 1, 'the replicated left edge');
  assert.equal(out[1024 + 0 * 32 + 31], 30, 'the ramp shifted right by 2');
  const gray = Float32Array.from({ length: 2 * 4 }, (_, i) => i);
  assert.deepEqual(Array.from(toRgb(gray, 2, 1, 4)), [0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7, 4, 5, 6, 7]);
});

test('the classifier rejects images of the wrong shape', async () => {
  const model = new DigitClassifier(cpuBackend());
  try {
    await assert.rejects(classify(model, new Float32Array(2 * 3 * 28 * 28), 2), /not 2 images of 3x32x32/);
  } finally {
    model.dispose();
  }
});

test('cgtrain eval train-classifier writes <data-dir>/classifiers/<domain>.safetensors', () => {
  const dataDir = tempDir('eval-clf-cli');
  const cli = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
  const r = spawnSync(process.execPath, [cli, 'eval', 'train-classifier', '--domain', 'mnist', '--data-dir', dataDir, '--epochs', '1', '--max-train', '64', '--device', 'cpu'],
    { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /test accuracy \d+\.\d\d% on 997 images/);
  const meta = readCheckpointMetadata(path.join(dataDir, 'classifiers', 'mnist.safetensors'));
  assert.equal(meta.trainImages, '64');
  assert.equal(JSON.parse(meta.training).epochs, 1);
  const bad = spawnSync(process.execPath, [cli, 'eval', 'train-classifier', '--domain', 'cifar'], { encoding: 'utf8' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /domain/);
});
