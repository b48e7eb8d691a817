import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { downsample, MAX_POINTS, metricFamily } from '../../src/report/charts';
import { buildReport, ReportWriter, formatSummary, loadRunSummary } from '../../src/report';
import { readRunLog } from '../../src/report/runlog';
import { LOSS_KEYS, makeSyntheticRun, makeTempDir, START_MS } from './fixture';

interface PageData {
  status: string;
  charts: Record<'losses' | 'training' | 'metrics', { id: string; x: number[]; series: { label: string; values: (number | null)[] }[] }[]> & { epochEnds: number[] };
}

function pageData(html: string): PageData {
  const match = /<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(match, 'report embeds its data as JSON');
  return JSON.parse(match[1]) as PageData;
}

const FAR_FUTURE = Date.parse('2030-01-01T00:00:00Z');

describe('buildReport', () => {
  let root: string;
  before(async () => {
    root = await makeTempDir('report');
  });
  after(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  it('writes one self-contained report.html with every section of a finished run', async () => {
    const runDir = await makeSyntheticRun(root, 'finished', { epochs: 4, ended: true });
    const file = await buildReport(runDir);
    assert.equal(file, path.join(runDir, 'report.html'));
    const html = await fs.readFile(file, 'utf8');
    assert.deepEqual((await fs.readdir(runDir)).filter((f) => f.endsWith('.tmp')), [], 'no temp file left behind');
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /uPlot/, 'uPlot is inlined');
    assert.doesNotMatch(html, /<script[^>]+src=|<link[^>]+stylesheet|(src|href)\s*=\s*["']?https?:|url\(\s*["']?https?:|@import/, 'nothing loads from elsewhere');
    assert.match(html, /class="pill finished"/);
    for (const id of ['latest-samples', 'losses', 'training', 'evaluation', 'epoch-samples', 'models', 'run']) {
      assert.match(html, new RegExp(`<section id="${id}"`), `section ${id}`);
    }
    assert.match(html, /<img id="latest-sample" src="data:image\/png;base64,/);
    assert.equal((html.match(/<figure>/g) ?? []).length, 4, 'one thumbnail per epoch');
    assert.match(html, /<code>--net-g<\/code><\/td><td class="mono">resnet_6blocks/, 'options under their flags');
    assert.match(html, /Synthetic CPU @ 3.0GHz/, 'machine');
    assert.match(html, /<code>G_A.onnx<\/code>.*?4.0 kB/s, 'exported model with its size');
    assert.match(html, /checkpoints\/latest.safetensors/);
  });

  it('charts every loss term, the learning rate, throughput and each eval metric', async () => {
    const runDir = await makeSyntheticRun(root, 'charts', { epochs: 4, stepsPerEpoch: 10, ended: true });
    const data = pageData(await fs.readFile(await buildReport(runDir), 'utf8'));
    const lossLabels = data.charts.losses.flatMap((c) => c.series.map((s) => s.label));
    assert.deepEqual([...lossLabels].sort(), [...LOSS_KEYS].sort());
    assert.deepEqual(data.charts.losses.map((c) => c.id), ['loss-g', 'loss-d', 'loss-cycle', 'loss-idt']);
    for (const chart of data.charts.losses) {
      assert.equal(chart.x.length, 40);
      assert.equal(chart.x[39], 160, 'x counts images seen');
    }
    assert.deepEqual(data.charts.training.map((c) => c.id), ['lr', 'throughput']);
    const metrics = Object.fromEntries(data.charts.metrics.map((c) => [c.id, c.series.map((s) => s.label)]));
    assert.deepEqual(metrics, { 'metric-fid': ['fid_A', 'fid_B'], 'metric-accuracy': ['accuracy_B'], 'metric-kid': ['kid.A', 'kid.B'] });
    assert.deepEqual(data.charts.metrics[0].x, [2, 4]);
    assert.deepEqual(data.charts.metrics[0].series[0].values, [60, 30]);
    assert.deepEqual(data.charts.epochEnds, [40, 80, 120, 160]);
  });

  it('shows one evaluation as a table of metrics by direction instead of charts of lone dots', async () => {
    const runDir = await makeSyntheticRun(root, 'one-eval', { epochs: 3, stepsPerEpoch: 4, ended: true, evalEvery: 3 });
    const html = await fs.readFile(await buildReport(runDir), 'utf8');
    const section = html.slice(html.indexOf('<section id="evaluation"'), html.indexOf('</section>', html.indexOf('<section id="evaluation"')));
    assert.match(section, /1 evaluation, after epoch 3; charts appear with the second/);
    assert.doesNotMatch(section, /id="chart-metric-/, 'no metric charts');
    assert.match(section, /<th>metric<\/th><th class="num">domain A<\/th><th class="num">domain B<\/th><\/tr>/);
    assert.match(section, /<tr><td>fid<\/td><td class="num">40<\/td><td class="num">50<\/td><\/tr>/, 'fid_A, fid_B = 120/3, 150/3');
    assert.match(section, /<tr><td>accuracy<\/td><td class="num"><\/td><td class="num">0\.8<\/td><\/tr>/, 'only accuracy_B');
    assert.match(section, /<tr><td>kid<\/td><td class="num">0\.01667<\/td><td class="num">0\.02<\/td><\/tr>/, 'kid.A, kid.B');
  });

  it('tells running, finished and stopped runs apart', async () => {
    const live = await makeSyntheticRun(root, 'live', { tornTail: true });
    assert.equal(pageData(await fs.readFile(await buildReport(live), 'utf8')).status, 'running', 'fresh log without end');
    const html = await fs.readFile(await buildReport(live, { nowMs: FAR_FUTURE }), 'utf8');
    assert.equal(pageData(html).status, 'stopped', 'a log untouched for long without end record');
    assert.match(html, /no end record/);
    const interrupted = await makeSyntheticRun(root, 'interrupted', { ended: 'interrupted (SIGINT)' });
    const stopped = await fs.readFile(await buildReport(interrupted), 'utf8');
    assert.equal(pageData(stopped).status, 'stopped');
    assert.match(stopped, /Stopped: interrupted \(SIGINT\)/);
    const text = formatSummary(await loadRunSummary(interrupted), { color: false });
    assert.match(text, /^Training interrupted stopped in 1m 40s: 4\/4 epochs/);
    assert.match(text, /resume {5}cgtrain train --name interrupted --continue-train/);
  });

  it('joins the sessions of a resumed run: repeated steps replace the old tail, gaps do not count as training', async () => {
    const runDir = await makeSyntheticRun(root, 'resumed', { epochs: 2, stepsPerEpoch: 5 });
    const step = (images: number, time: number): string => JSON.stringify({ type: 'step', epoch: 2, iter: images / 4, images, time, lr: 1e-4, imagesPerSec: 40, losses: { G_A: 0.5 } });
    const resumeAt = START_MS + 3_600_000;
    await fs.appendFile(path.join(runDir, 'log.jsonl'), [
      JSON.stringify({ type: 'start', time: resumeAt, options: { name: 'resumed', nEpochs: 3 }, machine: { device: 'cuda', deviceName: 'NVIDIA H100', precision: 'bf16' } }),
      step(28, resumeAt + 1000), step(32, resumeAt + 2000), step(48, resumeAt + 6000),
      JSON.stringify({ type: 'end', time: resumeAt + 7000, epochs: 3, imagesPerSec: 50, reason: 'completed' }),
    ].join('\n') + '\n');
    const run = await readRunLog(runDir);
    assert.deepEqual(run.steps.map((s) => s.images), [4, 8, 12, 16, 20, 24, 28, 32, 48]);
    const summary = await loadRunSummary(runDir);
    assert.equal(summary.overview.status, 'finished');
    assert.equal(summary.overview.durationMs, 10_000 + 7_000, 'first session 10 s, second 7 s');
    assert.equal(summary.overview.device, 'cuda (NVIDIA H100, bf16)');
    assert.equal(summary.overview.epochsTotal, 3);
  });

  it('reads a log that is being appended to: a torn last line is skipped, not reported', async () => {
    const runDir = await makeSyntheticRun(root, 'torn', { tornTail: true, epochs: 2, stepsPerEpoch: 5 });
    const run = await readRunLog(runDir);
    assert.equal(run.steps.length, 10);
    assert.deepEqual(run.problems, []);
    await fs.appendFile(path.join(runDir, 'log.jsonl'), '\n{"type":"step"}\n');
    assert.equal((await readRunLog(runDir)).problems.length, 2, 'damage in the middle is noted');
  });

  it('keeps long runs small: series are bucket-averaged and epoch thumbnails thinned', async () => {
    const x = Array.from({ length: 10_000 }, (_, i) => i + 1);
    const values = x.map((v) => (v % 2 === 0 ? 1 : 3));
    const small = downsample({ id: 't', title: 't', xKind: 'images', x, series: [{ label: 'a', values }], smoothable: true });
    assert.equal(small.x.length, MAX_POINTS);
    assert.equal(small.x[small.x.length - 1], 10_000);
    assert.ok(small.series[0].values.every((v) => v !== null && Math.abs(v - 2) < 0.2), 'means keep the level');
    const runDir = await makeSyntheticRun(root, 'long', { epochs: 60, stepsPerEpoch: 3, ended: true, sampleSize: 96 });
    const html = await fs.readFile(await buildReport(runDir), 'utf8');
    assert.equal((html.match(/<figure>/g) ?? []).length, 40);
    assert.match(html, /40 of 60 epochs/);
    assert.match(html, /<figure><a href="samples\/epoch060.png"><img src="data:image\/webp;base64,/, 'wide grids become small webp thumbnails');
    assert.ok(html.length < 1.5e6, `report is ${html.length} bytes`);
  });

  it('still builds when a sample is missing or unreadable, and says which', async () => {
    const runDir = await makeSyntheticRun(root, 'damaged', { epochs: 3, stepsPerEpoch: 4, ended: true });
    await fs.writeFile(path.join(runDir, 'samples/epoch003.png'), 'not a png');
    await fs.rm(path.join(runDir, 'samples/epoch001.png'));
    const html = await fs.readFile(await buildReport(runDir), 'utf8');
    assert.match(html, /sample samples\/epoch001.png is in the log but not on disk/);
    assert.match(html, /sample samples\/epoch003.png could not be read/);
    assert.equal((html.match(/<figure>/g) ?? []).length, 1, 'epoch 2 still shown');
    assert.match(html, /Latest samples <span class="hint">epoch 2,/, 'the newest readable grid stands in for the damaged one');
  });

  it('groups metrics that share a scale', () => {
    assert.equal(metricFamily('fid_A'), 'fid');
    assert.equal(metricFamily('B.fid'), 'fid');
    assert.equal(metricFamily('accuracy'), 'accuracy');
  });
});

describe('ReportWriter', () => {
  it('throttles rebuilds while live and writes the final state on final()', async () => {
    const root = await makeTempDir('writer');
    try {
      const runDir = await makeSyntheticRun(root, 'w', { epochs: 2, stepsPerEpoch: 5 });
      const errors: Error[] = [];
      const writer = new ReportWriter(runDir, { minIntervalMs: 60_000, onError: (e) => errors.push(e) });
      for (let i = 0; i < 20; i++) writer.update();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      assert.equal(writer.builds, 1, 'twenty updates inside the interval build once');
      assert.equal(pageData(await fs.readFile(path.join(runDir, 'report.html'), 'utf8')).status, 'running');
      await fs.appendFile(path.join(runDir, 'log.jsonl'), `${JSON.stringify({ type: 'end', time: Date.now(), epochs: 2, imagesPerSec: 40, reason: 'finished' })}\n`);
      await writer.final();
      assert.equal(writer.builds, 2);
      assert.equal(pageData(await fs.readFile(path.join(runDir, 'report.html'), 'utf8')).status, 'finished');
      writer.update();
      assert.deepEqual(errors, []);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it('reports a failed build to onError instead of throwing into training', async () => {
    const errors: Error[] = [];
    const writer = new ReportWriter('/nonexistent/run', { minIntervalMs: 0, onError: (e) => errors.push(e) });
    assert.equal(await writer.final(), undefined);
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /log.jsonl/);
  });
});

describe('formatSummary', () => {
  it('says how it ended, how long and fast, the final numbers, and where the report and models are', async () => {
    const root = await makeTempDir('summary');
    try {
      const runDir = await makeSyntheticRun(root, 'sum', { epochs: 4, stepsPerEpoch: 10, ended: true });
      const text = formatSummary(await loadRunSummary(runDir), { color: false, cwd: root });
      const lines = text.trimEnd().split('\n');
      assert.equal(lines[0], 'Training sum finished in 40s: 4/4 epochs, 160 images, 41.5 img/s on Synthetic CPU @ 3.0GHz');
      assert.match(text, /losses {5}D_A [\d.]+ {2}G_A [\d.]+ {2}cycle_A/);
      assert.match(text, /metrics {4}fid_A 30 {2}fid_B 37.5 {2}accuracy_B 0.9 {2}kid.A 0.0125 {2}kid.B 0.015 {2}\(epoch 4\)/);
      assert.match(text, /report {5}sum\/report.html/);
      assert.match(text, /models {5}sum\/G_A.onnx \(4.0 kB\), sum\/G_B.onnx \(4.0 kB\)/);
      assert.match(text, /checkpoint sum\/checkpoints\/latest.safetensors/);
      assert.doesNotMatch(text, /\x1b\[/);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});

describe('cgtrain report', () => {
  it('rebuilds the report from the command line and prints its URL with --open', async () => {
    const root = await makeTempDir('cli');
    try {
      const runDir = await makeSyntheticRun(root, 'cli', { epochs: 2, stepsPerEpoch: 5, ended: true });
      const cli = path.resolve(__dirname, '../../src/cli/main.js');
      const { stdout } = await promisify(execFile)(process.execPath, [cli, 'report', runDir, '--open']);
      assert.equal(stdout, `file://${path.join(runDir, 'report.html')}\n`);
      await fs.access(path.join(runDir, 'report.html'));
      const tb = await promisify(execFile)(process.execPath, [cli, 'report', runDir, '--tensorboard'], { cwd: root });
      const events = (await fs.readdir(runDir)).filter((f) => f.includes('tfevents'));
      assert.equal(events.length, 1);
      assert.match(tb.stdout, new RegExp(`^cgtrain: wrote cli/${events[0].replace(/\./g, '\\.')} \\(\\d+ scalar values, \\d+ sample images, 1 training session\\): tensorboard --logdir \\.\n`));
      assert.match(tb.stdout, /\ncgtrain: wrote cli\/report\.html \(/);
      const failed = await promisify(execFile)(process.execPath, [cli, 'report', path.join(root, 'nope')]).catch((e: { code: number; stderr: string }) => e);
      assert.equal((failed as { code: number }).code, 1);
      assert.match((failed as { stderr: string }).stderr, /no log.jsonl in .*nope/);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
