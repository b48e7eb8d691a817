/** Text forms of evaluation metrics: one summary line for logs, a table for `cgtrain eval`. */
import type { EvalMetrics } from './evaluator';

const DIRECTION_LABEL: Record<string, string> = { AtoB: 'A->B (G_A)', BtoA: 'B->A (G_B)', A: 'real A', B: 'real B' };

function formatValue(key: string, v: number): string {
  if (/^(accuracy|precision|recall|density|coverage)/.test(key)) return key.startsWith('accuracy') ? `${(v * 100).toFixed(2)}%` : v.toFixed(4);
  if (/KID/.test(key)) return v.toExponential(3);
  return v.toFixed(3);
}

function numericEntries(metrics: EvalMetrics): [string, number][] {
  return Object.entries(metrics).filter((e): e is [string, number] => typeof e[1] === 'number');
}

/** Whether a metric key is a spread (KID-std_AtoB, IS-std_BtoA): one-line views leave these out. */
export function isSpread(key: string): boolean {
  return key.includes('-std_');
}

/** accuracy_AtoB 91.20% digit-FID_AtoB 3.210 ... (the std entries left out). */
export function formatMetricsLine(metrics: EvalMetrics): string {
  return numericEntries(metrics).filter(([k]) => !isSpread(k)).map(([k, v]) => `${k} ${formatValue(k, v)}`).join('  ');
}

/**
 * Rows = metrics, columns = directions; a value +- its std where the metric has a spread (a KID
 * from one subset, when both sets fit in it, has std 0: the value alone).
 */
export function formatMetricsTable(metrics: EvalMetrics): string {
  const rows = new Map<string, Map<string, string>>();
  const columns: string[] = [];
  const entries = numericEntries(metrics);
  for (const [key, value] of entries) {
    const m = /^(.*)_(AtoB|BtoA|A|B)$/.exec(key);
    if (!m || m[1].endsWith('-std')) continue;
    const [, name, dir] = m;
    const std = metrics[`${name}-std_${dir}`];
    const text = formatValue(key, value) + (typeof std === 'number' && std > 0 ? ` ± ${formatValue(key, std)}` : '');
    if (!columns.includes(dir)) columns.push(dir);
    if (!rows.has(name)) rows.set(name, new Map());
    rows.get(name)!.set(dir, text);
  }
  const order = ['AtoB', 'BtoA', 'A', 'B'].filter((c) => columns.includes(c));
  const header = ['metric', ...order.map((c) => DIRECTION_LABEL[c] ?? c)];
  const body = [...rows.entries()].map(([name, cells]) => [name, ...order.map((c) => cells.get(c) ?? '')]);
  const widths = header.map((_, i) => Math.max(...[header, ...body].map((r) => r[i].length)));
  const line = (r: string[]) => r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n');
}

/** A confusion matrix (rows: true digit, columns: predicted digit) as aligned text. */
export function formatConfusion(title: string, rows: number[][]): string {
  const width = Math.max(4, ...rows.flat().map((v) => String(v).length + 1));
  const header = `${'true\\read'.padEnd(10)}${rows.map((_, c) => String(c).padStart(width)).join('')}`;
  return [title, header, ...rows.map((r, t) => `${String(t).padEnd(10)}${r.map((v) => String(v).padStart(width)).join('')}`)].join('\n');
}
