import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { tempDir } from './tiny';
import { CheckpointError, readCheckpoint, readCheckpointMetadata, writeCheckpoint, type NamedTensor } from '../../src/train/checkpoint';

const dir = tempDir('ckpt');
const tensors: NamedTensor[] = [
  { name: 'netG_A.model.1.weight', shape: [2, 3, 1, 1], data: Float32Array.from([1, -2, 3.5, 4, 5, 6e-8]) },
  { name: 'netG_A.model.1.bias', shape: [2], data: Float32Array.from([0.25, -0.5]) },
  { name: 'empty', shape: [0], data: new Float32Array(0) },
  { name: 'scalar', shape: [], data: Float32Array.from([7]) },
];
const metadata = { epoch: '3', options: JSON.stringify({ lr: 0.0002 }) };

test('round trip keeps names, shapes, values and metadata', () => {
  const file = path.join(dir, 'a.safetensors');
  writeCheckpoint(file, tensors, metadata);
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temp file left');
  const back = readCheckpoint(file);
  assert.deepEqual(back.metadata, metadata);
  assert.deepEqual(back.tensors.map((t) => [t.name, t.shape, Array.from(t.data)]), tensors.map((t) => [t.name, t.shape, Array.from(t.data)]));
  assert.deepEqual(readCheckpointMetadata(file), metadata);
});

test('the file is plain safetensors: LE u64 header length, JSON header, contiguous F32 data', () => {
  const file = path.join(dir, 'b.safetensors');
  writeCheckpoint(file, tensors, metadata);
  const bytes = fs.readFileSync(file);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  assert.equal((8 + headerLength) % 8, 0, 'data 8-byte aligned');
  const header = JSON.parse(bytes.toString('utf8', 8, 8 + headerLength));
  assert.deepEqual(header.__metadata__, metadata);
  let expectedOffset = 0;
  for (const t of tensors) {
    assert.deepEqual(header[t.name], { dtype: 'F32', shape: t.shape, data_offsets: [expectedOffset, expectedOffset + 4 * t.data.length] });
    expectedOffset += 4 * t.data.length;
  }
  assert.equal(bytes.length, 8 + headerLength + expectedOffset, 'data covers the rest of the file exactly');
  const begin = 8 + headerLength + header['netG_A.model.1.bias'].data_offsets[0];
  assert.equal(bytes.readFloatLE(begin), 0.25);
  assert.equal(bytes.readFloatLE(begin + 4), -0.5);
});

test('truncated and corrupt files fail with a message naming the file and the problem', () => {
  const good = path.join(dir, 'c.safetensors');
  writeCheckpoint(good, tensors, metadata);
  const bytes = fs.readFileSync(good);
  const bad = path.join(dir, 'bad.safetensors');
  const expectError = (content: Buffer, pattern: RegExp): void => {
    fs.writeFileSync(bad, content);
    assert.throws(() => readCheckpoint(bad), (err: Error) => err instanceof CheckpointError && err.message.includes(bad) && pattern.test(err.message));
  };
  expectError(bytes.subarray(0, bytes.length - 4), /truncated/);
  expectError(bytes.subarray(0, 5), /too short.*truncated/);
  expectError(bytes.subarray(0, 40), /header claims \d+ bytes.*truncated/);
  const garbage = Buffer.from(bytes);
  garbage.writeBigUInt64LE(BigInt(2) ** BigInt(40), 0);
  expectError(garbage, /implausible/);
  const onnx = path.join(dir, 'G_A.onnx');
  fs.writeFileSync(onnx, garbage);
  assert.throws(() => readCheckpoint(onnx), /implausible: not a safetensors file or corrupt: it is an ONNX model \(for translate --model\); this needs a training checkpoint/);
  const badJson = Buffer.from(bytes);
  badJson[8] = 0x5b; // '[' instead of '{'
  expectError(badJson, /not valid JSON|not a JSON object/);
  const wrongType = Buffer.from(bytes.toString('latin1').replace('"F32"', '"F16"'), 'latin1');
  expectError(wrongType, /dtype F16, expected F32/);
  assert.throws(() => readCheckpoint(path.join(dir, 'missing.safetensors')), /cannot read/);
});

test('shape/data mismatches and non-string metadata are refused before writing', () => {
  const file = path.join(dir, 'd.safetensors');
  assert.throws(() => writeCheckpoint(file, [{ name: 'x', shape: [3], data: new Float32Array(2) }], {}), /shape \[3\] but 2 values/);
  assert.throws(() => writeCheckpoint(file, [tensors[0], tensors[0]], {}), /duplicate/);
  assert.throws(() => writeCheckpoint(file, [], { epoch: 3 as unknown as string }), /must be a string/);
  assert.ok(!fs.existsSync(file));
});
