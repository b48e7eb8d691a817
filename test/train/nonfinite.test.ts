import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { readCheckpoint } from '../../src/train/checkpoint';
import type { CycleGANModel } from '../../src/train/cyclegan';
import { runSession } from '../../src/train/session';
import { NonFiniteLossError, type TrainableModel } from '../../src/train/trainer';
import { readLog, tempDir, tinyOptions } from './tiny';

/** The real model, except that its losses turn NaN from step `badStep` on (a diverged run). */
function divergingAfter(badStep: number): (model: CycleGANModel) => TrainableModel {
  return (model) => {
    let steps = 0;
    return {
      setInput: (a, b, n) => model.setInput(a, b, n),
      optimizeParameters: () => {
        steps++;
        model.optimizeParameters();
      },
      currentLosses: () => {
        const losses = model.currentLosses();
        return steps >= badStep ? { ...losses, G_A: NaN } : losses;
      },
      visuals: (k) => model.visuals(k),
      setLearningRate: (lr) => model.setLearningRate(lr),
      checkpointTensors: () => model.checkpointTensors(),
      checkpointMeta: () => model.checkpointMeta(),
      loadCheckpoint: (tensors, meta) => model.loadCheckpoint(tensors, meta),
      parameterCount: () => model.parameterCount(),
      flopsPerImage: () => model.flopsPerImage(),
    };
  };
}

test('a NaN loss stops training with a clear error and keeps the last good checkpoint', async () => {
  const root = tempDir('nan');
  // 4 steps per epoch; epoch 1 ends with a good checkpoint, step 6 diverges.
  const given = tinyOptions(root, { name: 'nan', printFreq: 2 });
  await assert.rejects(
    runSession({ given, interactive: false, quiet: true, wrapModel: divergingAfter(6) }),
    (err: Error) => err instanceof NonFiniteLossError && /non-finite loss at epoch 2 iteration 6 .*G_A=NaN/.test(err.message) && /last good checkpoint is .*latest\.safetensors/.test(err.message),
  );
  const runDir = path.join(root, 'runs', 'nan');
  const latest = readCheckpoint(path.join(runDir, 'checkpoints', 'latest.safetensors'));
  assert.equal(JSON.parse(latest.metadata.position).epoch, 2, 'latest is the end-of-epoch-1 checkpoint');
  assert.ok(latest.tensors.every((t) => t.data.every(Number.isFinite)));
  const records = readLog(runDir);
  assert.deepEqual(records[records.length - 1].type, 'end');
  assert.equal((records[records.length - 1] as { reason: string }).reason, 'non-finite loss');
  assert.ok(!fs.existsSync(path.join(runDir, 'checkpoints', 'epoch_2.safetensors')));
});
