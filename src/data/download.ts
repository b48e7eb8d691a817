/**
 * `cgtrain data download`: fetches the official MNIST and SVHN files into <dataDir>/<dataset>,
 * resuming a partial <file>.part with an HTTP Range request, and checks every file against the
 * SHA-256 in the table below before renaming it into place.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as path from 'path';
import { SingleBar } from 'cli-progress';
import { DataError, describeError } from './errors';

export interface RemoteFile {
  name: string;
  bytes: number;
  sha256: string;
}

export interface RemoteDataset {
  /** Tried in order; the first that answers is used for each file. */
  baseUrls: string[];
  files: RemoteFile[];
}

// Sizes and SHA-256 sums as published by TensorFlow Datasets' url_checksums for the same files.
export const REMOTE_DATASETS: Record<'mnist' | 'svhn', RemoteDataset> = {
  mnist: {
    baseUrls: ['https://ossci-datasets.s3.amazonaws.com/mnist/', 'https://storage.googleapis.com/cvdf-datasets/mnist/'],
    files: [
      { name: 'train-images-idx3-ubyte.gz', bytes: 9912422, sha256: '440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609' },
      { name: 'train-labels-idx1-ubyte.gz', bytes: 28881, sha256: '3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c' },
      { name: 't10k-images-idx3-ubyte.gz', bytes: 1648877, sha256: '8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6' },
      { name: 't10k-labels-idx1-ubyte.gz', bytes: 4542, sha256: 'f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6' },
    ],
  },
  svhn: {
    baseUrls: ['http://ufldl.stanford.edu/housenumbers/'],
    files: [
      { name: 'train_32x32.mat', bytes: 182040794, sha256: '435e94d69a87fde4fd4d7f3dd208dfc32cb6ae8af2240d066de1df7508d083b8' },
      { name: 'test_32x32.mat', bytes: 64275384, sha256: 'cdce80dfb2a2c4c6160906d0bd7c68ec5a99d7ca4831afa54f09182025b6a75b' },
    ],
  },
};

export interface DownloadOptions {
  /** Replaces the dataset's base URLs (tests, mirrors). */
  baseUrl?: string;
  /** Show a cli-progress bar (default: when stderr is a terminal). */
  progress?: boolean;
  log?: (line: string) => void;
  /** Idle-socket timeout in ms (default 30 s). */
  timeoutMs?: number;
}

export async function sha256File(file: string): Promise<string> {
  const hash = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Downloads every file of `dataset` into `dir`; returns the paths. Files already there and intact are kept. */
export async function downloadDataset(dataset: RemoteDataset, dir: string, options: DownloadOptions = {}): Promise<string[]> {
  const log = options.log ?? (() => {});
  await fs.promises.mkdir(dir, { recursive: true });
  const done: string[] = [];
  for (const file of dataset.files) {
    const dest = path.join(dir, file.name);
    if (fs.existsSync(dest)) {
      const sum = await sha256File(dest);
      if (sum === file.sha256) {
        log(`${dest}: already there, SHA-256 OK`);
        done.push(dest);
        continue;
      }
      log(`${dest}: SHA-256 ${sum} is not the expected ${file.sha256}; downloading it again`);
      await fs.promises.rm(dest);
    }
    // A wrong SHA-256 is about the file, not the source: no other source is tried.
    await fromFirstSource(file.name, dataset.baseUrls, dir, options, (url) => downloadFile(url, dest, file, options),
      (err) => err instanceof DataError && /SHA-256/.test(err.message));
    done.push(dest);
  }
  return done;
}

/**
 * Runs `fetch` on <base>/<name> for each of `bases` (or --base-url alone) until one succeeds;
 * when all fail, one error lists every source's failure. A failure `fatal` accepts is thrown at once.
 */
export async function fromFirstSource(name: string, bases: string[], dir: string, options: DownloadOptions, fetch: (url: string) => Promise<void>,
  fatal: (err: unknown) => boolean = () => false): Promise<void> {
  const failures: string[] = [];
  for (const base of options.baseUrl ? [options.baseUrl] : bases) {
    const url = new URL(name, base.endsWith('/') ? base : `${base}/`).toString();
    try {
      await fetch(url);
      return;
    } catch (err) {
      if (fatal(err)) throw err;
      failures.push(describeError(err));
      options.log?.(`${url}: ${describeError(err)}`);
    }
  }
  throw new DataError(name, `download failed from every source:\n  ${failures.join('\n  ')}\nCheck the network, pass --base-url MIRROR, or put ${name} in ${dir} by hand.`);
}

/** One file: resume <dest>.part, verify size and SHA-256, rename into place. */
export async function downloadFile(url: string, dest: string, expected: RemoteFile, options: DownloadOptions = {}): Promise<void> {
  const part = `${dest}.part`;
  let have = fs.existsSync(part) ? fs.statSync(part).size : 0;
  if (have > expected.bytes) {
    await fs.promises.rm(part);
    have = 0;
  }
  if (have < expected.bytes) await fetchInto(url, part, have, expected.bytes, options);
  const size = fs.statSync(part).size;
  if (size !== expected.bytes) {
    throw new DataError(url, `received ${size} bytes, expected ${expected.bytes}; the partial file ${part} is kept, run the command again to resume`);
  }
  const sum = await sha256File(part);
  if (sum !== expected.sha256) {
    await fs.promises.rm(part, { force: true });
    throw new DataError(dest, `SHA-256 mismatch: got ${sum}, expected ${expected.sha256} (corrupt download or a changed file on the server; the partial file was deleted)`);
  }
  await fs.promises.rename(part, dest);
  options.log?.(`${dest}: downloaded, SHA-256 OK`);
}

function request(url: string, headers: Record<string, string>, timeoutMs: number, redirects = 5): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const client = url.startsWith('https:') ? https : http;
    const req = client.get(url, { headers }, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location) {
        res.resume();
        if (redirects === 0) return reject(new Error(`too many redirects at ${url}`));
        return resolve(request(new URL(res.headers.location, url).toString(), headers, timeoutMs, redirects - 1));
      }
      resolve(res);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer from ${url} within ${timeoutMs / 1000} s`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'ENOTFOUND' || err.code === 'ECONNREFUSED' || err.code === 'EAI_AGAIN' ? `host unreachable (${err.code})` : err.message;
      reject(new Error(`${url}: ${why}`));
    });
  });
}

/** The whole file's size as a 200's Content-Length or a 206's Content-Range says, if it does. */
function announcedTotal(res: http.IncomingMessage, status: number, have: number): number | undefined {
  if (status === 206) {
    const total = /\/(\d+)$/.exec(String(res.headers['content-range'] ?? ''));
    if (total) return Number(total[1]);
  }
  const length = Number(res.headers['content-length']);
  if (!Number.isFinite(length) || String(res.headers['content-length'] ?? '') === '') return undefined;
  return status === 206 ? have + length : length;
}

/**
 * Appends to (or starts) `part` from `url`; returns the size the whole file should have: `total`
 * when the caller knows it, else what the server announced (undefined if it said nothing).
 */
async function fetchInto(url: string, part: string, have: number, total: number | undefined, options: DownloadOptions): Promise<number | undefined> {
  const timeoutMs = options.timeoutMs ?? 30000;
  const res = await request(url, have > 0 ? { Range: `bytes=${have}-` } : {}, timeoutMs);
  const status = res.statusCode ?? 0;
  if (status === 416) {
    res.resume();
    // The server has nothing past what we hold: start over, the part file cannot be trusted.
    await fs.promises.rm(part, { force: true });
    return fetchInto(url, part, 0, total, options);
  }
  if (status !== 200 && status !== 206) {
    res.resume();
    throw new Error(`${url}: HTTP ${status} ${res.statusMessage ?? ''}`.trim());
  }
  // 200 means the server ignored the Range header: the body is the whole file.
  const resuming = status === 206 && have > 0;
  if (!resuming) have = 0;
  total ??= announcedTotal(res, status, have);
  if (resuming) options.log?.(`${path.basename(part)}: resuming at byte ${have}`);
  const showBar = options.progress ?? Boolean(process.stderr.isTTY);
  const bar = showBar ? new SingleBar({ format: `${path.basename(part, '.part')} [{bar}] {percentage}% | {value}/{total} bytes | ETA {eta}s`, stream: process.stderr }) : undefined;
  bar?.start(total ?? 0, have);
  const out = fs.createWriteStream(part, { flags: resuming ? 'a' : 'w' });
  try {
    // A cut connection must still leave every received byte in the .part file, so the stream is
    // always ended and closed before the error is reported (the next run resumes from its size).
    let failure: Error | undefined;
    const closed = new Promise<void>((resolve, reject) => {
      out.on('error', reject);
      out.on('close', resolve);
    });
    const fail = (err: Error): void => {
      failure ??= err;
      out.end();
    };
    res.on('data', (chunk: Buffer) => {
      have += chunk.length;
      bar?.update(have);
    });
    res.on('error', fail);
    res.on('aborted', () => fail(new Error(`${url}: connection closed after ${have} of ${total ?? 'unknown'} bytes (run again to resume)`)));
    res.pipe(out);
    await closed;
    if (failure) throw failure;
  } finally {
    bar?.stop();
  }
  return total;
}

/**
 * One file whose size and checksum nobody publishes (the CycleGAN zips): resume <dest>.part,
 * check the size the server announced, rename into place. The caller checks the content (a zip's
 * own CRC-32s).
 */
export async function downloadUnlisted(url: string, dest: string, options: DownloadOptions = {}): Promise<void> {
  const part = `${dest}.part`;
  const have = fs.existsSync(part) ? fs.statSync(part).size : 0;
  const total = await fetchInto(url, part, have, undefined, options);
  const size = fs.statSync(part).size;
  if (total !== undefined && size !== total) {
    throw new DataError(url, `received ${size} bytes, expected ${total}; the partial file ${part} is kept, run the command again to resume`);
  }
  await fs.promises.rename(part, dest);
  options.log?.(`${dest}: downloaded, ${size} bytes`);
}
