/**
 * The FID Inception test weights: make.py's counter-hash values (test/fixtures/fid-inception),
 * recomputed in JavaScript, and a writer of torch.save's zip format so CLI tests can hand the
 * converter a whole pytorch-fid-shaped .pth without committing 95 MB.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as yazl from 'yazl';
import type { PthTensor } from '../../src/eval/pth';

export const FID_FIXTURES = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'fid-inception');

/** make.py's uniform(): the murmur3 finaliser of (i * 2654435761 + seed * 0x9E3779B9) mod 2^32, over 2^32. */
export function hashedUniform(seed: number, n: number): Float64Array {
  const out = new Float64Array(n);
  const s = Math.imul(seed, 0x9e3779b9) >>> 0;
  for (let i = 0; i < n; i++) {
    let x = (Math.imul(i, 2654435761 | 0) + s) >>> 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b) >>> 0;
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35) >>> 0;
    x ^= x >>> 16;
    out[i] = (x >>> 0) / 4294967296;
  }
  return out;
}

/** make.py's hashed_value(): the fixture's weights, recomputed. */
export function hashedStateDict(): Map<string, PthTensor> {
  const names = JSON.parse(fs.readFileSync(path.join(FID_FIXTURES, 'names.json'), 'utf8')) as { name: string; shape: number[]; seed: number }[];
  const tensors = new Map<string, PthTensor>();
  for (const { name, shape, seed } of names) {
    const n = shape.reduce((a, b) => a * b, 1);
    const u = hashedUniform(seed, n);
    const data = new Float32Array(n);
    if (name.endsWith('conv.weight') || name === 'fc.weight') {
      const scale = Math.sqrt(6 / shape.slice(1).reduce((a, b) => a * b, 1));
      for (let i = 0; i < n; i++) data[i] = (2 * u[i] - 1) * scale;
    } else if (name.endsWith('bn.weight') || name.endsWith('running_var')) {
      for (let i = 0; i < n; i++) data[i] = 0.5 + u[i];
    } else {
      for (let i = 0; i < n; i++) data[i] = (2 * u[i] - 1) * 0.1;
    }
    tensors.set(name, { shape, data, dtype: 'float32' });
  }
  return tensors;
}

/** A pickle (protocol 2) of an OrderedDict of float32 tensors, as torch.save writes a state dict. */
function statePickle(tensors: Map<string, PthTensor>): Buffer {
  const parts: Buffer[] = [];
  const op = (...bytes: number[]) => parts.push(Buffer.from(bytes));
  const text = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    parts.push(Buffer.from([0x58]), len, b); // BINUNICODE
  };
  const int = (v: number) => {
    const b = Buffer.alloc(5);
    b[0] = 0x4a; // BININT
    b.writeInt32LE(v, 1);
    parts.push(b);
  };
  const global = (module: string, name: string) => parts.push(Buffer.from(`c${module}\n${name}\n`, 'latin1'));
  const tuple = (values: number[]) => {
    op(0x28);
    values.forEach(int);
    op(0x74);
  };
  op(0x80, 2);
  global('collections', 'OrderedDict');
  op(0x29, 0x52, 0x28); // EMPTY_TUPLE REDUCE MARK
  let key = 0;
  for (const [name, t] of tensors) {
    text(name);
    global('torch._utils', '_rebuild_tensor_v2');
    op(0x28, 0x28); // MARK (args) MARK (persistent id)
    text('storage');
    global('torch', 'FloatStorage');
    text(String(key++));
    text('cpu');
    int(t.data.length);
    op(0x74, 0x51); // TUPLE BINPERSID
    int(0);
    tuple(t.shape);
    tuple(t.shape.map((_, d) => t.shape.slice(d + 1).reduce((a, b) => a * b, 1)));
    op(0x89); // NEWFALSE (requires_grad)
    global('collections', 'OrderedDict');
    op(0x29, 0x52, 0x74, 0x52); // EMPTY_TUPLE REDUCE (backward hooks) TUPLE REDUCE
  }
  op(0x75, 0x2e); // SETITEMS STOP
  return Buffer.concat(parts);
}

/** Writes `tensors` as torch.save's zip format (archive/data.pkl + archive/data/<key>). */
export async function writeZipPth(file: string, tensors: Map<string, PthTensor>): Promise<void> {
  const zip = new yazl.ZipFile();
  zip.addBuffer(statePickle(tensors), 'archive/data.pkl', { compress: false });
  let key = 0;
  for (const t of tensors.values()) zip.addBuffer(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength), `archive/data/${key++}`, { compress: false });
  zip.addBuffer(Buffer.from('3\n'), 'archive/version', { compress: false });
  zip.end();
  await new Promise<void>((resolve, reject) => {
    zip.outputStream.pipe(fs.createWriteStream(file)).on('finish', resolve).on('error', reject);
  });
}
