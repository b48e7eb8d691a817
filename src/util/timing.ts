/**
 * The timing loop of the benchmarks (`cgtrain bench`, bench/infer.ts): a fixed count of calls is
 * not enough when one call takes a millisecond, where the first hundred calls still run
 * JavaScript that V8 has not optimised yet and five timed calls are noise. So each phase runs
 * its count AND lasts its minimum time: warm-up at least `warmup` calls and a quarter of
 * `minSeconds`, then at least `steps` timed calls and `minSeconds`. Long calls (a training step
 * of seconds) are unaffected: their counts already take longer than the minimum.
 */
import { performance } from 'perf_hooks';

export interface TimingPlan {
  warmup: number;
  steps: number;
  /** seconds the timed calls must last together (0: the counts alone) */
  minSeconds: number;
}

/** Each timed call's milliseconds, in order. `run` may return a promise, which is awaited. */
export async function timeCalls(plan: TimingPlan, run: () => unknown): Promise<number[]> {
  const warmupMs = (plan.minSeconds * 1000) / 4;
  const warmupStart = performance.now();
  for (let i = 0; i < plan.warmup || performance.now() - warmupStart < warmupMs; i++) await run();
  const times: number[] = [];
  let total = 0;
  while (times.length < plan.steps || total < plan.minSeconds * 1000) {
    const t0 = performance.now();
    await run();
    const ms = performance.now() - t0;
    times.push(ms);
    total += ms;
  }
  return times;
}
