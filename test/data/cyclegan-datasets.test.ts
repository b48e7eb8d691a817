/**
 * `cgtrain data download horse2zebra` and friends against a local HTTP server serving zips built
 * here: extraction into trainA/..., CRC-32 checks, unsafe names, failed downloads, and the CLI.
 */
import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { promisify } from 'util';
import sharp from 'sharp';
import * as yazl from 'yazl';
import { downloadCycleGanDataset } from '../../src/data/cyclegan-datasets';
import { crc32 } from '../../src/util/crc';
import { openUnalignedLoader, resolveDataOptions } from '../../src/data';
import { randomBytes, tempDir } from './fixtures';

const zips: Record<string, Buffer> = {};
const requests: string[] = [];
const server = http.createServer((req, res) => {
  requests.push(req.url ?? '');
  const body = zips[(req.url ?? '').replace(/^\/mirror\//, '')];
  if (!body) {
    res.writeHead(404).end('not found');
    return;
  }
  res.writeHead(200, { 'Content-Length': body.length }).end(body);
});
const listening = new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mirror/`)));
after(() => server.close());

async function zipOf(entries: Array<[string, Buffer | null]>, compress = true): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, data] of entries) {
    if (data === null) zip.addEmptyDirectory(name);
    else zip.addBuffer(data, name, { compress });
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const png = (seed: number) => sharp(Buffer.from(randomBytes(20 * 20 * 3, seed)), { raw: { width: 20, height: 20, channels: 3 } }).png().toBuffer();

test('crc32 is the zip/PNG CRC-32', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
  assert.equal(crc32(Buffer.from('6789'), crc32(Buffer.from('12345'))), 0xcbf43926, 'continues across chunks');
});

test('downloads a CycleGAN zip, extracts trainA/trainB/testA/testB, deletes the zip, and keeps it next time', async () => {
  const base = await listening;
  const files: Array<[string, Buffer]> = [];
  for (const [folder, count] of [['trainA', 3], ['trainB', 2], ['testA', 1], ['testB', 1]] as const) {
    for (let i = 0; i < count; i++) files.push([`horse2zebra/${folder}/n${i}.png`, await png(folder.length * 10 + i)]);
  }
  zips['horse2zebra.zip'] = await zipOf([['horse2zebra/', null], ...files, ['__MACOSX/horse2zebra/._n0.png', Buffer.from('fork')]]);
  const dataDir = tempDir('cyclegan-zip');
  requests.length = 0;
  const lines: string[] = [];
  const got = await downloadCycleGanDataset('horse2zebra', dataDir, { baseUrl: base, progress: false, log: (l) => lines.push(l) });
  assert.equal(got.dir, path.join(dataDir, 'horse2zebra'));
  assert.deepEqual(got.counts, { trainA: 3, trainB: 2, testA: 1, testB: 1 });
  for (const [name, bytes] of files) assert.ok(fs.readFileSync(path.join(dataDir, name)).equals(bytes), name);
  assert.deepEqual(fs.readdirSync(dataDir), ['horse2zebra'], 'no zip, .part, staging folder or __MACOSX left');
  assert.deepEqual(fs.readdirSync(got.dir).sort(), ['testA', 'testB', 'trainA', 'trainB']);
  assert.match(lines.join('\n'), /horse2zebra: trainA 3, trainB 2, testA 1, testB 1 images/);
  // The folder is what --dataset folder reads.
  const loader = await openUnalignedLoader(resolveDataOptions({ dataset: 'folder', dataroot: got.dir, preprocess: 'crop', loadSize: 16, cropSize: 16, batchSize: 2 }));
  assert.deepEqual([loader.sizeA, loader.sizeB], [3, 2]);
  await loader.close();
  // `--dataroot horse2zebra` finds it in the data dir from any working directory.
  const byName = await openUnalignedLoader(resolveDataOptions({ dataset: 'folder', dataroot: 'horse2zebra', dataDir, preprocess: 'crop', loadSize: 16, cropSize: 16, batchSize: 2 }));
  assert.deepEqual([byName.sizeA, byName.sizeB], [3, 2]);
  await byName.close();
  await assert.rejects(openUnalignedLoader(resolveDataOptions({ dataset: 'folder', dataroot: 'monet2photo', dataDir, preprocess: 'crop', loadSize: 16, cropSize: 16 })),
    /monet2photo: --dataroot does not exist \(nor does .*monet2photo\); 'cgtrain data download monet2photo' fetches it into /);
  requests.length = 0;
  const again = await downloadCycleGanDataset('horse2zebra', dataDir, { baseUrl: base, progress: false, log: (l) => lines.push(l) });
  assert.deepEqual(again.counts, got.counts);
  assert.equal(requests.length, 0, 'an extracted dataset is not fetched again');
});

test('a corrupt zip is named, deleted and leaves no folder; an unsafe entry name is refused', async () => {
  const base = await listening;
  const content = Buffer.from(randomBytes(4000, 9));
  const good = await zipOf([['facades/trainA/a.bin', content], ['facades/trainB/b.bin', content]], false);
  const corrupt = Buffer.from(good);
  corrupt[good.indexOf(content) + 100] ^= 0xff; // stored, not compressed: only the CRC can tell
  zips['facades.zip'] = corrupt;
  const dataDir = tempDir('cyclegan-corrupt');
  await assert.rejects(downloadCycleGanDataset('facades', dataDir, { baseUrl: base, progress: false }),
    /facades\.zip: not a valid zip or corrupt \(entry facades\/trainA\/a\.bin: CRC-32 \w+ is not the zip's \w+\); it was deleted: run the command again/);
  assert.deepEqual(fs.readdirSync(dataDir), [], 'no zip, no partial folder');

  // Same-length names patched in the local and central headers: yazl refuses to write '..'.
  const slip = await zipOf([['maps/xx/evil.txt', Buffer.from('evil')], ['maps/trainA/a.bin', content]]);
  zips['maps.zip'] = Buffer.from(slip.toString('latin1').replaceAll('maps/xx/evil.txt', 'maps/../evil.txt'), 'latin1');
  await assert.rejects(downloadCycleGanDataset('maps', dataDir, { baseUrl: base, progress: false }), /maps\.zip: not a valid zip or corrupt \(.*invalid relative path: maps\/\.\.\/evil\.txt/);
  assert.ok(!fs.existsSync(path.join(dataDir, 'evil.txt')) && !fs.existsSync(path.join(path.dirname(dataDir), 'evil.txt')));
  assert.deepEqual(fs.readdirSync(dataDir), []);

  zips['mini.zip'] = await zipOf([['mini/readme.txt', Buffer.from('no domains here')]]);
  await assert.rejects(downloadCycleGanDataset('mini', dataDir, { baseUrl: base, progress: false }), /mini\.zip: holds 1 files but none of trainA, trainB, testA, testB/);
});

test('a dataset no source has, and a --dir that holds something else, are clear errors', async () => {
  const base = await listening;
  const dataDir = tempDir('cyclegan-missing');
  await assert.rejects(downloadCycleGanDataset('monet2photo', dataDir, { baseUrl: base, progress: false }),
    /monet2photo\.zip: download failed from every source:\n {2}.*HTTP 404[^]*put monet2photo\.zip in .* by hand/);
  assert.deepEqual(fs.readdirSync(dataDir), []);
  const busy = path.join(dataDir, 'photos');
  fs.mkdirSync(busy);
  fs.writeFileSync(path.join(busy, 'mine.jpg'), 'x');
  await assert.rejects(downloadCycleGanDataset('monet2photo', dataDir, { baseUrl: base, progress: false, dir: busy }), /photos: exists and is not a monet2photo dataset/);
  assert.deepEqual(fs.readdirSync(busy), ['mine.jpg'], 'untouched');
});

test('cgtrain data download <cyclegan dataset> prints the folder and the train command', async () => {
  const base = await listening;
  zips['apple2orange.zip'] = await zipOf([['apple2orange/trainA/a.png', await png(1)], ['apple2orange/trainB/b.png', await png(2)]]);
  const dataDir = tempDir('cyclegan-cli');
  const cli = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
  // The server runs in this process: the CLI must run asynchronously (spawnSync would block it).
  const { stderr } = await promisify(execFile)(process.execPath, [cli, 'data', 'download', 'apple2orange', '--data-dir', dataDir, '--base-url', base]);
  const dir = path.join(dataDir, 'apple2orange');
  assert.match(stderr, new RegExp(`apple2orange: trainA 1, trainB 1 images in ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n {2}train with: cgtrain train --dataset folder --dataroot `));
  assert.ok(fs.existsSync(path.join(dir, 'trainB', 'b.png')));
});
