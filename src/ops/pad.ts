/** Padding and nearest upsampling: pure layout ops, nothing saved for the backward. */
import { Tensor, needsGrad, record, shapeString } from '../tensor';
import { expectNCHW } from './check';

/** [left, right, top, bottom] like torch.nn.ReflectionPad2d, or one number for all sides. */
export type Padding2d = number | [number, number, number, number];

function sides(padding: Padding2d): [number, number, number, number] {
  const p = typeof padding === 'number' ? [padding, padding, padding, padding] : padding;
  if (p.length !== 4 || !p.every((v) => Number.isInteger(v) && v >= 0)) {
    throw new Error(`padding must be a non-negative integer or [left, right, top, bottom], got ${JSON.stringify(padding)}`);
  }
  return p as [number, number, number, number];
}

function pad2d(op: 'reflectionPad2d' | 'zeroPad2d', x: Tensor, padding: Padding2d): Tensor {
  const [n, c, h, w] = expectNCHW(op, x);
  const [left, right, top, bottom] = sides(padding);
  if (op === 'reflectionPad2d' && (left >= w || right >= w || top >= h || bottom >= h)) {
    throw new Error(`reflectionPad2d: padding ${JSON.stringify(padding)} must be smaller than the input ${shapeString(x.shape)} in each dimension`);
  }
  const y = Tensor.empty([n, c, h + top + bottom, w + left + right], x.backend);
  const b = x.binding;
  const forward = op === 'reflectionPad2d' ? b.reflectionPadForward : b.zeroPadForward;
  forward.call(b, x.buf, y.buf, n * c, h, w, top, bottom, left, right);
  if (!needsGrad(x)) return y;
  return record(op, y, [x], [], (gy) => {
    const dx = Tensor.empty(x.shape, x.backend);
    const bwd = op === 'reflectionPad2d' ? b.reflectionPadBackward : b.zeroPadBackward;
    bwd.call(b, gy.buf, dx.buf, n * c, h, w, top, bottom, left, right);
    return [dx];
  });
}

export function reflectionPad2d(x: Tensor, padding: Padding2d): Tensor {
  return pad2d('reflectionPad2d', x, padding);
}

export function zeroPad2d(x: Tensor, padding: Padding2d): Tensor {
  return pad2d('zeroPad2d', x, padding);
}

/** nn.Upsample(scale_factor=2, mode='nearest'). */
export function upsampleNearest2x(x: Tensor): Tensor {
  const [n, c, h, w] = expectNCHW('upsampleNearest2x', x);
  const y = Tensor.empty([n, c, 2 * h, 2 * w], x.backend);
  x.binding.upsampleNearest2xForward(x.buf, y.buf, n * c, h, w);
  if (!needsGrad(x)) return y;
  return record('upsampleNearest2x', y, [x], [], (gy) => {
    const dx = Tensor.empty(x.shape, x.backend);
    x.binding.upsampleNearest2xBackward(gy.buf, dx.buf, n * c, h, w);
    return [dx];
  });
}
