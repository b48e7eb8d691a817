/**
 * readPth against files torch.save wrote (test/fixtures/pth/make.py, PyTorch 1.13): both
 * formats, every dtype, strided and offset views; and the errors for what it cannot read.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { readPth } from '../../src/eval/pth';
import { tempDir } from '../train/tiny';

const FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'pth');
const expected = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'expected.json'), 'utf8')) as Record<string, { shape: number[]; values: number[] }>;

for (const format of ['zip', 'legacy']) {
  test(`the ${format} format: every tensor with torch's shape and values`, async () => {
    const tensors = await readPth(path.join(FIXTURES, `state-${format}.pth`));
    assert.deepEqual([...tensors.keys()], Object.keys(expected));
    for (const [name, want] of Object.entries(expected)) {
      const got = tensors.get(name)!;
      assert.deepEqual(got.shape, want.shape, name);
      assert.equal(got.data.length, want.values.length, name);
      // float32 exactly; float64 rounded to float32; float16 exactly (representable)
      want.values.forEach((v, i) => assert.equal(got.data[i], Math.fround(v), `${name}[${i}]`));
    }
    assert.equal(tensors.get('conv.weight')!.dtype, 'float32');
    assert.equal(tensors.get('bn.running_mean')!.dtype, 'float64');
    assert.equal(tensors.get('half')!.dtype, 'float16');
    assert.equal(tensors.get('bn.num_batches_tracked')!.dtype, 'int64');
  });
}

test('what is not a readable state dict is named', async () => {
  const dir = tempDir('pth');
  const write = (name: string, bytes: Buffer | string): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    return file;
  };
  await assert.rejects(readPth(path.join(dir, 'missing.pth')), /cannot read .*missing\.pth/);
  await assert.rejects(readPth(write('text.pth', 'hello')), /text\.pth is not a PyTorch state dict we can read/);
  const legacy = fs.readFileSync(path.join(FIXTURES, 'state-legacy.pth'));
  await assert.rejects(readPth(write('cut.pth', legacy.subarray(0, legacy.length - 10))), /cut\.pth .*ends (inside|before) storage/);
  const zip = fs.readFileSync(path.join(FIXTURES, 'state-zip.pth'));
  await assert.rejects(readPth(write('cut.zip.pth', zip.subarray(0, 600))), /cut\.zip\.pth is not a PyTorch state dict we can read/);
  // a pickle of another Python object (protocol 2: GLOBAL 'os system', EMPTY_TUPLE, REDUCE, STOP)
  const evil = Buffer.concat([Buffer.from([0x80, 2]), Buffer.from('cos\nsystem\n', 'latin1'), Buffer.from([0x29, 0x52, 0x2e])]);
  const magic = Buffer.from([0x80, 2, 0x8a, 10, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e]);
  await assert.rejects(readPth(write('evil.pth', Buffer.concat([magic, Buffer.from([0x80, 2, 0x4d, 0xe9, 0x03, 0x2e]), Buffer.from([0x80, 2, 0x7d, 0x2e]), evil]))), /a Python object of type os\.system/);
});
