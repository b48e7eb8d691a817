import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { BindingProfiler, formatProfile } from '../../src/backend/profile';
import type { Binding, ConvParams } from '../../src/backend/binding';

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
