/**
 * The TensorFlow.js baseline must train the same networks as cgtrain (same parameter counts and
 * output shapes), and `npm run bench`'s summaries and tables must come out right on canned results.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { loadBackend } from '../../src/backend/device';
import { resolveOptions } from '../../src/options';
import { Tensor, tidy, noGrad } from '../../src/tensor';
import { CycleGANModel } from '../../src/train/cyclegan';
import { modelConfigOf } from '../../src/train/session';
import { Rng } from '../../src/util/rng';
import { describeTfjsModel } from '../../bench/tfjs/step';
import { consistencyChecks, gpuSamples } from '../../bench/run';
import { lastJsonLine } from '../../bench/child';
import { markdownTable, renderMarkdown, replaceBlock, summarize, type BenchConfig, type Report, type Sample } from '../../bench/table';

/** cgtrain's per-network parameter counts and output shapes for one 32x32 image. */
function cgtrainModel(ngf: number, ndf: number): { generator: number; discriminator: number; total: number; shapes: { generator: number[]; discriminator: number[] } } {
  const options = resolveOptions({ preset: 'quick', device: 'cpu', netG: 'resnet_6blocks', netD: 'basic', ngf, ndf, norm: 'instance' });
  const backend = loadBackend('cpu', { threads: 1, quiet: true });
  const model = new CycleGANModel(modelConfigOf(options), backend, new Rng(1));
  try {
    const shapeOf = (net: typeof model.netG_A) => tidy(() => noGrad(() => [...net.forward(Tensor.zeros([1, 3, 32, 32], backend)).shape]));
    return {
      generator: model.netG_A.parameterCount(), discriminator: model.netD_A.parameterCount(), total: model.parameterCount(),
      shapes: { generator: shapeOf(model.netG_A), discriminator: shapeOf(model.netD_A) },
    };
  } finally {
    model.dispose();
  }
}

test('the tfjs CycleGAN has cgtrain\'s parameter counts and output shapes (32x32 resnet_6blocks ngf 4 ndf 4)', async () => {
  const ours = cgtrainModel(4, 4);
  const tfjs = await describeTfjsModel({ size: 32, batch: 1, blocks: 6, ngf: 4, ndf: 4 });
  assert.deepEqual(tfjs.parameters, { generator: ours.generator, discriminator: ours.discriminator });
  assert.equal(2 * (tfjs.parameters.generator + tfjs.parameters.discriminator), ours.total);
  assert.deepEqual(tfjs.outputShapes, ours.shapes);
  assert.deepEqual(tfjs.outputShapes, { generator: [1, 3, 32, 32], discriminator: [1, 1, 2, 2] });
});

const configs: BenchConfig[] = [{ name: 'small', size: 32, blocks: 6, ngf: 8, ndf: 8, batch: 2 }];

function sample(impl: string, repeat: number, ms: number, mode: 'step' | 'infer' = 'step'): Sample {
  return { mode, config: 'small', impl, label: `${impl} label`, repeat, ms, gflopPerImage: mode === 'step' ? 0.4 : 0.02, load1: 1 };
}

const samples: Sample[] = [
  sample('cgtrain', 0, 100), sample('tfjs', 0, 40000), sample('torch', 0, 1000),
  sample('cgtrain', 1, 120), sample('tfjs', 1, 50000), sample('torch', 1, 3000),
  sample('cgtrain', 2, 110), sample('tfjs', 2, 45000), sample('torch', 2, 2000),
  sample('cgtrain', 0, 4, 'infer'), sample('onnxruntime-node', 0, 5, 'infer'),
];

test('summarize takes the median over runs, the same FLOP count for all, and the ratio to cgtrain', () => {
  const rows = summarize(samples, configs, 40);
  const step = (impl: string) => rows.find((r) => r.mode === 'step' && r.impl === impl)!;
  assert.deepEqual(rows.map((r) => `${r.mode} ${r.impl} ${r.runs}`), ['step cgtrain 3', 'step tfjs 3', 'step torch 3', 'infer cgtrain 1', 'infer onnxruntime-node 1']);
  assert.equal(step('cgtrain').ms, 110);
  assert.equal(step('torch').ms, 2000);
  assert.equal(step('torch').msMin, 1000);
  assert.equal(step('torch').msMax, 3000);
  assert.ok(Math.abs(step('cgtrain').imagesPerSec - 2000 / 110) < 1e-9);
  assert.ok(Math.abs(step('cgtrain').gflops - 0.4 * (2000 / 110)) < 1e-9);
  assert.ok(Math.abs(step('cgtrain').percentOfPeak! - (100 * 0.4 * (2000 / 110)) / 40) < 1e-9);
  assert.equal(step('cgtrain').timeVsCgtrain, 1);
  assert.ok(Math.abs(step('tfjs').timeVsCgtrain! - 45000 / 110) < 1e-9);
  const ort = rows.find((r) => r.impl === 'onnxruntime-node')!;
  assert.ok(Math.abs(ort.timeVsCgtrain! - 5 / 4) < 1e-12);
});

test('markdownTable prints one row per implementation with per-image inference times', () => {
  const rows = summarize(samples, configs, 40);
  const step = markdownTable(rows, 'step', configs).split('\n');
  assert.equal(step.length, 5);
  assert.match(step[0], /\| configuration \| implementation \| images\/s \| ms\/step \| GFLOP\/s \| % of peak \| time vs cgtrain \| runs \|/);
  assert.equal(step[2], '| 32x32 resnet_6blocks ngf 8 ndf 8 batch 2 | cgtrain label | 18.18 | 110.0 | 7.27 | 18.2 | 1.00x | 3 |');
  assert.equal(step[3], '| 32x32 resnet_6blocks ngf 8 ndf 8 batch 2 | tfjs label | 0.0444 | 45000.0 | 0.0178 | 0.044 | 409x | 3 |');
  const infer = markdownTable(rows, 'infer', configs).split('\n');
  assert.equal(infer[2], '| 32x32 resnet_6blocks ngf 8 ndf 8 batch 2 | cgtrain label | 500.00 | 2.0 | 10.00 | 25.0 | 1.00x | 1 |');
  assert.equal(infer[3], '| 32x32 resnet_6blocks ngf 8 ndf 8 batch 2 | onnxruntime-node label | 400.00 | 2.5 | 8.00 | 20.0 | 1.25x | 1 |');
  assert.equal(markdownTable(rows.filter((r) => r.mode === 'step'), 'infer', configs), '');
});

test('renderMarkdown names the machine, load and command; replaceBlock swaps only the marked block', () => {
  const report: Report = {
    title: 'CPU benchmark', command: 'npm run bench', time: '2026-11-27T15:45:00.000Z', seconds: 600,
    machine: { description: 'AMD EPYC (2 cores)', cpu: 'AMD EPYC', cores: 2, simd: 'avx512', threads: 2, peakGflops: 40, node: 'Node v20', os: 'Linux' },
    load: { start: [1.5, 2, 3], end: [1, 1, 1], min1: 1, max1: 1.5 }, repeats: 3, configs, procedure: 'procedure text',
    rows: summarize(samples, configs, 40), samples,
    skipped: [{ mode: 'step', config: 'target', impl: 'tfjs', reason: 'too slow' }],
    checks: [{ config: 'small', what: 'parameters', ok: true, detail: 'cgtrain 1, tfjs 1' }],
  };
  const md = renderMarkdown(report);
  for (const part of ['## CPU benchmark', 'AMD EPYC (2 cores)', 'load average 1.50, 2.00, 3.00', 'Peak: 40.0 GFLOP/s', '`npm run bench`',
    '### Training step', '### Generator inference', '- skipped: tfjs training on target: too slow', '- check ok: small: parameters']) {
    assert.ok(md.includes(part), `missing '${part}' in\n${md}`);
  }
  const readme = 'intro\n<!-- bench:cpu:start -->\nold\n<!-- bench:cpu:end -->\noutro\n';
  assert.equal(replaceBlock(readme, 'bench:cpu', 'new table\n'), 'intro\n<!-- bench:cpu:start -->\nnew table\n<!-- bench:cpu:end -->\noutro\n');
  assert.throws(() => replaceBlock('no markers', 'bench:cpu', 'x'), /markers/);
});

test('consistencyChecks flags networks that differ between implementations', () => {
  const m = (impl: string, parameters: number) => ({ impl, label: impl, ms: 1, gflopPerImage: 0.4, parameters, mode: 'step' as const, config: 'small' });
  const [same] = consistencyChecks([m('cgtrain', 10), m('tfjs', 10)]);
  assert.equal(same.ok, true);
  const [differ] = consistencyChecks([m('cgtrain', 10), m('tfjs', 9)]);
  assert.equal(differ.ok, false);
  assert.match(differ.detail, /cgtrain 10, tfjs 9/);
});

test('gpuSamples reads scripts/gpu-check.sh\'s bench.jsonl lines; lastJsonLine skips banners', () => {
  const lines = [
    { impl: 'cgtrain', backend: 'cuda', device: 'NVIDIA H100', netG: 'resnet_6blocks', ngf: 64, ndf: 64, size: 32, batch: 128, msPerStep: 50, gflopPerImage: 21, peakGflops: 50000 },
    { impl: 'torch 2.5.0', device: 'cuda', gpu: 'NVIDIA H100', size: 32, batch: 128, blocks: 6, ngf: 64, ms_per_step: 100, gflop_per_image: 21 },
    // the script's variants of our run: their own rows, labelled, against the default engines
    { impl: 'cgtrain-nowgmma', backend: 'cuda', device: 'NVIDIA H100', netG: 'resnet_6blocks', ngf: 64, ndf: 64, size: 32, batch: 128, msPerStep: 40, gflopPerImage: 21, peakGflops: 50000 },
    { impl: 'cgtrain-bf16-untuned', backend: 'cuda', device: 'NVIDIA H100', netG: 'resnet_6blocks', ngf: 64, ndf: 64, size: 32, batch: 128, msPerStep: 25, gflopPerImage: 21, peakGflops: 50000 },
  ];
  const { samples: s, configs: c, peaks, device } = gpuSamples(lines);
  assert.deepEqual(c, [{ name: '32px-b128', size: 32, blocks: 6, ngf: 64, ndf: 64, batch: 128 }]);
  assert.deepEqual(s.map((x) => [x.impl, x.label, x.ms]), [
    ['cgtrain', 'cgtrain (cuda)', 50], ['torch', 'PyTorch 2.5.0 (cuda, cuDNN, TF32 allowed)', 100],
    ['cgtrain-nowgmma', 'cgtrain (cuda, without wgmma)', 40], ['cgtrain-bf16-untuned', 'cgtrain (cuda, BF16, engines by rule)', 25],
  ]);
  assert.deepEqual(peaks, [50000, 50000, 50000]);
  assert.equal(device, 'NVIDIA H100');
  const rows = summarize(s, c, 50000);
  assert.deepEqual(rows.map((r) => [r.impl, r.runs, r.timeVsCgtrain]), [['cgtrain', 1, 1], ['torch', 1, 2], ['cgtrain-nowgmma', 1, 0.8], ['cgtrain-bf16-untuned', 1, 0.5]]);
  assert.deepEqual(lastJsonLine('banner\n{"a":1}\n====\n'), { a: 1 });
  assert.equal(lastJsonLine('no json'), null);
});
