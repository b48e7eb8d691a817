/**
 * Synthetic house numbers: an offline stand-in for SVHN's 32x32 crops. Each image is centred on
 * one digit (its label) of a house number, with the neighbouring digits cut by the crop edges,
 * drawn with @napi-rs/canvas in one of several bundled fonts, then degraded in TypeScript the
 * way street photographs are: blur, sensor noise, chroma subsampling and JPEG-like 8x8 block
 * quantisation. Image i depends only on (seed, phase, i), so the set is deterministic.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as os from 'os';
import { Worker } from 'worker_threads';
import { createCanvas, GlobalFonts, type SKRSContext2D } from '@napi-rs/canvas';
import { MemoryDomain } from './domain';
import { DataError, describeError } from './errors';
import { writeFileAtomic } from '../util/atomic';
import { Rng, STREAM } from './rng';

/** Bump when rendering changes, so that caches of the old look are not reused. */
export const SYNTH_VERSION = 1;
const SIDE = 32;
const PLANE = SIDE * SIDE;
const FONT_FILES: Array<[pkg: string, file: string]> = [
  ['roboto-mono', 'roboto-mono-latin-400-normal.woff2'],
  ['roboto-mono', 'roboto-mono-latin-700-normal.woff2'],
  ['oswald', 'oswald-latin-400-normal.woff2'],
  ['oswald', 'oswald-latin-600-normal.woff2'],
  ['archivo-black', 'archivo-black-latin-400-normal.woff2'],
];
let registeredFamilies: string[] | undefined;

/** Registers the bundled fonts once; returns the family names to draw with. */
export function synthFonts(): string[] {
  if (registeredFamilies) return registeredFamilies;
  const families: string[] = [];
  for (const [pkg, file] of FONT_FILES) {
    const family = `cgtrain-${file.replace(/\.woff2?$/, '')}`;
    let fontPath: string;
    try {
      fontPath = require.resolve(`@fontsource/${pkg}/files/${file}`);
    } catch {
      continue;
    }
    if (GlobalFonts.registerFromPath(fontPath, family)) families.push(family);
  }
  if (families.length === 0) throw new Error('synthetic house numbers: no font could be registered from @fontsource/* (is the package installed?)');
  registeredFamilies = families;
  return families;
}

interface Rgb {
  r: number;
  g: number;
  b: number;
}

function hslToRgb(h: number, s: number, l: number): Rgb {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return { r: f(0), g: f(8), b: f(4) };
}

const css = (c: Rgb, alpha = 1) => `rgba(${c.r},${c.g},${c.b},${alpha})`;

/** Background and digit colours: SVHN is mostly plaques of muted colour with lighter or darker digits. */
function pickColours(rng: Rng): { bg: Rgb; bg2: Rgb; fg: Rgb; edge: Rgb } {
  const hue = rng.uniform(0, 360);
  const bgL = rng.chance(0.5) ? rng.uniform(0.08, 0.45) : rng.uniform(0.5, 0.95);
  const bgS = rng.chance(0.75) ? rng.uniform(0, 0.2) : rng.uniform(0.2, 0.6);
  // Contrast is mostly clear but sometimes weak, as in photographs of worn plaques.
  const contrast = rng.chance(0.15) ? rng.uniform(0.12, 0.25) : rng.uniform(0.3, 0.75);
  const fgL = bgL > 0.5 ? Math.max(0.02, bgL - contrast) : Math.min(0.98, bgL + contrast);
  const fgHue = rng.chance(0.5) ? hue + rng.uniform(-30, 30) : rng.uniform(0, 360);
  return {
    bg: hslToRgb(hue, bgS, bgL),
    bg2: hslToRgb(hue + rng.uniform(-20, 20), bgS, Math.min(0.98, Math.max(0.02, bgL + rng.uniform(-0.2, 0.2)))),
    fg: hslToRgb((fgHue + 360) % 360, rng.chance(0.6) ? rng.uniform(0, 0.2) : rng.uniform(0.2, 0.7), fgL),
    edge: hslToRgb(rng.uniform(0, 360), rng.uniform(0, 0.5), rng.uniform(0, 1)),
  };
}

function drawBackground(ctx: SKRSContext2D, rng: Rng, colours: { bg: Rgb; bg2: Rgb; edge: Rgb }): void {
  const angle = rng.uniform(0, Math.PI * 2);
  const dx = Math.cos(angle) * 24, dy = Math.sin(angle) * 24;
  const gradient = ctx.createLinearGradient(16 - dx, 16 - dy, 16 + dx, 16 + dy);
  gradient.addColorStop(0, css(colours.bg));
  gradient.addColorStop(1, css(colours.bg2));
  ctx.fillStyle = gradient;
  ctx.fillRect(0, 0, SIDE, SIDE);
  // Texture: siding planks, brick courses or a plaque border in some crops.
  const texture = rng.next();
  if (texture < 0.25) {
    ctx.strokeStyle = css(colours.edge, rng.uniform(0.08, 0.3));
    ctx.lineWidth = rng.uniform(0.5, 1.5);
    const spacing = rng.uniform(4, 10), offset = rng.uniform(0, spacing);
    for (let y = offset; y < SIDE; y += spacing) {
      ctx.beginPath();
      ctx.moveTo(0, y);
      ctx.lineTo(SIDE, y + rng.uniform(-1, 1));
      ctx.stroke();
    }
  } else if (texture < 0.4) {
    ctx.strokeStyle = css(colours.edge, rng.uniform(0.3, 0.8));
    ctx.lineWidth = rng.uniform(1, 3);
    const inset = rng.uniform(-2, 4);
    ctx.strokeRect(inset, inset + rng.uniform(-3, 3), SIDE - 2 * inset, SIDE - 2 * inset);
  }
}

/** Digit advance widths per font at 100 px; widths scale with the size, so each is measured once. */
const digitWidths = new Map<string, number[]>();
function digitWidth(ctx: SKRSContext2D, family: string, digit: number, size: number): number {
  let widths = digitWidths.get(family);
  if (!widths) {
    const font = ctx.font;
    ctx.font = `100px "${family}"`;
    widths = Array.from({ length: 10 }, (_, d) => ctx.measureText(String(d)).width);
    ctx.font = font;
    digitWidths.set(family, widths);
  }
  return (widths[digit] * size) / 100;
}

/** The label digit at the centre, its neighbours beside it where the crop cuts them. */
function drawDigits(ctx: SKRSContext2D, rng: Rng, label: number, fg: Rgb, edge: Rgb, fonts: string[]): void {
  const size = rng.uniform(26, 40);
  const family = rng.pick(fonts);
  ctx.font = `${size.toFixed(1)}px "${family}"`;
  ctx.textAlign = 'center';
  ctx.textBaseline = 'middle';
  const digits = [rng.chance(0.75) ? rng.int(10) : -1, label, rng.chance(0.75) ? rng.int(10) : -1];
  const gap = rng.uniform(-1, 4);
  ctx.save();
  ctx.translate(16 + rng.uniform(-2, 2), 16 + rng.uniform(-2, 2));
  ctx.rotate(rng.uniform(-0.14, 0.14));
  ctx.scale(rng.uniform(0.8, 1.2), rng.uniform(0.9, 1.1));
  // A slight shear: photographs are rarely taken square to the wall.
  ctx.transform(1, 0, rng.uniform(-0.15, 0.15), 1, 0, 0);
  const centreWidth = digitWidth(ctx, family, label, size);
  const outline = rng.chance(0.2);
  if (rng.chance(0.25)) {
    ctx.shadowColor = css({ r: 0, g: 0, b: 0 }, rng.uniform(0.3, 0.7));
    ctx.shadowBlur = rng.uniform(0, 2);
    ctx.shadowOffsetX = rng.uniform(-1.5, 1.5);
    ctx.shadowOffsetY = rng.uniform(0, 2);
  }
  ctx.fillStyle = css(fg);
  ctx.strokeStyle = css(edge);
  ctx.lineWidth = rng.uniform(0.6, 1.6);
  for (let k = 0; k < 3; k++) {
    if (digits[k] < 0) continue;
    const width = digitWidth(ctx, family, digits[k], size);
    const x = k === 1 ? 0 : (k === 0 ? -1 : 1) * (centreWidth / 2 + gap + width / 2);
    ctx.fillText(String(digits[k]), x, 0);
    if (outline) ctx.strokeText(String(digits[k]), x, 0);
  }
  ctx.restore();
}

/** Separable Gaussian blur of one 32x32 plane in place (edges clamped), radius up to 3. */
function blurPlane(plane: Float32Array, sigma: number, scratch: Float32Array): void {
  if (sigma < 0.2) return;
  const radius = Math.min(3, Math.ceil(2 * sigma));
  const weights = new Float32Array(2 * radius + 1);
  let sum = 0;
  for (let k = -radius; k <= radius; k++) sum += weights[k + radius] = Math.exp((-k * k) / (2 * sigma * sigma));
  for (let k = 0; k < weights.length; k++) weights[k] /= sum;
  // Rows into scratch, then columns back into the plane.
  for (let y = 0; y < SIDE; y++) {
    const row = y * SIDE;
    for (let x = 0; x < SIDE; x++) {
      let acc = 0;
      for (let k = -radius; k <= radius; k++) acc += weights[k + radius] * plane[row + CLAMP[x + k + 3]];
      scratch[row + x] = acc;
    }
  }
  for (let y = 0; y < SIDE; y++) {
    for (let x = 0; x < SIDE; x++) {
      let acc = 0;
      for (let k = -radius; k <= radius; k++) acc += weights[k + radius] * scratch[CLAMP[y + k + 3] * SIDE + x];
      plane[y * SIDE + x] = acc;
    }
  }
}

/** CLAMP[i + 3] = clamp(i, 0, 31) for i in -3..34. */
const CLAMP = Int32Array.from({ length: SIDE + 6 }, (_, i) => Math.min(SIDE - 1, Math.max(0, i - 3)));

const DCT = (() => {
  const table = new Float32Array(64);
  for (let u = 0; u < 8; u++) {
    for (let x = 0; x < 8; x++) table[u * 8 + x] = (u === 0 ? Math.SQRT1_2 : 1) * 0.5 * Math.cos(((2 * x + 1) * u * Math.PI) / 16);
  }
  return table;
})();
// The JPEG standard's luminance quantisation table (Annex K), scaled by quality below.
const JPEG_LUMA = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99];

/** JPEG's lossy step on one plane: 8x8 DCT, quantise, inverse DCT (the source of block artefacts). */
function quantiseBlocks(plane: Float32Array, quality: number, block: Float32Array, temp: Float32Array): void {
  const scale = quality < 50 ? 5000 / quality : 200 - 2 * quality;
  for (let by = 0; by < SIDE; by += 8) {
    for (let bx = 0; bx < SIDE; bx += 8) {
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) block[y * 8 + x] = plane[(by + y) * SIDE + bx + x] - 128;
      // Rows then columns: a separable 2-D DCT-II.
      for (let y = 0; y < 8; y++) for (let u = 0; u < 8; u++) {
        let acc = 0;
        for (let x = 0; x < 8; x++) acc += DCT[u * 8 + x] * block[y * 8 + x];
        temp[y * 8 + u] = acc;
      }
      for (let v = 0; v < 8; v++) for (let u = 0; u < 8; u++) {
        let acc = 0;
        for (let y = 0; y < 8; y++) acc += DCT[v * 8 + y] * temp[y * 8 + u];
        const q = Math.max(1, Math.floor((JPEG_LUMA[v * 8 + u] * scale + 50) / 100));
        block[v * 8 + u] = Math.round(acc / q) * q;
      }
      for (let y = 0; y < 8; y++) for (let u = 0; u < 8; u++) {
        let acc = 0;
        for (let v = 0; v < 8; v++) acc += DCT[v * 8 + y] * block[v * 8 + u];
        temp[y * 8 + u] = acc;
      }
      for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) {
        let acc = 0;
        for (let u = 0; u < 8; u++) acc += DCT[u * 8 + x] * temp[y * 8 + u];
        plane[(by + y) * SIDE + bx + x] = acc + 128;
      }
    }
  }
}

/** Averages 2x2 neighbourhoods of a chroma plane (JPEG's 4:2:0 subsampling). */
function subsampleChroma(plane: Float32Array): void {
  for (let y = 0; y < SIDE; y += 2) {
    for (let x = 0; x < SIDE; x += 2) {
      const i = y * SIDE + x;
      const mean = (plane[i] + plane[i + 1] + plane[i + SIDE] + plane[i + SIDE + 1]) / 4;
      plane[i] = plane[i + 1] = plane[i + SIDE] = plane[i + SIDE + 1] = mean;
    }
  }
}

interface Scratch {
  y: Float32Array;
  cb: Float32Array;
  cr: Float32Array;
  blur: Float32Array;
  block: Float32Array;
  temp: Float32Array;
}

/** Photographic degradation of an RGBA render, written as uint8 CHW into out. */
function degrade(rgba: Uint8ClampedArray, rng: Rng, s: Scratch, out: Uint8Array, offset: number): void {
  for (let i = 0; i < PLANE; i++) {
    const r = rgba[4 * i], g = rgba[4 * i + 1], b = rgba[4 * i + 2];
    s.y[i] = 0.299 * r + 0.587 * g + 0.114 * b;
    s.cb[i] = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b;
    s.cr[i] = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b;
  }
  const sigma = rng.chance(0.7) ? rng.uniform(0.3, 1.1) : 0;
  blurPlane(s.y, sigma, s.blur);
  blurPlane(s.cb, sigma * 1.5, s.blur);
  blurPlane(s.cr, sigma * 1.5, s.blur);
  const noise = rng.uniform(0, 7);
  const gain = rng.uniform(0.8, 1.15), bias = rng.uniform(-15, 15);
  // Sensor noise from a fixed table of normals at a random offset: a thousand Box-Muller draws
  // per image cost more than the rest of the degradation.
  const start = rng.int(NOISE_TABLE.length);
  for (let i = 0; i < PLANE; i++) s.y[i] = s.y[i] * gain + bias + noise * NOISE_TABLE[(start + i * 7) & (NOISE_TABLE.length - 1)];
  if (rng.chance(0.7)) {
    subsampleChroma(s.cb);
    subsampleChroma(s.cr);
  }
  if (rng.chance(0.6)) quantiseBlocks(s.y, rng.uniform(35, 90), s.block, s.temp);
  for (let i = 0; i < PLANE; i++) {
    const y = s.y[i], cb = s.cb[i] - 128, cr = s.cr[i] - 128;
    out[offset + i] = clampByte(y + 1.402 * cr);
    out[offset + PLANE + i] = clampByte(y - 0.344136 * cb - 0.714136 * cr);
    out[offset + 2 * PLANE + i] = clampByte(y + 1.772 * cb);
  }
}

const NOISE_TABLE = (() => {
  const rng = new Rng(0x5eed);
  return Float32Array.from({ length: 1 << 14 }, () => rng.normal());
})();

function clampByte(v: number): number {
  return v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v);
}

export interface SynthSet {
  pixels: Uint8Array;
  labels: Int32Array;
}

/** Seed of a phase's set: the test set is drawn from its own stream, disjoint from train. */
export function synthSeed(seed: number, phase: 'train' | 'test'): number {
  return Rng.derive(seed, STREAM.synth, phase === 'test' ? 1 : 0).int(2 ** 32);
}

/** Renders images [start, start + count) of the set for `seed` (3x32x32 uint8 each). */
export function renderSynthHouseNumbers(seed: number, count: number, start = 0): SynthSet {
  const fonts = synthFonts();
  const canvas = createCanvas(SIDE, SIDE);
  const ctx = canvas.getContext('2d');
  const scratch: Scratch = {
    y: new Float32Array(PLANE), cb: new Float32Array(PLANE), cr: new Float32Array(PLANE),
    blur: new Float32Array(PLANE), block: new Float32Array(64), temp: new Float32Array(64),
  };
  const pixels = new Uint8Array(count * 3 * PLANE);
  const labels = new Int32Array(count);
  for (let n = 0; n < count; n++) {
    const rng = Rng.derive(seed, start + n);
    const label = rng.int(10);
    labels[n] = label;
    const colours = pickColours(rng);
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.shadowColor = 'rgba(0,0,0,0)';
    drawBackground(ctx, rng, colours);
    drawDigits(ctx, rng, label, colours.fg, colours.edge, fonts);
    degrade(ctx.getImageData(0, 0, SIDE, SIDE).data, rng, scratch, pixels, n * 3 * PLANE);
  }
  return { pixels, labels };
}

/**
 * Renders the set on worker threads, one contiguous range each. Image i depends only on
 * (seed, i), so the result is identical to a single-threaded render.
 */
export async function renderSynthParallel(seed: number, count: number, threads = Math.min(4, os.availableParallelism?.() ?? os.cpus().length)): Promise<SynthSet> {
  if (threads <= 1 || count < 2000) return renderSynthHouseNumbers(seed, count);
  const per = Math.ceil(count / threads);
  const parts = await Promise.all(
    Array.from({ length: threads }, (_, t) => {
      const start = t * per, length = Math.max(0, Math.min(per, count - start));
      return new Promise<SynthSet>((resolve, reject) => {
        const worker = new Worker(path.join(__dirname, 'synth-worker.js'), { workerData: { seed, start, count: length } });
        worker.once('message', (set: SynthSet) => resolve(set));
        worker.once('error', reject);
        worker.once('exit', (code) => code !== 0 && reject(new Error(`synthetic house numbers: render worker exited with code ${code}`)));
      });
    }),
  );
  const pixels = new Uint8Array(count * 3 * PLANE);
  const labels = new Int32Array(count);
  parts.forEach((part, t) => {
    pixels.set(part.pixels, t * per * 3 * PLANE);
    labels.set(part.labels, t * per);
  });
  return { pixels, labels };
}

const CACHE_MAGIC = 'CGSYNTH\n';
const CACHE_HEADER = 24; // magic, version, seed, count, reserved (uint32 LE each)

export function synthCachePath(dataDir: string, seed: number, count: number, phase: 'train' | 'test'): string {
  return path.join(dataDir, 'synth', `house-numbers-v${SYNTH_VERSION}-seed${seed >>> 0}-${phase}-n${count}.bin`);
}

export function encodeSynthCache(set: SynthSet, seed: number): Uint8Array {
  const count = set.labels.length;
  const bytes = new Uint8Array(CACHE_HEADER + count + set.pixels.length);
  bytes.set(Buffer.from(CACHE_MAGIC, 'latin1'), 0);
  const view = new DataView(bytes.buffer);
  view.setUint32(8, SYNTH_VERSION, true);
  view.setUint32(12, seed >>> 0, true);
  view.setUint32(16, count, true);
  for (let i = 0; i < count; i++) bytes[CACHE_HEADER + i] = set.labels[i];
  bytes.set(set.pixels, CACHE_HEADER + count);
  return bytes;
}

export function decodeSynthCache(bytes: Uint8Array, seed: number, count: number, source: string): SynthSet {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < CACHE_HEADER || Buffer.from(bytes.subarray(0, 8)).toString('latin1') !== CACHE_MAGIC) {
    throw new DataError(source, 'not a synthetic house-number cache (bad magic)');
  }
  const [version, storedSeed, storedCount] = [view.getUint32(8, true), view.getUint32(12, true), view.getUint32(16, true)];
  if (version !== SYNTH_VERSION || storedSeed !== seed >>> 0 || storedCount !== count) {
    throw new DataError(source, `cache holds version ${version}, seed ${storedSeed}, ${storedCount} images; expected ${SYNTH_VERSION}, ${seed >>> 0}, ${count}`);
  }
  const expected = CACHE_HEADER + count + count * 3 * PLANE;
  if (bytes.length !== expected) throw new DataError(source, `cache is ${bytes.length} bytes, expected ${expected} (truncated?)`);
  const labels = Int32Array.from(bytes.subarray(CACHE_HEADER, CACHE_HEADER + count));
  // A plain Uint8Array view, not a Buffer: callers compare and copy it as image bytes.
  return { labels, pixels: new Uint8Array(bytes.buffer, bytes.byteOffset + CACHE_HEADER + count, count * 3 * PLANE) };
}

/**
 * The synthetic set for (seed, count, phase), from the cache in dataDir when it is there and
 * valid, rendered and cached otherwise. A damaged cache is re-rendered, not trusted.
 */
export async function loadSynthDomain(dataDir: string, seed: number, count: number, phase: 'train' | 'test', channels: number, log: (line: string) => void = () => {}): Promise<MemoryDomain> {
  if (!Number.isInteger(count) || count < 1) throw new Error(`synthetic house numbers: count must be a positive integer, got ${count}`);
  const setSeed = synthSeed(seed, phase);
  const file = synthCachePath(dataDir, setSeed, count, phase);
  let set: SynthSet | undefined;
  let origin = 'cached';
  if (fs.existsSync(file)) {
    try {
      set = decodeSynthCache(await fs.promises.readFile(file), setSeed, count, file);
    } catch (err) {
      log(`synthetic house numbers: ignoring the cache (${describeError(err)}), rendering again`);
    }
  }
  if (!set) {
    const started = Date.now();
    set = await renderSynthParallel(setSeed, count);
    origin = `rendered in ${((Date.now() - started) / 1000).toFixed(1)} s`;
    try {
      await writeFileAtomic(file, encodeSynthCache(set, setSeed));
      origin += `, cached in ${file}`;
    } catch (err) {
      log(`synthetic house numbers: could not write the cache ${file} (${describeError(err)}); continuing without it`);
    }
  }
  const name = `synthetic house numbers (${count} ${phase}, ${origin})`;
  return new MemoryDomain(name, set.pixels, [3, SIDE, SIDE], set.labels).withChannels(channels);
}
