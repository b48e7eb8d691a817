/** Image grids as PNG: rows of CHW images in [-1, 1] -> one picture (sample grids, previews). */
import sharp from 'sharp';
import { chwView, copyView, hwcView } from './ndview';
import { writeFileAtomic } from '../util/atomic';

export interface GridShape {
  c: number;
  h: number;
  w: number;
}

export interface GridOptions {
  /** Pixels of background between tiles (default 2). */
  pad?: number;
  /** Integer upscale of the whole grid, nearest neighbour (default 1). */
  scale?: number;
  /** Background gray level 0..255 (default 255). */
  background?: number;
}

/** A flat NCHW batch as rows of `columns` images (a view, no copies). */
export function batchToRows(images: Float32Array, n: number, shape: GridShape, columns: number): Float32Array[][] {
  const size = shape.c * shape.h * shape.w;
  const rows: Float32Array[][] = [];
  for (let i = 0; i < n; i += columns) {
    const row: Float32Array[] = [];
    for (let j = i; j < Math.min(n, i + columns); j++) row.push(images.subarray(j * size, (j + 1) * size));
    rows.push(row);
  }
  return rows;
}

/** Float [-1, 1] -> byte, clamped. */
function toByteTable(): (v: number) => number {
  return (v) => (v >= 1 ? 255 : v <= -1 ? 0 : Math.round((v + 1) * 127.5));
}

/** Renders rows of CHW float images into one RGB (or gray) uint8 HWC buffer. */
export function renderGrid(rows: Float32Array[][], shape: GridShape, options: GridOptions = {}): { data: Uint8Array; width: number; height: number; channels: number } {
  const { c, h, w } = shape;
  if (c !== 1 && c !== 3) throw new Error(`grid: images must have 1 or 3 channels, got ${c}`);
  const pad = options.pad ?? 2;
  const columns = Math.max(1, ...rows.map((r) => r.length));
  const width = columns * w + (columns + 1) * pad;
  const height = rows.length * h + (rows.length + 1) * pad;
  const data = new Uint8Array(width * height * c).fill(options.background ?? 255);
  const canvas = hwcView(data, height, width, c);
  const toByte = toByteTable();
  const tile = new Uint8Array(c * h * w);
  rows.forEach((row, r) =>
    row.forEach((image, col) => {
      if (image.length !== c * h * w) throw new Error(`grid: row ${r} image ${col} holds ${image.length} values, expected ${c}x${h}x${w}`);
      for (let i = 0; i < tile.length; i++) tile[i] = toByte(image[i]);
      const top = pad + r * (h + pad), left = pad + col * (w + pad);
      const target = canvas.hi(top + h, left + w, c).lo(top, left, 0).transpose(2, 0, 1);
      copyView(target, chwView(tile, c, h, w));
    }),
  );
  return { data, width, height, channels: c };
}

/** Writes a grid PNG atomically (temp file in the same folder, then rename). */
export async function writeGridPng(file: string, rows: Float32Array[][], shape: GridShape, options: GridOptions = {}): Promise<void> {
  const grid = renderGrid(rows, shape, options);
  const scale = Math.max(1, Math.floor(options.scale ?? 1));
  let image = sharp(Buffer.from(grid.data.buffer, grid.data.byteOffset, grid.data.byteLength), {
    raw: { width: grid.width, height: grid.height, channels: grid.channels as 1 | 3 },
  });
  if (scale > 1) image = image.resize(grid.width * scale, grid.height * scale, { kernel: 'nearest' });
  const png = await image.png().toBuffer();
  await writeFileAtomic(file, png);
}

