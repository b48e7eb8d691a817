import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { installSignals, runSession } from '../../src/train/session';
import { readCheckpointMetadata } from '../../src/train/checkpoint';
import { turnEventLoop } from '../../src/util/yield';
import { readLog, tempDir, tinyOptions } from './tiny';

test('evaluation, report and export hooks run at their cadence and land in the log', async () => {
  const root = tempDir('hooks');
  const evaluated: number[] = [];
  const reports: boolean[] = [];
  const session = await runSession({
    given: tinyOptions(root, { name: 'hooks', evalFreq: 1, evalSamples: 3, saveLatestFreq: 6, printFreq: 4 }),
    interactive: false,
    quiet: true,
    hooks: {
      evaluate: async ({ epoch, samples, model }) => {
        evaluated.push(epoch);
        await new Promise((resolve) => setTimeout(resolve, 400)); // an evaluation takes time
        return { epoch, samples, parameters: model.parameterCount() };
      },
      report: (_runDir, final) => {
        reports.push(final);
      },
      export: async ({ runDir }) => {
        const file = path.join(runDir, 'G_A.onnx');
        fs.writeFileSync(file, 'onnx');
        return [file];
      },
    },
  });
  assert.equal(session.result.reason, 'completed');
  assert.deepEqual(evaluated, [1, 2]);
  assert.equal(reports[reports.length - 1], true, 'the last report build is the final one');
  assert.equal(reports.filter((final) => final).length, 1);
  const records = readLog(session.runDir);
  const evals = records.filter((r) => r.type === 'eval') as { epoch: number; metrics: Record<string, number> }[];
  assert.deepEqual(evals.map((r) => [r.epoch, r.metrics.samples]), [[1, 3], [2, 3]]);
  assert.deepEqual(records.filter((r) => r.type === 'export').map((r) => (r as { files: string[] }).files), [['G_A.onnx']]);
  // The session's images/s is training throughput: the two 0.4 s evaluations are not in it.
  const end = records.at(-1) as { type: string; imagesPerSec: number; seconds: number };
  assert.equal(end.type, 'end');
  assert.ok(end.imagesPerSec > 16 / (end.seconds - 0.7), `${end.imagesPerSec} img/s over ${end.seconds} s in all`);
  assert.equal(session.result.imagesPerSec, end.imagesPerSec);
  // --save-latest-freq 6 with batch 2: a latest checkpoint after 6 images (iteration 3), besides epoch ends.
  const checkpoints = records.filter((r) => r.type === 'checkpoint') as { iter: number; file: string }[];
  assert.ok(checkpoints.some((c) => c.iter === 3 && c.file === path.join('checkpoints', 'latest.safetensors')));
  assert.deepEqual(records.filter((r) => r.type === 'step').map((r) => (r as { images: number }).images), [4, 8, 12, 16]);
});

test('SIGTERM during an epoch stops training after the step it arrives in, not at the epoch end', async () => {
  // Batches of in-memory data are ready promises and a step is synchronous native work: unless the
  // trainer yields to the event loop, the signal handler runs only at the epoch's end (an epoch of
  // the mnist2svhn preset is 391 steps, hours on a CPU).
  const root = tempDir('signal');
  let sentAt = 0;
  const session = await runSession({
    given: tinyOptions(root, { name: 'signal', maxDatasetSize: 40, synthCount: 40, batchSize: 1, nEpochs: 1, nEpochsDecay: 0, printFreq: 100 }),
    interactive: false,
    quiet: true,
    handleSignals: true,
    hooks: {
      afterStep: ({ iter }) => {
        if (iter === 2 && sentAt === 0) {
          sentAt = iter;
          process.kill(process.pid, 'SIGTERM');
        }
      },
    },
  });
  assert.equal(sentAt, 2);
  assert.equal(session.result.reason, 'signal');
  assert.ok(session.result.iterations <= 4, `stopped after ${session.result.iterations} of 40 iterations; the signal came at 2`);
  const end = readLog(session.runDir).at(-1) as { type: string; reason: string };
  assert.deepEqual([end.type, end.reason], ['end', 'signal']);
  assert.ok(fs.existsSync(path.join(session.runDir, 'checkpoints', 'latest.safetensors')));
});

test('SIGTERM during an evaluation abandons it and keeps that epoch\'s checkpoint for `cgtrain eval`', async () => {
  // The evaluation after an epoch takes minutes on a CPU; a stop must not wait for it.
  const root = tempDir('signal-eval');
  const evaluated: number[] = [];
  let turns = 0;
  const session = await runSession({
    given: tinyOptions(root, { name: 'signal-eval', evalFreq: 1, saveEpochFreq: 0 }),
    interactive: false,
    quiet: true,
    handleSignals: true,
    hooks: {
      evaluate: async ({ epoch, signal }) => {
        evaluated.push(epoch);
        process.kill(process.pid, 'SIGTERM');
        for (; turns < 1000; turns++) await turnEventLoop(signal); // batches of a long evaluation
        return { finished: 1 };
      },
    },
  });
  assert.deepEqual(evaluated, [1], 'stopped during the first evaluation; epoch 2 never ran');
  assert.ok(turns < 1000, `the evaluation saw the stop after ${turns} batches`);
  assert.equal(session.result.reason, 'signal');
  const records = readLog(session.runDir);
  assert.equal(records.filter((r) => r.type === 'eval').length, 0, 'no metrics from an abandoned evaluation');
  // --save-epoch-freq 0 keeps no epoch checkpoints, but latest moves on when the run resumes:
  // epoch 1's generators are kept for a later `cgtrain eval`.
  const kept = path.join(session.runDir, 'checkpoints', 'epoch_1.safetensors');
  assert.equal(readCheckpointMetadata(kept).epoch, '1');
  assert.deepEqual(fs.readFileSync(kept), fs.readFileSync(path.join(session.runDir, 'checkpoints', 'latest.safetensors')));
});

test('the first signal asks for a stop and hands the next one back to the default action (quit at once)', () => {
  const before = [process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')];
  const stops: string[] = [];
  const said: string[] = [];
  const uninstall = installSignals({ requestStop: (reason) => stops.push(String(reason)) }, { say: (line) => said.push(line) });
  assert.deepEqual([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')], [before[0] + 1, before[1] + 1]);
  process.emit('SIGINT', 'SIGINT');
  assert.deepEqual(stops, ['signal']);
  assert.match(said.join('\n'), /SIGINT: saving a checkpoint after this step \(press Ctrl-C again to quit at once/);
  // Both handlers are gone: with no listener left, a second signal ends the process at once.
  assert.deepEqual([process.listenerCount('SIGINT'), process.listenerCount('SIGTERM')], before);
  uninstall(); // harmless after the fact
});
