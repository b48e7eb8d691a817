/** The benchmarks' timing loop: counts alone, or counts and a minimum time. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { performance } from 'perf_hooks';
import { timeCalls } from '../../src/util/timing';

function busy(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test('without a minimum time: exactly the warm-up and timed counts', async () => {
  let calls = 0;
  const times = await timeCalls({ warmup: 3, steps: 4, minSeconds: 0 }, () => void calls++);
  assert.equal(times.length, 4);
  assert.equal(calls, 7);
});

test('short calls keep running until each phase has lasted its minimum', async () => {
  let calls = 0;
  const started = performance.now();
  const times = await timeCalls({ warmup: 1, steps: 2, minSeconds: 0.08 }, () => {
    calls++;
    busy(2);
  });
  const total = times.reduce((a, b) => a + b, 0);
  assert.ok(total >= 80, `timed ${total} ms`);
  assert.ok(times.length >= 20 && times.every((t) => t >= 2), `${times.length} calls`);
  // the warm-up lasted a quarter of the minimum: at least 10 of the 2 ms calls before the timed ones
  assert.ok(calls - times.length >= 10, `${calls - times.length} warm-up calls`);
  assert.ok(performance.now() - started >= 100);
});

test('awaits calls that return promises, and long calls need only their counts', async () => {
  let calls = 0;
  const times = await timeCalls({ warmup: 0, steps: 2, minSeconds: 0.01 }, async () => {
    calls++;
    await new Promise((resolve) => setTimeout(resolve, 15));
  });
  assert.equal(times.length, 2);
  assert.equal(calls, 3, 'one warm-up call covers the 2.5 ms of warm-up');
  assert.ok(times.every((t) => t >= 14), String(times));
});
