/**
 * Sample grids for the report. The page must open offline and on its own (mailed, copied off the
 * training box), so images are embedded as data: URIs: the latest grid at full size, older epochs
 * as small thumbnails that link to the PNG beside the report. Encoded images are cached by file
 * identity so a ReportWriter rebuilding every few seconds re-encodes only new samples.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import sharp from 'sharp';
import type { RunLog, SampleRecord } from './runlog';

export interface EmbeddedImage {
  /** path relative to the run directory, for the link to the original */
  file: string;
  epoch: number;
  iter?: number;
  dataUri: string;
  width: number;
  height: number;
  bytes: number;
}

export interface SampleSet {
  latest?: EmbeddedImage;
  perEpoch: EmbeddedImage[];
  /** epochs that have a sample, of which perEpoch shows an even selection */
  epochsWithSamples: number;
  /** why a logged sample is not shown (missing file, undecodable image) */
  problems: string[];
}

export type ImageCache = Map<string, EmbeddedImage>;

/** Beyond these the latest grid is re-encoded smaller, so one image cannot bloat the page. */
const LATEST_MAX_WIDTH = 1600;
const LATEST_MAX_BYTES = 2 * 1024 * 1024;
const THUMB_MAX_WIDTH = 360;
/** The per-epoch strip shows at most this many epochs, evenly spread and always the first and last. */
export const MAX_EPOCH_THUMBS = 40;

export async function collectSamples(run: RunLog, cache: ImageCache = new Map()): Promise<SampleSet> {
  const problems: string[] = [];
  const present: { record: SampleRecord; stat: { size: number; mtimeMs: number } }[] = [];
  for (const record of run.samples) {
    try {
      const stat = await fs.stat(path.join(run.runDir, record.file));
      present.push({ record, stat });
    } catch {
      problems.push(`sample ${record.file} is in the log but not on disk`);
    }
  }
  const lastPerEpoch = new Map<number, (typeof present)[number]>();
  for (const sample of present) lastPerEpoch.set(sample.record.epoch, sample);
  const epochSamples = [...lastPerEpoch.entries()].sort((a, b) => a[0] - b[0]).map(([, s]) => s);
  const used = new Set<string>();
  const tryEmbed = async (sample: (typeof present)[number], size: 'full' | 'thumb'): Promise<EmbeddedImage | undefined> => {
    try {
      return await embed(run.runDir, sample.record, sample.stat, size, cache, used);
    } catch (err) {
      problems.push(`sample ${sample.record.file} could not be read: ${(err as Error).message}`);
      return undefined;
    }
  };
  // A grid caught mid-write or damaged should not blank the page: show the newest one that decodes.
  let latest: EmbeddedImage | undefined;
  for (let i = present.length - 1; i >= 0 && !latest; i--) latest = await tryEmbed(present[i], 'full');
  const perEpoch: EmbeddedImage[] = [];
  for (const sample of evenSelection(epochSamples, MAX_EPOCH_THUMBS)) {
    const image = await tryEmbed(sample, 'thumb');
    if (image) perEpoch.push(image);
  }
  // A long run writes thousands of samples; the cache holds only what the page shows now.
  for (const key of cache.keys()) if (!used.has(key)) cache.delete(key);
  return { latest, perEpoch, epochsWithSamples: epochSamples.length, problems: [...new Set(problems)] };
}

export function evenSelection<T>(items: T[], max: number): T[] {
  if (items.length <= max) return items;
  const picked = new Set<number>();
  for (let i = 0; i < max; i++) picked.add(Math.round((i * (items.length - 1)) / (max - 1)));
  return [...picked].sort((a, b) => a - b).map((i) => items[i]);
}

async function embed(
  runDir: string, record: SampleRecord, stat: { size: number; mtimeMs: number }, size: 'full' | 'thumb', cache: ImageCache, used: Set<string>,
): Promise<EmbeddedImage> {
  const key = `${size}:${record.file}:${stat.size}:${stat.mtimeMs}`;
  used.add(key);
  const cached = cache.get(key);
  if (cached) return { ...cached, epoch: record.epoch, iter: record.iter };
  const input = await fs.readFile(path.join(runDir, record.file));
  const meta = await sharp(input).metadata();
  const width = meta.width ?? 0;
  const height = meta.height ?? 0;
  const maxWidth = size === 'full' ? LATEST_MAX_WIDTH : THUMB_MAX_WIDTH;
  let data = input;
  let mime = mimeOf(record.file);
  let outWidth = width;
  let outHeight = height;
  if (width > maxWidth || (size === 'full' && input.length > LATEST_MAX_BYTES) || mime === undefined) {
    outWidth = Math.min(width, maxWidth);
    outHeight = Math.max(1, Math.round((height * outWidth) / Math.max(1, width)));
    data = await sharp(input).resize({ width: outWidth }).webp({ quality: size === 'full' ? 90 : 80 }).toBuffer();
    mime = 'image/webp';
  }
  const image: EmbeddedImage = {
    file: record.file, epoch: record.epoch, iter: record.iter,
    dataUri: `data:${mime};base64,${data.toString('base64')}`, width: outWidth, height: outHeight, bytes: data.length,
  };
  cache.set(key, image);
  return image;
}

function mimeOf(file: string): string | undefined {
  const ext = path.extname(file).toLowerCase();
  return { '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp' }[ext];
}
