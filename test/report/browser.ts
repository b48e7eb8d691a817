/**
 * Opens a report in headless Chromium (Debian's package, driven by playwright-core) and says what
 * rendered: charts with non-blank canvases, images that decoded, and every console error. Shared
 * by the synthetic-run test and the test on a run the trainer produced.
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import assert from 'node:assert/strict';
import type { Browser } from 'playwright-core';

export const CHROMIUM = process.env.CGTRAIN_CHROMIUM ?? '/usr/bin/chromium';
export const TEST_OUTPUT = path.resolve(__dirname, '../../../test-output/report');

/** The reason to skip browser tests, or undefined when Chromium is there. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CGTRAIN_CHROMIUM)`;
}

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

export interface RenderedReport {
  consoleErrors: string[];
  /** one entry per uPlot canvas: its chart id and how many of its pixels are painted */
  canvases: { chart: string; width: number; height: number; paintedPixels: number }[];
  images: { src: string; complete: boolean; naturalWidth: number }[];
  chartsWithData: number;
  status: string;
  /** the status pill as the reader sees it */
  statusText: string;
  /** page width beyond the viewport: a responsive page has none */
  horizontalOverflow: number;
}

/** Inspects the page in the browser; written as a string because this project compiles without DOM types. */
const INSPECT_PAGE = `(() => {
  const canvases = [...document.querySelectorAll('.chart canvas')].map((canvas) => {
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
    return { chart: canvas.closest('.chart').dataset.chart, width: canvas.width, height: canvas.height, paintedPixels: painted };
  });
  const images = [...document.images].map((img) => ({ src: img.currentSrc.slice(0, 40), complete: img.complete, naturalWidth: img.naturalWidth }));
  const data = JSON.parse(document.getElementById('report-data').textContent);
  const charts = data.charts.losses.concat(data.charts.training, data.charts.metrics);
  const horizontalOverflow = document.documentElement.scrollWidth - window.innerWidth;
  return { canvases, images, chartsWithData: charts.filter((c) => c.x.length > 0).length, status: data.status, horizontalOverflow,
    statusText: document.getElementById('run-status').textContent };
})()`;

export async function renderReport(
  browser: Browser, reportFile: string, screenshotName: string, colorScheme: 'light' | 'dark' = 'light', width = 1280,
): Promise<RenderedReport> {
  const page = await browser.newPage({ viewport: { width, height: 900 }, colorScheme });
  const consoleErrors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') consoleErrors.push(message.text());
  });
  page.on('pageerror', (err) => consoleErrors.push(err.message));
  try {
    await page.goto(pathToFileURL(reportFile).href, { waitUntil: 'load' });
    await page.waitForSelector('html[data-rendered]', { timeout: 10_000 });
    // Lazy thumbnails below the fold load only once scrolled to; a full-page screenshot needs them too.
    await page.evaluate('Promise.all([...document.images].map((img) => { img.loading = "eager"; return img.decode().catch(() => {}); }))');
    const rendered = (await page.evaluate(INSPECT_PAGE)) as Omit<RenderedReport, 'consoleErrors'>;
    await fs.mkdir(TEST_OUTPUT, { recursive: true });
    await page.screenshot({ path: path.join(TEST_OUTPUT, screenshotName), fullPage: true });
    return { ...rendered, consoleErrors };
  } finally {
    await page.close();
  }
}

/** Charts drew something, images decoded, and the console stayed clean. */
export function assertRendered(rendered: RenderedReport): void {
  assert.deepEqual(rendered.consoleErrors, [], 'no console errors');
  assert.ok(rendered.chartsWithData > 0);
  assert.equal(rendered.canvases.length, rendered.chartsWithData, 'one canvas per chart with data');
  for (const canvas of rendered.canvases) {
    assert.ok(canvas.width >= 200 && canvas.height > 100, `${canvas.chart} has a size`);
    // Axes and grid alone paint a few percent; series lines add to that. Blank is zero.
    assert.ok(canvas.paintedPixels > 0.01 * canvas.width * canvas.height, `${canvas.chart} painted ${canvas.paintedPixels} pixels`);
  }
  assert.ok(rendered.horizontalOverflow <= 0, `page is ${rendered.horizontalOverflow}px wider than the window`);
  assert.ok(rendered.images.length > 0);
  for (const image of rendered.images) assert.ok(image.complete && image.naturalWidth > 0, `image ${image.src} decoded`);
}
