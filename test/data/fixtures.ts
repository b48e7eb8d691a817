/** Test fixtures written from scratch: IDX files, a small MATLAB v5 writer, image folders. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';
import { MI } from '../../src/data/mat';

const madeDirs: string[] = [];
process.on('exit', () => {
  for (const dir of madeDirs) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh folder under the OS temp dir, removed when the test process exits. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `cgtrain-data-test-${prefix}-`));
  madeDirs.push(dir);
  return dir;
}

/** An IDX file of uint8 values with the given dimensions (big-endian header). */
export function idxBytes(dims: number[], data: ArrayLike<number>): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, Buffer.from(Uint8Array.from(data))]);
}

/** count fake 28x28 digits: image n is filled with the value (n * 37) % 256 except one bright pixel. */
export function fakeDigits(count: number): Uint8Array {
  const data = new Uint8Array(count * 784);
  for (let n = 0; n < count; n++) {
    data.fill((n * 37) % 256, n * 784, (n + 1) * 784);
    data[n * 784 + 14 * 28 + 14] = 255;
  }
  return data;
}

export function writeMnistFolder(dir: string, count: number, options: { gzip?: boolean; labelCount?: number } = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  const suffix = options.gzip ? '.gz' : '';
  const pack = (b: Buffer) => (options.gzip ? zlib.gzipSync(b) : b);
  const labels = Array.from({ length: options.labelCount ?? count }, (_, i) => i % 10);
  for (const prefix of ['train', 't10k']) {
    fs.writeFileSync(path.join(dir, `${prefix}-images-idx3-ubyte${suffix}`), pack(idxBytes([count, 28, 28], fakeDigits(count))));
    fs.writeFileSync(path.join(dir, `${prefix}-labels-idx1-ubyte${suffix}`), pack(idxBytes([labels.length], labels)));
  }
}

export interface MatVarSpec {
  name: string;
  /** mxClass code. */
  matlabClass: number;
  dims: number[];
  data: ArrayLike<number>;
  /** Storage type of the real part (miUINT8, miDOUBLE, ...). */
  storage: number;
}

const STORAGE_BYTES: Record<number, number> = { [MI.INT8]: 1, [MI.UINT8]: 1, [MI.INT16]: 2, [MI.UINT16]: 2, [MI.INT32]: 4, [MI.UINT32]: 4, [MI.SINGLE]: 4, [MI.DOUBLE]: 8 };

class MatWriter {
  constructor(private readonly little: boolean) {}

  element(type: number, body: Uint8Array, allowSmall = false): Buffer {
    if (allowSmall && body.length <= 4) {
      const out = Buffer.alloc(8);
      const word = ((body.length << 16) | type) >>> 0;
      if (this.little) out.writeUInt32LE(word, 0);
      else out.writeUInt32BE(word, 0);
      out.set(body, 4);
      return out;
    }
    const padded = Math.ceil(body.length / 8) * 8;
    const out = Buffer.alloc(8 + padded);
    this.u32(out, 0, type);
    this.u32(out, 4, body.length);
    out.set(body, 8);
    return out;
  }

  numbers(type: number, values: ArrayLike<number>): Buffer {
    const size = STORAGE_BYTES[type];
    const out = Buffer.alloc(values.length * size);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (let i = 0; i < values.length; i++) {
      const at = i * size, v = values[i];
      switch (type) {
        case MI.INT8: view.setInt8(at, v); break;
        case MI.UINT8: view.setUint8(at, v); break;
        case MI.INT16: view.setInt16(at, v, this.little); break;
        case MI.UINT16: view.setUint16(at, v, this.little); break;
        case MI.INT32: view.setInt32(at, v, this.little); break;
        case MI.UINT32: view.setUint32(at, v, this.little); break;
        case MI.SINGLE: view.setFloat32(at, v, this.little); break;
        case MI.DOUBLE: view.setFloat64(at, v, this.little); break;
      }
    }
    return out;
  }

  matrix(v: MatVarSpec): Buffer {
    const body = Buffer.concat([
      this.element(MI.UINT32, this.numbers(MI.UINT32, [v.matlabClass, 0])),
      this.element(MI.INT32, this.numbers(MI.INT32, v.dims)),
      this.element(MI.INT8, Buffer.from(v.name, 'latin1'), true),
      this.element(v.storage, this.numbers(v.storage, v.data)),
    ]);
    return this.element(MI.MATRIX, body);
  }

  private u32(buf: Buffer, at: number, value: number): void {
    if (this.little) buf.writeUInt32LE(value, at);
    else buf.writeUInt32BE(value, at);
  }
}

/** A level-5 MAT-file; each variable optionally wrapped in miCOMPRESSED (as MATLAB's save -v7 does). */
export function matBytes(variables: MatVarSpec[], options: { littleEndian?: boolean; compress?: boolean } = {}): Buffer {
  const little = options.littleEndian ?? true;
  const writer = new MatWriter(little);
  const header = Buffer.alloc(128, 0x20);
  header.write('MATLAB 5.0 MAT-file, written by the cgtrain tests', 0, 'latin1');
  header.fill(0, 116, 124);
  if (little) {
    header.writeUInt16LE(0x0100, 124);
  } else {
    header.writeUInt16BE(0x0100, 124);
  }
  // The indicator is 'M','I' written as a 16-bit value; a little-endian writer stores "IM".
  header.write(little ? 'IM' : 'MI', 126, 'latin1');
  const elements = variables.map((v) => {
    const matrix = writer.matrix(v);
    if (!options.compress) return matrix;
    const deflated = zlib.deflateSync(matrix);
    const tag = Buffer.alloc(8);
    if (little) {
      tag.writeUInt32LE(MI.COMPRESSED, 0);
      tag.writeUInt32LE(deflated.length, 4);
    } else {
      tag.writeUInt32BE(MI.COMPRESSED, 0);
      tag.writeUInt32BE(deflated.length, 4);
    }
    return Buffer.concat([tag, deflated]);
  });
  return Buffer.concat([header, ...elements]);
}

/**
 * An SVHN-format-2 pair X (32x32x3xN uint8, column-major) and y (N x 1 double, 1..10) where
 * pixel (row, col, ch) of image n is (row + 2 * col + 50 * ch + 7 * n) % 256.
 */
export function svhnVariables(count: number, labels?: number[]): MatVarSpec[] {
  const x = new Uint8Array(32 * 32 * 3 * count);
  for (let n = 0; n < count; n++) for (let ch = 0; ch < 3; ch++) for (let col = 0; col < 32; col++) for (let row = 0; row < 32; row++) {
    x[row + 32 * col + 1024 * ch + 3072 * n] = svhnPixel(row, col, ch, n);
  }
  const y = labels ?? Array.from({ length: count }, (_, n) => (n % 10) + 1);
  return [
    { name: 'X', matlabClass: 9, dims: [32, 32, 3, count], data: x, storage: MI.UINT8 },
    { name: 'y', matlabClass: 6, dims: [y.length, 1], data: y, storage: MI.UINT8 },
  ];
}

export function svhnPixel(row: number, col: number, ch: number, n: number): number {
  return (row + 2 * col + 50 * ch + 7 * n) % 256;
}

/** Seeded bytes for fuzzing (xorshift32). */
export function randomBytes(length: number, seed: number): Uint8Array {
  let s = seed >>> 0 || 1;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}
