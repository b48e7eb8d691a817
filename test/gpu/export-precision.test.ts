/**
 * Exporting a generator that trains with BF16 convolutions on CUDA: the export check runs our
 * forward in fp32 (src/export/export.ts, inFp32), so it compares the graphs, not the rounding,
 * and the model's precision is restored afterwards. Needs CUDA and onnxruntime-node; the
 * emulated addon runs it in `npm test` (test/gpu/emulated-cuda.test.ts).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { cudaUnavailableReason, loadBackend, PRECISIONS } from '../../src/backend/device';
import { exportGeneratorFiles, forwardEval } from '../../src/export/export';
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
