/**
 * A small reader for MATLAB level-5 MAT-files (the format of SVHN's train_32x32.mat), written
 * from MathWorks' "MAT-File Format" document:
 *  - a 128-byte header: 116 bytes of text, 8 bytes of subsystem offset, a 2-byte version and a
 *    2-byte endian indicator, the characters "MI" as written by the saving machine ("IM" when
 *    read back means little-endian);
 *  - then data elements, each an 8-byte tag (uint32 type, uint32 byte count) and its data
 *    padded to 8 bytes, or the "small data element" form where type and count share the first
 *    4 bytes (count in the upper 16 bits) and up to 4 bytes of data follow in the tag itself;
 *  - miCOMPRESSED (15) elements hold one zlib stream that inflates to another data element;
 *  - miMATRIX (14) elements hold sub-elements: array flags (class in the low byte, complex flag
 *    0x0800), dimensions (int32), array name (int8), the real part and, if complex, the imaginary
 *    part. The real part's storage type may be smaller than the class (MATLAB stores a double
 *    array of small integers as miUINT8), so values are converted by storage type.
 * Numeric arrays are returned in MATLAB's column-major order. Cells, structs, sparse and char
 * arrays are listed but not decoded (SVHN does not use them).
 */
import * as fs from 'fs';
import * as zlib from 'zlib';
import { DataError, describeError } from './errors';

export const MI = { INT8: 1, UINT8: 2, INT16: 3, UINT16: 4, INT32: 5, UINT32: 6, SINGLE: 7, DOUBLE: 9, INT64: 12, UINT64: 13, MATRIX: 14, COMPRESSED: 15, UTF8: 16, UTF16: 17, UTF32: 18 } as const;
export const MX = { CELL: 1, STRUCT: 2, OBJECT: 3, CHAR: 4, SPARSE: 5, DOUBLE: 6, SINGLE: 7, INT8: 8, UINT8: 9, INT16: 10, UINT16: 11, INT32: 12, UINT32: 13, INT64: 14, UINT64: 15 } as const;
const NUMERIC_CLASSES = new Set<number>([MX.DOUBLE, MX.SINGLE, MX.INT8, MX.UINT8, MX.INT16, MX.UINT16, MX.INT32, MX.UINT32, MX.INT64, MX.UINT64]);
const ELEMENT_BYTES: Record<number, number> = { 1: 1, 2: 1, 3: 2, 4: 2, 5: 4, 6: 4, 7: 4, 9: 8, 12: 8, 13: 8, 16: 1 };
const MAX_DEPTH = 8;

export interface MatVariable {
  name: string;
  /** mxClass code (MX.*). */
  matlabClass: number;
  dims: number[];
  complex: boolean;
  /** Real part, column-major; uint8 storage stays bytes, everything else becomes float64. Absent for non-numeric classes. */
  data?: Uint8Array | Float64Array;
}

interface Cursor {
  bytes: Uint8Array;
  view: DataView;
  little: boolean;
  source: string;
}

interface Element {
  type: number;
  data: Uint8Array;
  /** Offset just past the element (with padding). */
  end: number;
}

function readElement(c: Cursor, at: number, what: string): Element {
  if (at + 8 > c.bytes.length) throw new DataError(c.source, `truncated: ${what} needs an 8-byte tag at offset ${at}, the data ends at ${c.bytes.length}`);
  const first = c.view.getUint32(at, c.little);
  const small = first >>> 16;
  if (small !== 0) {
    const count = small;
    if (count > 4) throw new DataError(c.source, `corrupt small data element at offset ${at}: ${count} bytes (at most 4 fit)`);
    return { type: first & 0xffff, data: c.bytes.subarray(at + 4, at + 4 + count), end: at + 8 };
  }
  const count = c.view.getUint32(at + 4, c.little);
  const start = at + 8;
  if (start + count > c.bytes.length) {
    throw new DataError(c.source, `truncated: ${what} at offset ${at} declares ${count} bytes, only ${c.bytes.length - start} remain`);
  }
  // Compressed elements are not padded; every other element is padded to 8 bytes.
  const end = first === MI.COMPRESSED ? start + count : Math.min(c.bytes.length, start + Math.ceil(count / 8) * 8);
  return { type: first, data: c.bytes.subarray(start, start + count), end };
}

function sub(c: Cursor, data: Uint8Array): Cursor {
  return { bytes: data, view: new DataView(data.buffer, data.byteOffset, data.byteLength), little: c.little, source: c.source };
}

function readInts(c: Cursor, el: Element, what: string): number[] {
  const size = ELEMENT_BYTES[el.type];
  if (el.type !== MI.INT32 && el.type !== MI.UINT32 && el.type !== MI.INT8 && el.type !== MI.UINT8 && el.type !== MI.INT16 && el.type !== MI.UINT16) {
    throw new DataError(c.source, `${what}: expected an integer element, found type ${el.type}`);
  }
  if (el.data.length % size !== 0) throw new DataError(c.source, `${what}: ${el.data.length} bytes is not a whole number of values`);
  return Array.from(convertNumeric(sub(c, el.data), el.type, el.data.length / size));
}

/** Converts `count` values of storage type `type` to float64 (uint8 stays bytes). */
function convertNumeric(c: Cursor, type: number, count: number): Uint8Array | Float64Array {
  // A view, not a copy: SVHN's X is 225 MB and the inflated buffer holds little else.
  if (type === MI.UINT8) return new Uint8Array(c.bytes.buffer, c.bytes.byteOffset, count);
  const out = new Float64Array(count);
  const v = c.view, le = c.little;
  const size = ELEMENT_BYTES[type];
  for (let i = 0, at = 0; i < count; i++, at += size) {
    switch (type) {
      case MI.INT8: out[i] = v.getInt8(at); break;
      case MI.INT16: out[i] = v.getInt16(at, le); break;
      case MI.UINT16: out[i] = v.getUint16(at, le); break;
      case MI.INT32: out[i] = v.getInt32(at, le); break;
      case MI.UINT32: out[i] = v.getUint32(at, le); break;
      case MI.SINGLE: out[i] = v.getFloat32(at, le); break;
      case MI.DOUBLE: out[i] = v.getFloat64(at, le); break;
      case MI.INT64: out[i] = Number(v.getBigInt64(at, le)); break;
      case MI.UINT64: out[i] = Number(v.getBigUint64(at, le)); break;
      default: throw new DataError(c.source, `storage type ${type} is not numeric`);
    }
  }
  return out;
}

function parseMatrix(c: Cursor, body: Uint8Array): MatVariable | undefined {
  if (body.length === 0) return undefined;
  const m = sub(c, body);
  const flagsEl = readElement(m, 0, 'array flags');
  if (flagsEl.type !== MI.UINT32 || flagsEl.data.length < 8) throw new DataError(c.source, 'corrupt miMATRIX: the first sub-element must be 8 bytes of uint32 array flags');
  const flags = m.view.getUint32(flagsEl.data.byteOffset - body.byteOffset, m.little);
  const matlabClass = flags & 0xff;
  const complex = (flags & 0x0800) !== 0;
  const dimsEl = readElement(m, flagsEl.end, 'dimensions');
  const dims = readInts(m, dimsEl, 'dimensions');
  if (dims.length < 2 || dims.some((d) => d < 0)) throw new DataError(c.source, `corrupt miMATRIX: dimensions [${dims.join(', ')}] (expected two or more non-negative sizes)`);
  const nameEl = readElement(m, dimsEl.end, 'array name');
  if (nameEl.type !== MI.INT8 && nameEl.type !== MI.UINT8 && nameEl.type !== MI.UTF8) throw new DataError(c.source, `corrupt miMATRIX: array name has type ${nameEl.type}, expected miINT8`);
  const name = Buffer.from(nameEl.data).toString('latin1');
  if (!NUMERIC_CLASSES.has(matlabClass)) return { name, matlabClass, dims, complex };
  const realEl = readElement(m, nameEl.end, `real part of '${name}'`);
  const size = ELEMENT_BYTES[realEl.type];
  if (!size || realEl.type === MI.UTF8) throw new DataError(c.source, `real part of '${name}' has storage type ${realEl.type}, expected a numeric type`);
  const count = dims.reduce((a, b) => a * b, 1);
  if (realEl.data.length !== count * size) {
    throw new DataError(c.source, `real part of '${name}' holds ${realEl.data.length / size} values, its dimensions ${dims.join('x')} need ${count}`);
  }
  return { name, matlabClass, dims, complex, data: convertNumeric(sub(m, realEl.data), realEl.type, count) };
}

function parseElements(c: Cursor, start: number, depth: number, out: MatVariable[]): void {
  if (depth > MAX_DEPTH) throw new DataError(c.source, `compressed elements nested more than ${MAX_DEPTH} deep`);
  let at = start;
  while (at < c.bytes.length) {
    // MATLAB may leave a few bytes of padding at the end of a stream.
    if (c.bytes.length - at < 8 && c.bytes.subarray(at).every((b) => b === 0)) return;
    const el = readElement(c, at, 'data element');
    if (el.type === MI.COMPRESSED) {
      let inflated: Buffer;
      try {
        inflated = zlib.inflateSync(el.data);
      } catch (err) {
        throw new DataError(c.source, `miCOMPRESSED element at offset ${at} does not inflate (${describeError(err)})`);
      }
      parseElements(sub(c, inflated), 0, depth + 1, out);
    } else if (el.type === MI.MATRIX) {
      const variable = parseMatrix(c, el.data);
      if (variable) out.push(variable);
    }
    if (el.end <= at) throw new DataError(c.source, `corrupt element at offset ${at}`);
    at = el.end;
  }
}

export function parseMat(bytes: Uint8Array, source: string): MatVariable[] {
  if (bytes.length < 128) throw new DataError(source, `not a MAT-file: ${bytes.length} bytes, a level-5 MAT-file starts with a 128-byte header`);
  const indicator = String.fromCharCode(bytes[126], bytes[127]);
  if (indicator !== 'IM' && indicator !== 'MI') {
    throw new DataError(source, `not a level-5 MAT-file: endian indicator is ${JSON.stringify(indicator)}, expected "IM" or "MI"`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const cursor: Cursor = { bytes, view, little: indicator === 'IM', source };
  const version = view.getUint16(124, cursor.little);
  if (version !== 0x0100) {
    const hint = version === 0x0200 ? ' (a v7.3 HDF5 MAT-file: save it with -v7 instead)' : '';
    throw new DataError(source, `MAT-file version 0x${version.toString(16)} is not supported, expected 0x0100 (level 5)${hint}`);
  }
  const variables: MatVariable[] = [];
  parseElements(cursor, 128, 0, variables);
  return variables;
}

export function readMatFile(file: string): MatVariable[] {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new DataError(file, `cannot read the MAT-file (${describeError(err)})`);
  }
  return parseMat(bytes, file);
}
