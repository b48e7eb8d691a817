import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import { loadDomain, openUnalignedLoader, resolveDataOptions } from '../../src/data';
import { FolderDomain, listImages, resizedSize, type TransformOptions } from '../../src/data/folder';
import { Rng } from '../../src/data/rng';
import { tempDir } from './fixtures';

/** An RGB image whose pixel (x, y) is (4x, 4y, 100 + k): position is readable from the values. */
async function writePattern(file: string, width: number, height: number, k = 0): Promise<void> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set([4 * x, 4 * y, 100 + k], (y * width + x) * 3);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp(data, { raw: { width, height, channels: 3 } }).toFile(file);
}

const byte = (v: number) => Math.round((v + 1) * 127.5);
const t = (over: Partial<TransformOptions>): TransformOptions => ({ preprocess: 'crop', loadSize: 32, cropSize: 16, noFlip: true, channels: 3, ...over });

test('crop without flip copies a window of the image into CHW', async () => {
  const dir = tempDir('folder');
  await writePattern(path.join(dir, 'a.png'), 40, 30);
  const domain = await FolderDomain.open(dir, 'A', t({}), Infinity);
  assert.deepEqual(domain.shape, [3, 16, 16]);
  const out = new Float32Array(3 * 256);
  await domain.read(0, out, 0, new Rng(5));
  const left = byte(out[0]) / 4, top = byte(out[256]) / 4;
  for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) {
    assert.equal(byte(out[y * 16 + x]), 4 * (left + x));
    assert.equal(byte(out[256 + y * 16 + x]), 4 * (top + y));
    assert.equal(byte(out[512 + y * 16 + x]), 100);
  }
});

test('random flip mirrors some images left-right, deterministically for the rng', async () => {
  const dir = tempDir('folder');
  await writePattern(path.join(dir, 'a.png'), 16, 16);
  const domain = await FolderDomain.open(dir, 'A', t({ noFlip: false }), Infinity);
  const flips: boolean[] = [];
  for (let seed = 0; seed < 20; seed++) {
    const out = new Float32Array(3 * 256);
    await domain.read(0, out, 0, new Rng(seed));
    flips.push(byte(out[0]) > byte(out[1]));
    const again = new Float32Array(3 * 256);
    await domain.read(0, again, 0, new Rng(seed));
    assert.deepEqual(again, out);
  }
  assert.ok(flips.includes(true) && flips.includes(false), `flips: ${flips}`);
});

test('preprocess modes give the reference get_transform sizes', async () => {
  assert.deepEqual(resizedSize('resize_and_crop', 40, 30, 286, 256), { width: 286, height: 286 });
  assert.deepEqual(resizedSize('scale_width', 40, 30, 20, 12), { width: 20, height: 15 });
  assert.deepEqual(resizedSize('scale_width', 40, 30, 20, 18), { width: 20, height: 18 });
  assert.deepEqual(resizedSize('none', 41, 30, 0, 0), { width: 40, height: 32 });
  const dir = tempDir('folder');
  await writePattern(path.join(dir, 'a.jpg'), 40, 30);
  const cases: Array<[Partial<TransformOptions>, number[]]> = [
    [{ preprocess: 'resize_and_crop', loadSize: 24, cropSize: 20 }, [3, 20, 20]],
    [{ preprocess: 'scale_width', loadSize: 20, cropSize: 12 }, [3, 15, 20]],
    [{ preprocess: 'scale_width_and_crop', loadSize: 20, cropSize: 12 }, [3, 12, 12]],
    [{ preprocess: 'none' }, [3, 32, 40]],
    [{ preprocess: 'crop', cropSize: 30, channels: 1 }, [1, 30, 30]],
  ];
  for (const [over, shape] of cases) {
    const domain = await FolderDomain.open(dir, 'A', t(over), Infinity);
    assert.deepEqual(domain.shape, shape, JSON.stringify(over));
    const out = new Float32Array(shape[0] * shape[1] * shape[2]);
    await domain.read(0, out, 0, new Rng(1));
    assert.ok(out.every((v) => v >= -1 && v <= 1));
  }
});

test('grayscale <-> RGB follows --input-nc / --output-nc', async () => {
  const dir = tempDir('folder');
  const grayPixels = Buffer.alloc(8 * 8, 77);
  await sharp(grayPixels, { raw: { width: 8, height: 8, channels: 1 } }).png().toFile(path.join(dir, 'gray.png'));
  const asRgb = await FolderDomain.open(dir, 'A', t({ cropSize: 8, channels: 3 }), Infinity);
  const rgb = new Float32Array(3 * 64);
  await asRgb.read(0, rgb, 0, new Rng(1));
  assert.ok(rgb.every((v) => byte(v) === 77));
  const colour = tempDir('folder');
  await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 100, b: 0 } } }).png().toFile(path.join(colour, 'c.png'));
  const asGray = await FolderDomain.open(colour, 'A', t({ cropSize: 8, channels: 1 }), Infinity);
  const gray = new Float32Array(64);
  await asGray.read(0, gray, 0, new Rng(1));
  // ITU-R 601 luma, as PIL's convert('L') and our in-memory datasets compute it.
  assert.equal(byte(gray[0]), Math.round(0.299 * 200 + 0.587 * 100));
});

test('RGBA PNGs lose their alpha channel (as PIL convert(RGB) does)', async () => {
  const dir = tempDir('folder');
  await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 0.5 } } }).png().toFile(path.join(dir, 'a.png'));
  const domain = await FolderDomain.open(dir, 'A', t({ cropSize: 8 }), Infinity);
  const out = new Float32Array(3 * 64);
  await domain.read(0, out, 0, new Rng(1));
  assert.deepEqual([byte(out[0]), byte(out[64]), byte(out[128])], [10, 20, 30]);
});

test('folder errors name the file or folder and say what was expected', async () => {
  const root = tempDir('folder');
  await assert.rejects(listImages(path.join(root, 'trainA')), /trainA: image folder does not exist \(expected <dataroot>\/trainA, trainB, testA, testB\)/);
  fs.mkdirSync(path.join(root, 'trainA'));
  fs.writeFileSync(path.join(root, 'trainA', 'notes.txt'), 'x');
  await assert.rejects(listImages(path.join(root, 'trainA')), /trainA: no images in this folder \(looked for \.png, \.jpg/);
  const good = await sharp({ create: { width: 20, height: 20, channels: 3, background: '#808080' } }).jpeg().toBuffer();
  fs.writeFileSync(path.join(root, 'trainA', 'broken.jpg'), good.subarray(0, good.length / 2));
  await assert.rejects(FolderDomain.open(path.join(root, 'trainA'), 'A', t({ cropSize: 8 }), Infinity),
    /trainA: 1 of 1 images cannot be used:\n {2}\S*broken\.jpg: cannot read the image header \(.*premature end of JPEG/);
  // Broken after the folder opened: the decode names it, on one line.
  fs.writeFileSync(path.join(root, 'trainA', 'broken.jpg'), good);
  const broken = await FolderDomain.open(path.join(root, 'trainA'), 'A', t({ cropSize: 8 }), Infinity);
  fs.writeFileSync(path.join(root, 'trainA', 'broken.jpg'), good.subarray(0, good.length / 2));
  await assert.rejects(broken.read(0, new Float32Array(192), 0, new Rng(1)), (err: Error) => {
    assert.match(err.message, /broken\.jpg: cannot decode the image/);
    const parts = err.message.split('; ');
    assert.ok(!err.message.includes('\n') && new Set(parts).size === parts.length, `one line, each decoder warning once: ${err.message}`);
    return true;
  });
  const mixed = tempDir('folder');
  await writePattern(path.join(mixed, '1.png'), 16, 16);
  await writePattern(path.join(mixed, '2.png'), 24, 16);
  // Sizes that cannot make a batch are found when the folder opens, from the headers.
  await assert.rejects(FolderDomain.open(mixed, 'A', t({ preprocess: 'none' }), Infinity),
    /: 1 of 2 images cannot be used:\n {2}\S*2\.png: image is 24x16 after --preprocess none, expected 16x16 like the first image/);
  await assert.rejects(FolderDomain.open(mixed, 'A', t({ cropSize: 20 }), Infinity), (err: Error) => {
    assert.match(err.message, /2 of 2 images cannot be used/);
    assert.match(err.message, /1\.png: image is 16x16 after --preprocess crop, expected at least 20x20/);
    assert.match(err.message, /2\.png: image is 24x16 after --preprocess crop, expected at least 20x20/);
    return true;
  });
  await assert.rejects(FolderDomain.open(mixed, 'A', t({ preprocess: 'scale_width', loadSize: 12, cropSize: 4 }), Infinity),
    /2\.png: image is 12x8 \(24x16 in the file\) after --preprocess scale_width, expected 12x12 like the first image/);
  // A file that is not an image (or not one sharp reads) is named at open, with the first few of many.
  for (let i = 0; i < 7; i++) fs.writeFileSync(path.join(mixed, `bad${i}.png`), 'not a png');
  await assert.rejects(FolderDomain.open(mixed, 'A', t({ cropSize: 8 }), Infinity), (err: Error) => {
    assert.match(err.message, /7 of 9 images cannot be used:\n {2}\S*bad0\.png: cannot read the image header \(/);
    assert.equal(err.message.match(/cannot read the image header/g)?.length, 5, 'the first five');
    assert.match(err.message, /\.\.\. and 2 more\n {2}Remove or fix them/);
    return true;
  });
});

test('an image that changed after the folder opened is an error naming it when read', async () => {
  const dir = tempDir('folder');
  await writePattern(path.join(dir, 'a.png'), 16, 16);
  const none = await FolderDomain.open(dir, 'A', t({ preprocess: 'none' }), Infinity);
  await writePattern(path.join(dir, 'a.png'), 24, 16);
  await assert.rejects(none.read(0, new Float32Array(3 * 256), 0, new Rng(1)), /a\.png: image is 24x16 after --preprocess none, expected 16x16 like the first image/);
});

test('--dataset folder: loader over trainA/trainB, --max-dataset-size, loadDomain for testB', async () => {
  const root = tempDir('folder');
  for (let i = 0; i < 5; i++) await writePattern(path.join(root, 'trainA', `${i}.png`), 20, 20, i);
  for (let i = 0; i < 3; i++) await writePattern(path.join(root, 'trainB', 'nested', `${i}.jpg`), 24, 20, i);
  for (let i = 0; i < 2; i++) await writePattern(path.join(root, 'testB', `${i}.webp`), 20, 20, i);
  const opts = resolveDataOptions({ dataset: 'folder', dataroot: root, preprocess: 'resize_and_crop', loadSize: 18, cropSize: 16, batchSize: 2, maxDatasetSize: 4 });
  const loader = await openUnalignedLoader(opts);
  assert.equal(loader.sizeA, 4);
  assert.equal(loader.sizeB, 3);
  assert.equal(loader.batchesPerEpoch, 2);
  assert.deepEqual(loader.shapeB, [3, 16, 16]);
  let n = 0;
  for await (const batch of loader.epoch(1)) {
    n += batch.n;
    assert.equal(batch.labelsA, undefined);
  }
  assert.equal(n, 4);
  const testB = await loadDomain(opts, 'B', 'test');
  assert.equal(testB.n, 2);
  assert.equal(testB.images.length, 2 * 3 * 256);
  assert.match(testB.name, /testB/);
});

test('a decoded JPEG lands in the batch as the crop/flip the rng draws, value for value', async () => {
  const dir = tempDir('folder');
  const width = 37, height = 29;
  const noise = Buffer.alloc(width * height * 3);
  for (let i = 0; i < noise.length; i++) noise[i] = (i * 97 + ((i * i) >> 3)) & 255;
  await sharp(noise, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toFile(path.join(dir, 'a.jpg'));
  const { data } = await sharp(path.join(dir, 'a.jpg')).raw().toBuffer({ resolveWithObject: true });
  const crop = 14;
  const domain = await FolderDomain.open(dir, 'A', t({ cropSize: crop, noFlip: false }), Infinity);
  const flips = new Set<boolean>();
  for (let seed = 0; seed < 12; seed++) {
    const rng = new Rng(seed);
    const top = rng.int(height - crop + 1), left = rng.int(width - crop + 1), flip = rng.chance(0.5);
    flips.add(flip);
    const out = new Float32Array(3 * crop * crop + 2);
    await domain.read(0, out, 1, new Rng(seed));
    for (let k = 0; k < 3; k++) for (let y = 0; y < crop; y++) for (let x = 0; x < crop; x++) {
      const sx = left + (flip ? crop - 1 - x : x);
      assert.equal(out[1 + (k * crop + y) * crop + x], Math.fround(data[((top + y) * width + sx) * 3 + k] / 127.5 - 1));
    }
    assert.equal(out[0], 0);
    assert.equal(out[out.length - 1], 0);
  }
  assert.deepEqual([...flips].sort(), [false, true]);
});

test('a file that vanished after listing is an error naming it', async () => {
  const dir = tempDir('folder');
  await writePattern(path.join(dir, 'a.png'), 16, 16);
  await writePattern(path.join(dir, 'b.png'), 16, 16);
  const domain = await FolderDomain.open(dir, 'A', t({}), Infinity);
  fs.rmSync(path.join(dir, 'b.png'));
  await assert.rejects(domain.read(1, new Float32Array(3 * 256), 0, new Rng(1)), /b\.png: cannot decode the image \(ENOENT/);
});
