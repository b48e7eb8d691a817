/**
 * What the CUDA backend's convolution tuning chose (cgk_conv_tuning_report): per GEMM shape, the
 * engine it kept, the one the rule would have run, and every candidate's time and how far its
 * result was from the reference (the exact-FP32 simt engine's, run once); one too far is
 * rejected. bench prints the summary, and with --profile the table.
 */
import type { Binding } from './binding';

export interface TunedRun {
  engine: string;
  /** tile rows (0 for the engines with one) */
  bm: number;
  splits: number;
  /** tc pipeline depth: 0 the deepest that fits, 2 two stages */
  stages: number;
  /** mean of the timed runs; absent when it could not run */
  ms?: number;
  /** max |result - reference| / max |reference|; null when not finite, absent when not compared
   * (it did not run, or the reference was not finite) */
  diff?: number | null;
  /** its result differed by more than the precision's rounding explains: never kept */
  rejected?: boolean;
  /** why it could not run, or why it was rejected */
  error?: string;
}

export interface TunedGemm {
  kind: 'fwd' | 'dgrad' | 'wgrad';
  precision: string;
  M: number;
  N: number;
  K: number;
  /** the GEMM's geometry (conv_gemm.cuh ConvGeom); outSh/outSw > 1: one output phase of a strided backward-data */
  geometry: Record<'n' | 'C' | 'Hi' | 'Wi' | 'M' | 'Ho' | 'Wo' | 'kh' | 'kw' | 'sh' | 'sw' | 'ph' | 'pw' | 'outSh' | 'outSw', number>;
  chosen: TunedRun;
  heuristic: TunedRun;
  candidates: TunedRun[];
  /** the engine whose result the candidates were checked against: simt (exact FP32), or the
   * first candidate when simt could not run; absent when nothing was checked */
  reference?: string;
}

export interface TuningSummary {
  gemms: number;
  /** shapes where the fastest was not the rule's choice */
  changed: number;
  /** one call of each tuned GEMM: the kept engines' time, and the rule's */
  chosenMs: number;
  heuristicMs: number;
  /** how often each engine (with its tile rows) was kept */
  engines: Record<string, number>;
  /** candidates whose result was compared with the reference, and those rejected */
  checked: number;
  rejected: number;
  /** the largest difference among the candidates that were not rejected */
  maxDiff: number;
}

/** The tuned GEMMs so far; [] for a backend that does not tune (the CPU) or an addon without it. */
export function tunedGemms(binding: Binding): TunedGemm[] {
  if (typeof binding.convTuningReport !== 'function') return [];
  return JSON.parse(binding.convTuningReport()) as TunedGemm[];
}

export function runName(r: TunedRun): string {
  return `${r.engine}${r.bm ? `/${r.bm}` : ''}${r.splits > 1 ? ` x${r.splits}` : ''}${r.stages ? ` ${r.stages}st` : ''}`;
}

export function summarizeTuning(gemms: TunedGemm[]): TuningSummary | undefined {
  if (gemms.length === 0) return undefined;
  const engines: Record<string, number> = {};
  let changed = 0;
  let chosenMs = 0;
  let heuristicMs = 0;
  let checked = 0;
  let rejected = 0;
  let maxDiff = 0;
  for (const g of gemms) {
    for (const c of g.candidates) {
      if (c.diff === undefined) continue;
      checked++;
      if (c.rejected) rejected++;
      else if (c.diff !== null) maxDiff = Math.max(maxDiff, c.diff);
    }
    const name = `${g.chosen.engine}${g.chosen.bm ? `/${g.chosen.bm}` : ''}`;
    engines[name] = (engines[name] ?? 0) + 1;
    if (runName(g.chosen) !== runName(g.heuristic)) changed++;
    chosenMs += g.chosen.ms ?? 0;
    heuristicMs += g.heuristic.ms ?? g.chosen.ms ?? 0;
  }
  return { gemms: gemms.length, changed, chosenMs, heuristicMs, engines, checked, rejected, maxDiff };
}

export function formatTuningSummary(s: TuningSummary): string {
  const engines = Object.entries(s.engines).sort((a, b) => b[1] - a[1]).map(([name, count]) => `${name} ${count}`).join(', ');
  const rejected = s.rejected > 0 ? `, ${s.rejected} REJECTED (wrong results)` : '';
  return (
    `  conv tuning: ${s.gemms} GEMM shapes timed, ${s.changed} run other than by rule; one call of each: ` +
    `${s.chosenMs.toFixed(2)} ms tuned, ${s.heuristicMs.toFixed(2)} ms by rule (kept: ${engines})\n` +
    `  conv tuning check: ${s.checked} candidate results compared with the exact-FP32 engine's, largest difference ` +
    `${s.maxDiff.toExponential(1)} of max${rejected}`
  );
}

/** One line per tuned GEMM, slowest first: shape, kept engine and time, the rule's, the runner-up. */
export function formatTuningTable(gemms: TunedGemm[], limit: number): string {
  const rows = [...gemms].sort((a, b) => (b.chosen.ms ?? 0) - (a.chosen.ms ?? 0)).slice(0, limit);
  const ms = (v: number | undefined): string => (v === undefined ? '-' : v.toFixed(3));
  const lines = rows.map((g) => {
    const k = g.geometry;
    const phase = k.outSh > 1 || k.outSw > 1 ? ', dgrad phase' : '';
    const shape = `${g.kind} ${g.M}x${g.N}x${g.K} (n${k.n} ${k.C}x${k.Hi}x${k.Wi} -> ${k.M}x${k.Ho}x${k.Wo}, ${k.kh}x${k.kw}/${k.sh}${phase})`;
    const others = g.candidates.filter((c) => c.ms !== undefined && runName(c) !== runName(g.chosen)).sort((a, b) => a.ms! - b.ms!);
    const next = others[0] ? `; next ${runName(others[0])} ${ms(others[0].ms)}` : '';
    const bad = g.candidates.filter((c) => c.rejected).map((c) => `${runName(c)} (${c.diff === null ? 'non-finite' : c.diff?.toExponential(1)})`);
    const rejected = bad.length ? `; REJECTED ${bad.join(', ')}` : '';
    return `    ${shape.padEnd(58)} ${runName(g.chosen).padEnd(14)} ${ms(g.chosen.ms).padStart(8)} ms; rule ${runName(g.heuristic)} ${ms(g.heuristic.ms)}${next}${rejected}`;
  });
  return [`  tuned GEMMs (${rows.length} of ${gemms.length}, slowest first; ms per call):`, ...lines].join('\n');
}
