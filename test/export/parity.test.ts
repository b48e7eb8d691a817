/**
 * Every generator variant exports, and onnxruntime-node's output matches our eval-mode forward
 * within 1e-4 (max abs) on random inputs, at a batch of 2 and, where the graph is dynamic, at a
 * second size. Sizes are small so the whole file runs in seconds on two cores.
 */
import { test, before, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { resolveOptions, type TrainOptions } from '../../src/options';
import { BatchNorm2d } from '../../src/nn/layers';
import type { Module } from '../../src/nn/module';
import { exportGeneratorFiles, forwardEval } from '../../src/export/export';
import { buildGenerator } from '../../src/export/from-checkpoint';
import { readOnnxModel, OnnxGeneratorSession } from '../../src/export/runtime';
import { cpuBackend, randomArray } from '../util/native';
import { maxAbsDiff } from './reference';

const TOLERANCE = 1e-4;
let dir = '';

before(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgtrain-parity-'));
});
after(() => fs.rmSync(dir, { recursive: true, force: true }));

interface Variant {
  label: string;
  options: Record<string, unknown>;
  /** [height, width] of the extra dynamic-size check; null for fixed-size graphs */
  otherSize: [number, number] | null;
}

const folder = (size: number) => ({ dataset: 'folder', dataroot: os.tmpdir(), loadSize: size, cropSize: size });

const VARIANTS: Variant[] = [
  { label: 'resnet_9blocks, instance norm, transpose', options: { netG: 'resnet_9blocks', ngf: 4, norm: 'instance' }, otherSize: [20, 12] },
  { label: 'resnet_6blocks, batch norm, resize, dropout', options: { netG: 'resnet_6blocks', ngf: 4, norm: 'batch', upsample: 'resize', noDropout: false }, otherSize: [16, 24] },
  { label: 'resnet_6blocks, no norm, 1 -> 3 channels', options: { netG: 'resnet_6blocks', ngf: 4, norm: 'none', inputNc: 1, outputNc: 3, lambdaIdentity: 0 }, otherSize: [18, 14] },
  { label: 'unet_32, instance norm, dropout', options: { netG: 'unet_32', ngf: 4, norm: 'instance', noDropout: false }, otherSize: [64, 32] },
  { label: 'unet_128, batch norm', options: { netG: 'unet_128', ngf: 2, norm: 'batch', ...folder(128) }, otherSize: null },
  { label: 'unet_256, instance norm', options: { netG: 'unet_256', ngf: 2, norm: 'instance', ...folder(256) }, otherSize: null },
  { label: 'mlp, 1 -> 3 channels', options: { netG: 'mlp', ngf: 2, inputNc: 1, outputNc: 3, lambdaIdentity: 0 }, otherSize: null },
];

/** Non-trivial running statistics, so eval-mode batch norm is really exercised. */
function randomiseBatchNorm(generator: Module, seed: number): void {
  for (const [, m] of generator.namedModules()) {
    if (!(m instanceof BatchNorm2d)) continue;
    m.runningMean.copyFromArray(randomArray(m.numFeatures, seed++, -0.5, 0.5));
    m.runningVar.copyFromArray(randomArray(m.numFeatures, seed++, 0.5, 2));
  }
}

async function compareAt(file: string, generator: Module, shape: [number, number, number, number], seed: number): Promise<number> {
  const input = randomArray(shape.reduce((a, b) => a * b, 1), seed);
  const ours = forwardEval(generator, input, shape).data;
  const session = await OnnxGeneratorSession.open(file);
  try {
    const theirs = await session.run({ data: input, shape });
    assert.equal(theirs.data.length, ours.length, `${file}: output size at [${shape.join(', ')}]`);
    return maxAbsDiff(theirs.data, ours);
  } finally {
    await session.close();
  }
}

for (const [index, variant] of VARIANTS.entries()) {
  test(`export parity: ${variant.label}`, async () => {
    const backend = cpuBackend();
    const options: TrainOptions = resolveOptions({ preset: 'quick', initType: 'xavier', initGain: 1, ...variant.options });
    const netG_A = buildGenerator(backend, options, 'AtoB', 100 + index);
    const netG_B = buildGenerator(backend, options, 'BtoA', 200 + index);
    try {
      randomiseBatchNorm(netG_A, 300);
      randomiseBatchNorm(netG_B, 400);
      const out = path.join(dir, `variant${index}`);
      const exported = await exportGeneratorFiles({ netG_A, netG_B }, options, out);
      assert.deepEqual(exported.map((e) => path.basename(e.file)), ['G_A.onnx', 'G_B.onnx']);
      const meta = readOnnxModel(exported[0].file).metadata;
      const size = Number(meta.image_size);
      for (const [i, e] of exported.entries()) {
        const generator = i === 0 ? netG_A : netG_B;
        const inC = i === 0 ? options.inputNc : options.outputNc;
        assert.ok(e.maxAbsDiff < TOLERANCE, `${e.file}: export check ${e.maxAbsDiff}`);
        const batched = await compareAt(e.file, generator, [2, inC, size, size], 500 + i);
        assert.ok(batched < TOLERANCE, `${variant.label} ${e.direction}: batch of 2 at ${size}x${size}: max abs diff ${batched}`);
        if (variant.otherSize) {
          const other = await compareAt(e.file, generator, [1, inC, ...variant.otherSize], 600 + i);
          assert.ok(other < TOLERANCE, `${variant.label} ${e.direction}: at ${variant.otherSize.join('x')}: max abs diff ${other}`);
        }
      }
      assert.equal(meta.direction, 'AtoB');
      assert.equal(meta.generator, options.netG);
      assert.equal(meta.input_channels, String(options.inputNc));
      assert.equal(meta.output_channels, String(options.outputNc));
      assert.equal(meta.size_fixed, String(options.netG === 'mlp'));
      assert.equal(JSON.parse(meta.training_options).netG, options.netG);
      assert.equal(readOnnxModel(exported[1].file).metadata.input_channels, String(options.outputNc));
    } finally {
      netG_A.dispose();
      netG_B.dispose();
    }
  });
}
