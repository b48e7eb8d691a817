import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { DataError } from '../../src/data/errors';
import { MI, MX, parseMat } from '../../src/data/mat';
import { loadSvhnMat, resolveSvhnFile } from '../../src/data/svhn';
import { matBytes, randomBytes, svhnPixel, svhnVariables, tempDir, type MatVarSpec } from './fixtures';

const layouts = [
  { littleEndian: true, compress: false },
  { littleEndian: true, compress: true },
  { littleEndian: false, compress: false },
  { littleEndian: false, compress: true },
];

test('parseMat reads numeric variables in every storage type, both endians, compressed or not', () => {
  const storages = [MI.INT8, MI.UINT8, MI.INT16, MI.UINT16, MI.INT32, MI.UINT32, MI.SINGLE, MI.DOUBLE];
  for (const layout of layouts) {
    const values = [1, 2, 3, 4, 5, 100];
    const vars: MatVarSpec[] = storages.map((storage, i) => ({ name: `v${i}`, matlabClass: MX.DOUBLE, dims: [2, 3], data: values, storage }));
    vars.push({ name: 'negative', matlabClass: MX.INT16, dims: [1, 2], data: [-7, 300], storage: MI.INT16 });
    vars.push({ name: 'half', matlabClass: MX.DOUBLE, dims: [1, 1], data: [0.5], storage: MI.DOUBLE });
    const parsed = parseMat(matBytes(vars, layout), 'f.mat');
    assert.equal(parsed.length, vars.length, JSON.stringify(layout));
    for (let i = 0; i < storages.length; i++) {
      assert.equal(parsed[i].name, `v${i}`);
      assert.deepEqual(parsed[i].dims, [2, 3]);
      assert.deepEqual(Array.from(parsed[i].data!), values);
    }
    assert.deepEqual(Array.from(parsed[storages.length].data!), [-7, 300]);
    assert.deepEqual(Array.from(parsed[storages.length + 1].data!), [0.5]);
  }
});

test('SVHN: X column-major 32x32x3xN becomes NCHW, label 10 becomes 0', () => {
  for (const layout of layouts) {
    const dir = tempDir('svhn');
    const file = path.join(dir, 'train_32x32.mat');
    fs.writeFileSync(file, matBytes(svhnVariables(11), layout));
    const domain = loadSvhnMat(resolveSvhnFile(dir, 'train'), 3);
    assert.equal(domain.size, 11);
    assert.deepEqual(Array.from(domain.labels!), [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    for (const [n, ch, row, col] of [[0, 0, 0, 0], [3, 1, 5, 17], [10, 2, 31, 30]]) {
      assert.equal(domain.pixels[n * 3072 + ch * 1024 + row * 32 + col], svhnPixel(row, col, ch, n), `${JSON.stringify(layout)} n${n} c${ch} (${row},${col})`);
    }
    const gray = loadSvhnMat(file, 1);
    assert.deepEqual(gray.shape, [1, 32, 32]);
  }
});

test('SVHN and MAT errors name the file and what is wrong', () => {
  const dir = tempDir('svhn');
  const write = (name: string, bytes: Uint8Array) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, bytes);
    return file;
  };
  const badLabels = write('labels.mat', matBytes(svhnVariables(3, [1, 11, 2])));
  assert.throws(() => loadSvhnMat(badLabels, 3), /labels\.mat: label y\(2\) = 11, expected an integer 1\.\.10/);
  const countMismatch = write('count.mat', matBytes(svhnVariables(3, [1, 2])));
  assert.throws(() => loadSvhnMat(countMismatch, 3), /count\.mat: variable y holds 2 labels but X holds 3 images/);
  const wrongShape = write('shape.mat', matBytes([{ name: 'X', matlabClass: MX.UINT8, dims: [28, 28, 1, 2], data: new Uint8Array(1568), storage: MI.UINT8 }]));
  assert.throws(() => loadSvhnMat(wrongShape, 3), /shape\.mat: variable X has dimensions 28x28x1x2, expected 32x32x3xN/);
  const noX = write('nox.mat', matBytes([{ name: 'Z', matlabClass: MX.DOUBLE, dims: [1, 1], data: [1], storage: MI.DOUBLE }]));
  assert.throws(() => loadSvhnMat(noX, 3), /nox\.mat: no variable X \(found: Z\)/);
  const full = matBytes(svhnVariables(2), { compress: true });
  const truncated = write('trunc.mat', full.subarray(0, full.length - 100));
  assert.throws(() => loadSvhnMat(truncated, 3), /trunc\.mat: truncated: data element at offset 128 declares \d+ bytes/);
  const corrupt = Buffer.from(full);
  corrupt.fill(0x55, 140, 180);
  assert.throws(() => parseMat(corrupt, 'zip.mat'), /zip\.mat: miCOMPRESSED element at offset 128 does not inflate/);
  assert.throws(() => parseMat(Buffer.alloc(100), 'tiny.mat'), /tiny\.mat: not a MAT-file: 100 bytes/);
  const v73 = Buffer.from(matBytes([]));
  v73.writeUInt16LE(0x0200, 124);
  assert.throws(() => parseMat(v73, 'new.mat'), /new\.mat: MAT-file version 0x200 is not supported.*v7\.3 HDF5/);
  const sizeLie = matBytes([{ name: 'a', matlabClass: MX.DOUBLE, dims: [5, 5], data: [1, 2], storage: MI.DOUBLE }]);
  assert.throws(() => parseMat(sizeLie, 'lie.mat'), /lie\.mat: real part of 'a' holds 2 values, its dimensions 5x5 need 25/);
  assert.throws(() => resolveSvhnFile(path.join(dir, 'absent'), 'train'), /absent: SVHN path does not exist/);
  assert.throws(() => resolveSvhnFile(dir, 'test'), /no test_32x32\.mat in this folder/);
});

test('MAT fuzz: truncated prefixes, flipped bytes and random bytes only ever throw DataError', () => {
  const samples = [matBytes(svhnVariables(2)), matBytes(svhnVariables(2), { compress: true, littleEndian: false })];
  let parsedSome = 0;
  const attempt = (bytes: Uint8Array, what: string) => {
    try {
      parseMat(bytes, 'fuzz.mat');
      parsedSome++;
    } catch (err) {
      assert.ok(err instanceof DataError, `${what}: ${String(err)}`);
    }
  };
  for (const sample of samples) {
    for (let cut = 0; cut < sample.length; cut += cut < 300 ? 3 : 211) attempt(sample.subarray(0, cut), `prefix ${cut}`);
    const noise = randomBytes(4000, 99);
    for (let k = 0; k < 400; k++) {
      const copy = Buffer.from(sample);
      const at = 128 + (noise[k] * 256 + noise[k + 1]) % (copy.length - 128);
      copy[at] ^= noise[k + 2] | 1;
      attempt(copy, `flip at ${at}`);
    }
  }
  for (let seed = 1; seed <= 200; seed++) {
    const bytes = Buffer.concat([matBytes([]), randomBytes(8 + seed * 3, seed)]);
    attempt(bytes, `random body ${seed}`);
  }
  assert.ok(parsedSome > 0, 'some mutations still parse (a flip inside pixel data is valid)');
});
