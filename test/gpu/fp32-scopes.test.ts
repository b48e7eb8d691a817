/**
 * Work that measures runs in fp32 whatever --precision a run trains with (inFp32 in
 * src/backend/device.ts), and the backend keeps its precision afterwards:
 *  - the export check of a generator built for BF16 compares graphs, not rounding;
 *  - the dot products behind KID and PRDC are float32 products on a BF16 CUDA backend.
 * Needs CUDA (and onnxruntime-node); the emulated addon runs it in `npm test`
 * (test/gpu/emulated-cuda.test.ts).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cudaUnavailableReason, loadBackend, PRECISIONS } from '../../src/backend/device';
import { backendDots, hostDots } from '../../src/eval/dots';
import { exportGeneratorFiles, forwardEval } from '../../src/export/export';
import * as F from '../../src/ops';
import { Tensor, noGrad, tidy } from '../../src/tensor';
import { buildGenerator } from '../../src/export/from-checkpoint';
import { OnnxGeneratorSession } from '../../src/export/runtime';
import { resolveOptions } from '../../src/options';
import { randomArray } from '../util/native';
import { maxAbsDiff } from '../export/reference';

const unavailable = cudaUnavailableReason();
const required = process.env.CGTRAIN_REQUIRE_CUDA === '1';
const skip = unavailable === null || required ? false : `CUDA cannot run here: ${unavailable.split('\n')[0]}`;

test('a BF16 CUDA generator exports with an fp32 check, and keeps its precision', { skip }, async () => {
  const backend = loadBackend('cuda', { quiet: true, precision: 'bf16' });
  const options = resolveOptions({ preset: 'quick', netG: 'resnet_6blocks', ngf: 8, initType: 'xavier', initGain: 1 });
  const netG_A = buildGenerator(backend, options, 'AtoB', 5);
  const netG_B = buildGenerator(backend, options, 'BtoA', 6);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgtrain-export-bf16-'));
  try {
    const [exported] = await exportGeneratorFiles({ netG_A, netG_B }, options, dir, ['AtoB']);
    assert.equal(backend.binding.precision(), PRECISIONS.bf16, 'the precision is restored after the check');
    assert.ok(exported.maxAbsDiff < 1e-4, `fp32 export check: max abs diff ${exported.maxAbsDiff}`);
    // The same comparison with BF16 operands differs by far more: what the check must not see.
    const shape: [number, number, number, number] = [1, options.inputNc, 32, 32];
    const input = randomArray(shape.reduce((a, b) => a * b, 1), 9);
    const session = await OnnxGeneratorSession.open(exported.file);
    try {
      const theirs = (await session.run({ data: input, shape })).data;
      const bf16 = maxAbsDiff(theirs, forwardEval(netG_A, input, shape).data);
      assert.ok(bf16 > 10 * exported.maxAbsDiff, `BF16 forward: max abs diff ${bf16}, fp32 ${exported.maxAbsDiff}`);
    } finally {
      await session.close();
    }
  } finally {
    netG_A.dispose();
    netG_B.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('KID and PRDC dot products are float32 products on a BF16 CUDA backend', { skip }, () => {
  const backend = loadBackend('cuda', { quiet: true, precision: 'bf16' });
  const x = { n: 70, d: 96, data: randomArray(70 * 96, 3) };
  const y = { n: 80, d: 96, data: randomArray(80 * 96, 4) };
  const want = hostDots.block(x, 0, x.n, y);
  const scale = Math.max(...Array.from(want, Math.abs));
  const dots = backendDots(backend);
  try {
    const got = dots.block(x, 0, x.n, y);
    assert.ok(maxAbsDiff(got, want) < 1e-5 * scale, `backend dots: max abs diff ${maxAbsDiff(got, want)}, max |dot| ${scale}`);
  } finally {
    dots.dispose();
  }
  assert.equal(backend.binding.precision(), PRECISIONS.bf16, 'the precision is restored');
  // The same linear layer with the run's BF16 operands: what the metrics must not see.
  const bf16 = noGrad(() => tidy(() => F.linear(Tensor.fromArray(Float32Array.from(x.data), [x.n, x.d], backend),
    Tensor.fromArray(Float32Array.from(y.data), [y.n, y.d], backend)).toFloat32Array()));
  assert.ok(maxAbsDiff(bf16, want) > 1e-4 * scale, `BF16 linear: max abs diff ${maxAbsDiff(bf16, want)}`);
});
