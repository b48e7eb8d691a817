/** Activations and dropout. relu's backward reads its output (y > 0 exactly where x > 0), so
 * the input of a relu need not stay alive for the backward. */
import { Tensor, needsGrad, record } from '../tensor';
import type { Rng } from '../util/rng';

export function relu(x: Tensor): Tensor {
  const y = Tensor.empty(x.shape, x.backend);
  x.binding.reluForward(x.buf, y.buf, y.size);
  if (!needsGrad(x)) return y;
  return record('relu', y, [x], [y], (gy) => {
    const dx = Tensor.empty(x.shape, x.backend);
    x.binding.reluBackward(y.buf, gy.buf, dx.buf, dx.size);
    return [dx];
  });
}

export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  const y = Tensor.empty(x.shape, x.backend);
  x.binding.leakyReluForward(x.buf, slope, y.buf, y.size);
  if (!needsGrad(x)) return y;
  // For a positive slope, sign(y) == sign(x), so the output serves the backward like relu's.
  const signSource = slope > 0 ? y : x;
  return record('leakyRelu', y, [x], [signSource], (gy) => {
    const dx = Tensor.empty(x.shape, x.backend);
    x.binding.leakyReluBackward(signSource.buf, slope, gy.buf, dx.buf, dx.size);
    return [dx];
  });
}

export function tanh(x: Tensor): Tensor {
  const y = Tensor.empty(x.shape, x.backend);
  x.binding.tanhForward(x.buf, y.buf, y.size);
  if (!needsGrad(x)) return y;
  return record('tanh', y, [x], [y], (gy) => {
    const dx = Tensor.empty(x.shape, x.backend);
    x.binding.tanhBackward(y.buf, gy.buf, dx.buf, dx.size);
    return [dx];
  });
}

export function sigmoid(x: Tensor): Tensor {
  const y = Tensor.empty(x.shape, x.backend);
  x.binding.sigmoidForward(x.buf, y.buf, y.size);
  if (!needsGrad(x)) return y;
  return record('sigmoid', y, [x], [y], (gy) => {
    const dx = Tensor.empty(x.shape, x.backend);
    x.binding.sigmoidBackward(y.buf, gy.buf, dx.buf, dx.size);
    return [dx];
  });
}

/**
 * Inverted dropout (torch.nn.functional.dropout in training mode). The mask comes from the
 * native counter-based RNG seeded from `rng`, so runs are reproducible on every backend.
 */
export function dropout(x: Tensor, p: number, rng: Rng): Tensor {
  if (!(p >= 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  const y = Tensor.empty(x.shape, x.backend);
  const mask = Tensor.empty(x.shape, x.backend);
  x.binding.dropoutForward(x.buf, p, rng.seed53(), mask.buf, y.buf, y.size);
  if (!needsGrad(x)) {
    mask.dispose();
    return y;
  }
  return record('dropout', y, [x], [], (gy) => {
    const dx = Tensor.empty(x.shape, x.backend);
    x.binding.mul(gy.buf, mask.buf, dx.buf, dx.size);
    return [dx];
  }, [mask]);
}
