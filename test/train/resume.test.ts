import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { readCheckpointMetadata } from '../../src/train/checkpoint';
import { prepareRun, runSession } from '../../src/train/session';
import { readLog, stepLosses, tempDir, tinyOptions } from './tiny';

function assertSameTrajectory(actual: number[][], expected: number[][]): void {
  assert.equal(actual.length, expected.length, 'number of logged steps');
  actual.forEach((losses, step) =>
    losses.forEach((v, i) => {
      const want = expected[step][i];
      assert.ok(Math.abs(v - want) <= 1e-5 * Math.max(1, Math.abs(want)), `step ${step + 1} loss ${i}: ${v} vs ${want}`);
    }),
  );
}

test('a run stopped mid-epoch and resumed follows the same losses as one that never stopped', async () => {
  const root = tempDir('resume');
  const quiet = { interactive: false, quiet: true };
  // 8 images, batch 2: 4 steps per epoch, 2 epochs (the second with a decayed lr).
  const full = await runSession({ given: tinyOptions(root, { name: 'full' }), ...quiet });
  assert.equal(full.result.reason, 'completed');
  const reference = stepLosses(readLog(full.runDir));
  assert.equal(reference.length, 8);

  const first = await runSession({
    given: tinyOptions(root, { name: 'split' }), ...quiet,
    hooks: { afterStep: ({ images, trainer }) => images === 6 && trainer.requestStop() },
  });
  assert.equal(first.result.reason, 'stopped');
  const latest = path.join(first.runDir, 'checkpoints', 'latest.safetensors');
  const position = JSON.parse(readCheckpointMetadata(latest).position);
  assert.deepEqual([position.epoch, position.batch, position.iteration, position.images, position.epochGLossCount], [1, 3, 3, 6, 3]);

  const resumed = await runSession({ given: { runsDir: tinyOptions(root).runsDir, name: 'split', continueTrain: true, threads: 1 }, ...quiet });
  assert.equal(resumed.resumedFrom, latest);
  assert.equal(resumed.result.reason, 'completed');
  assert.equal(resumed.options.ngf, 4, 'the saved options are used');
  assertSameTrajectory(stepLosses(readLog(first.runDir)), reference);

  // The final weights agree too: both runs end with the same epoch-2 checkpoint.
  const a = fs.readFileSync(path.join(full.runDir, 'checkpoints', 'epoch_2.safetensors'));
  const b = fs.readFileSync(path.join(first.runDir, 'checkpoints', 'epoch_2.safetensors'));
  const dataOf = (bytes: Buffer) => bytes.subarray(8 + Number(bytes.readBigUInt64LE(0)));
  assert.ok(dataOf(a).equals(dataOf(b)), 'epoch_2 tensors are bit-identical');
});

test('a run stopped after an epoch\'s last batch resumes by closing that epoch, with no made-up throughput', async () => {
  const root = tempDir('resume-edge');
  const quiet = { interactive: false, quiet: true };
  const full = await runSession({ given: tinyOptions(root, { name: 'full' }), ...quiet });
  const first = await runSession({
    given: tinyOptions(root, { name: 'edge' }), ...quiet,
    hooks: { afterStep: ({ images, trainer }) => images === 8 && trainer.requestStop() },
  });
  assert.equal(first.result.reason, 'stopped');
  const resumed = await runSession({ given: { runsDir: tinyOptions(root).runsDir, name: 'edge', continueTrain: true, threads: 1 }, ...quiet });
  assert.equal(resumed.result.reason, 'completed');
  const log = readLog(first.runDir);
  assertSameTrajectory(stepLosses(log), stepLosses(readLog(full.runDir)));
  const epochs = log.filter((r) => r.type === 'epoch') as Array<{ epoch: number; imagesPerSec?: number }>;
  assert.deepEqual(epochs.map((e) => e.epoch), [1, 2]);
  assert.equal(epochs[0].imagesPerSec, undefined, 'the resumed session ran none of epoch 1');
  assert.ok((epochs[1].imagesPerSec ?? 0) > 0);
  assert.ok(fs.existsSync(path.join(first.runDir, 'checkpoints', 'epoch_1.safetensors')), 'epoch 1 keeps its checkpoint');
});

test('resuming refuses a model option that differs from the checkpoint, and a missing checkpoint', async () => {
  const root = tempDir('resume-bad');
  await assert.rejects(
    runSession({ given: tinyOptions(root, { name: 'none', continueTrain: true }), interactive: false, quiet: true }),
    /--continue-train: run 'none' has no checkpoint/,
  );
  const done = await runSession({ given: tinyOptions(root, { name: 'r', nEpochs: 1, nEpochsDecay: 0 }), interactive: false, quiet: true });
  // --checkpoint alone continues the run the file belongs to, not the preset's run.
  const file = path.join(done.runDir, 'checkpoints', 'epoch_1.safetensors');
  const prepared = prepareRun({ checkpoint: file, nEpochs: 2 });
  assert.deepEqual([prepared.options.name, prepared.paths.runDir, prepared.resumedFrom, prepared.options.nEpochs], ['r', done.runDir, file, 2]);
  await assert.rejects(
    runSession({ given: tinyOptions(root, { name: 'r', continueTrain: true, ngf: 8 }), interactive: false, quiet: true }),
    /--ngf 8: .* was trained with --ngf 4/,
  );
});
