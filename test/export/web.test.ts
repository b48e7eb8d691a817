/**
 * The browser example end to end: examples/web/serve.js serves the page, onnxruntime-web from
 * node_modules and an exported generator; headless Chromium (playwright-core) translates a test
 * image, and the page's input and output are compared with sharp's decode and onnxruntime-node.
 * Skipped, with the reason, where /usr/bin/chromium is absent.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { chromium } from 'playwright-core';
import sharp from 'sharp';
import { packageRoot } from '../../src/backend/device';
import { resolveOptions } from '../../src/options';
import { exportGeneratorFiles } from '../../src/export/export';
import { buildGenerator } from '../../src/export/from-checkpoint';
import { OnnxGeneratorSession } from '../../src/export/runtime';
import { decodeImage } from '../../src/translate/image';
import { loadMnistNpm } from '../../src/data/mnist';
import { chwToHwcBytes } from '../../src/translate/image';
import { cpuBackend } from '../util/native';
import { maxAbsDiff } from './reference';

/** Debian's chromium; CGTRAIN_CHROMIUM points elsewhere. */
const CHROMIUM = process.env.CGTRAIN_CHROMIUM ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

interface WebServer {
  url: string;
  close(): Promise<void>;
}

interface PageResult {
  input: number[];
  output: number[];
  dims: number[];
  ms: number;
}

/** An exported resnet generator (32x32 RGB, as the quick preset trains) and one MNIST digit as PNG. */
async function prepare(dir: string): Promise<{ model: string; image: string }> {
  const backend = cpuBackend();
  const options = resolveOptions({ preset: 'quick', ngf: 4, initType: 'xavier', initGain: 1 });
  const netG_A = buildGenerator(backend, options, 'AtoB', 11);
  const netG_B = buildGenerator(backend, options, 'BtoA', 12);
  try {
    const [exported] = await exportGeneratorFiles({ netG_A, netG_B }, options, dir, ['AtoB']);
    const digit = new Float32Array(3 * 32 * 32);
    loadMnistNpm('test', 3).read(3, digit, 0);
    const image = path.join(dir, 'digit.png');
    await sharp(chwToHwcBytes(digit, [1, 3, 32, 32]), { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(image);
    return { model: exported.file, image };
  } finally {
    netG_A.dispose();
    netG_B.dispose();
  }
}

test('examples/web translates an image in headless Chromium like onnxruntime-node', { timeout: 120_000 }, async (t) => {
  if (!fs.existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} is not installed (apt-get install -y chromium)`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgtrain-web-'));
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startServer } = require(path.join(packageRoot(), 'examples', 'web', 'serve.js')) as { startServer(o: { model: string; port: number }): Promise<WebServer> };
  let server: WebServer | null = null;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  try {
    const { model, image } = await prepare(dir);
    server = await startServer({ model, port: 0 });
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
    page.on('response', (response) => {
      if (response.status() >= 400) pageErrors.push(`${response.status()} ${response.url()}`);
    });
    await page.goto(server.url);
    const dataUrl = `data:image/png;base64,${fs.readFileSync(image).toString('base64')}`;
    const result = (await page.evaluate(async (url: string) => {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const api = await (globalThis as any).cgtrain;
      return api.translateUrl(url);
    }, dataUrl)) as PageResult;
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(result.dims, [1, 3, 32, 32]);
    const decoded = await decodeImage(image, 3, null);
    assert.equal(maxAbsDiff(result.input, decoded.data), 0, 'the page must see the PNG pixels unchanged');
    const session = await OnnxGeneratorSession.open(model);
    try {
      const expected = await session.run({ data: decoded.data, shape: [1, 3, 32, 32] });
      const diff = maxAbsDiff(result.output, expected.data);
      assert.ok(diff < 1e-4, `onnxruntime-web vs onnxruntime-node: max abs diff ${diff}`);
    } finally {
      await session.close();
    }
    const status = await page.textContent('#status');
    assert.match(status ?? '', /translated in/);
  } finally {
    await browser.close();
    await server?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
