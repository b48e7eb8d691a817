/** Max pooling and global average pooling. */
import { Tensor, needsGrad, record, shapeString } from '../tensor';
import { expectNCHW } from './check';

export function maxPool2d(x: Tensor, kernel: number, stride = kernel, padding = 0): Tensor {
  const [n, c, h, w] = expectNCHW('maxPool2d', x);
  if (padding * 2 > kernel) throw new Error(`maxPool2d: padding ${padding} must be at most half the kernel ${kernel}`);
  const hOut = Math.floor((h + 2 * padding - kernel) / stride) + 1;
  const wOut = Math.floor((w + 2 * padding - kernel) / stride) + 1;
  if (hOut <= 0 || wOut <= 0) throw new Error(`maxPool2d: input ${shapeString(x.shape)} is smaller than kernel ${kernel}`);
  const y = Tensor.empty([n, c, hOut, wOut], x.backend);
  const argmax = Tensor.empty(y.shape, x.backend);
  x.binding.maxPool2dForward(x.buf, y.buf, argmax.buf, n * c, h, w, kernel, stride, padding, hOut, wOut);
  if (!needsGrad(x)) {
    argmax.dispose();
    return y;
  }
  return record('maxPool2d', y, [x], [], (gy) => {
    const dx = Tensor.empty(x.shape, x.backend);
    x.binding.maxPool2dBackward(gy.buf, argmax.buf, dx.buf, n * c, h, w, hOut, wOut);
    return [dx];
  }, [argmax]);
}

/** [N, C, H, W] -> [N, C] mean over each plane. */
export function globalAvgPool(x: Tensor): Tensor {
  const [n, c, h, w] = expectNCHW('globalAvgPool', x);
  const y = Tensor.empty([n, c], x.backend);
  x.binding.globalAvgPoolForward(x.buf, y.buf, n * c, h * w);
  if (!needsGrad(x)) return y;
  return record('globalAvgPool', y, [x], [], (gy) => {
    const dx = Tensor.empty(x.shape, x.backend);
    x.binding.globalAvgPoolBackward(gy.buf, dx.buf, n * c, h * w);
    return [dx];
  });
}
