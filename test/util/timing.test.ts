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
  // Phases are judged by their measured length, not by call counts: on a loaded machine a 2 ms
  // busy call can last much longer, so fewer calls fill a phase.
  const starts: number[] = [];
  const started = performance.now();
  const times = await timeCalls({ warmup: 1, steps: 2, minSeconds: 0.08 }, () => {
    starts.push(performance.now());
    busy(2);
  });
  const warmupCalls = starts.length - times.length;
  assert.ok(warmupCalls >= 1 && times.length >= 2, `${warmupCalls} warm-up, ${times.length} timed`);
  // the warm-up lasted a quarter of the minimum (20 ms) before the first timed call began
  const warmupMs = starts[warmupCalls] - started;
  assert.ok(warmupMs >= 20, `warm-up lasted ${warmupMs} ms`);
  const total = times.reduce((a, b) => a + b, 0);
  assert.ok(total >= 80, `timed ${total} ms`);
  assert.ok(times.every((t) => t >= 2), String(times));
  // and the timed phase stopped once it had both: the sum before its last call was short of it
  const before = total - times[times.length - 1];
  assert.ok(times.length <= 2 || before < 80, `timed ${before} ms before the last call`);
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
