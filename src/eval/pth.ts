/**
 * Reads a PyTorch state dict saved with torch.save (a .pth file) without Python: the zip
 * archive of PyTorch >= 1.6 (data.pkl + one file per storage) and the legacy stream of older
 * files (magic, protocol, sys info, the pickle, the storage keys, then each storage as an int64
 * element count and its bytes). Only what a state dict holds is understood: dicts, tuples,
 * lists, numbers, strings and tensors rebuilt by torch._utils (any stride and storage offset);
 * any other Python object is refused by name. Floating-point tensors come out as Float32Array.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as yauzl from 'yauzl';

export interface PthTensor {
  shape: number[];
  /** row-major values, converted to float32 (integer tensors too) */
  data: Float32Array;
  /** the storage's element type: float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool */
  dtype: string;
}

export class PthError extends Error {
  constructor(file: string, what: string) {
    super(`cgtrain: ${file} is not a PyTorch state dict we can read: ${what}`);
    this.name = 'PthError';
  }
}

const STORAGE_TYPES: Record<string, { dtype: string; bytes: number }> = {
  FloatStorage: { dtype: 'float32', bytes: 4 },
  DoubleStorage: { dtype: 'float64', bytes: 8 },
  HalfStorage: { dtype: 'float16', bytes: 2 },
  BFloat16Storage: { dtype: 'bfloat16', bytes: 2 },
  LongStorage: { dtype: 'int64', bytes: 8 },
  IntStorage: { dtype: 'int32', bytes: 4 },
  ShortStorage: { dtype: 'int16', bytes: 2 },
  CharStorage: { dtype: 'int8', bytes: 1 },
  ByteStorage: { dtype: 'uint8', bytes: 1 },
  BoolStorage: { dtype: 'bool', bytes: 1 },
};

/** A storage named in the pickle; its bytes arrive from the archive or the stream afterwards. */
interface StorageRef {
  kind: 'storage';
  key: string;
  dtype: string;
  bytes: number;
  numel: number;
  /** a legacy view: its first element in the root storage `key` */
  viewOffset?: number;
}

interface TensorRef {
  kind: 'tensor';
  storage: StorageRef;
  offset: number;
  shape: number[];
  stride: number[];
}

interface GlobalRef {
  kind: 'global';
  name: string;
}

const MARK = Symbol('mark');
type Value = unknown;

/** A pickle machine for protocols 2-5, limited to the objects of a state dict. */
function unpickle(buf: Buffer, start: number, where: string, persistentLoad: (id: Value) => Value): { value: Value; end: number } {
  const stack: Value[] = [];
  const memo = new Map<number, Value>();
  let pos = start;
  const fail = (what: string): never => {
    throw new Error(`${where}: ${what} at byte ${pos}`);
  };
  const need = (n: number): void => {
    if (pos + n > buf.length) fail('the pickle ends early');
  };
  const u8 = (): number => (need(1), buf[pos++]);
  const u16 = (): number => (need(2), (pos += 2), buf.readUInt16LE(pos - 2));
  const u32 = (): number => (need(4), (pos += 4), buf.readUInt32LE(pos - 4));
  const i32 = (): number => (need(4), (pos += 4), buf.readInt32LE(pos - 4));
  const text = (n: number): string => (need(n), (pos += n), buf.toString('utf8', pos - n, pos));
  const line = (): string => {
    const end = buf.indexOf(0x0a, pos);
    if (end < 0) fail('a text argument has no end of line');
    const s = buf.toString('latin1', pos, end);
    pos = end + 1;
    return s;
  };
  const popMark = (): Value[] => {
    let i = stack.length - 1;
    while (i >= 0 && stack[i] !== MARK) i--;
    if (i < 0) fail('no MARK on the stack');
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const top = (): Value => (stack.length ? stack[stack.length - 1] : fail('the stack is empty'));
  const pop = (): Value => (stack.length ? stack.pop() : fail('the stack is empty'));
  const littleInt = (n: number): number => {
    need(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(buf[pos + i]);
    if (n > 0 && buf[pos + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    pos += n;
    return Number(v);
  };
  const setItems = (target: Value, items: Value[]): void => {
    if (!(target instanceof Map)) fail('SETITEMS on something that is not a dict');
    for (let i = 0; i + 1 < items.length; i += 2) (target as Map<Value, Value>).set(items[i], items[i + 1]);
  };
  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: need(8); pos += 8; break; // FRAME
      case 0x2e: return { value: pop(), end: pos }; // STOP
      case 0x28: stack.push(MARK); break;
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push([]); break; // EMPTY_TUPLE (tuples are arrays)
      case 0x4e: stack.push(null); break; // NONE
      case 0x88: stack.push(true); break;
      case 0x89: stack.push(false); break;
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x8a: stack.push(littleInt(u8())); break; // LONG1
      case 0x8b: stack.push(littleInt(u32())); break; // LONG4
      case 0x47: need(8); stack.push(buf.readDoubleBE(pos)); pos += 8; break; // BINFLOAT
      case 0x58: stack.push(text(u32())); break; // BINUNICODE
      case 0x8c: stack.push(text(u8())); break; // SHORT_BINUNICODE
      case 0x54: stack.push(text(u32())); break; // BINSTRING
      case 0x55: stack.push(text(u8())); break; // SHORT_BINSTRING
      case 0x42: { const n = u32(); need(n); stack.push(buf.subarray(pos, pos + n)); pos += n; break; } // BINBYTES
      case 0x43: { const n = u8(); need(n); stack.push(buf.subarray(pos, pos + n)); pos += n; break; } // SHORT_BINBYTES
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const key = op === 0x68 ? u8() : u32();
        if (!memo.has(key)) fail(`memo ${key} is not set`);
        stack.push(memo.get(key));
        break;
      }
      case 0x74: stack.push(popMark()); break; // TUPLE
      case 0x85: stack.push([pop()]); break; // TUPLE1
      case 0x86: { const b = pop(); stack.push([pop(), b]); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); stack.push([pop(), b, c]); break; } // TUPLE3
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x61: { const v = pop(); (top() as Value[]).push(v); break; } // APPEND
      case 0x65: { const items = popMark(); (top() as Value[]).push(...items); break; } // APPENDS
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x63: { const module = line(); stack.push({ kind: 'global', name: `${module}.${line()}` } satisfies GlobalRef); break; } // GLOBAL
      case 0x93: { const name = pop(); const module = pop(); stack.push({ kind: 'global', name: `${String(module)}.${String(name)}` } satisfies GlobalRef); break; }
      case 0x51: stack.push(persistentLoad(pop())); break; // BINPERSID
      case 0x52: case 0x81: { // REDUCE, NEWOBJ
        const args = pop() as Value[];
        const callable = pop() as GlobalRef;
        stack.push(callGlobal(callable, args, fail));
        break;
      }
      case 0x62: pop(); break; // BUILD: a state dict's _metadata and the like, not needed
      default:
        fail(`pickle opcode 0x${op.toString(16)} is not one a state dict uses`);
    }
  }
}

function callGlobal(callable: GlobalRef, args: Value[], fail: (what: string) => never): Value {
  if (!callable || callable.kind !== 'global') fail('REDUCE of something that is not a class or function');
  switch (callable.name) {
    case 'collections.OrderedDict':
    case 'builtins.dict':
      return new Map();
    case 'torch._utils._rebuild_tensor':
    case 'torch._utils._rebuild_tensor_v2': {
      const [storage, offset, shape, stride] = args as [StorageRef, number, number[], number[]];
      if (!storage || storage.kind !== 'storage') fail('a tensor without a storage');
      return { kind: 'tensor', storage, offset, shape: [...shape], stride: [...stride] } satisfies TensorRef;
    }
    case 'torch._utils._rebuild_parameter':
    case 'torch._utils._rebuild_parameter_with_state':
      return args[0];
    default:
      return fail(`it holds a Python object of type ${callable.name}`);
  }
}

function storageRef(id: Value, legacy: boolean, fail: (what: string) => never): StorageRef {
  const t = id as Value[];
  if (!Array.isArray(t) || t[0] !== 'storage') fail(`an unknown persistent object ${JSON.stringify(t?.[0])}`);
  const type = t[1] as GlobalRef;
  const short = type?.name?.replace(/^torch\.(cuda\.)?/, '');
  const info = STORAGE_TYPES[short];
  if (!info) fail(`a storage of type ${type?.name} (expected one of torch.${Object.keys(STORAGE_TYPES).join(', torch.')})`);
  const ref: StorageRef = { kind: 'storage', key: String(t[2]), dtype: info.dtype, bytes: info.bytes, numel: Number(t[4]) };
  // legacy views (view key, element offset, size) of root storage t[2]
  const view = legacy ? (t[5] as Value[] | null) : null;
  if (view) ref.viewOffset = Number(view[1]);
  return ref;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** The storage's elements as float32 (bytes: its raw little-endian data). */
function decode(bytes: Buffer, dtype: string, numel: number): Float32Array {
  if (dtype === 'float32' && os.endianness() === 'LE') return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + numel * 4));
  const out = new Float32Array(numel);
  for (let i = 0; i < numel; i++) {
    switch (dtype) {
      case 'float32': out[i] = bytes.readFloatLE(i * 4); break;
      case 'float64': out[i] = bytes.readDoubleLE(i * 8); break;
      case 'float16': out[i] = halfToFloat(bytes.readUInt16LE(i * 2)); break;
      case 'bfloat16': out[i] = new Float32Array(new Uint32Array([bytes.readUInt16LE(i * 2) << 16]).buffer)[0]; break;
      case 'int64': out[i] = Number(bytes.readBigInt64LE(i * 8)); break;
      case 'int32': out[i] = bytes.readInt32LE(i * 4); break;
      case 'int16': out[i] = bytes.readInt16LE(i * 2); break;
      case 'int8': out[i] = bytes.readInt8(i); break;
      default: out[i] = bytes[i]; // uint8, bool
    }
  }
  return out;
}

/** Gathers a tensor's elements from its storage by shape, stride and offset. */
function materialise(t: TensorRef, storage: Float32Array, name: string, fail: (what: string) => never): Float32Array {
  const numel = t.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(numel);
  if (numel === 0) return out;
  let last = t.offset;
  for (let d = 0; d < t.shape.length; d++) last += (t.shape[d] - 1) * t.stride[d];
  if (t.offset < 0 || last >= storage.length) fail(`tensor ${name} reaches past its storage (${storage.length} elements)`);
  const contiguous = t.stride.every((st, d) => t.shape[d] === 1 || st === t.shape.slice(d + 1).reduce((a, b) => a * b, 1));
  if (contiguous) return storage.slice(t.offset, t.offset + numel);
  const index = new Array<number>(t.shape.length).fill(0);
  for (let i = 0; i < numel; i++) {
    let at = t.offset;
    for (let d = 0; d < index.length; d++) at += index[d] * t.stride[d];
    out[i] = storage[at];
    for (let d = index.length - 1; d >= 0; d--) {
      if (++index[d] < t.shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

async function readZipEntries(file: string): Promise<Map<string, Buffer>> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) => yauzl.open(file, { lazyEntries: true, autoClose: true }, (err, z) => (err ? reject(err) : resolve(z!))));
  const entries = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    zip.on('error', reject);
    zip.on('end', resolve);
    zip.on('entry', (entry: yauzl.Entry) => {
      zip.openReadStream(entry, (err, stream) => {
        if (err) return reject(err);
        const chunks: Buffer[] = [];
        stream!.on('data', (c: Buffer) => chunks.push(c));
        stream!.on('error', reject);
        stream!.on('end', () => {
          entries.set(entry.fileName, Buffer.concat(chunks));
          zip.readEntry();
        });
      });
    });
    zip.readEntry();
  });
  return entries;
}

function tensorsOf(dict: Value, storages: (ref: StorageRef) => Float32Array, file: string): Map<string, PthTensor> {
  const fail = (what: string): never => {
    throw new PthError(file, what);
  };
  let root = dict;
  // {'state_dict': {...}} or {'model': {...}}, as training scripts save them
  if (root instanceof Map && ![...root.values()].some((v) => (v as TensorRef)?.kind === 'tensor')) {
    const inner = root.get('state_dict') ?? root.get('model');
    if (inner instanceof Map) root = inner;
  }
  if (!(root instanceof Map)) fail('its top-level object is not a dict');
  const out = new Map<string, PthTensor>();
  for (const [name, value] of root as Map<Value, Value>) {
    const t = value as TensorRef;
    if (typeof name !== 'string' || t?.kind !== 'tensor') continue;
    out.set(name, { shape: t.shape, dtype: t.storage.dtype, data: materialise(t, storages(t.storage), name, fail) });
  }
  if (out.size === 0) fail('it holds no tensors');
  return out;
}

/** torch.serialization's MAGIC_NUMBER, as a JavaScript number (the pickle reader's LONG1 gives one) */
const LEGACY_MAGIC = Number(0x1950a86a20f9469cfc6cn);

/** Reads every tensor of a torch.save'd state dict, by parameter name. */
export async function readPth(file: string): Promise<Map<string, PthTensor>> {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (err) {
    throw new Error(`cgtrain: cannot read ${file}: ${(err as Error).message}`);
  }
  const fail = (what: string): never => {
    throw new PthError(file, what);
  };
  const guard = <T>(f: () => T): T => {
    try {
      return f();
    } catch (err) {
      if (err instanceof PthError) throw err;
      return fail((err as Error).message);
    }
  };
  if (buf.length >= 4 && buf.readUInt32LE(0) === 0x04034b50) {
    const entries = await readZipEntries(file).catch((err: Error) => fail(`a broken zip archive (${err.message})`));
    const pkl = [...entries.keys()].find((n) => /(^|\/)data\.pkl$/.test(n)) ?? fail('the zip archive has no data.pkl');
    const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
    const loaded = new Map<string, Float32Array>();
    const { value } = guard(() => unpickle(entries.get(pkl)!, 0, 'data.pkl', (id) => storageRef(id, false, fail)));
    return guard(() => tensorsOf(value, (ref) => {
      let data = loaded.get(ref.key);
      if (!data) {
        const raw = entries.get(`${prefix}data/${ref.key}`) ?? fail(`storage ${ref.key} is missing from the archive`);
        if (raw.length < ref.numel * ref.bytes) fail(`storage ${ref.key} has ${raw.length} bytes, ${ref.numel * ref.bytes} expected`);
        data = decode(raw, ref.dtype, ref.numel);
        loaded.set(ref.key, data);
      }
      return data;
    }, file));
  }
  // the legacy stream: five pickles, then the storages in the order of the key list
  return guard(() => {
    const refs = new Map<string, StorageRef>();
    let pos = 0;
    const next = (what: string): Value => {
      const r = unpickle(buf, pos, what, (id) => {
        const ref = storageRef(id, true, fail);
        if (!refs.has(ref.key)) refs.set(ref.key, { ...ref, viewOffset: undefined }); // numel is the root's

        return ref;
      });
      pos = r.end;
      return r.value;
    };
    const magic = next('the magic number');
    if (magic !== LEGACY_MAGIC) fail('neither a zip archive nor the legacy format (no magic number)');
    const protocol = next('the protocol version');
    if (protocol !== 1001) fail(`legacy protocol version ${String(protocol)} (expected 1001)`);
    next('the system info');
    const value = next('the state dict');
    const keys = next('the storage keys');
    if (!Array.isArray(keys)) fail('the storage key list is missing');
    const data = new Map<string, Float32Array>();
    for (const key of keys as string[]) {
      const ref = refs.get(String(key)) ?? fail(`storage ${String(key)} is listed but never used`);
      if (pos + 8 > buf.length) fail(`the file ends before storage ${key}`);
      const numel = Number(buf.readBigInt64LE(pos));
      pos += 8;
      const bytes = numel * ref.bytes;
      if (pos + bytes > buf.length) fail(`the file ends inside storage ${key} (${numel} elements)`);
      data.set(ref.key, decode(buf.subarray(pos, pos + bytes), ref.dtype, numel));
      pos += bytes;
    }
    return tensorsOf(value, (ref) => {
      const root = data.get(ref.key) ?? fail(`storage ${ref.key} has no data`);
      return ref.viewOffset === undefined ? root : root.subarray(ref.viewOffset);
    }, file);
  });
}
