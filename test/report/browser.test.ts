import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { buildReport } from '../../src/report';
import { assertRendered, chromiumMissing, launchChromium, renderReport } from './browser';
import { makeSyntheticRun, makeTempDir } from './fixture';

const skip = chromiumMissing();

describe('report in headless Chromium', { skip }, () => {
  let browser: Browser;
  let root: string;
  before(async () => {
    root = await makeTempDir('browser');
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await fs.rm(root, { recursive: true, force: true });
  });

  it('renders every chart and image of a finished run, light, dark and phone-sized, without console errors', async () => {
    const runDir = await makeSyntheticRun(root, 'synthetic-cyclegan', { epochs: 6, stepsPerEpoch: 40, ended: true, sampleSize: 32 });
    const file = await buildReport(runDir);
    const light = await renderReport(browser, file, 'synthetic-light.png', 'light');
    assertRendered(light);
    assert.equal(light.status, 'finished');
    assert.equal(light.chartsWithData, 4 + 2 + 3, 'four loss charts, lr and throughput, three metric families');
    assert.equal(light.images.length, 1 + 6, 'latest sample and one per epoch');
    assertRendered(await renderReport(browser, file, 'synthetic-dark.png', 'dark'));
    assertRendered(await renderReport(browser, file, 'synthetic-phone.png', 'light', 390));
  });

  it('renders a run that has just started: no evals, no samples, a torn last line', async () => {
    const runDir = await makeSyntheticRun(root, 'just-started', { epochs: 1, stepsPerEpoch: 3, tornTail: true });
    await fs.rm(`${runDir}/samples`, { recursive: true });
    const rendered = await renderReport(browser, await buildReport(runDir, { live: true }), 'just-started.png');
    assert.deepEqual(rendered.consoleErrors, []);
    assert.equal(rendered.status, 'running');
    assert.equal(rendered.canvases.length, rendered.chartsWithData);
    assert.equal(rendered.images.length, 0);
    assert.equal(rendered.statusText, 'running');
  });

  it('marks a live report that stopped being rewritten as no longer updating', async () => {
    const runDir = await makeSyntheticRun(root, 'went-quiet', { epochs: 1, stepsPerEpoch: 3 });
    const file = await buildReport(runDir, { live: true, nowMs: Date.now() - 2 * 3600_000 });
    const rendered = await renderReport(browser, file, 'went-quiet.png');
    assert.equal(rendered.status, 'running');
    assert.equal(rendered.statusText, 'no update for 2 h');
  });
});
