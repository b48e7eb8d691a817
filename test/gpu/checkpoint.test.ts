/**
 * Checkpoints cross devices: a run stopped on CUDA resumes on the CPU and the reverse, and a
 * checkpoint loaded on either backend gives back exactly the tensors in the file (optimizer
 * moments and image pools included). Skipped, with the reason, where CUDA cannot run; the
 * emulated addon (scripts/build-cuda-emu.js, CGTRAIN_CUDA_ADDON) runs it on a machine without a
 * GPU.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as path from 'path';
import { cudaUnavailableReason, loadBackend, type Backend } from '../../src/backend/device';
import { metadataJson, readCheckpoint } from '../../src/train/checkpoint';
import { CycleGANModel } from '../../src/train/cyclegan';
import { readSavedOptions } from '../../src/train/run';
import { modelConfigOf, runSession } from '../../src/train/session';
import { Rng } from '../../src/util/rng';
import { readLog, stepLosses, tempDir, tinyOptions } from '../train/tiny';

const unavailable = cudaUnavailableReason();
const required = process.env.CGTRAIN_REQUIRE_CUDA === '1';
const skip = unavailable === null || required ? false : `CUDA cannot run here: ${unavailable.split('\n')[0]}`;
const quiet = { interactive: false, quiet: true };

/** Loads `file` into a fresh model on `backend` and returns what the model would save. */
function roundTrip(backend: Backend, file: string): { name: string; data: Float32Array }[] {
  const options = readSavedOptions(file);
  const model = new CycleGANModel(modelConfigOf(options), backend, new Rng(1));
  try {
    const { tensors, metadata } = readCheckpoint(file);
    model.loadCheckpoint(tensors, metadataJson(file, metadata, 'model'));
    return model.checkpointTensors().map((t) => ({ name: t.name, data: Float32Array.from(t.data) }));
  } finally {
    model.dispose();
  }
}

for (const [first, second] of [['cuda', 'cpu'], ['cpu', 'cuda']] as const) {
  test(`a run stopped on ${first} resumes on ${second}, and its checkpoint loads bit for bit on both`, { skip }, async () => {
    const root = tempDir(`xdev-${first}`);
    // 8 images, batch 2, 1 epoch: stop after step 2 of 4.
    const given = tinyOptions(root, { name: 'x', device: first, nEpochs: 1, nEpochsDecay: 0 });
    const stopped = await runSession({ given, ...quiet, hooks: { afterStep: ({ images, trainer }) => images === 4 && trainer.requestStop() } });
    assert.equal(stopped.result.reason, 'stopped');
    const latest = path.join(stopped.runDir, 'checkpoints', 'latest.safetensors');

    const saved = readCheckpoint(latest).tensors;
    for (const device of ['cpu', 'cuda'] as const) {
      const back = roundTrip(loadBackend(device, { quiet: true }), latest);
      assert.deepEqual(back.map((t) => t.name).sort(), saved.map((t) => t.name).sort(), `${device}: the same tensors`);
      for (const t of back) {
        const want = saved.find((s) => s.name === t.name)!;
        assert.ok(Buffer.from(t.data.buffer).equals(Buffer.from(want.data.buffer, want.data.byteOffset, want.data.byteLength)), `${device}: ${t.name} bit for bit`);
      }
    }

    const resumed = await runSession({ given: { runsDir: given.runsDir, name: 'x', continueTrain: true, device: second, threads: 1 }, ...quiet });
    assert.equal(resumed.result.reason, 'completed');
    assert.equal(resumed.options.device, second);
    const losses = stepLosses(readLog(resumed.runDir));
    assert.equal(losses.length, 4, 'steps 1-2 logged on the first device, 3-4 after the resume');
    for (const step of losses) for (const v of step) assert.ok(Number.isFinite(v), `loss ${v}`);
  });
}
