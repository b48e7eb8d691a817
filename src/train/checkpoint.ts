/**
 * Checkpoints in the safetensors format (what `safetensors.torch.load_file` reads):
 *   8-byte little-endian header length | JSON header | raw little-endian F32 data.
 * The header maps each tensor name to {dtype, shape, data_offsets} (offsets relative to the
 * data start) and holds `__metadata__`, a string -> string map: the trainer keeps options,
 * epoch, iteration, schedule, RNG and loader state there as JSON text.
 * Files are written to `<file>.tmp`, flushed and renamed, so a crash never leaves half a file
 * under the real name.
 */
import * as fs from 'fs';
import * as os from 'os';
import { writeFileAtomicSync } from '../util/atomic';

export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface CheckpointFile {
  tensors: NamedTensor[];
  metadata: Record<string, string>;
}

export class CheckpointError extends Error {
  constructor(file: string, problem: string) {
    super(`checkpoint ${file}: ${problem}`);
    this.name = 'CheckpointError';
  }
}

/** A header larger than this is corruption, not a checkpoint (safetensors uses the same cap). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

if (os.endianness() !== 'LE') {
  // safetensors data is little-endian and we write Float32Array memory as is.
  throw new Error('cgtrain: checkpoints need a little-endian machine');
}

function elementCount(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

function buildHeader(tensors: NamedTensor[], metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const seen = new Set<string>();
  for (const t of tensors) {
    if (seen.has(t.name) || t.name === '__metadata__') throw new Error(`cgtrain: checkpoint: duplicate or reserved tensor name '${t.name}'`);
    seen.add(t.name);
    if (elementCount(t.shape) !== t.data.length) {
      throw new Error(`cgtrain: checkpoint: tensor '${t.name}' has shape [${t.shape}] but ${t.data.length} values`);
    }
    header[t.name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  // Pad with spaces so the data starts 8-byte aligned, as the safetensors writer does.
  const padded = Math.ceil(json.length / 8) * 8;
  return Buffer.concat([json, Buffer.alloc(padded - json.length, 0x20)]);
}

/** Writes tensors + metadata to `file` atomically (temp file, fsync, rename). */
export function writeCheckpoint(file: string, tensors: NamedTensor[], metadata: Record<string, string>): void {
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new Error(`cgtrain: checkpoint: metadata '${k}' must be a string, got ${typeof v}`);
  }
  const header = buildHeader(tensors, metadata);
  writeFileAtomicSync(file, (fd) => {
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    fs.writeSync(fd, length);
    fs.writeSync(fd, header);
    for (const t of tensors) fs.writeSync(fd, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  });
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

function parseHeader(file: string, bytes: Buffer): { header: Record<string, unknown>; dataStart: number } {
  if (bytes.length < 8) throw new CheckpointError(file, `file is ${bytes.length} bytes, too short for a safetensors header (truncated?)`);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  if (headerLength > MAX_HEADER_BYTES) {
    const onnx = /\.onnx$/i.test(file) ? ': it is an ONNX model (for translate --model); this needs a training checkpoint, runs/<name>/checkpoints/*.safetensors' : '';
    throw new CheckpointError(file, `header length ${headerLength} is implausible: not a safetensors file or corrupt${onnx}`);
  }
  if (8 + headerLength > bytes.length) {
    throw new CheckpointError(file, `header claims ${headerLength} bytes but the file has ${bytes.length - 8} after the length (truncated)`);
  }
  let header: unknown;
  try {
    header = JSON.parse(bytes.toString('utf8', 8, 8 + headerLength));
  } catch (err) {
    throw new CheckpointError(file, `header is not valid JSON (${(err as Error).message}): corrupt file`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new CheckpointError(file, 'header is not a JSON object');
  return { header: header as Record<string, unknown>, dataStart: 8 + headerLength };
}

function checkEntry(file: string, name: string, entry: unknown, dataBytes: number): HeaderEntry {
  const e = entry as HeaderEntry;
  if (typeof e !== 'object' || e === null) throw new CheckpointError(file, `tensor '${name}': header entry is not an object`);
  if (e.dtype !== 'F32') throw new CheckpointError(file, `tensor '${name}': dtype ${String(e.dtype)}, expected F32`);
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new CheckpointError(file, `tensor '${name}': shape ${JSON.stringify(e.shape)} is not a list of non-negative integers`);
  }
  const [begin, end] = Array.isArray(e.data_offsets) ? e.data_offsets : [NaN, NaN];
  if (!Number.isInteger(begin) || !Number.isInteger(end) || begin < 0 || end < begin) {
    throw new CheckpointError(file, `tensor '${name}': bad data_offsets ${JSON.stringify(e.data_offsets)}`);
  }
  if (end - begin !== elementCount(e.shape) * 4) {
    throw new CheckpointError(file, `tensor '${name}': data_offsets span ${end - begin} bytes but shape [${e.shape}] needs ${elementCount(e.shape) * 4}`);
  }
  if (end > dataBytes) throw new CheckpointError(file, `tensor '${name}': data ends at byte ${end} but the file holds ${dataBytes} data bytes (truncated)`);
  return e;
}

function checkMetadata(file: string, raw: unknown): Record<string, string> {
  if (raw === undefined) return {};
  if (typeof raw !== 'object' || raw === null) throw new CheckpointError(file, '__metadata__ is not an object');
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw new CheckpointError(file, `__metadata__.${k} is not a string`);
  }
  return raw as Record<string, string>;
}

/** Reads a safetensors file of F32 tensors; throws CheckpointError naming the problem. */
export function readCheckpoint(file: string): CheckpointFile {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new CheckpointError(file, `cannot read: ${(err as Error).message}`);
  }
  const { header, dataStart } = parseHeader(file, bytes);
  const dataBytes = bytes.length - dataStart;
  const tensors: NamedTensor[] = [];
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const e = checkEntry(file, name, entry, dataBytes);
    const [begin, end] = e.data_offsets;
    // Copy out: the data may not be 4-byte aligned inside the file buffer.
    const data = new Float32Array((end - begin) / 4);
    bytes.copy(Buffer.from(data.buffer), 0, dataStart + begin, dataStart + end);
    tensors.push({ name, shape: e.shape, data });
  }
  return { tensors, metadata: checkMetadata(file, header.__metadata__) };
}

/** Reads only the metadata (cheap: the header is at the front). */
export function readCheckpointMetadata(file: string): Record<string, string> {
  const fd = fs.openSync(file, 'r');
  try {
    const lengthBytes = Buffer.alloc(8);
    const got = fs.readSync(fd, lengthBytes, 0, 8, 0);
    const headerLength = got === 8 ? Number(lengthBytes.readBigUInt64LE(0)) : 0;
    // parseHeader reports a short or implausible length with the right message.
    if (got < 8 || headerLength > MAX_HEADER_BYTES) parseHeader(file, lengthBytes.subarray(0, got));
    const head = Buffer.alloc(8 + headerLength);
    fs.readSync(fd, head, 0, head.length, 0);
    return checkMetadata(file, parseHeader(file, head).header.__metadata__);
  } finally {
    fs.closeSync(fd);
  }
}

/** Parses one JSON-valued metadata entry, naming it when missing or malformed. */
export function metadataJson<T>(file: string, metadata: Record<string, string>, key: string): T {
  const text = metadata[key];
  if (text === undefined) throw new CheckpointError(file, `__metadata__ has no '${key}': not a cgtrain training checkpoint`);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CheckpointError(file, `__metadata__.${key} is not valid JSON`);
  }
}
