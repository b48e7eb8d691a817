/**
 * The FID Inception-v3 we build from a pytorch-fid state dict, against torchvision's Inception3
 * with pytorch-fid's pooling changes (test/fixtures/fid-inception/make.py): the same hashed
 * weights in both, the same two 299x299 images, pool3 features and logits compared.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { buildFidInception } from '../../src/eval/fid-inception';
import { InceptionModel } from '../../src/eval/inception';
import { ort } from '../../src/export/runtime';
import { tempDir } from '../train/tiny';
import { FID_FIXTURES, hashedStateDict, hashedUniform } from './fid-fixture';

function closeTo(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, what);
  let scale = 0;
  for (const v of expected) scale = Math.max(scale, Math.abs(v));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(actual[i] - expected[i]));
  assert.ok(worst <= 1e-4 * scale, `${what}: max difference ${worst} against torch (values up to ${scale})`);
}

test('the FID Inception-v3 built from a state dict computes what torchvision\'s does with pytorch-fid\'s pooling', async () => {
  const dir = tempDir('fid-inception');
  const file = path.join(dir, 'fid.onnx');
  fs.writeFileSync(file, buildFidInception(hashedStateDict(), 'hashed test weights', 'test'));
  const bin = fs.readFileSync(path.join(FID_FIXTURES, 'outputs.bin'));
  const reference = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length));
  const images = Float32Array.from(hashedUniform(99991, 2 * 3 * 299 * 299), (u) => 2 * u - 1);

  const session = await ort().InferenceSession.create(fs.readFileSync(file), { executionProviders: ['cpu'] });
  const out = await session.run({ images: new (ort().Tensor)('float32', images, [2, 3, 299, 299]) });
  assert.deepEqual(out.pool3.dims, [2, 2048]);
  assert.deepEqual(out.logits.dims, [2, 1008]);
  closeTo(out.pool3.data as Float32Array, reference.subarray(0, 2 * 2048), 'pool3');
  closeTo(out.logits.data as Float32Array, reference.subarray(2 * 2048), 'logits');

  // the evaluator's path: 2048-d features, 1008-way probabilities
  const model = await InceptionModel.open(file);
  const run = await model.run(images, 2, 3, 299, 299);
  assert.equal(run.featureDim, 2048);
  closeTo(run.features, reference.subarray(0, 2 * 2048), 'InceptionModel features');
  assert.equal(run.classes, 1008);
});

test('a state dict that is not the FID Inception is named with what is missing or misshapen', () => {
  const tensors = hashedStateDict();
  tensors.delete('Mixed_6c.branch7x7_2.conv.weight');
  assert.throws(() => buildFidInception(tensors, 'x.pth', 'test'), /x\.pth has no tensor Mixed_6c\.branch7x7_2\.conv\.weight: it is not pytorch-fid's FID Inception-v3/);
  const wrong = hashedStateDict();
  wrong.set('fc.weight', { shape: [1000, 2048], data: new Float32Array(1000 * 2048), dtype: 'float32' });
  assert.throws(() => buildFidInception(wrong, 'tv.pth', 'test'), /tv\.pth: fc\.weight has shape \[1000, 2048\], the FID Inception-v3 needs \[1008, 2048\]/);
});
