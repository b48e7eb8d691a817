import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { BindingProfiler, formatProfile, kindOf, rowsByKind } from '../../src/backend/profile';
import { convParamsOf, packConv, type Binding, type ConvParams } from '../../src/backend/binding';

const conv: ConvParams = { n: 2, cIn: 3, hIn: 8, wIn: 8, cOut: 4, hOut: 8, wOut: 8, kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1, oph: 0, opw: 0 };

test('the profiler times calls only while recording, syncs after each, and keys convolutions by shape', () => {
  const log: string[] = [];
  const fake = {
    sync: () => log.push('sync'),
    relu: (x: number) => { log.push(`relu ${x}`); return x * 2; },
    conv2dForward: (p: ConvParams) => { log.push(`conv ${p.cOut}`); },
    version: 7,
  } as unknown as Binding;
  const profiler = new BindingProfiler();
  const b = profiler.wrap(fake) as unknown as { relu(x: number): number; conv2dForward(p: ConvParams): void; sync(): void; version: number };
  assert.equal(b.version, 7);
  assert.equal(b.relu(1), 2);
  assert.deepEqual(log, ['relu 1'], 'no timing and no sync while not recording');
  assert.deepEqual(profiler.rows(), []);
  log.length = 0;
  profiler.record(2, () => {
    assert.equal(b.relu(3), 6);
    b.conv2dForward(conv);
    b.conv2dForward({ ...conv, cOut: 8, padMode: 1 });
  });
  // First 52 idle syncs measure what a sync costs (taken off every timed call), then the steps.
  assert.ok(log.slice(0, 52).every((l) => l === 'sync'), log.slice(0, 52).join());
  assert.deepEqual(log.slice(52), ['relu 3', 'sync', 'conv 4', 'sync', 'conv 8', 'sync', 'relu 3', 'sync', 'conv 4', 'sync', 'conv 8', 'sync']);
  assert.ok(profiler.syncMs >= 0 && profiler.syncMs < 5, `idle sync ${profiler.syncMs} ms`);
  const byCall = profiler.rows();
  assert.deepEqual(byCall.map((r) => r.op).sort(), [
    'conv2dForward n2 3->4 8x8->8x8 k3 s1 p1',
    'conv2dForward n2 3->8 8x8->8x8 k3 s1 p1 reflect',
    'relu',
  ]);
  for (const r of byCall) assert.equal(r.callsPerStep, 1);
  const byFunction = profiler.rows(true);
  assert.deepEqual(byFunction.map((r) => [r.op, r.callsPerStep]).sort(), [['conv2dForward', 2], ['relu', 1]]);
  const sum = (rows: { msPerStep: number }[]) => rows.reduce((s, r) => s + r.msPerStep, 0);
  assert.ok(Math.abs(sum(byCall) - sum(byFunction)) < 1e-9);
  assert.ok(Math.abs(byFunction.reduce((s, r) => s + r.percent, 0) - 100) < 1e-9);
  for (let i = 1; i < byCall.length; i++) assert.ok(byCall[i - 1].msPerStep >= byCall[i].msPerStep, 'largest first');
  const text = formatProfile(byCall, 2);
  assert.match(text, /ms per profiled step/);
  assert.match(text, /\(1 more rows\)/);
});

test('recordDeviceTime marks around every call instead of syncing, and gives each call the device time between its marks', () => {
  // A fake device: each call "runs" for a known time on the device clock; marks read that clock.
  let clock = 0;
  let marks: number[] = [];
  const log: string[] = [];
  const fake = {
    sync: () => log.push('sync'),
    timerMark: () => { marks.push(clock); return marks.length - 1; },
    timerRead: () => { const out = Float64Array.from(marks, (m) => m - (marks[0] ?? 0)); marks = []; return out; },
    relu: () => { clock += 1; log.push('relu'); },
    conv2dForward: (p: unknown) => { clock += convParamsOf(p)!.cOut; log.push('conv'); },
  } as unknown as Binding;
  const profiler = new BindingProfiler();
  const b = profiler.wrap(fake) as unknown as { relu(): void; conv2dForward(p: unknown): void; sync(): void };
  profiler.record(1, () => { b.relu(); b.conv2dForward(conv); });
  log.length = 0;
  const device = profiler.recordDeviceTime(2, () => {
    b.relu();
    clock += 10; // the device idles between calls (host work): not counted as busy
    b.conv2dForward(packConv(conv));
    b.sync();
  });
  assert.deepEqual(log, ['relu', 'conv', 'sync', 'relu', 'conv', 'sync'], 'no sync after each call, only the step\'s own');
  assert.deepEqual(device, { steps: 2, busyMs: 5, spanMs: 15 });
  const byCall = profiler.rows();
  const dev = Object.fromEntries(byCall.map((r) => [r.op, r.deviceMsPerStep]));
  assert.deepEqual(dev, { relu: 1, 'conv2dForward n2 3->4 8x8->8x8 k3 s1 p1': 4 }, 'a packed ConvParams is keyed by its shape too');
  assert.match(formatProfile(byCall, 5), /device column: the device's own time on each call's kernels, 5\.000 ms a step/);
  assert.throws(() => new BindingProfiler().recordDeviceTime(1, () => {}), /no timerMark\/timerRead/);
});

test('rows fold into the kinds of work PyTorch\'s profile uses, with their calls, times and device times', () => {
  assert.deepEqual(
    ['conv2dBackward', 'convTranspose2dForward', 'linearForward', 'instanceNormReluBackward', 'batchNormForwardTrain', 'reflectionPadForward',
      'adamStep', 'copyBlocks', 'fill', 'upload', 'mseLossForward', 'biasBackward', 'sum', 'axpy', 'reluForward', 'tanhBackward', 'alloc', 'free'].map(kindOf),
    ['conv', 'conv', 'conv', 'norm', 'norm', 'pad', 'optimizer', 'copy', 'copy', 'copy', 'reduce', 'reduce', 'reduce', 'elementwise', 'elementwise', 'elementwise',
      'allocator', 'allocator'],
  );
  const rows = [
    { op: 'conv2dForward n2 3->4 8x8->8x8 k3 s1 p1', callsPerStep: 2, msPerStep: 3, percent: 50, deviceMsPerStep: 2.5 },
    { op: 'conv2dBackward n2 3->4 8x8->8x8 k3 s1 p1', callsPerStep: 1, msPerStep: 2, percent: 25, deviceMsPerStep: 1.5 },
    { op: 'axpy', callsPerStep: 4, msPerStep: 1, percent: 25, deviceMsPerStep: 0.5 },
  ];
  assert.deepEqual(rowsByKind(rows), [
    { op: 'conv', callsPerStep: 3, msPerStep: 5, percent: 75, deviceMsPerStep: 4 },
    { op: 'elementwise', callsPerStep: 4, msPerStep: 1, percent: 25, deviceMsPerStep: 0.5 },
  ]);
  assert.equal(rowsByKind(rows.map(({ deviceMsPerStep, ...r }) => r))[0].deviceMsPerStep, undefined, 'no device column without device times');
});
