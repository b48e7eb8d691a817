/**
 * The results of `npm run bench` (bench/run.ts): raw samples, their medians, and the markdown
 * table the README shows. Pure functions of plain objects, so the test can check them on canned
 * results without running anything.
 */

export type Mode = 'step' | 'infer';

/** One benchmark configuration: the same networks, batch and image size for every implementation. */
export interface BenchConfig {
  name: string;
  size: number;
  blocks: number;
  ngf: number;
  ndf: number;
  batch: number;
}

/** One process of one implementation: warmup, then timed steps (training) or batches (inference). */
export interface Sample {
  mode: Mode;
  config: string;
  impl: string;
  /** Shown in the table, e.g. "PyTorch 1.13.0 (cpu, 2 threads)". */
  label: string;
  repeat: number;
  /** The run's median ms per training step, or per inference batch. */
  ms: number;
  /** FLOP per image as the implementation counted it (the torch script's formula). */
  gflopPerImage: number;
  /** 1-minute load average when the run started. */
  load1: number;
}

export interface Row {
  mode: Mode;
  config: string;
  impl: string;
  label: string;
  runs: number;
  /** Median over runs of the per-run median ms per step (training) or per batch (inference). */
  ms: number;
  msMin: number;
  msMax: number;
  imagesPerSec: number;
  gflopPerImage: number;
  gflops: number;
  percentOfPeak: number | null;
  /** This row's time per image over cgtrain's for the same configuration and mode (cgtrain = 1). */
  timeVsCgtrain: number | null;
}

export interface Skip {
  mode: Mode;
  config: string;
  impl: string;
  reason: string;
  /** A run that failed (the others of the row may have run), rather than an implementation left out. */
  failed?: boolean;
}

export interface Check {
  config: string;
  what: string;
  ok: boolean;
  detail: string;
}

export interface Machine {
  description: string;
  cpu: string;
  cores: number;
  simd?: string;
  threads: number;
  peakGflops: number | null;
  node: string;
  os: string;
}

export interface Report {
  title: string;
  command: string;
  time: string;
  seconds: number;
  machine: Machine;
  load: { start: number[]; end: number[]; min1: number; max1: number };
  repeats: number;
  configs: BenchConfig[];
  /** Per configuration and implementation: warmup and timed steps of each run, for the notes. */
  procedure: string;
  rows: Row[];
  samples: Sample[];
  skipped: Skip[];
  checks: Check[];
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function configLabel(c: BenchConfig): string {
  return `${c.size}x${c.size} resnet_${c.blocks}blocks ngf ${c.ngf} ndf ${c.ndf} batch ${c.batch}`;
}

/** The FLOP count every row of a configuration uses: the first sample's (they are checked to agree). */
function flopCount(samples: Sample[], mode: Mode, config: string): number {
  const preferred = ['torch', 'cgtrain'];
  const own = samples.filter((s) => s.mode === mode && s.config === config && s.gflopPerImage > 0);
  const first = preferred.map((impl) => own.find((s) => s.impl === impl)).find(Boolean) ?? own[0];
  return first ? first.gflopPerImage : NaN;
}

/** Medians per (mode, configuration, implementation), in the order they first appear. */
export function summarize(samples: Sample[], configs: BenchConfig[], peakGflops: number | null): Row[] {
  const keys: string[] = [];
  const groups = new Map<string, Sample[]>();
  for (const s of samples) {
    const key = `${s.mode}\u0000${s.config}\u0000${s.impl}`;
    if (!groups.has(key)) {
      groups.set(key, []);
      keys.push(key);
    }
    groups.get(key)!.push(s);
  }
  const rows = keys.map((key) => {
    const group = groups.get(key)!;
    const { mode, config, impl, label } = group[0];
    const batch = configs.find((c) => c.name === config)?.batch ?? NaN;
    const ms = median(group.map((s) => s.ms));
    const gflopPerImage = flopCount(samples, mode, config);
    const imagesPerSec = (batch * 1000) / ms;
    const gflops = gflopPerImage * imagesPerSec;
    return {
      mode, config, impl, label, runs: group.length, ms,
      msMin: Math.min(...group.map((s) => s.ms)), msMax: Math.max(...group.map((s) => s.ms)),
      imagesPerSec, gflopPerImage, gflops,
      percentOfPeak: peakGflops ? (100 * gflops) / peakGflops : null,
      timeVsCgtrain: null as number | null,
    };
  });
  for (const row of rows) {
    const ours = rows.find((r) => r.impl === 'cgtrain' && r.mode === row.mode && r.config === row.config);
    row.timeVsCgtrain = ours ? ours.imagesPerSec / row.imagesPerSec : null;
  }
  return rows;
}

function fixed(value: number, digits: number): string {
  if (!Number.isFinite(value)) return '-';
  // Keep three significant figures for small numbers (the pure-JS rows are far below 1).
  if (Math.abs(value) < 1 && value !== 0) return value.toPrecision(Math.max(1, digits + 1));
  return value.toFixed(digits);
}

function ratio(value: number | null): string {
  if (value === null || !Number.isFinite(value)) return '-';
  return value >= 10 ? `${value.toFixed(0)}x` : `${value.toFixed(2)}x`;
}

/** One markdown table for one mode; rows keep their order. */
export function markdownTable(rows: Row[], mode: Mode, configs: BenchConfig[]): string {
  const own = rows.filter((r) => r.mode === mode);
  if (own.length === 0) return '';
  const unit = mode === 'step' ? 'ms/step' : 'ms/image';
  const lines = [
    `| configuration | implementation | images/s | ${unit} | GFLOP/s | % of peak | time vs cgtrain | runs |`,
    '| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of own) {
    const cfg = configs.find((c) => c.name === r.config);
    const ms = mode === 'step' ? r.ms : r.ms / (cfg?.batch ?? NaN);
    lines.push(`| ${cfg ? configLabel(cfg) : r.config} | ${r.label} | ${fixed(r.imagesPerSec, 2)} | ${fixed(ms, 1)} | ` +
      `${fixed(r.gflops, 2)} | ${r.percentOfPeak === null ? '-' : fixed(r.percentOfPeak, 1)} | ${ratio(r.timeVsCgtrain)} | ${r.runs} |`);
  }
  return lines.join('\n');
}

function loadText(report: Report): string {
  if (report.load.start.length === 0) return '';
  const fmt = (l: number[]) => l.map((x) => x.toFixed(2)).join(', ');
  return `load average ${fmt(report.load.start)} at the start, ${fmt(report.load.end)} at the end ` +
    `(1-minute load ${report.load.min1.toFixed(1)} to ${report.load.max1.toFixed(1)} when runs started)`;
}

/** The whole markdown report: machine, load, procedure, both tables, skips and checks. */
export function renderMarkdown(report: Report): string {
  const m = report.machine;
  const parts = [
    `## ${report.title}`,
    '',
    `Measured ${report.time} on ${m.description}; ${m.node}, ${m.os}${loadText(report) ? `; ${loadText(report)}` : ''}. ` +
      `Peak: ${m.peakGflops === null ? 'not measured' : `${m.peakGflops.toFixed(1)} GFLOP/s`} (cgtrain's FP32 FMA-chain peak, \`binding.peakGflops\`${m.threads ? `, ${m.threads} threads` : ''}). ` +
      `Command: \`${report.command}\`${report.seconds > 0 ? ` (${Math.round(report.seconds)} s)` : ''}.`,
    '',
    report.procedure,
    '',
    'GFLOP/s counts the same FLOP per image for every implementation (torch_cyclegan_step.py\'s formula: ' +
      '3 x 2 x (6 G + 6 D forward MACs) per training image, 2 x G MACs per inference image). ' +
      '"time vs cgtrain" is the implementation\'s time per image over cgtrain\'s (above 1: slower than cgtrain).' +
      (report.rows.some((r) => r.label.includes('Winograd 3x3'))
        ? ' Rows marked "Winograd 3x3" ran 3x3 stride-1 convolutions as Winograd F(4x4,3x3), which does fewer multiplies than that count, ' +
          'so their % of peak can pass 100.'
        : ''),
  ];
  const step = markdownTable(report.rows, 'step', report.configs);
  const infer = markdownTable(report.rows, 'infer', report.configs);
  if (step) parts.push('', '### Training step', '', step);
  if (infer) parts.push('', '### Generator inference', '', infer);
  const notes = [
    ...report.skipped.map((s) => `- ${s.failed ? 'failed' : 'skipped'}: ${s.impl} ${s.mode === 'step' ? 'training' : 'inference'} on ${s.config}: ${s.reason}`),
    ...report.checks.map((c) => `- ${c.ok ? 'check ok' : 'CHECK FAILED'}: ${c.config}: ${c.what}: ${c.detail}`),
  ];
  if (notes.length) parts.push('', '### Notes', '', ...notes);
  return `${parts.join('\n')}\n`;
}

/** Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->`; throws when the markers are missing. */
export function replaceBlock(text: string, name: string, content: string): string {
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) throw new Error(`markers ${start} ... ${end} not found`);
  return `${text.slice(0, i + start.length)}\n${content.trim()}\n${text.slice(j)}`;
}
