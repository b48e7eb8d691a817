/**
 * `cgtrain data download inception` end to end: pytorch-fid-shaped weights (hashed values,
 * written in torch.save's zip format) served from 127.0.0.1, found in torch hub's cache, or
 * named with --weights; the ONNX model it writes; `--inception fid` in `cgtrain eval`; and the
 * errors for damaged weights and a model not made yet.
 */
import { test, after, before } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import sharp from 'sharp';
import { FID_WEIGHTS } from '../../src/eval/inception-file';
import { readOnnxModel } from '../../src/export/runtime';
import { resolveOptions } from '../../src/options';
import { CycleGANModel } from '../../src/train/cyclegan';
import { writeCheckpoint } from '../../src/train/checkpoint';
import { modelConfigOf } from '../../src/train/session';
import { Rng } from '../../src/util/rng';
import { randomBytes } from '../data/fixtures';
import { tempDir } from '../train/tiny';
import { cpuBackend } from '../util/native';
import { hashedStateDict, writeZipPth } from './fid-fixture';

const cli = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const root = tempDir('fid-download');
const weights = path.join(root, 'served', FID_WEIGHTS.file);
const requests: string[] = [];
const server = http.createServer((req, res) => {
  requests.push(req.url ?? '');
  if (req.url === `/broken/${FID_WEIGHTS.file}`) {
    const page = Buffer.from('<html>rate limited</html>');
    res.writeHead(200, { 'Content-Length': page.length }).end(page);
    return;
  }
  if (req.url !== `/mirror/${FID_WEIGHTS.file}`) {
    res.writeHead(404).end('not found');
    return;
  }
  res.writeHead(200, { 'Content-Length': fs.statSync(weights).size });
  fs.createReadStream(weights).pipe(res);
});
const listening = new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mirror/`)));
after(() => server.close());

before(async () => {
  fs.mkdirSync(path.dirname(weights), { recursive: true });
  await writeZipPth(weights, hashedStateDict());
});

/** Runs the CLI without blocking the event loop (the test's HTTP server answers meanwhile). */
function run(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, TORCH_HOME: path.join(root, 'no-torch'), CGTRAIN_THREADS: '2', ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('downloads the weights from a mirror, converts them, and eval --inception fid uses the model', async () => {
  const base = await listening;
  const dataDir = path.join(root, 'data');
  const r = await run(['data', 'download', 'inception', '--data-dir', dataDir, '--base-url', base]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(requests, [`/mirror/${FID_WEIGHTS.file}`]);
  // the served file is not pytorch-fid's, so its hash does not match the name's: said, then checked by structure
  assert.match(r.stderr, /does not begin with 6726825d as its name says/);
  const onnx = path.join(dataDir, 'inception', FID_WEIGHTS.onnx);
  assert.match(r.stderr, new RegExp(`use it with: --inception fid`));
  const info = readOnnxModel(onnx);
  assert.deepEqual(info.inputDims, ['N', 3, 299, 299]);
  assert.match(info.metadata['cgtrain.weights'], new RegExp(`^${FID_WEIGHTS.file} sha256:[0-9a-f]{64}$`));
  assert.ok(fs.existsSync(path.join(dataDir, 'inception', FID_WEIGHTS.file)), 'the weights are kept for a later conversion');
  assert.deepEqual(fs.readdirSync(path.join(dataDir, 'inception')).filter((f) => /\.(tmp|part)$/.test(f)), []);

  // a folder dataset evaluated with --inception fid: the standard metrics, no digit metrics
  const dataroot = path.join(root, 'folder');
  for (const [sub, seed] of [['testA', 1], ['testB', 2]] as const) {
    fs.mkdirSync(path.join(dataroot, sub), { recursive: true });
    for (let i = 0; i < 3; i++) {
      await sharp(Buffer.from(randomBytes(32 * 32 * 3, seed * 10 + i)), { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(path.join(dataroot, sub, `${i}.png`));
    }
  }
  const options = resolveOptions({ dataset: 'folder', dataroot, netG: 'resnet_6blocks', ngf: 4, ndf: 4, loadSize: 32, cropSize: 32, preprocess: 'none' });
  const model = new CycleGANModel(modelConfigOf(options), cpuBackend(), new Rng(5));
  const checkpoint = path.join(root, 'ckpt.safetensors');
  writeCheckpoint(checkpoint, model.checkpointTensors(), { options: JSON.stringify(options), epoch: '1' });
  const evaluated = await run(['eval', '--checkpoint', checkpoint, '--inception', 'fid', '--data-dir', dataDir, '--samples', '3', '--device', 'cpu', '--json']);
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const metrics = (JSON.parse(evaluated.stdout) as { metrics: Record<string, unknown> }).metrics;
  for (const key of ['FID_AtoB', 'FID_BtoA', 'IS_AtoB', 'KID_AtoB']) assert.ok(Number.isFinite(metrics[key]), `${key}: ${String(metrics[key])}`);
  assert.equal(metrics['digit-FID_AtoB'], undefined);
  assert.match(String((metrics.info as Record<string, unknown>).inception), /pt_inception-2015-12-05\.onnx \(onnxruntime CPU provider\)$/);
});

test('weights in torch hub\'s cache are used without a download; --weights names a local copy', async () => {
  const torchHome = path.join(root, 'torch-home');
  fs.mkdirSync(path.join(torchHome, 'hub', 'checkpoints'), { recursive: true });
  fs.copyFileSync(weights, path.join(torchHome, 'hub', 'checkpoints', FID_WEIGHTS.file));
  requests.length = 0;
  const dataDir = path.join(root, 'data-cached');
  const r = await run(['data', 'download', 'inception', '--data-dir', dataDir, '--base-url', await listening], { TORCH_HOME: torchHome });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(requests, []);
  assert.match(r.stderr, /using the weights PyTorch downloaded before/);
  assert.ok(fs.existsSync(path.join(dataDir, 'inception', FID_WEIGHTS.onnx)));

  const out = path.join(root, 'explicit');
  const local = await run(['data', 'download', 'inception', '--weights', weights, '--dir', out]);
  assert.equal(local.code, 0, local.stderr);
  assert.match(local.stderr, new RegExp(`use it with: --inception ${out.replace(/[/.]/g, '\\$&')}`));
  assert.ok(fs.existsSync(path.join(out, FID_WEIGHTS.onnx)));
});

test('damaged or foreign weights are refused by name and leave no model behind', async () => {
  const out = path.join(root, 'damaged');
  const bytes = fs.readFileSync(weights);
  const cut = path.join(root, 'cut.pth');
  fs.writeFileSync(cut, bytes.subarray(0, bytes.length >> 1));
  const r = await run(['data', 'download', 'inception', '--weights', cut, '--dir', out]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /cut\.pth is not a PyTorch state dict we can read/);
  assert.ok(!fs.existsSync(path.join(out, FID_WEIGHTS.onnx)));

  const foreign = path.join(root, 'foreign.pth');
  const tensors = hashedStateDict();
  tensors.delete('Mixed_7c.branch_pool.conv.weight');
  await writeZipPth(foreign, tensors);
  const f = await run(['data', 'download', 'inception', '--weights', foreign, '--dir', out]);
  assert.notEqual(f.code, 0);
  assert.match(f.stderr, /has no tensor Mixed_7c\.branch_pool\.conv\.weight/);
  assert.ok(!fs.existsSync(path.join(out, FID_WEIGHTS.onnx)));

  // a download that is not a state dict (a proxy's error page) is deleted, so the next run fetches anew
  const base = await listening;
  const dataDir = path.join(root, 'data-broken');
  const broken = await run(['data', 'download', 'inception', '--data-dir', dataDir, '--base-url', base.replace('/mirror/', '/broken/')]);
  assert.notEqual(broken.code, 0);
  assert.match(broken.stderr, /is not a PyTorch state dict we can read[^]*was deleted; run the command again to fetch it anew/);
  assert.deepEqual(fs.readdirSync(path.join(dataDir, 'inception')), []);

  const missing = await run(['data', 'download', 'inception', '--weights', path.join(root, 'nope.pth'), '--dir', out]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /nope\.pth: no such file/);
});

test('--inception fid before the model is made says how to make it', async () => {
  const dataDir = path.join(root, 'empty-data');
  const r = await run(['train', '--dataset', 'folder', '--dataroot', path.join(root, 'folder'), '--inception', 'fid', '--eval-freq', '1', '--data-dir', dataDir, '--runs-dir', path.join(root, 'runs')]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--inception fid: .*pt_inception-2015-12-05\.onnx does not exist yet; make it once with: cgtrain data download inception --data-dir /);
});
