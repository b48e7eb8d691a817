/**
 * Turns the step, epoch and eval records into chart specifications: plain arrays that the page
 * embeds as JSON and the in-page script hands to uPlot.
 *
 * Long runs log tens of thousands of steps; each series is bucket-averaged down to MAX_POINTS so
 * the report stays small and the browser stays fast, while the shape of the curve survives.
 */
import { flattenMetrics, type RunLog, type StepRecord } from './runlog';

export interface ChartSeries { label: string; values: (number | null)[] }
export interface ChartSpec {
  id: string;
  title: string;
  /** what the x values count: images seen (losses, lr, throughput) or epochs (metrics) */
  xKind: 'images' | 'steps' | 'epoch';
  x: number[];
  series: ChartSeries[];
  /** noisy per-step series get the page's smoothing control */
  smoothable: boolean;
  /** drawn as steps: each logged value held over the interval it covers (the learning rate changes per epoch) */
  stepped?: boolean;
  yLabel?: string;
}

export interface ChartSet {
  losses: ChartSpec[];
  training: ChartSpec[];
  metrics: ChartSpec[];
  /** x positions (same unit as the step charts) where an epoch ended, drawn as faint rules */
  epochEnds: number[];
}

export const MAX_POINTS = 1500;

const LOSS_GROUPS: { id: string; title: string; test: (key: string) => boolean }[] = [
  { id: 'loss-g', title: 'Generator adversarial losses', test: (k) => /^G(_|$)/.test(k) },
  { id: 'loss-d', title: 'Discriminator losses', test: (k) => /^D(_|$)/.test(k) },
  { id: 'loss-cycle', title: 'Cycle-consistency losses', test: (k) => /^cycle/i.test(k) },
  { id: 'loss-idt', title: 'Identity losses', test: (k) => /^idt/i.test(k) },
];

export function buildCharts(run: RunLog): ChartSet {
  const { x, xKind } = stepAxis(run.steps);
  const lossKeys = unionKeys(run.steps.map((s) => s.losses));
  const losses: ChartSpec[] = [];
  const claimed = new Set<string>();
  for (const group of [...LOSS_GROUPS, { id: 'loss-other', title: 'Other losses', test: (k: string) => !claimed.has(k) }]) {
    const keys = lossKeys.filter((k) => !claimed.has(k) && group.test(k));
    keys.forEach((k) => claimed.add(k));
    if (keys.length === 0 && group.id === 'loss-other') continue;
    const series = keys.map((key) => ({ label: key, values: run.steps.map((s) => finiteOrNull(s.losses[key])) }));
    losses.push(downsample({ id: group.id, title: group.title, xKind, x, series, smoothable: true }));
  }
  return { losses, training: trainingCharts(run, x, xKind), metrics: metricCharts(run), epochEnds: epochEnds(run, x) };
}

/** Images seen when the log counts them monotonically, else the step's position in the log. */
function stepAxis(steps: StepRecord[]): { x: number[]; xKind: 'images' | 'steps' } {
  const images = steps.map((s) => s.images);
  const monotonic = images.every((v, i) => typeof v === 'number' && Number.isFinite(v) && (i === 0 || v >= (images[i - 1] as number)));
  if (steps.length > 0 && monotonic) return { x: images as number[], xKind: 'images' };
  return { x: steps.map((_, i) => i + 1), xKind: 'steps' };
}

function trainingCharts(run: RunLog, x: number[], xKind: 'images' | 'steps'): ChartSpec[] {
  const charts: ChartSpec[] = [];
  const stepLr = run.steps.map((s) => finiteOrNull(s.lr));
  if (stepLr.some((v) => v !== null)) {
    charts.push(downsample({ id: 'lr', title: 'Learning rate', xKind, x, series: [{ label: 'lr', values: stepLr }], smoothable: false, stepped: true }));
  } else if (run.epochs.some((e) => typeof e.lr === 'number')) {
    charts.push({ id: 'lr', title: 'Learning rate', xKind: 'epoch', x: run.epochs.map((e) => e.epoch), series: [{ label: 'lr', values: run.epochs.map((e) => finiteOrNull(e.lr)) }], smoothable: false, stepped: true });
  }
  const rate = run.steps.map((s) => finiteOrNull(s.imagesPerSec));
  if (rate.some((v) => v !== null)) {
    charts.push(downsample({ id: 'throughput', title: 'Throughput', yLabel: 'images/s', xKind, x, series: [{ label: 'images/s', values: rate }], smoothable: true }));
  } else if (run.epochs.some((e) => typeof e.imagesPerSec === 'number')) {
    charts.push({ id: 'throughput', title: 'Throughput', yLabel: 'images/s', xKind: 'epoch', x: run.epochs.map((e) => e.epoch), series: [{ label: 'images/s', values: run.epochs.map((e) => finiteOrNull(e.imagesPerSec)) }], smoothable: false });
  }
  return charts;
}

/**
 * One chart per metric family: `fid_A` and `fid_B` (or `A.fid`, `B.fid`) share a chart because they
 * share a scale, while FID and accuracy, hundreds apart, get their own.
 */
function metricCharts(run: RunLog): ChartSpec[] {
  const byEpoch = new Map<number, Record<string, number>>();
  for (const record of run.evals) byEpoch.set(record.epoch, { ...byEpoch.get(record.epoch), ...flattenMetrics(record.metrics) });
  const epochs = [...byEpoch.keys()].sort((a, b) => a - b);
  const keys = unionKeys([...byEpoch.values()]);
  const families = new Map<string, string[]>();
  for (const key of keys) {
    const family = metricFamily(key);
    families.set(family, [...(families.get(family) ?? []), key]);
  }
  return [...families.entries()].map(([family, members]) => ({
    id: `metric-${family.replace(/[^A-Za-z0-9_-]/g, '_')}`,
    title: family,
    xKind: 'epoch' as const,
    x: epochs,
    series: members.map((key) => ({ label: key, values: epochs.map((e) => finiteOrNull(byEpoch.get(e)?.[key])) })),
    smoothable: false,
  }));
}

export function metricFamily(key: string): string {
  const family = key.replace(/^(A|B|AtoB|BtoA)[._]/, '').replace(/[._](A|B|AtoB|BtoA|A2B|B2A)$/, '');
  return family || key;
}

function epochEnds(run: RunLog, x: number[]): number[] {
  const lastStepOfEpoch = new Map<number, number>();
  run.steps.forEach((step, i) => lastStepOfEpoch.set(step.epoch, i));
  const ends: number[] = [];
  for (const record of run.epochs) {
    const last = lastStepOfEpoch.get(record.epoch);
    if (last !== undefined && !ends.includes(x[last])) ends.push(x[last]);
  }
  return ends;
}

/** Bucket means keep the curve's level and trend; the bucket's last x keeps the axis honest. */
export function downsample(chart: ChartSpec, maxPoints = MAX_POINTS): ChartSpec {
  const n = chart.x.length;
  if (n <= maxPoints) return chart;
  const bucket = n / maxPoints;
  const x: number[] = [];
  const series = chart.series.map((s) => ({ label: s.label, values: [] as (number | null)[] }));
  for (let b = 0; b < maxPoints; b++) {
    const from = Math.floor(b * bucket);
    const to = Math.min(n, Math.floor((b + 1) * bucket));
    x.push(chart.x[to - 1]);
    chart.series.forEach((s, si) => series[si].values.push(mean(s.values.slice(from, to))));
  }
  return { ...chart, x, series };
}

function mean(values: (number | null)[]): number | null {
  let sum = 0;
  let count = 0;
  for (const v of values) if (v !== null) { sum += v; count++; }
  return count === 0 ? null : sum / count;
}

function unionKeys(records: Record<string, unknown>[]): string[] {
  const keys: string[] = [];
  for (const record of records) for (const key of Object.keys(record)) if (!keys.includes(key)) keys.push(key);
  return keys;
}

function finiteOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}
