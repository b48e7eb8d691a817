/**
 * What the CUDA backend's convolution tuning chose (cgk_conv_tuning_report): per GEMM shape, the
 * engine it kept, the one the rule would have run, and every candidate's time. bench prints the
 * summary, and with --profile the table.
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
  for (const g of gemms) {
    const name = `${g.chosen.engine}${g.chosen.bm ? `/${g.chosen.bm}` : ''}`;
    engines[name] = (engines[name] ?? 0) + 1;
    if (runName(g.chosen) !== runName(g.heuristic)) changed++;
    chosenMs += g.chosen.ms ?? 0;
    heuristicMs += g.heuristic.ms ?? g.chosen.ms ?? 0;
  }
  return { gemms: gemms.length, changed, chosenMs, heuristicMs, engines };
}

export function formatTuningSummary(s: TuningSummary): string {
  const engines = Object.entries(s.engines).sort((a, b) => b[1] - a[1]).map(([name, count]) => `${name} ${count}`).join(', ');
  return (
    `  conv tuning: ${s.gemms} GEMM shapes timed, ${s.changed} run other than by rule; one call of each: ` +
    `${s.chosenMs.toFixed(2)} ms tuned, ${s.heuristicMs.toFixed(2)} ms by rule (kept: ${engines})`
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
    return `    ${shape.padEnd(58)} ${runName(g.chosen).padEnd(14)} ${ms(g.chosen.ms).padStart(8)} ms; rule ${runName(g.heuristic)} ${ms(g.heuristic.ms)}${next}`;
  });
  return [`  tuned GEMMs (${rows.length} of ${gemms.length}, slowest first; ms per call):`, ...lines].join('\n');
}
