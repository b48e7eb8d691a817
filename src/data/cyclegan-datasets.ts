/**
 * The CycleGAN authors' unpaired datasets (horse2zebra, monet2photo, ...), as the reference's
 * datasets/download_cyclegan_dataset.sh fetches them: one zip per dataset holding
 * <name>/trainA, trainB, testA, testB. `cgtrain data download horse2zebra` downloads the zip
 * (resumable), checks every entry's CRC-32 while extracting it into a staging folder, renames
 * that to <data-dir>/<name>, and deletes the zip: a folder `--dataset folder --dataroot` takes.
 * Nobody publishes sizes or checksums for these zips; the zip's own CRC-32s are the check.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Transform, type TransformCallback } from 'stream';
import { pipeline } from 'stream/promises';
import * as yauzl from 'yauzl';
import { crc32 } from '../util/crc';
import { downloadUnlisted, fromFirstSource, type DownloadOptions } from './download';
import { DataError, describeError } from './errors';
import { IMAGE_EXTENSIONS } from './folder';

/** The reference script's list, less cityscapes (its license forbids redistribution: get it from cityscapes-dataset.com). */
export const CYCLEGAN_DATASETS = [
  'apple2orange', 'summer2winter_yosemite', 'horse2zebra', 'monet2photo', 'cezanne2photo', 'ukiyoe2photo', 'vangogh2photo',
  'maps', 'facades', 'iphone2dslr_flower', 'ae_photos', 'grumpifycat', 'mini',
] as const;
export type CycleGanDataset = (typeof CYCLEGAN_DATASETS)[number];

export function isCycleGanDataset(name: string): name is CycleGanDataset {
  return (CYCLEGAN_DATASETS as readonly string[]).includes(name);
}

/** Tried in order: the host the reference script uses now, then its older address. */
export const CYCLEGAN_BASE_URLS = ['http://efrosgans.eecs.berkeley.edu/cyclegan/datasets/', 'https://people.eecs.berkeley.edu/~taesung_park/CycleGAN/datasets/'];

const DOMAIN_FOLDERS = ['trainA', 'trainB', 'testA', 'testB'];

/** Passes bytes through and keeps their CRC-32. */
class Crc32Stream extends Transform {
  crc = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.crc = crc32(chunk, this.crc);
    callback(null, chunk);
  }
}

/**
 * Extracts `zipFile` into `dest`, dropping a leading `<top>/` from entry names (and macOS's
 * __MACOSX/ resource forks). Each file's CRC-32 must match the zip's; names that would land
 * outside `dest` are refused (yauzl rejects absolute and `..` paths; this checks again).
 * Returns the number of files written.
 */
export async function extractZip(zipFile: string, dest: string, top: string): Promise<number> {
  const zip = await yauzl.openPromise(zipFile, { lazyEntries: true, validateEntrySizes: true });
  const root = path.resolve(dest);
  let files = 0;
  const extract = async (entry: yauzl.Entry): Promise<void> => {
    const name = entry.fileName.startsWith(`${top}/`) ? entry.fileName.slice(top.length + 1) : entry.fileName;
    if (name === '' || name.startsWith('__MACOSX/')) return;
    const target = path.resolve(root, name);
    if (!target.startsWith(root + path.sep)) throw new Error(`entry ${entry.fileName} would be written outside ${dest}`);
    if (name.endsWith('/')) {
      await fs.promises.mkdir(target, { recursive: true });
      return;
    }
    await fs.promises.mkdir(path.dirname(target), { recursive: true });
    const crc = new Crc32Stream();
    await pipeline(await zip.openReadStreamPromise(entry), crc, fs.createWriteStream(target));
    if (crc.crc !== entry.crc32) throw new Error(`entry ${entry.fileName}: CRC-32 ${crc.crc.toString(16)} is not the zip's ${entry.crc32.toString(16)}`);
    files++;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      zip.on('error', reject);
      zip.on('end', resolve);
      zip.on('entry', (entry: yauzl.Entry) => extract(entry).then(() => zip.readEntry(), reject));
      zip.readEntry();
    });
  } finally {
    zip.close();
  }
  return files;
}

export interface CycleGanDownload {
  dir: string;
  /** images per domain folder that the zip had */
  counts: Record<string, number>;
}

/** Images under `dir`, in subfolders too (as the folder loader lists them). */
function imagesUnder(dir: string): number {
  let n = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) n += imagesUnder(path.join(dir, entry.name));
    else if (IMAGE_EXTENSIONS.includes(path.extname(entry.name).toLowerCase())) n++;
  }
  return n;
}

function countImages(dir: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const folder of DOMAIN_FOLDERS) {
    const full = path.join(dir, folder);
    if (fs.existsSync(full)) counts[folder] = imagesUnder(full);
  }
  return counts;
}

/** A file-system failure (disk full, permissions) says nothing about the zip, which is kept. */
function isFileSystemError(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) && !/^ERR_/.test(code);
}

/**
 * Downloads and unpacks one dataset into `dir` (default <dataDir>/<name>); a folder already
 * holding its trainA or trainB is kept as it is.
 */
export async function downloadCycleGanDataset(name: CycleGanDataset, dataDir: string, options: DownloadOptions & { dir?: string } = {}): Promise<CycleGanDownload> {
  const log = options.log ?? (() => {});
  const dir = path.resolve(options.dir ?? path.join(dataDir, name));
  const existing = fs.existsSync(dir) ? countImages(dir) : {};
  if (existing.trainA !== undefined || existing.trainB !== undefined) {
    log(`${dir}: already there`);
    return { dir, counts: existing };
  }
  // Never into (or over) a folder that holds something else.
  if (fs.existsSync(dir) && fs.readdirSync(dir).length > 0) {
    throw new DataError(dir, `exists and is not a ${name} dataset (no trainA/ or trainB/); pass another --dir, or empty it`);
  }
  await fs.promises.mkdir(path.dirname(dir), { recursive: true });
  const zip = `${dir}.zip`;
  if (!fs.existsSync(zip)) await fromFirstSource(`${name}.zip`, CYCLEGAN_BASE_URLS, path.dirname(zip), options, (url) => downloadUnlisted(url, zip, options));
  const staging = `${dir}.extracting-${process.pid}`;
  await fs.promises.rm(staging, { recursive: true, force: true });
  log(`${zip}: extracting`);
  let files: number;
  try {
    files = await extractZip(zip, staging, name);
  } catch (err) {
    await fs.promises.rm(staging, { recursive: true, force: true });
    if (isFileSystemError(err)) throw new DataError(dir, `extracting ${zip} failed: ${describeError(err)}`);
    await fs.promises.rm(zip, { force: true });
    throw new DataError(zip, `not a valid zip or corrupt (${describeError(err)}); it was deleted: run the command again to download it anew`);
  }
  const counts = countImages(staging);
  if (Object.keys(counts).length === 0) {
    await fs.promises.rm(staging, { recursive: true, force: true });
    throw new DataError(zip, `holds ${files} files but none of ${DOMAIN_FOLDERS.join(', ')} (expected ${name}/trainA/... inside)`);
  }
  if (fs.existsSync(dir)) await fs.promises.rmdir(dir); // empty, checked above
  await fs.promises.rename(staging, dir);
  await fs.promises.rm(zip, { force: true });
  log(`${dir}: ${Object.entries(counts).map(([folder, n]) => `${folder} ${n}`).join(', ')} images`);
  return { dir, counts };
}
