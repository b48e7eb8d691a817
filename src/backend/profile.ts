/**
 * Per-call timing of a backend binding, for `cgtrain bench --profile`: every function call is
 * timed up to a `sync()` after it, so on CUDA each row holds the kernels' device time plus the
 * launch, and on the CPU (synchronous calls) exactly the call. The cost of a `sync()` with
 * nothing to wait for is measured first and taken off every call, so a thousand tiny kernels do
 * not show up as a thousand synchronisations. Convolutions are keyed by their shape, so the
 * table says which layer costs what.
 */
import { performance } from 'perf_hooks';
import { convParamsOf, wrapBinding, type Binding, type ConvParams } from './binding';
import type { Backend } from './device';

export interface ProfileRow {
  /** function name, and for convolutions the layer's shape */
  op: string;
  callsPerStep: number;
  msPerStep: number;
  /** share of the profiled step's time, in percent */
  percent: number;
}

/** Functions that are bookkeeping, not work, and stay out of the table. */
const UNTIMED = new Set(['sync', 'memoryStats', 'numThreads', 'backendName', 'deviceInfo', 'simdLevel', 'convAlgo', 'precision', 'convTuning', 'convTuningReport']);

function convKey(name: string, p: ConvParams): string {
  const pad = p.padMode === 1 ? ' reflect' : '';
  return `${name} n${p.n} ${p.cIn}->${p.cOut} ${p.hIn}x${p.wIn}->${p.hOut}x${p.wOut} k${p.kh} s${p.sh} p${p.ph}${pad}`;
}

export class BindingProfiler {
  /** Off: calls pass straight through. */
  enabled = false;
  private readonly totals = new Map<string, { calls: number; ms: number }>();
  private steps = 0;
  /** median cost of an idle sync(), subtracted from every timed call */
  syncMs = 0;
  private sync: (() => void) | null = null;

  /** A binding whose functions time themselves while `enabled`. */
  wrap(binding: Binding): Binding {
    const sync = binding.sync.bind(binding);
    this.sync = sync;
    return wrapBinding(binding, (key, fn) => {
      if (UNTIMED.has(key)) return fn;
      return (...args: unknown[]): unknown => {
        if (!this.enabled) return fn(...args);
        const t0 = performance.now();
        const result = fn(...args);
        sync();
        const conv = convParamsOf(args[0]);
        const op = conv ? convKey(key, conv) : key;
        const row = this.totals.get(op) ?? { calls: 0, ms: 0 };
        row.calls++;
        row.ms += Math.max(0, performance.now() - t0 - this.syncMs);
        this.totals.set(op, row);
        return result;
      };
    });
  }

  /** A backend whose binding is wrapped. */
  wrapBackend(backend: Backend): Backend {
    return { ...backend, binding: this.wrap(backend.binding) };
  }

  /** Runs `step` `steps` times with timing on. */
  record(steps: number, step: () => void): void {
    if (this.sync) {
      const sync = this.sync;
      sync();
      const times = Array.from({ length: 51 }, () => {
        const t0 = performance.now();
        sync();
        return performance.now() - t0;
      }).sort((a, b) => a - b);
      this.syncMs = times[25];
    }
    this.enabled = true;
    try {
      for (let i = 0; i < steps; i++) step();
    } finally {
      this.enabled = false;
    }
    this.steps += steps;
  }

  /** Rows by time, largest first; `byFunction` folds the conv shapes into their function. */
  rows(byFunction = false): ProfileRow[] {
    const merged = new Map<string, { calls: number; ms: number }>();
    for (const [op, t] of this.totals) {
      const key = byFunction ? op.split(' ')[0] : op;
      const row = merged.get(key) ?? { calls: 0, ms: 0 };
      row.calls += t.calls;
      row.ms += t.ms;
      merged.set(key, row);
    }
    const steps = Math.max(1, this.steps);
    const total = [...merged.values()].reduce((s, t) => s + t.ms, 0) || 1;
    return [...merged.entries()]
      .map(([op, t]) => ({ op, callsPerStep: t.calls / steps, msPerStep: t.ms / steps, percent: (100 * t.ms) / total }))
      .sort((a, b) => b.msPerStep - a.msPerStep);
  }
}

/** A text table of the largest rows; syncMs, when given, is the idle sync() cost taken off each call. */
export function formatProfile(rows: ProfileRow[], limit: number, syncMs?: number): string {
  const total = rows.reduce((s, r) => s + r.msPerStep, 0);
  const shown = rows.slice(0, limit);
  const lines = shown.map(
    (r) => `  ${r.msPerStep.toFixed(3).padStart(10)} ms ${r.percent.toFixed(1).padStart(5)}% ${r.callsPerStep.toFixed(1).padStart(6)} calls  ${r.op}`,
  );
  const rest = rows.slice(limit);
  if (rest.length) {
    const ms = rest.reduce((s, r) => s + r.msPerStep, 0);
    lines.push(`  ${ms.toFixed(3).padStart(10)} ms ${((100 * ms) / (total || 1)).toFixed(1).padStart(5)}%         (${rest.length} more rows)`);
  }
  const sync = syncMs === undefined ? '' : `, less an idle sync's ${(syncMs * 1000).toFixed(1)} us`;
  return [`  ${total.toFixed(3).padStart(10)} ms per profiled step (each call timed to a sync after it${sync})`, ...lines].join('\n');
}
