import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { LrScheduler, type ScheduleOptions } from '../../src/optim/schedule';

const base: ScheduleOptions = { lrPolicy: 'linear', lr: 1, nEpochs: 3, nEpochsDecay: 2, lrDecayIters: 2 };

function close(actual: number[], expected: number[]): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-12, `epoch ${i + 1}: ${v} != ${expected[i]}`));
}

test('linear keeps lr for n_epochs, then decays as the reference lambda_rule', () => {
  // 1 - max(0, epoch - 3) / 3 for epochs 1..5
  const s = new LrScheduler(base);
  close([1, 2, 3, 4, 5].map((e) => s.lr(e)), [1, 1, 1, 2 / 3, 1 / 3]);
  const ref = new LrScheduler({ ...base, lr: 0.0002, nEpochs: 100, nEpochsDecay: 100 });
  close([100, 101, 150, 200].map((e) => ref.lr(e)), [0.0002, 0.0002 * (100 / 101), 0.0002 * (51 / 101), 0.0002 / 101]);
});

test('step multiplies by 0.1 every lr_decay_iters epochs', () => {
  const s = new LrScheduler({ ...base, lrPolicy: 'step' });
  close([1, 2, 3, 4, 5].map((e) => s.lr(e)), [1, 1, 0.1, 0.1, 0.01]);
});

test('cosine anneals to 0 over n_epochs', () => {
  const s = new LrScheduler({ ...base, lrPolicy: 'cosine', nEpochs: 4 });
  close([1, 2, 3, 4, 5].map((e) => s.lr(e)), [1, (1 + Math.SQRT1_2) / 2, 0.5, (1 - Math.SQRT1_2) / 2, 0]);
});

test('plateau cuts lr by 0.2 after more than 5 epochs without 1% improvement, and keeps its state', () => {
  const s = new LrScheduler({ ...base, lrPolicy: 'plateau' });
  const seen: number[] = [];
  for (const metric of [10, 9, 8.95, 8.95, 8.95, 8.95, 8.95]) {
    s.endEpoch(metric);
    seen.push(s.lr(1));
  }
  // 10 sets best, 9 improves; 8.95 is < 1% better: bad epochs 1..5 keep lr, the 6th cuts it
  close(seen, [1, 1, 1, 1, 1, 1, 1]);
  s.endEpoch(8.95);
  assert.ok(Math.abs(s.lr(1) - 0.2) < 1e-12);
  const copy = new LrScheduler({ ...base, lrPolicy: 'plateau' });
  copy.setState(JSON.parse(JSON.stringify(s.getState())));
  assert.equal(copy.lr(7), s.lr(7));
  assert.throws(() => new LrScheduler(base).setState(s.getState()), /--lr-policy plateau/);
});

test('bad epochs and policies are refused', () => {
  assert.throws(() => new LrScheduler(base).lr(0), /epoch number >= 1/);
  assert.throws(() => new LrScheduler({ ...base, lrPolicy: 'exp' as never }), /unknown policy 'exp'/);
});
