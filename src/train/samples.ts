/**
 * Sample grids: one row per image, columns real A | fake B | rec A | real B | fake A | rec B,
 * written as PNG through the data pipeline's grid writer.
 */
import * as path from 'path';
import { writeGridPng } from '../data/grid';

export interface Visuals {
  realA: Float32Array;
  fakeB: Float32Array;
  recA: Float32Array;
  realB: Float32Array;
  fakeA: Float32Array;
  recB: Float32Array;
}

export interface SampleGeometry {
  /** images per visual */
  count: number;
  inputNc: number;
  outputNc: number;
  size: number;
}

export const SAMPLE_COLUMNS = ['realA', 'fakeB', 'recA', 'realB', 'fakeA', 'recB'] as const;

/** Copies one CHW image out of a batch, repeating a gray channel when the grid is in colour. */
function tile(batch: Float32Array, index: number, channels: number, gridChannels: number, hw: number): Float32Array {
  const image = batch.subarray(index * channels * hw, (index + 1) * channels * hw);
  if (channels >= gridChannels) return image.subarray(0, gridChannels * hw);
  if (channels !== 1) throw new Error(`cgtrain: samples: cannot show ${channels}-channel images in a ${gridChannels}-channel grid`);
  const out = new Float32Array(gridChannels * hw);
  for (let c = 0; c < gridChannels; c++) out.set(image, c * hw);
  return out;
}

/** Rows of the grid, one per sample, in SAMPLE_COLUMNS order. */
export function sampleRows(visuals: Visuals, geometry: SampleGeometry): { rows: Float32Array[][]; channels: number } {
  const { count, inputNc, outputNc, size } = geometry;
  const hw = size * size;
  // PNG takes 1 or 3 channels: a 4-channel domain shows its first three.
  const channels = Math.min(3, Math.max(inputNc, outputNc));
  const channelsOf: Record<(typeof SAMPLE_COLUMNS)[number], number> = {
    realA: inputNc, recA: inputNc, fakeA: inputNc, realB: outputNc, fakeB: outputNc, recB: outputNc,
  };
  const rows: Float32Array[][] = [];
  for (let i = 0; i < count; i++) {
    rows.push(SAMPLE_COLUMNS.map((name) => {
      const c = channelsOf[name];
      const data = visuals[name];
      if (data.length < count * c * hw) {
        throw new Error(`cgtrain: samples: visual ${name} holds ${data.length} values, expected ${count}x${c}x${size}x${size}`);
      }
      return tile(data, i, c, channels, hw);
    }));
  }
  return { rows, channels };
}

/** Writes the grid to `<runDir>/samples/<name>.png`; returns the path relative to runDir. */
export async function writeSampleGrid(runDir: string, name: string, visuals: Visuals, geometry: SampleGeometry): Promise<string> {
  const { rows, channels } = sampleRows(visuals, geometry);
  const relative = path.join('samples', `${name}.png`);
  const scale = geometry.size <= 64 ? 2 : 1;
  await writeGridPng(path.join(runDir, relative), rows, { c: channels, h: geometry.size, w: geometry.size }, { scale });
  return relative;
}
