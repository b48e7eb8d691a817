/**
 * Renders the report model to one self-contained HTML document: stylesheet, uPlot, the data and
 * the drawing script are all inline, images are data: URIs, so the file opens from disk offline.
 */
import { readFileSync } from 'fs';
import * as path from 'path';
import { pathToFileURL } from 'url';
import { bestEvaluation, formatScore } from '../eval/best';
import { isSpread } from '../eval/format';
import { OPTION_SPECS } from '../options';
import { SAMPLE_COLUMNS } from '../train/samples';
import type { ChartSet, ChartSpec } from './charts';
import { REPORT_CLIENT_JS } from './client';
import { formatBytes, formatDuration, formatNumber, formatRate, formatTime } from './format';
import { STALE_RUN_MS, type RunOverview } from './overview';
import type { RunLog } from './runlog';
import type { EmbeddedImage, SampleSet } from './samples';
import { REPORT_CSS } from './style';

export interface ModelFile {
  /** relative to the run directory when inside it */
  file: string;
  kind: 'model' | 'checkpoint';
  bytes?: number;
  epoch?: number;
}

export interface ReportModel {
  run: RunLog;
  overview: RunOverview;
  charts: ChartSet;
  samples: SampleSet;
  models: ModelFile[];
  generatedMs: number;
}

/** How often the page of a running run reloads itself to pick up the rewritten file. */
export const REFRESH_SECONDS = 30;

let uplotAssets: { js: string; css: string } | undefined;
function uplot(): { js: string; css: string } {
  uplotAssets ??= {
    js: readFileSync(require.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  };
  return uplotAssets;
}

export function renderReport(model: ReportModel): string {
  const { run, overview } = model;
  const pageData = {
    status: overview.status, generatedMs: model.generatedMs, refreshSeconds: REFRESH_SECONDS, staleMs: STALE_RUN_MS,
    defaultSmoothing: run.steps.length > 200 ? 0.8 : run.steps.length > 30 ? 0.6 : 0,
    charts: model.charts,
  };
  const assets = uplot();
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="cgtrain">
<title>${esc(run.name)} · ${overview.status} · cgtrain report</title>
<style>${inlineSafe(assets.css)}</style>
<style>${REPORT_CSS}</style>
</head>
<body>
<main>
${headerSection(model)}
${statCards(overview, run.steps[run.steps.length - 1])}
${latestSampleSection(model.samples)}
${chartSection('Losses', model.charts.losses, 'drag to zoom, double-click to reset; dashed lines end epochs', smoothingControl())}
${chartSection('Training', model.charts.training, 'learning rate and throughput', '')}
${evaluationSection(model.charts.metrics, run)}
${epochSamplesSection(model.samples)}
${modelsSection(model.models)}
${runSection(run)}
${problemsSection([...run.problems, ...model.samples.problems])}
<footer>Written by <b>cgtrain</b> at ${esc(formatTime(model.generatedMs))} from <code>log.jsonl</code>.
Rebuild with <code>cgtrain report ${esc(run.runDir)}</code>.</footer>
</main>
<script type="application/json" id="report-data">${jsonForScript(pageData)}</script>
<script>${inlineSafe(assets.js)}</script>
<script>${REPORT_CLIENT_JS}</script>
</body>
</html>
`;
}

function headerSection(model: ReportModel): string {
  const o = model.overview;
  const epochs = o.epochsTotal ? `${o.epochsDone} / ${o.epochsTotal}` : String(o.epochsDone);
  const facts: [string, string][] = [
    ['started', formatTime(o.startedMs)],
    [o.status === 'running' ? 'running for' : 'took', o.durationMs === undefined ? '-' : formatDuration(o.durationMs)],
    ['epochs', epochs],
    ['images', o.images === undefined ? '-' : o.images.toLocaleString('en-US')],
    ['speed', formatRate(o.imagesPerSec)],
    ['device', o.device ?? '-'],
  ];
  const statusTitle = o.status === 'running' ? 'running' : `${o.status} ${formatTime(o.endedMs)}`;
  const live = o.status === 'running'
    ? `<label><input type="checkbox" id="auto-refresh"> reload every ${REFRESH_SECONDS} s</label>`
    : '';
  return `<header class="run">
<span class="brand">cgtrain</span>
<h1>${esc(model.run.name)}</h1>
<span class="pill ${o.status}" id="run-status" title="${esc(statusTitle)}">${esc(statusTitle)}</span>
<span class="live">${live}<span>updated <span id="updated-ago">${esc(formatTime(model.generatedMs))}</span></span></span>
</header>
<ul class="facts">${facts.map(([k, v]) => `<li>${esc(k)} <b>${esc(v)}</b></li>`).join('')}</ul>
${o.reason && o.status === 'stopped' ? `<p class="reason">Stopped: ${esc(o.reason)}</p>` : ''}`;
}

function statCards(o: RunOverview, lastStep: RunLog['steps'][number] | undefined): string {
  const losses = Object.entries(o.latestLosses).map(([k, v]) => stat(k, formatNumber(v), 'loss'));
  // the spreads (KID-std_*, IS-std_*) have their charts and table columns below; as cards they read as noise
  const metrics = Object.entries(o.latestMetrics).filter(([k]) => !isSpread(k)).map(([k, v]) => stat(k, formatNumber(v), 'metric'));
  const blocks: string[] = [];
  if (losses.length && lastStep) blocks.push(`<div class="stats-title">Latest losses <span>epoch ${lastStep.epoch}, iteration ${lastStep.iter}</span></div><div class="stats" id="latest-losses">${losses.join('')}</div>`);
  if (metrics.length) blocks.push(`<div class="stats-title">Latest evaluation <span>epoch ${o.latestMetricsEpoch}</span></div><div class="stats" id="latest-metrics">${metrics.join('')}</div>`);
  return blocks.join('\n');
}

function stat(key: string, value: string, kind: string): string {
  return `<div class="stat ${kind}"><div class="k">${esc(key)}</div><div class="v">${esc(value)}</div></div>`;
}

function smoothingControl(): string {
  return `<span class="controls"><label for="smoothing">smoothing</label>
<input type="range" id="smoothing" min="0" max="0.99" step="0.01" value="0"><span id="smoothing-value" class="mono">0.00</span></span>`;
}

function chartSection(title: string, charts: ChartSpec[], hint: string, controls: string): string {
  const id = title.toLowerCase().replace(/\W+/g, '-');
  const body = charts.length === 0
    ? `<div class="card empty">No ${esc(title.toLowerCase())} logged yet.</div>`
    : `<div class="grid">${charts.map(chartCard).join('')}</div>`;
  return `<section id="${id}"><h2>${esc(title)}${hint ? ` <span class="hint">${esc(hint)}</span>` : ''}${controls}</h2>${body}</section>`;
}

function chartCard(chart: ChartSpec): string {
  const empty = chart.x.length === 0 ? `<div class="empty">nothing logged yet</div>` : '';
  return `<div class="card"><h3>${esc(chart.title)}</h3><div class="chart" id="chart-${esc(chart.id)}" data-chart="${esc(chart.id)}">${empty}</div></div>`;
}

function evaluationSection(metrics: ChartSpec[], run: RunLog): string {
  if (metrics.length === 0) {
    return `<section id="evaluation"><h2>Evaluation</h2><div class="card empty">No evaluation yet: metrics appear after an epoch that evaluates (<code>--eval-freq</code>).</div></section>`;
  }
  const epochs = metrics[0].x;
  if (epochs.length === 1) return singleEvaluationSection(metrics, epochs[0]);
  const keys = metrics.flatMap((c) => c.series.map((s) => s.label));
  const best = bestEvaluation(run.evals);
  const rows = epochs.map((epoch, i) => {
    const cells = metrics.flatMap((c) => c.series.map((s) => `<td class="num">${esc(formatNumber(s.values[i] ?? undefined))}</td>`));
    return `<tr${epoch === best?.epoch ? ' class="best" title="the best evaluation (checkpoints/best.safetensors)"' : ''}><td class="num">${epoch}</td>${cells.join('')}</tr>`;
  });
  const table = `<div class="card scroll"><table id="metrics-table"><thead><tr><th class="num">epoch</th>${keys.map((k) => `<th class="num">${esc(k)}</th>`).join('')}</tr></thead><tbody>${rows.reverse().join('')}</tbody></table></div>`;
  const bestHint = best ? `; best: epoch ${best.epoch}, ${formatScore(best.score)}` : '';
  return `<section id="evaluation"><h2>Evaluation <span class="hint">${run.evals.length} evaluation${run.evals.length === 1 ? '' : 's'}${esc(bestHint)}</span></h2>
<div class="grid">${metrics.map(chartCard).join('')}</div><div style="margin-top:14px">${table}</div></section>`;
}

/** What a metric's name adds to its family: 'AtoB' of 'digit-FID_AtoB', 'A' of 'kid.A'. */
function seriesPart(label: string, family: string): string {
  if (label.startsWith(family)) return label.slice(family.length).replace(/^[._]/, '') || label;
  if (label.endsWith(family)) return label.slice(0, label.length - family.length).replace(/[._]$/, '') || label;
  return label;
}

/**
 * One evaluation: a chart per metric would be a wall of lone dots, so a table instead, a row per
 * metric and a column per direction or domain (the charts come with the second evaluation).
 */
function singleEvaluationSection(metrics: ChartSpec[], epoch: number): string {
  const columns = [...new Set(metrics.flatMap((c) => c.series.map((s) => seriesPart(s.label, c.title))))];
  const heading = (part: string) => ({ AtoB: 'A→B (G_A)', BtoA: 'B→A (G_B)', A: 'domain A', B: 'domain B' })[part] ?? part;
  const rows = metrics.map((c) => {
    const byPart = new Map(c.series.map((s) => [seriesPart(s.label, c.title), s.values[0]]));
    const cells = columns.map((part) => `<td class="num">${byPart.has(part) ? esc(formatNumber(byPart.get(part) ?? undefined)) : ''}</td>`);
    return `<tr><td>${esc(c.title)}</td>${cells.join('')}</tr>`;
  });
  const table = `<div class="card scroll"><table id="metrics-table"><thead><tr><th>metric</th>${columns.map((p) => `<th class="num">${esc(heading(p))}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
  return `<section id="evaluation"><h2>Evaluation <span class="hint">1 evaluation, after epoch ${epoch}; charts appear with the second</span></h2>${table}</section>`;
}

function latestSampleSection(samples: SampleSet): string {
  const latest = samples.latest;
  if (!latest) return `<section id="latest-samples"><h2>Latest samples</h2><div class="card empty">No samples written yet.</div></section>`;
  // Small grids (32x32 digits) are scaled up with crisp pixels, but never past 4x, where they turn to blocks.
  const maxWidth = Math.min(1200, latest.width * 4);
  const columns = SAMPLE_COLUMNS.map((c) => `<span>${esc(c.replace(/^(real|fake|rec)([AB])$/, '$1 $2'))}</span>`).join('');
  return `<section id="latest-samples"><h2>Latest samples <span class="hint">${esc(sampleWhen(latest))}</span></h2>
<div class="card latest"><div class="sample-frame" style="--max-w:${maxWidth}px"><div class="sample-columns" title="each row: an A image, its translation to B and back; a B image, its translation to A and back">${columns}</div>
<a href="${esc(hrefOf(latest.file))}"><img id="latest-sample" src="${latest.dataUri}" width="${latest.width}" height="${latest.height}" alt="latest sample grid, ${esc(sampleWhen(latest))}"></a></div>
<div class="caption"><code>${esc(latest.file)}</code> · ${latest.width}×${latest.height}</div></div></section>`;
}

function epochSamplesSection(samples: SampleSet): string {
  if (samples.perEpoch.length === 0) return '';
  const shown = samples.perEpoch.length < samples.epochsWithSamples ? `${samples.perEpoch.length} of ${samples.epochsWithSamples} epochs` : `${samples.epochsWithSamples} epoch${samples.epochsWithSamples === 1 ? '' : 's'}`;
  const figures = samples.perEpoch.map((image) => `<figure><a href="${esc(hrefOf(image.file))}"><img src="${image.dataUri}" width="${image.width}" height="${image.height}" loading="lazy" alt="samples at ${esc(sampleWhen(image))}"></a><figcaption>${esc(sampleWhen(image))}</figcaption></figure>`);
  return `<section id="epoch-samples"><h2>Samples by epoch <span class="hint">${esc(shown)}, last sample of each; click for the full image</span></h2><div class="thumbs">${figures.reverse().join('')}</div></section>`;
}

function sampleWhen(image: EmbeddedImage): string {
  return `epoch ${image.epoch}${image.iter === undefined ? '' : `, iteration ${image.iter}`}`;
}

function modelsSection(models: ModelFile[]): string {
  if (models.length === 0) return `<section id="models"><h2>Models</h2><div class="card empty">No exported models or checkpoints yet.</div></section>`;
  const rows = models.map((m) => `<tr><td><a href="${esc(hrefOf(m.file))}"><code>${esc(m.file)}</code></a></td><td>${m.kind === 'model' ? 'exported model' : 'checkpoint'}</td><td class="num">${m.epoch ?? ''}</td><td class="num">${m.bytes === undefined ? 'missing' : esc(formatBytes(m.bytes))}</td></tr>`);
  return `<section id="models"><h2>Models</h2><div class="card scroll"><table id="models-table"><thead><tr><th>file</th><th>kind</th><th class="num">epoch</th><th class="num">size</th></tr></thead><tbody>${rows.join('')}</tbody></table></div></section>`;
}

function runSection(run: RunLog): string {
  const machine = Object.entries(run.start?.machine ?? {}).map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(displayValue(v))}</td></tr>`);
  return `<section id="run"><h2>Run</h2><div class="two">
<div class="card scroll"><h3>Machine and device</h3>${machine.length ? `<table id="machine-table"><tbody>${machine.join('')}</tbody></table>` : '<div class="empty">No start record with machine details.</div>'}</div>
<div class="card scroll"><h3>Files</h3><table><tbody><tr><th>run directory</th><td><code>${esc(run.runDir)}</code></td></tr>
<tr><th>log</th><td><a href="log.jsonl"><code>log.jsonl</code></a> · ${run.steps.length} steps, ${run.epochs.length} epochs${run.sessions.length > 1 ? `, ${run.sessions.length} sessions (resumed)` : ''}</td></tr>
<tr><th>options</th><td><a href="opt.json"><code>opt.json</code></a></td></tr></tbody></table></div>
</div>
<div class="card" style="margin-top:14px"><h3>Options <span class="hint">highlighted: changed from the default; hover for help</span></h3>${optionsTable(run.options)}</div></section>`;
}

/** Grouped as `cgtrain train --help` groups them, with flags the user types; values that differ from the default stand out. */
function optionsTable(options: Record<string, unknown>): string {
  if (Object.keys(options).length === 0) return '<div class="empty">No options recorded.</div>';
  const groups = new Map<string, string[]>();
  const row = (group: string, html: string): void => {
    groups.set(group, [...(groups.get(group) ?? []), html]);
  };
  for (const spec of OPTION_SPECS) {
    if (!(spec.key in options)) continue;
    const value = options[spec.key];
    const changed = spec.default !== undefined && value !== spec.default;
    const title = `${spec.help}${changed ? ` (default ${String(spec.default)})` : ''}`;
    row(spec.group.replace(/:$/, ''), `<tr${changed ? ' class="changed"' : ''} title="${esc(title)}"><td><code>--${esc(spec.flag)}</code></td><td class="mono">${esc(displayValue(value))}</td></tr>`);
  }
  const known = new Set<string>(OPTION_SPECS.map((spec) => spec.key));
  for (const key of Object.keys(options).filter((k) => !known.has(k))) {
    row('Other', `<tr><td><code>${esc(key)}</code></td><td class="mono">${esc(displayValue(options[key]))}</td></tr>`);
  }
  const tables = [...groups.entries()].map(([group, rows]) => `<div><h4>${esc(group)}</h4><table><tbody>${rows.join('')}</tbody></table></div>`);
  return `<div class="option-groups" id="options-table">${tables.join('')}</div>`;
}

function problemsSection(all: string[]): string {
  if (all.length === 0) return '';
  return `<section id="problems"><details class="card"><summary>${all.length} note${all.length === 1 ? '' : 's'} on the log</summary><ul>${all.slice(0, 100).map((p) => `<li>${esc(p)}</li>`).join('')}</ul></details></section>`;
}

function displayValue(value: unknown): string {
  if (value === undefined || value === null) return '-';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : formatNumber(value);
  return JSON.stringify(value);
}

/** A relative link with each path segment escaped, so `#` or spaces in names still resolve from disk. */
function hrefOf(file: string): string {
  if (path.isAbsolute(file)) return pathToFileURL(file).href;
  return file.split(/[\\/]/).map(encodeURIComponent).join('/');
}

export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string);
}

/** JSON inside <script> must not be able to close the element or open a comment. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function inlineSafe(code: string): string {
  return code.replace(/<\/(script|style)/gi, '<\\/$1');
}
