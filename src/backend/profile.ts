/**
 * Per-call timing of a backend binding, for `cgtrain bench --profile`: every function call is
 * timed up to a `sync()` after it, so on CUDA each row holds the kernels' device time plus the
 * launch, and on the CPU (synchronous calls) exactly the call. The cost of a `sync()` with
 * nothing to wait for is measured first and taken off every call, so a thousand tiny kernels do
 * not show up as a thousand synchronisations. Convolutions are keyed by their shape, so the
 * table says which layer costs what.
 *
 * recordDeviceTime then runs steps without those syncs, with a timer mark (cgk_timer_mark: a
 * CUDA event in stream order) before and after every call: the device's own time for each
 * call's kernels, and over a step how busy the device was (the same measure as PyTorch's
 * profile in bench/torch/torch_profile.py).
 */
import { performance } from 'perf_hooks';
import { convParamsOf, wrapBinding, type Binding } from './binding';
import type { Backend } from './device';

export interface ProfileRow {
  /** function name, and for convolutions the layer's shape */
  op: string;
  callsPerStep: number;
  msPerStep: number;
  /** share of the profiled step's time, in percent */
  percent: number;
  /** with recordDeviceTime: the device's time on the call's kernels, between marks around it */
  deviceMsPerStep?: number;
}

/** What recordDeviceTime measured: per step, the device time of every call, and the span. */
export interface DeviceTime {
  steps: number;
  /** sum over calls of the device time between the marks around each, per step (median) */
  busyMs: number;
  /** from the step's first mark to its last, per step (median); the steps run without syncs */
  spanMs: number;
}

/** Functions that are bookkeeping, not work, and stay out of the table. */
const UNTIMED = new Set(['sync', 'timerMark', 'timerRead', 'memoryStats', 'numThreads', 'backendName', 'deviceInfo', 'simdLevel', 'convAlgo', 'precision', 'convTuning', 'convTuningReport']);

/** A row's key: the function, and for a convolution its shape. */
function opKey(name: string, args: unknown[]): string {
  const p = convParamsOf(args[0]);
  if (!p) return name;
  const pad = p.padMode === 1 ? ' reflect' : '';
  return `${name} n${p.n} ${p.cIn}->${p.cOut} ${p.hIn}x${p.wIn}->${p.hOut}x${p.wOut} k${p.kh} s${p.sh} p${p.ph}${pad}`;
}

export class BindingProfiler {
  /** Off: calls pass straight through. */
  enabled = false;
  private readonly totals = new Map<string, { calls: number; ms: number }>();
  private steps = 0;
  /** recordDeviceTime: marks around each call instead of a sync after it */
  private marking = false;
  private pending: { op: string; before: number; after: number }[] = [];
  private readonly deviceTotals = new Map<string, number>();
  private deviceSteps = 0;
  private timer: { mark: () => number; read: () => Float64Array } | null = null;
  /** set by recordDeviceTime */
  deviceTime: DeviceTime | null = null;
  /** median cost of an idle sync(), subtracted from every timed call */
  syncMs = 0;
  private sync: (() => void) | null = null;

  /** A binding whose functions time themselves while `enabled`. */
  wrap(binding: Binding): Binding {
    const sync = binding.sync.bind(binding);
    this.sync = sync;
    if (typeof binding.timerMark === 'function' && typeof binding.timerRead === 'function') {
      this.timer = { mark: binding.timerMark.bind(binding), read: binding.timerRead.bind(binding) };
    }
    return wrapBinding(binding, (key, fn) => {
      if (UNTIMED.has(key)) return fn;
      return (...args: unknown[]): unknown => {
        if (this.marking && this.timer) {
          const before = this.timer.mark();
          const result = fn(...args);
          const after = this.timer.mark();
          this.pending.push({ op: opKey(key, args), before, after });
          return result;
        }
        if (!this.enabled) return fn(...args);
        const t0 = performance.now();
        const result = fn(...args);
        sync();
        const op = opKey(key, args);
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

  /**
   * Runs `step` `steps` times with a timer mark before and after every call and none of
   * record's syncs (the step's own sync stays): per call the device's time on its kernels, per
   * step their sum and the span from the first mark to the last. Needs the binding's timer.
   */
  recordDeviceTime(steps: number, step: () => void): DeviceTime {
    const timer = this.timer;
    if (!timer) throw new Error('profiler: this binding has no timerMark/timerRead');
    timer.read(); // drop marks from before
    const busy: number[] = [];
    const spans: number[] = [];
    this.marking = true;
    try {
      for (let i = 0; i < steps; i++) {
        this.pending = [];
        const first = timer.mark();
        step();
        const last = timer.mark();
        const ms = timer.read();
        let sum = 0;
        for (const c of this.pending) {
          const t = ms[c.after] - ms[c.before];
          sum += t;
          this.deviceTotals.set(c.op, (this.deviceTotals.get(c.op) ?? 0) + t);
        }
        busy.push(sum);
        spans.push(ms[last] - ms[first]);
      }
    } finally {
      this.marking = false;
      this.pending = [];
    }
    this.deviceSteps += steps;
    const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
    this.deviceTime = { steps: this.deviceSteps, busyMs: median(busy), spanMs: median(spans) };
    return this.deviceTime;
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
    const device = new Map<string, number>();
    for (const [op, ms] of this.deviceTotals) {
      const key = byFunction ? op.split(' ')[0] : op;
      device.set(key, (device.get(key) ?? 0) + ms);
    }
    const steps = Math.max(1, this.steps);
    const deviceSteps = Math.max(1, this.deviceSteps);
    const total = [...merged.values()].reduce((s, t) => s + t.ms, 0) || 1;
    return [...merged.entries()]
      .map(([op, t]) => ({
        op, callsPerStep: t.calls / steps, msPerStep: t.ms / steps, percent: (100 * t.ms) / total,
        ...(this.deviceSteps > 0 ? { deviceMsPerStep: (device.get(op) ?? 0) / deviceSteps } : {}),
      }))
      .sort((a, b) => b.msPerStep - a.msPerStep);
  }
}

/**
 * The kinds of work bench/torch/torch_profile.py groups PyTorch's kernels into, for our backend
 * functions: first match wins. (PyTorch's conv bias gradients are reductions inside its conv
 * backward; ours are biasBackward, counted under reduce as its kernels would be.)
 */
const KINDS: [string, RegExp][] = [
  ['allocator', /^(alloc|free|size)$/], // host only: no kernels
  ['conv', /^(conv|linear)/],
  ['norm', /Norm/],
  ['pad', /Pad/],
  ['optimizer', /^adam/],
  ['copy', /^(copy|fill|upload|download|concat|split)/],
  ['reduce', /Loss|^(sum|mean|biasBackward|globalAvgPool|softmax)/],
];

export function kindOf(fn: string): string {
  return KINDS.find(([, re]) => re.test(fn))?.[0] ?? 'elementwise';
}

/** Rows folded by kind of work (kindOf), largest first. */
export function rowsByKind(rows: ProfileRow[]): ProfileRow[] {
  const kinds = new Map<string, ProfileRow>();
  for (const r of rows) {
    const op = kindOf(r.op.split(' ')[0]);
    const k = kinds.get(op) ?? { op, callsPerStep: 0, msPerStep: 0, percent: 0, ...(r.deviceMsPerStep !== undefined ? { deviceMsPerStep: 0 } : {}) };
    k.callsPerStep += r.callsPerStep;
    k.msPerStep += r.msPerStep;
    k.percent += r.percent;
    if (r.deviceMsPerStep !== undefined) k.deviceMsPerStep = (k.deviceMsPerStep ?? 0) + r.deviceMsPerStep;
    kinds.set(op, k);
  }
  return [...kinds.values()].sort((a, b) => b.msPerStep - a.msPerStep);
}

/** A text table of the largest rows; syncMs, when given, is the idle sync() cost taken off each call. */
export function formatProfile(rows: ProfileRow[], limit: number, syncMs?: number): string {
  const total = rows.reduce((s, r) => s + r.msPerStep, 0);
  const withDevice = rows.some((r) => r.deviceMsPerStep !== undefined);
  const device = (ms: number | undefined) => (withDevice ? ` ${(ms ?? 0).toFixed(3).padStart(9)} ms` : '');
  const shown = rows.slice(0, limit);
  const lines = shown.map(
    (r) => `  ${r.msPerStep.toFixed(3).padStart(10)} ms ${r.percent.toFixed(1).padStart(5)}%${device(r.deviceMsPerStep)} ${r.callsPerStep.toFixed(1).padStart(6)} calls  ${r.op}`,
  );
  const rest = rows.slice(limit);
  if (rest.length) {
    const ms = rest.reduce((s, r) => s + r.msPerStep, 0);
    const dev = withDevice ? rest.reduce((s, r) => s + (r.deviceMsPerStep ?? 0), 0) : undefined;
    lines.push(`  ${ms.toFixed(3).padStart(10)} ms ${((100 * ms) / (total || 1)).toFixed(1).padStart(5)}%${device(dev)}        (${rest.length} more rows)`);
  }
  const sync = syncMs === undefined ? '' : `, less an idle sync's ${(syncMs * 1000).toFixed(1)} us`;
  const deviceTotal = withDevice ? `; device column: the device's own time on each call's kernels, ${rows.reduce((s, r) => s + (r.deviceMsPerStep ?? 0), 0).toFixed(3)} ms a step` : '';
  return [`  ${total.toFixed(3).padStart(10)} ms per profiled step (each call timed to a sync after it${sync}${deviceTotal})`, ...lines].join('\n');
}
