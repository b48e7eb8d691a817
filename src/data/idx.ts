/**
 * The IDX format of the MNIST files (yann.lecun.com/exdb/mnist): a 4-byte magic (two zero bytes,
 * a type code, the number of dimensions), one big-endian uint32 per dimension, then the values
 * big-endian in row-major order. Files may be gzip-compressed (.gz or the 1f 8b signature).
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { DataError, describeError } from './errors';

export interface IdxArray {
  dims: number[];
  /** uint8 data stays bytes; every other type is converted to float64. */
  data: Uint8Array | Float64Array;
}

const IDX_TYPES: Record<number, { name: string; bytes: number; read: (view: DataView, at: number) => number }> = {
  0x08: { name: 'uint8', bytes: 1, read: (v, at) => v.getUint8(at) },
  0x09: { name: 'int8', bytes: 1, read: (v, at) => v.getInt8(at) },
  0x0b: { name: 'int16', bytes: 2, read: (v, at) => v.getInt16(at, false) },
  0x0c: { name: 'int32', bytes: 4, read: (v, at) => v.getInt32(at, false) },
  0x0d: { name: 'float32', bytes: 4, read: (v, at) => v.getFloat32(at, false) },
  0x0e: { name: 'float64', bytes: 8, read: (v, at) => v.getFloat64(at, false) },
};

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

export function gunzipOrRaw(bytes: Buffer, source: string): Buffer {
  if (!isGzip(bytes)) return bytes;
  try {
    return zlib.gunzipSync(bytes);
  } catch (err) {
    throw new DataError(source, `gzip data is corrupt or truncated (${describeError(err)})`);
  }
}

export function parseIdx(bytes: Uint8Array, source: string): IdxArray {
  if (bytes.length < 4) throw new DataError(source, `not an IDX file: ${bytes.length} bytes, expected at least a 4-byte header`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new DataError(source, `not an IDX file: magic starts ${hex(bytes[0])} ${hex(bytes[1])}, expected 00 00`);
  }
  const type = IDX_TYPES[bytes[2]];
  if (!type) throw new DataError(source, `IDX type code ${hex(bytes[2])} is unknown (expected 08, 09, 0b, 0c, 0d or 0e)`);
  const ndim = bytes[3];
  if (ndim === 0) throw new DataError(source, 'IDX header declares 0 dimensions');
  const headerLength = 4 + 4 * ndim;
  if (bytes.length < headerLength) {
    throw new DataError(source, `truncated IDX header: ${bytes.length} bytes, ${ndim} dimensions need ${headerLength}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let d = 0; d < ndim; d++) {
    dims.push(view.getUint32(4 + 4 * d, false));
    count *= dims[d];
  }
  const expected = headerLength + count * type.bytes;
  if (bytes.length !== expected) {
    const what = bytes.length < expected ? 'truncated' : 'has trailing bytes';
    throw new DataError(source, `IDX ${what}: dimensions ${dims.join('x')} of ${type.name} need ${expected} bytes, the file has ${bytes.length}`);
  }
  if (type.bytes === 1 && bytes[2] === 0x08) return { dims, data: bytes.slice(headerLength) };
  const data = new Float64Array(count);
  for (let i = 0; i < count; i++) data[i] = type.read(view, headerLength + i * type.bytes);
  return { dims, data };
}

export function readIdxFile(file: string): IdxArray {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch (err) {
    throw new DataError(file, `cannot read the IDX file (${describeError(err)})`);
  }
  return parseIdx(gunzipOrRaw(raw, file), file);
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}
