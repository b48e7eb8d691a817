/** Elementwise arithmetic on same-shape tensors, scaling, channel concat and reshape. */
import { Tensor, needsGrad, record, shapeString } from '../tensor';
import { expectSameShape, expectNCHW } from './check';

export function add(a: Tensor, b: Tensor): Tensor {
  expectSameShape('add', a, b);
  const y = Tensor.empty(a.shape, a.backend);
  a.binding.add(a.buf, b.buf, y.buf, y.size);
  if (!needsGrad(a, b)) return y;
  return record('add', y, [a, b], [], (gy) => [gy, gy]);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  expectSameShape('sub', a, b);
  const y = Tensor.empty(a.shape, a.backend);
  a.binding.sub(a.buf, b.buf, y.buf, y.size);
  if (!needsGrad(a, b)) return y;
  return record('sub', y, [a, b], [], (gy) => [gy, b.requiresGrad ? affineRaw(gy, -1, 0) : null]);
}

export function mul(a: Tensor, b: Tensor): Tensor {
  expectSameShape('mul', a, b);
  const y = Tensor.empty(a.shape, a.backend);
  a.binding.mul(a.buf, b.buf, y.buf, y.size);
  if (!needsGrad(a, b)) return y;
  const saved = [a.requiresGrad ? b : null, b.requiresGrad ? a : null].filter((t): t is Tensor => t !== null);
  return record('mul', y, [a, b], saved, (gy) => [
    a.requiresGrad ? mulRaw(gy, b) : null,
    b.requiresGrad ? mulRaw(gy, a) : null,
  ]);
}

function affineRaw(x: Tensor, alpha: number, beta: number): Tensor {
  const y = Tensor.empty(x.shape, x.backend);
  x.binding.affine(x.buf, alpha, beta, y.buf, y.size);
  return y;
}

function mulRaw(a: Tensor, b: Tensor): Tensor {
  const y = Tensor.empty(a.shape, a.backend);
  a.binding.mul(a.buf, b.buf, y.buf, y.size);
  return y;
}

/** y = alpha * x + beta. */
export function affine(x: Tensor, alpha: number, beta: number): Tensor {
  if (!Number.isFinite(alpha) || !Number.isFinite(beta)) throw new Error(`affine: alpha and beta must be finite, got ${alpha}, ${beta}`);
  const y = affineRaw(x, alpha, beta);
  if (!needsGrad(x)) return y;
  return record('affine', y, [x], [], (gy) => [alpha === 1 ? gy : affineRaw(gy, alpha, 0)]);
}

/** y = alpha * x. */
export function scale(x: Tensor, alpha: number): Tensor {
  return affine(x, alpha, 0);
}

/** Sums tensors of one shape (losses): one kernel per extra term. */
export function addN(terms: Tensor[]): Tensor {
  if (terms.length === 0) throw new Error('addN: expected at least one tensor');
  let total = terms[0];
  for (let i = 1; i < terms.length; i++) total = add(total, terms[i]);
  return total;
}

/** torch.cat([a, b], dim=1) for NCHW tensors with the same N, H, W. */
export function concatChannels(a: Tensor, b: Tensor): Tensor {
  const [n, ca, h, w] = expectNCHW('concatChannels', a, 'a');
  const [nb, cb, hb, wb] = expectNCHW('concatChannels', b, 'b');
  if (n !== nb || h !== hb || w !== wb) {
    throw new Error(`concatChannels: a ${shapeString(a.shape)} and b ${shapeString(b.shape)} must agree in N, H and W`);
  }
  const y = Tensor.empty([n, ca + cb, h, w], a.backend);
  a.binding.concatChannels(a.buf, b.buf, y.buf, n, ca, cb, h * w);
  if (!needsGrad(a, b)) return y;
  return record('concatChannels', y, [a, b], [], (gy) => {
    const da = Tensor.empty(a.shape, a.backend);
    const db = Tensor.empty(b.shape, b.backend);
    a.binding.splitChannels(gy.buf, da.buf, db.buf, n, ca, cb, h * w);
    return [a.requiresGrad ? da : (da.dispose(), null), b.requiresGrad ? db : (db.dispose(), null)];
  });
}

/** torch.cat([a, b], dim=0): a and b agree in every dimension but the first. */
export function concatBatch(a: Tensor, b: Tensor): Tensor {
  if (a.shape.length < 1 || a.shape.length !== b.shape.length || !a.shape.slice(1).every((d, i) => d === b.shape[i + 1])) {
    throw new Error(`concatBatch: a ${shapeString(a.shape)} and b ${shapeString(b.shape)} must agree in every dimension but the first`);
  }
  const y = Tensor.empty([a.shape[0] + b.shape[0], ...a.shape.slice(1)], a.backend);
  if (a.size > 0) a.binding.copy(y.buf, 0, a.buf, 0, a.size);
  if (b.size > 0) a.binding.copy(y.buf, a.size, b.buf, 0, b.size);
  if (!needsGrad(a, b)) return y;
  return record('concatBatch', y, [a, b], [], (gy) => {
    const da = a.requiresGrad ? Tensor.empty(a.shape, a.backend) : null;
    const db = b.requiresGrad ? Tensor.empty(b.shape, b.backend) : null;
    if (da && a.size > 0) a.binding.copy(da.buf, 0, gy.buf, 0, a.size);
    if (db && b.size > 0) a.binding.copy(db.buf, 0, gy.buf, a.size, b.size);
    return [da, db];
  });
}

/** x[start : start + count] along the first dimension (a copy). */
export function sliceBatch(x: Tensor, start: number, count: number): Tensor {
  const n = x.shape[0];
  if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > n) {
    throw new Error(`sliceBatch: [${start}, ${start + count}) is not inside the first dimension of ${shapeString(x.shape)}`);
  }
  const per = n > 0 ? x.size / n : 0;
  const y = Tensor.empty([count, ...x.shape.slice(1)], x.backend);
  if (y.size > 0) x.binding.copy(y.buf, 0, x.buf, start * per, y.size);
  if (!needsGrad(x)) return y;
  return record('sliceBatch', y, [x], [], (gy) => {
    const dx = Tensor.zeros(x.shape, x.backend);
    if (gy.size > 0) x.binding.copy(dx.buf, start * per, gy.buf, 0, gy.size);
    return [dx];
  });
}

/** A copy of x with another shape of the same size (torch's reshape; -1 infers one dim). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = inferShape(x, shape);
  const y = Tensor.empty(target, x.backend);
  y.copyFrom(x);
  if (!needsGrad(x)) return y;
  return record('reshape', y, [x], [], (gy) => {
    const dx = Tensor.empty(x.shape, x.backend);
    dx.copyFrom(gy);
    return [dx];
  });
}

/** [N, ...] -> [N, prod(...)]. */
export function flatten(x: Tensor): Tensor {
  return reshape(x, [x.shape[0], -1]);
}

function inferShape(x: Tensor, shape: readonly number[]): number[] {
  const out = shape.slice();
  const unknown = out.indexOf(-1);
  const known = out.reduce((p, d, i) => (i === unknown ? p : p * d), 1);
  if (unknown >= 0) {
    if (out.indexOf(-1, unknown + 1) >= 0) throw new Error(`reshape: at most one -1 in ${shapeString(shape)}`);
    out[unknown] = known > 0 ? x.size / known : 0;
  }
  if (!out.every((d) => Number.isInteger(d) && d >= 0) || out.reduce((p, d) => p * d, 1) !== x.size) {
    throw new Error(`reshape: cannot view ${shapeString(x.shape)} (${x.size} values) as ${shapeString(shape)}`);
  }
  return out;
}
