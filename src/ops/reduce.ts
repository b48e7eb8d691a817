/** Full reductions to a one-element device scalar. */
import { Tensor, needsGrad, record } from '../tensor';

export function sum(x: Tensor): Tensor {
  const y = Tensor.empty([1], x.backend);
  x.binding.sum(x.buf, y.buf, x.size);
  if (!needsGrad(x)) return y;
  return record('sum', y, [x], [], (gy) => {
    const dx = Tensor.empty(x.shape, x.backend);
    x.binding.sumBackward(gy.buf, dx.buf, dx.size);
    return [dx];
  });
}

export function mean(x: Tensor): Tensor {
  if (x.size === 0) throw new Error('mean: the input is empty');
  const y = Tensor.empty([1], x.backend);
  x.binding.mean(x.buf, y.buf, x.size);
  if (!needsGrad(x)) return y;
  return record('mean', y, [x], [], (gy) => {
    const dx = Tensor.empty(x.shape, x.backend);
    x.binding.meanBackward(gy.buf, dx.buf, dx.size);
    return [dx];
  });
}
