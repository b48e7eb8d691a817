/**
 * The export and translate commands end to end on a real CycleGAN checkpoint (CycleGANModel +
 * writeCheckpoint, as training writes it): ONNX files with their metadata, onnxruntime against
 * the checkpoint's generators on real MNIST digits, PNGs from both engines, and the errors a
 * user sees for bad files.
 */
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import sharp from 'sharp';
import { cudaUnavailableReason, packageRoot } from '../../src/backend/device';
import { resolveOptions } from '../../src/options';
import { CycleGANModel } from '../../src/train/cyclegan';
import { modelConfigOf } from '../../src/train/session';
import { writeCheckpoint } from '../../src/train/checkpoint';
import { Rng } from '../../src/util/rng';
import { loadMnistNpm } from '../../src/data/mnist';
import { renderSynthHouseNumbers } from '../../src/data/synth';
import { readOnnxModel, OnnxGeneratorSession } from '../../src/export/runtime';
import { exportHook } from '../../src/export/export';
import { loadTranslator } from '../../src/translate/translator';
import { chwToHwcBytes } from '../../src/translate/image';
import { cpuBackend } from '../util/native';
import { maxAbsDiff } from './reference';

const run = promisify(execFile);
const CLI = path.join(packageRoot(), 'dist', 'src', 'cli', 'main.js');

let dir = '';
let checkpoint = '';
let model: CycleGANModel;
let digits: Float32Array;
const DIGITS = 4;

async function cli(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, CGTRAIN_THREADS: '2' } });
    return { stdout, stderr, code: 0 };
  } catch (err) {
    const e = err as { stdout: string; stderr: string; code: number };
    return { stdout: e.stdout, stderr: e.stderr, code: e.code };
  }
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgtrain-cli-export-'));
  const options = resolveOptions({ preset: 'quick', ngf: 4, ndf: 4, initType: 'xavier', initGain: 1 });
  model = new CycleGANModel(modelConfigOf(options), cpuBackend(), new Rng(7));
  checkpoint = path.join(dir, 'run', 'checkpoints', 'latest.safetensors');
  writeCheckpoint(checkpoint, model.checkpointTensors(), { options: JSON.stringify(options), epoch: '1' });
  const mnist = loadMnistNpm('test', 3);
  digits = new Float32Array(DIGITS * 3 * 32 * 32);
  for (let i = 0; i < DIGITS; i++) mnist.read(i, digits, i * 3 * 32 * 32);
  fs.mkdirSync(path.join(dir, 'digits'));
  for (let i = 0; i < DIGITS; i++) {
    const one = digits.subarray(i * 3072, (i + 1) * 3072);
    await sharp(chwToHwcBytes(one, [1, 3, 32, 32]), { raw: { width: 32, height: 32, channels: 3 } }).png().toFile(path.join(dir, 'digits', `digit${i}.png`));
  }
});

after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('cgtrain export writes G_A.onnx and G_B.onnx into the run directory with their metadata', async () => {
  const { stdout, stderr, code } = await cli('export', '--checkpoint', checkpoint);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /G_A\.onnx.*max abs diff/);
  for (const [name, direction] of [['G_A.onnx', 'AtoB'], ['G_B.onnx', 'BtoA']]) {
    const meta = readOnnxModel(path.join(dir, 'run', name)).metadata;
    assert.equal(meta.direction, direction);
    assert.equal(meta.input_normalization, '[-1,1]: x/127.5 - 1');
    assert.equal(meta.image_size, '32');
    assert.equal(meta.cgtrain_version, JSON.parse(fs.readFileSync(path.join(packageRoot(), 'package.json'), 'utf8')).version);
    assert.equal(JSON.parse(meta.training_options).ngf, 4);
  }
  const only = path.join(dir, 'only-b');
  assert.equal((await cli('export', '--checkpoint', checkpoint, '--direction', 'BtoA', '--out', only)).code, 0);
  assert.deepEqual(fs.readdirSync(only), ['G_B.onnx']);
  // --out NAME.onnx is a file (in a folder made for it), for one direction; not a folder named NAME.onnx.
  const file = path.join(dir, 'models', 'svhn2mnist.onnx');
  assert.equal((await cli('export', '--checkpoint', checkpoint, '--direction', 'BtoA', '--out', file)).code, 0);
  assert.ok(fs.statSync(file).isFile());
  assert.equal(readOnnxModel(file).metadata.direction, 'BtoA');
  assert.deepEqual(fs.readdirSync(path.dirname(file)), ['svhn2mnist.onnx'], 'no temp file left');
  const both = await cli('export', '--checkpoint', checkpoint, '--out', path.join(dir, 'both.onnx'));
  assert.notEqual(both.code, 0);
  assert.match(both.stderr, /--out \S*both\.onnx names one file, but --direction both writes two models: pass --direction AtoB or BtoA/);
  assert.ok(!fs.existsSync(path.join(dir, 'both.onnx')));
});

/** G_A on MNIST digits (domain A), G_B on rendered house numbers (domain B): ONNX vs checkpoint vs the model. */
test('onnxruntime on the exported files matches the checkpoint generators on real dataset images', async () => {
  if (!fs.existsSync(path.join(dir, 'run', 'G_B.onnx'))) assert.equal((await cli('export', '--checkpoint', checkpoint)).code, 0);
  const houseNumbers = Float32Array.from(renderSynthHouseNumbers(5, DIGITS).pixels, (v) => v / 127.5 - 1);
  for (const [direction, images] of [['AtoB', digits], ['BtoA', houseNumbers]] as const) {
    const session = await OnnxGeneratorSession.open(path.join(dir, 'run', direction === 'AtoB' ? 'G_A.onnx' : 'G_B.onnx'));
    const fromCheckpoint = await loadTranslator(checkpoint, { device: 'cpu', direction });
    try {
      const onnx = await session.run({ data: images, shape: [DIGITS, 3, 32, 32] });
      const ours = await fromCheckpoint.translateTensor(images, [DIGITS, 3, 32, 32]);
      assert.ok(maxAbsDiff(onnx.data, ours.data) < 1e-4, `${direction}: onnx vs checkpoint: ${maxAbsDiff(onnx.data, ours.data)}`);
      assert.ok(maxAbsDiff(ours.data, model.translate(images, DIGITS, direction)) < 1e-5, `${direction}: checkpoint vs the training model`);
    } finally {
      await session.close();
      await fromCheckpoint.close();
    }
  }
});

test('cgtrain translate gives the same PNGs from the ONNX model and from the checkpoint', async () => {
  const viaOnnx = path.join(dir, 'out-onnx');
  const viaCheckpoint = path.join(dir, 'out-ckpt');
  const a = await cli('translate', '--model', path.join(dir, 'run', 'G_A.onnx'), path.join(dir, 'digits'), '--out', viaOnnx);
  assert.equal(a.code, 0, a.stderr);
  const b = await cli('translate', '--checkpoint', checkpoint, '--device', 'cpu', path.join(dir, 'digits', 'digit0.png'), path.join(dir, 'digits', 'digit1.png'), '--out', viaCheckpoint);
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stdout, /translated 2 images .* cgtrain addon \(CPU/);
  assert.deepEqual(fs.readdirSync(viaOnnx).sort(), ['digit0.png', 'digit1.png', 'digit2.png', 'digit3.png']);
  // --html: a results page, each input beside its translation, with links that resolve.
  const page = path.join(dir, 'out-html');
  const h = await cli('translate', '--model', path.join(dir, 'run', 'G_A.onnx'), path.join(dir, 'digits'), '--out', page, '--html');
  assert.equal(h.code, 0, h.stderr);
  const html = fs.readFileSync(path.join(page, 'index.html'), 'utf8');
  const rows = [...html.matchAll(/<tr><td>(\S+)<\/td><td><a href="([^"]+)">.*?<\/td><td><a href="([^"]+)">/g)];
  assert.deepEqual(rows.map((r) => r[1]), ['digit0.png', 'digit1.png', 'digit2.png', 'digit3.png']);
  for (const [, name, input, output] of rows) {
    assert.equal(path.resolve(page, decodeURIComponent(input)), path.join(dir, 'digits', name));
    assert.ok(fs.readFileSync(path.resolve(page, decodeURIComponent(output))).equals(fs.readFileSync(path.join(viaOnnx, name))));
  }
  // --run DIR: the run's G_A.onnx (the same bytes as --model), or with --device its checkpoint.
  const viaRun = path.join(dir, 'out-run');
  const r = await cli('translate', '--run', path.join(dir, 'run'), path.join(dir, 'digits', 'digit1.png'), '--out', viaRun);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /with onnxruntime-node/);
  assert.deepEqual(fs.readFileSync(path.join(viaRun, 'digit1.png')), fs.readFileSync(path.join(viaOnnx, 'digit1.png')));
  const r2 = await cli('translate', '--run', path.join(dir, 'run'), '--device', 'cpu', path.join(dir, 'digits', 'digit1.png'), '--out', path.join(dir, 'out-run-ckpt'));
  assert.equal(r2.code, 0, r2.stderr);
  assert.match(r2.stdout, /cgtrain addon \(CPU/);
  const missing = await cli('translate', '--run', path.join(dir, 'no-such-run'), path.join(dir, 'digits'), '--out', path.join(dir, 'never'));
  assert.match(missing.stderr, /--run \S*no-such-run: neither \S*no-such-run nor runs\/\S*no-such-run holds a run/);
  const bad = await cli('translate', '--model', path.join(dir, 'run', 'G_A.onnx'), path.join(dir, 'digits', 'digit2.png'), '--out', path.join(dir, 'one.png'), '--html');
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--html writes <out>\/index\.html beside the translations: --out must be a directory/);
  const single = path.join(dir, 'single', 'translated.png');
  const c = await cli('translate', '--model', path.join(dir, 'run', 'G_A.onnx'), path.join(dir, 'digits', 'digit2.png'), '--out', single);
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(fs.readFileSync(single), fs.readFileSync(path.join(viaOnnx, 'digit2.png')));
  const jpeg = path.join(dir, 'single', 'translated.jpg');
  assert.equal((await cli('translate', '--model', path.join(dir, 'run', 'G_A.onnx'), path.join(dir, 'digits', 'digit2.png'), '--out', jpeg)).code, 0);
  assert.equal((await sharp(jpeg).metadata()).format, 'jpeg');
  for (const name of ['digit0.png', 'digit1.png']) {
    const x = await sharp(path.join(viaOnnx, name)).raw().toBuffer();
    const y = await sharp(path.join(viaCheckpoint, name)).raw().toBuffer();
    assert.ok(maxAbsDiff(x, y) <= 1, `${name}: pixels differ by ${maxAbsDiff(x, y)}`);
  }
});

test('bad files give one clear line naming the file and exit 1', async () => {
  const truncated = path.join(dir, 'truncated.onnx');
  const bytes = fs.readFileSync(path.join(dir, 'run', 'G_B.onnx'));
  fs.writeFileSync(truncated, bytes.subarray(0, 1000));
  const t = await cli('translate', '--model', truncated, path.join(dir, 'digits'), '--out', path.join(dir, 'never'));
  assert.equal(t.code, 1);
  assert.match(t.stderr, new RegExp(`cgtrain: .*${truncated.replace(/[.]/g, '\\.')}.*not a valid ONNX model`));
  const notImage = path.join(dir, 'notes.png');
  fs.writeFileSync(notImage, 'hello');
  const i = await cli('translate', '--model', path.join(dir, 'run', 'G_A.onnx'), notImage, '--out', path.join(dir, 'never'));
  assert.equal(i.code, 1);
  assert.match(i.stderr, /cannot read image .*notes\.png/);
  const c = await cli('export', '--checkpoint', path.join(dir, 'run', 'G_A.onnx'));
  assert.equal(c.code, 1);
  assert.match(c.stderr, /G_A\.onnx/);
  const d = await cli('translate', '--model', path.join(dir, 'run', 'G_A.onnx'), '--device', 'cuda', notImage, '--out', dir);
  assert.equal(d.code, 1);
  assert.match(d.stderr, /--device runs our addon and needs --checkpoint/);
  const p = await cli('translate', '--model', path.join(dir, 'run', 'G_A.onnx'), '--precision', 'fp32', notImage, '--out', dir);
  assert.equal(p.code, 1);
  assert.match(p.stderr, /--precision sets our addon's convolutions and needs --checkpoint/);
  await assert.rejects(loadTranslator(path.join(dir, 'run', 'G_A.onnx'), { precision: 'fp32' }), /ONNX model, which onnxruntime runs on the CPU; --precision sets/);
  const bf16 = await cli('translate', '--checkpoint', checkpoint, '--device', 'cpu', '--precision', 'bf16', path.join(dir, 'digits', 'digit0.png'), '--out', path.join(dir, 'never-bf16'));
  assert.equal(bf16.code, 1);
  assert.match(bf16.stderr, /--precision bf16 cannot run on the CPU: .*\n  Fix: use --precision fp32 \(or auto\) on the CPU, or --device cuda/);
  assert.equal(fs.existsSync(path.join(dir, 'never-bf16')), false);
  const fp32 = await cli('translate', '--checkpoint', checkpoint, '--device', 'cpu', '--precision', 'fp32', path.join(dir, 'digits', 'digit0.png'), '--out', path.join(dir, 'fp32.png'));
  assert.equal(fp32.code, 0, fp32.stderr);
  assert.ok(fs.statSync(path.join(dir, 'fp32.png')).size > 0);
  // An --out that names an image file it cannot be: refused, and no folder of that name made.
  const webp = await cli('translate', '--checkpoint', checkpoint, '--device', 'cpu', path.join(dir, 'digits', 'digit0.png'), '--out', path.join(dir, 'x.webp'));
  assert.equal(webp.code, 1);
  assert.match(webp.stderr, /--out .*x\.webp: translated images are written as PNG or JPEG; name a \.png or \.jpg file, or a directory/);
  const many = await cli('translate', '--model', path.join(dir, 'run', 'G_A.onnx'), path.join(dir, 'digits'), '--out', path.join(dir, 'all.png'));
  assert.equal(many.code, 1);
  assert.match(many.stderr, /--out .*all\.png names one image file, but the inputs hold \d+ images; pass a directory/);
  assert.equal(fs.existsSync(path.join(dir, 'x.webp')) || fs.existsSync(path.join(dir, 'all.png')), false);
  const e = await cli('export', '--checkpoint', path.join(dir, 'absent.safetensors'));
  assert.equal(e.code, 1);
  assert.match(e.stderr, /checkpoint .*absent\.safetensors does not exist/);
});

test('the trainer export hook writes both generators into the run directory, and nothing with --export false', async () => {
  const options = JSON.parse(readOnnxModel(path.join(dir, 'run', 'G_A.onnx')).metadata.training_options);
  const runDir = path.join(dir, 'hook-run');
  const files = await exportHook({ model, options, runDir });
  assert.deepEqual(files.map((f) => path.basename(f)), ['G_A.onnx', 'G_B.onnx']);
  assert.ok(files.every((f) => fs.statSync(f).size > 1000));
  assert.deepEqual(fs.readdirSync(runDir).sort(), ['G_A.onnx', 'G_B.onnx'], 'no temporary files left behind');
  assert.deepEqual(await exportHook({ model, options: { ...options, export: false }, runDir: path.join(dir, 'no-export') }), []);
  assert.equal(fs.existsSync(path.join(dir, 'no-export')), false);
  await assert.rejects(exportHook({ model: {}, options, runDir }), /no netG_A\/netG_B/);
});

test('--device cuda translates a checkpoint on the GPU, or says why CUDA cannot run', async () => {
  const out = path.join(dir, 'out-cuda');
  const result = await cli('translate', '--checkpoint', checkpoint, '--device', 'cuda', path.join(dir, 'digits', 'digit0.png'), '--out', out);
  const reason = cudaUnavailableReason();
  if (reason !== null) {
    assert.equal(result.code, 1);
    assert.match(result.stderr, /CUDA cannot run/);
    return;
  }
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /cgtrain addon \(CUDA/);
  const gpu = await sharp(path.join(out, 'digit0.png')).raw().toBuffer();
  const onnx = await sharp(path.join(dir, 'out-onnx', 'digit0.png')).raw().toBuffer();
  // TF32 tensor-core convolutions may move a pixel by a step or two
  assert.ok(maxAbsDiff(gpu, onnx) <= 3, `GPU vs onnxruntime pixels differ by ${maxAbsDiff(gpu, onnx)}`);
});
