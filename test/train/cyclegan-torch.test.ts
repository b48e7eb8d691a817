/**
 * Parity with PyTorch: the same weights and batch through our CycleGAN step and through the
 * reference step (test/train/cyclegan-torch-reference.py, networks.py + cycle_gan_model.py) must
 * give the same losses and the same updated weights. Skipped where python3 cannot import torch.
 */
import { test } from 'node:test';
import * as assert from 'node:assert';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { spawnSync } from 'child_process';
import { CycleGANModel, LOSS_NAMES, type ModelConfig } from '../../src/train/cyclegan';
import { Rng } from '../../src/util/rng';
import { Tensor, backward, tidy } from '../../src/tensor';
import * as F from '../../src/ops';
import { defineG } from '../../src/nn/networks';
import { fillNormal } from '../../src/nn/init';
import { assertClose, cpuBackend, randomArray } from '../util/native';

const script = path.join(__dirname, '..', '..', '..', 'test', 'train', 'cyclegan-torch-reference.py');
/** The first python that imports torch ($CGTRAIN_PYTHON, then python3 on PATH, then the system one). */
const PYTHON = [process.env.CGTRAIN_PYTHON, 'python3', '/usr/bin/python3'].find(
  (py) => py && spawnSync(py, ['-c', 'import torch, numpy'], { stdio: 'ignore' }).status === 0,
);
const hasTorch = PYTHON !== undefined;

interface Table {
  name: string;
  shape: number[];
  offset: number;
}

function writeTensors(file: string, tensors: { name: string; shape: number[]; data: Float32Array }[]): Table[] {
  const table: Table[] = [];
  let offset = 0;
  for (const t of tensors) {
    table.push({ name: t.name, shape: t.shape, offset });
    offset += t.data.length;
  }
  const all = new Float32Array(offset);
  tensors.forEach((t, i) => all.set(t.data, table[i].offset));
  fs.writeFileSync(file, Buffer.from(all.buffer));
  return table;
}

function readTensors(dir: string, table: Table[]): Map<string, Float32Array> {
  const buf = fs.readFileSync(path.join(dir, 'out.bin'));
  const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  return new Map(table.map((t) => [t.name, all.subarray(t.offset, t.offset + t.shape.reduce((a, b) => a * b, 1))]));
}


/**
 * The farthest Adam (bias-corrected, eps -> 0) can move one weight in `steps` steps, whatever the
 * gradients: at step t the update is lr * m_hat / sqrt(v_hat) with m_hat = sum_i a_i g_i and
 * v_hat = sum_i b_i g_i^2, so by Cauchy-Schwarz |m_hat| / sqrt(v_hat) <= sqrt(sum_i a_i^2 / b_i).
 * That is 1 at the first step and a little more later (1.05, 1.13 for beta1 0.5, beta2 0.999).
 */
function adamMaxDisplacement(lr: number, beta1: number, beta2: number, steps: number): number {
  let total = 0;
  for (let t = 1; t <= steps; t++) {
    let sum = 0;
    for (let i = 1; i <= t; i++) {
      const a = ((1 - beta1) * beta1 ** (t - i)) / (1 - beta1 ** t);
      const b = ((1 - beta2) * beta2 ** (t - i)) / (1 - beta2 ** t);
      sum += (a * a) / b;
    }
    total += lr * Math.sqrt(sum);
  }
  return total;
}

test('one CycleGAN step matches the reference PyTorch step (losses and updated weights)', { skip: hasTorch ? false : 'python3 with torch is not available' }, () => {
  const steps = 3;
  const cfg: ModelConfig = {
    netG: 'resnet_6blocks', netD: 'basic', nLayersD: 3, ngf: 4, ndf: 4, norm: 'instance', initType: 'normal', initGain: 0.02,
    noDropout: true, upsample: 'transpose', inputNc: 3, outputNc: 3, ganMode: 'lsgan', dLoss: 'gan', focalAlpha: 0.25, focalGamma: 2,
    ghmBins: 10, ghmMomentum: 0.75, lambdaA: 10, lambdaB: 10, lambdaIdentity: 0.5, poolSize: 0, lr: 2e-4, beta1: 0.5, beta2: 0.999,
    imageSize: 32,
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgtrain-torch-'));
  const model = new CycleGANModel(cfg, cpuBackend(), new Rng(3));
  try {
    const n = 2;
    const a = randomArray(n * 3 * 32 * 32, 1);
    const b = randomArray(n * 3 * 32 * 32, 2);
    const weights = model.checkpointTensors().filter((t) => t.name.startsWith('net'));
    const table = writeTensors(path.join(dir, 'in.bin'), [...weights, { name: 'input.A', shape: [n, 3, 32, 32], data: a }, { name: 'input.B', shape: [n, 3, 32, 32], data: b }]);
    fs.writeFileSync(path.join(dir, 'in.json'), JSON.stringify({ config: { ...cfg, blocks: 6, steps }, tensors: table }));
    const run = spawnSync(PYTHON!, [script, dir], { encoding: 'utf8', timeout: 120_000 });
    assert.strictEqual(run.status, 0, `reference step failed: ${run.stderr}`);
    const reference = JSON.parse(fs.readFileSync(path.join(dir, 'out.json'), 'utf8')) as { losses: Record<string, number>[]; tensors: Table[] };

    // Capture the first step's generator gradients just before Adam consumes them.
    const firstGrads = new Map<string, Float32Array>();
    const names = [...model.netG_A.namedParameters('netG_A'), ...model.netG_B.namedParameters('netG_B')];
    const adamStep = model.optimizerG.step.bind(model.optimizerG);
    model.optimizerG.step = () => {
      if (firstGrads.size === 0) for (const [name, p] of names) firstGrads.set(name, p.grad!.toFloat32Array());
      adamStep();
    };
    model.setInput(a, b, n);
    for (let step = 0; step < steps; step++) {
      model.optimizeParameters();
      const ours = model.currentLosses();
      for (const name of LOSS_NAMES) {
        const expected = reference.losses[step][name];
        // step 1 is a pure forward of identical weights; later steps follow Adam updates
        const rtol = step === 0 ? 1e-4 : 2e-3;
        assert.ok(Math.abs(ours[name] - expected) <= rtol * Math.abs(expected) + 1e-5, `step ${step + 1} ${name}: ours ${ours[name]}, torch ${expected}`);
      }
    }
    const theirs = readTensors(dir, reference.tensors);
    for (const [name, ours] of firstGrads) {
      const expected = theirs.get(`grad.${name}`)!;
      let diff = 0;
      let norm = 0;
      for (let i = 0; i < ours.length; i++) {
        diff += (ours[i] - expected[i]) ** 2;
        norm += expected[i] ** 2;
      }
      // Conv biases in front of an instance norm have a zero gradient up to rounding: compare
      // them in absolute terms.
      const tolerance = 1e-3 * Math.sqrt(norm) + 1e-5 * Math.sqrt(ours.length);
      if (process.env.SHOW_PARITY) console.log(`grad ${name}: |diff| ${Math.sqrt(diff)}, |grad| ${Math.sqrt(norm)}`);
      assert.ok(Math.sqrt(diff) <= tolerance, `gradient of ${name}: |ours - torch| = ${Math.sqrt(diff)}, |torch| = ${Math.sqrt(norm)}`);
    }
    let compared = 0;
    let off = 0;
    let worstOverall = 0;
    for (const t of model.checkpointTensors().filter((x) => x.name.startsWith('net'))) {
      const expected = theirs.get(t.name);
      assert.ok(expected, `torch has no ${t.name}`);
      for (let i = 0; i < t.data.length; i++) {
        const d = Math.abs(t.data[i] - expected[i]);
        compared++;
        worstOverall = Math.max(worstOverall, d);
        if (d > 1e-5 + 1e-3 * Math.abs(expected[i])) off++;
      }
    }
    if (process.env.SHOW_PARITY) console.log(`${off} of ${compared} weights differ, worst ${worstOverall}`);
    // Adam divides by sqrt(v): where a gradient is zero up to rounding (the conv biases in front
    // of an instance norm, a few weights), its step is the sign of rounding noise, in both
    // libraries, so such a weight can end up to twice Adam's largest possible displacement apart.
    // The gradients themselves were compared above.
    assert.ok(off <= compared * 0.05, `${off} of ${compared} weights differ from torch's after ${steps} steps`);
    const bound = 2 * adamMaxDisplacement(cfg.lr, cfg.beta1, cfg.beta2, steps);
    assert.ok(worstOverall <= bound, `a weight is ${worstOverall} from torch's, more than Adam can move two weights apart in ${steps} steps (${bound})`);
  } finally {
    model.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('unet generator (batch norm, skip connections) matches the reference forward and input gradient', { skip: hasTorch ? false : 'python3 with torch is not available' }, () => {
  const be = cpuBackend();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgtrain-torch-unet-'));
  const net = defineG(be, { netG: 'unet_32', inputNc: 3, outputNc: 3, ngf: 4, norm: 'batch', useDropout: false, upsample: 'transpose', imageSize: 32, initType: 'normal', initGain: 0.02 }, new Rng(5));
  try {
    // variance-preserving weights so every layer matters in the output
    for (const p of net.parameters()) if (p.shape.length > 1) fillNormal(p, 0, 1 / Math.sqrt(p.size / p.shape[0]), new Rng(p.size));
    const shape = [3, 3, 32, 32];
    const x = randomArray(3 * 3 * 32 * 32, 8);
    const weights = randomArray(3 * 3 * 32 * 32, 9);
    const state = net.stateDict().map(([name, t]) => ({ name: `net.${name}`, shape: t.shape.slice(), data: t.toFloat32Array() }));
    const table = writeTensors(path.join(dir, 'in.bin'), [...state, { name: 'input', shape, data: x }, { name: 'weights', shape, data: weights }]);
    fs.writeFileSync(path.join(dir, 'in.json'), JSON.stringify({ mode: 'unet', config: { numDowns: 5, ngf: 4 }, tensors: table }));
    const run = spawnSync(PYTHON!, [script, dir], { encoding: 'utf8', timeout: 120_000 });
    assert.strictEqual(run.status, 0, `reference forward failed: ${run.stderr}`);
    const reference = readTensors(dir, (JSON.parse(fs.readFileSync(path.join(dir, 'out.json'), 'utf8')) as { tensors: Table[] }).tensors);
    const [y, dx] = tidy(() => {
      const input = Tensor.fromArray(x, shape, be);
      input.requiresGrad = true;
      const out = net.forward(input);
      backward(F.sum(F.mul(out, Tensor.fromArray(weights, shape, be))));
      return [out.toFloat32Array(), input.grad!.toFloat32Array()];
    });
    assertClose(y, reference.get('output')!, 'unet output', 1e-3, 1e-5);
    assertClose(dx, reference.get('input_grad')!, 'unet input gradient', 1e-3, 1e-4);
  } finally {
    net.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
