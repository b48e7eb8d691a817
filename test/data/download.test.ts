import { test, after } from 'node:test';
import * as assert from 'node:assert/strict';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { downloadDataset, downloadFile, REMOTE_DATASETS, type RemoteDataset } from '../../src/data/download';
import { randomBytes, tempDir } from './fixtures';

const files: Record<string, Buffer> = {
  'one.bin': Buffer.from(randomBytes(50000, 1)),
  'two.bin': Buffer.from(randomBytes(3000, 2)),
};
const sha = (b: Uint8Array) => crypto.createHash('sha256').update(b).digest('hex');

interface ServerBehaviour {
  ignoreRange: boolean;
  /** Destroy the connection after this many body bytes (once). */
  cutAfter?: number;
}
const behaviour: ServerBehaviour = { ignoreRange: false };
const requests: Array<{ url: string; range?: string }> = [];

const server = http.createServer((req, res) => {
  requests.push({ url: req.url ?? '', range: req.headers.range });
  const name = (req.url ?? '').replace(/^\/mirror\//, '');
  const body = files[name];
  if (!body) {
    res.writeHead(404).end('not found');
    return;
  }
  let start = 0;
  const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (match && !behaviour.ignoreRange) {
    start = Number(match[1]);
    if (start >= body.length) {
      res.writeHead(416).end();
      return;
    }
    res.writeHead(206, { 'Content-Length': body.length - start, 'Content-Range': `bytes ${start}-${body.length - 1}/${body.length}` });
  } else {
    res.writeHead(200, { 'Content-Length': body.length });
  }
  const slice = body.subarray(start);
  if (behaviour.cutAfter !== undefined) {
    const cut = behaviour.cutAfter;
    behaviour.cutAfter = undefined;
    // A graceful end (FIN), not destroy(): a reset can make the client's kernel drop bytes it
    // already received, and the test needs to know how much of the file reached the .part.
    res.write(slice.subarray(0, cut), () => res.socket?.end());
    return;
  }
  res.end(slice);
});
const listening = new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}/mirror/`)));
after(() => server.close());

const dataset = (over: Partial<Record<string, string>> = {}): RemoteDataset => ({
  baseUrls: ['http://127.0.0.1:9/unused/'],
  files: Object.entries(files).map(([name, bytes]) => ({ name, bytes: bytes.length, sha256: over[name] ?? sha(bytes) })),
});

test('downloads every file, verifies SHA-256, leaves no .part, and skips intact files next time', async () => {
  const base = await listening;
  const dir = tempDir('download');
  requests.length = 0;
  const lines: string[] = [];
  const paths = await downloadDataset(dataset(), dir, { baseUrl: base, log: (l) => lines.push(l), progress: false });
  assert.deepEqual(paths.map((p) => path.basename(p)), ['one.bin', 'two.bin']);
  for (const [name, bytes] of Object.entries(files)) assert.ok(fs.readFileSync(path.join(dir, name)).equals(bytes));
  assert.deepEqual(fs.readdirSync(dir).sort(), ['one.bin', 'two.bin']);
  assert.equal(requests.length, 2);
  requests.length = 0;
  await downloadDataset(dataset(), dir, { baseUrl: base, log: (l) => lines.push(l), progress: false });
  assert.equal(requests.length, 0, 'nothing fetched again');
  assert.ok(lines.some((l) => /already there, SHA-256 OK/.test(l)));
});

test('resumes a partial .part file with a Range request', async () => {
  const base = await listening;
  const dir = tempDir('download');
  const dest = path.join(dir, 'one.bin');
  fs.writeFileSync(`${dest}.part`, files['one.bin'].subarray(0, 12345));
  requests.length = 0;
  await downloadFile(`${base}one.bin`, dest, dataset().files[0], { progress: false });
  assert.equal(requests[0].range, 'bytes=12345-');
  assert.ok(fs.readFileSync(dest).equals(files['one.bin']));
  assert.ok(!fs.existsSync(`${dest}.part`));
});

test('a connection cut mid-file keeps the .part; running again resumes and completes', async () => {
  const base = await listening;
  const dir = tempDir('download');
  const dest = path.join(dir, 'one.bin');
  behaviour.cutAfter = 20000;
  await assert.rejects(downloadFile(`${base}one.bin`, dest, dataset().files[0], { progress: false }), /(received 20000 bytes, expected 50000; the partial file .*one\.bin\.part is kept, run the command again to resume|connection closed after)/);
  assert.equal(fs.statSync(`${dest}.part`).size, 20000, 'the .part holds what arrived');
  requests.length = 0;
  await downloadFile(`${base}one.bin`, dest, dataset().files[0], { progress: false });
  assert.equal(requests[0].range, `bytes=${20000}-`);
  assert.ok(fs.readFileSync(dest).equals(files['one.bin']));
});

test('a server that ignores Range still yields the right file', async () => {
  const base = await listening;
  const dir = tempDir('download');
  const dest = path.join(dir, 'two.bin');
  fs.writeFileSync(`${dest}.part`, files['two.bin'].subarray(0, 1000));
  behaviour.ignoreRange = true;
  try {
    await downloadFile(`${base}two.bin`, dest, dataset().files[1], { progress: false });
  } finally {
    behaviour.ignoreRange = false;
  }
  assert.ok(fs.readFileSync(dest).equals(files['two.bin']));
});

test('a checksum mismatch is an error naming the file and both sums, and the bad bytes are deleted', async () => {
  const base = await listening;
  const dir = tempDir('download');
  const wrong = 'ab'.repeat(32);
  await assert.rejects(
    downloadDataset(dataset({ 'one.bin': wrong }), dir, { baseUrl: base, progress: false }),
    new RegExp(`one\\.bin: SHA-256 mismatch: got ${sha(files['one.bin'])}, expected ${wrong}`),
  );
  assert.deepEqual(fs.readdirSync(dir), []);
});

test('an unreachable host or a missing file is a clear error that says what to do', async () => {
  const base = await listening;
  const dir = tempDir('download');
  const closed = http.createServer();
  const port = await new Promise<number>((resolve) => closed.listen(0, '127.0.0.1', () => resolve((closed.address() as AddressInfo).port)));
  await new Promise((resolve) => closed.close(resolve));
  await assert.rejects(
    downloadDataset(dataset(), dir, { baseUrl: `http://127.0.0.1:${port}/`, progress: false }),
    /one\.bin: download failed from every source:\n.*host unreachable \(ECONNREFUSED\)[\s\S]*--base-url MIRROR/,
  );
  const missing: RemoteDataset = { baseUrls: [base], files: [{ name: 'absent.bin', bytes: 3, sha256: 'a'.repeat(64) }] };
  await assert.rejects(downloadDataset(missing, dir, { progress: false }), /absent\.bin: HTTP 404/);
});

test('the download table names the official files with 64-digit SHA-256 sums', () => {
  assert.deepEqual(REMOTE_DATASETS.mnist.files.map((f) => f.name), ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']);
  assert.deepEqual(REMOTE_DATASETS.svhn.files.map((f) => f.name), ['train_32x32.mat', 'test_32x32.mat']);
  for (const f of [...REMOTE_DATASETS.mnist.files, ...REMOTE_DATASETS.svhn.files]) assert.match(f.sha256, /^[0-9a-f]{64}$/);
  assert.ok(REMOTE_DATASETS.svhn.baseUrls[0].includes('ufldl.stanford.edu/housenumbers'));
});
