/**
 * The report of a run the real trainer produced: a tiny `cgtrain train` (seconds on one CPU
 * thread), then `cgtrain report`, then headless Chromium. This is where a mismatch between what
 * the trainer logs and what the report reads shows up.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { formatSummary, loadRunSummary } from '../../src/report';
import { tempDir, tinyArgs } from '../train/tiny';
import { assertRendered, chromiumMissing, launchChromium, renderReport } from './browser';

const cli = path.resolve(__dirname, '../../src/cli/main.js');
const addon = path.resolve(__dirname, '../../../build/Release/cgtrain_cpu.node');
const noAddon = existsSync(addon) ? undefined : `the CPU addon is not built (${addon}): npm run build:native`;
const run = promisify(execFile);

describe('report of a run from a short training', { skip: noAddon }, () => {
  let browser: Browser | undefined;
  let root: string;
  let runDir: string;
  before(async () => {
    root = tempDir('report-train');
    const args = tinyArgs(root, { name: 'report-run', nEpochs: 2, nEpochsDecay: 1, printFreq: 2, displayFreq: 4 });
    await run(process.execPath, [cli, 'train', ...args], { timeout: 60_000 });
    runDir = path.join(root, 'runs', 'report-run');
  });
  after(async () => {
    await browser?.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  it('the trainer leaves a report that cgtrain report rebuilds, and Chromium renders it cleanly', { skip: chromiumMissing() }, async () => {
    browser = await launchChromium();
    const trainerReport = await fs.readFile(path.join(runDir, 'report.html'), 'utf8');
    assert.match(trainerReport, /class="pill finished"/, 'the trainer\'s last rebuild saw the end record');
    const { stdout } = await run(process.execPath, [cli, 'report', runDir, '--open']);
    const file = fileURLToPath(stdout.trim());
    assert.equal(file, path.join(runDir, 'report.html'));
    const rendered = await renderReport(browser, file, 'trained-run.png');
    assertRendered(rendered);
    assert.equal(rendered.status, 'finished');
    assert.ok(rendered.images.length >= 2, 'latest sample and per-epoch samples');
  });

  it('charts every loss term the trainer logs', async () => {
    const html = await fs.readFile(path.join(runDir, 'report.html'), 'utf8');
    const data = JSON.parse(/<script type="application\/json" id="report-data">([\s\S]*?)<\/script>/.exec(html)?.[1] ?? '{}');
    const labels = (data.charts.losses as { series: { label: string }[] }[]).flatMap((c) => c.series.map((s) => s.label)).sort();
    assert.deepEqual(labels, ['D_A', 'D_B', 'G_A', 'G_B', 'cycle_A', 'cycle_B', 'idt_A', 'idt_B']);
    assert.deepEqual((data.charts.training as { id: string }[]).map((c) => c.id), ['lr', 'throughput']);
  });

  it('the summary names the report and the checkpoint of the run', async () => {
    const text = formatSummary(await loadRunSummary(runDir), { color: false, cwd: root });
    assert.match(text, /^Training report-run finished in \d+s: 3\/3 epochs, \d+ images, [\d.]+ img\/s on /);
    assert.match(text, /report {5}runs\/report-run\/report.html/);
    assert.match(text, /checkpoint runs\/report-run\/checkpoints\/latest\.safetensors\n/, "the file --continue-train resumes from, not an epoch copy");
  });
});
