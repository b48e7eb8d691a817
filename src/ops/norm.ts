/** Instance and batch normalisation over NCHW (PyTorch semantics, biased variance). */
import { Tensor, needsGrad, record, shapeString } from '../tensor';
import { expectNCHW } from './check';

function checkAffine(op: string, c: number, gamma: Tensor | null, beta: Tensor | null): void {
  if ((gamma === null) !== (beta === null)) throw new Error(`${op}: gamma and beta must both be given or both be null`);
  for (const [name, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (t && (t.shape.length !== 1 || t.shape[0] !== c)) throw new Error(`${op}: ${name} must have shape [${c}], got ${shapeString(t.shape)}`);
  }
}

export function instanceNorm(x: Tensor, gamma: Tensor | null = null, beta: Tensor | null = null, eps = 1e-5): Tensor {
  const [n, c, h, w] = expectNCHW('instanceNorm', x);
  checkAffine('instanceNorm', c, gamma, beta);
  const y = Tensor.empty(x.shape, x.backend);
  const mean = Tensor.empty([n * c], x.backend);
  const rstd = Tensor.empty([n * c], x.backend);
  const b = x.binding;
  b.instanceNormForward(x.buf, gamma?.buf ?? null, beta?.buf ?? null, y.buf, mean.buf, rstd.buf, n, c, h * w, eps);
  if (!needsGrad(x, gamma, beta)) {
    mean.dispose();
    rstd.dispose();
    return y;
  }
  const saved = gamma ? [x, gamma] : [x];
  return record('instanceNorm', y, [x, gamma, beta], saved, (gy) => {
    const dx = Tensor.empty(x.shape, x.backend);
    const wantAffine = !!gamma && (gamma.requiresGrad || beta!.requiresGrad);
    const dgamma = wantAffine ? Tensor.empty(gamma!.shape, x.backend) : null;
    const dbeta = wantAffine ? Tensor.empty(beta!.shape, x.backend) : null;
    b.instanceNormBackward(gy.buf, x.buf, mean.buf, rstd.buf, gamma?.buf ?? null, dx.buf, dgamma?.buf ?? null, dbeta?.buf ?? null, n, c, h * w);
    return [x.requiresGrad ? dx : (dx.dispose(), null), dgamma, dbeta];
  }, [mean, rstd]);
}

/** Whether this tensor's backend has the fused instanceNormRelu kernels (both addons; another build may lack them). */
export function hasInstanceNormRelu(x: Tensor): boolean {
  return typeof x.binding.instanceNormReluForward === 'function' && typeof x.binding.instanceNormReluBackward === 'function';
}

/**
 * relu(instanceNorm(x, gamma, beta)) in one kernel each way: no normalised
 * activation is stored, and the backward recomputes the ReLU's mask from x and the statistics.
 */
export function instanceNormRelu(x: Tensor, gamma: Tensor | null = null, beta: Tensor | null = null, eps = 1e-5): Tensor {
  const [n, c, h, w] = expectNCHW('instanceNormRelu', x);
  checkAffine('instanceNormRelu', c, gamma, beta);
  if (!hasInstanceNormRelu(x)) throw new Error('instanceNormRelu: this backend has no fused kernel (use instanceNorm then relu)');
  const y = Tensor.empty(x.shape, x.backend);
  const mean = Tensor.empty([n * c], x.backend);
  const rstd = Tensor.empty([n * c], x.backend);
  const b = x.binding;
  b.instanceNormReluForward!(x.buf, gamma?.buf ?? null, beta?.buf ?? null, y.buf, mean.buf, rstd.buf, n, c, h * w, eps);
  if (!needsGrad(x, gamma, beta)) {
    mean.dispose();
    rstd.dispose();
    return y;
  }
  const saved = gamma ? [x, gamma, beta!] : [x];
  return record('instanceNormRelu', y, [x, gamma, beta], saved, (gy) => {
    const dx = Tensor.empty(x.shape, x.backend);
    const wantAffine = !!gamma && (gamma.requiresGrad || beta!.requiresGrad);
    const dgamma = wantAffine ? Tensor.empty(gamma!.shape, x.backend) : null;
    const dbeta = wantAffine ? Tensor.empty(beta!.shape, x.backend) : null;
    b.instanceNormReluBackward!(gy.buf, x.buf, mean.buf, rstd.buf, gamma?.buf ?? null, beta?.buf ?? null, dx.buf,
      dgamma?.buf ?? null, dbeta?.buf ?? null, n, c, h * w);
    return [x.requiresGrad ? dx : (dx.dispose(), null), dgamma, dbeta];
  }, [mean, rstd]);
}

export interface BatchNormState {
  runningMean: Tensor | null;
  runningVar: Tensor | null;
  training: boolean;
  momentum?: number;
  eps?: number;
}

export function batchNorm(x: Tensor, gamma: Tensor | null, beta: Tensor | null, state: BatchNormState): Tensor {
  const [n, c, h, w] = expectNCHW('batchNorm', x);
  checkAffine('batchNorm', c, gamma, beta);
  const eps = state.eps ?? 1e-5;
  const b = x.binding;
  const y = Tensor.empty(x.shape, x.backend);
  if (!state.training) {
    if (!state.runningMean || !state.runningVar) throw new Error('batchNorm: eval mode needs running statistics (track_running_stats)');
    b.batchNormForwardEval(x.buf, gamma?.buf ?? null, beta?.buf ?? null, y.buf, state.runningMean.buf, state.runningVar.buf, n, c, h * w, eps);
    if (!needsGrad(x, gamma, beta)) return y;
    return record('batchNormEval', y, [x, gamma, beta], [], () => {
      throw new Error('batchNorm: backward through eval mode (running statistics) is not supported; call train() first');
    });
  }
  if (n * h * w < 2) throw new Error(`batchNorm: training needs more than one value per channel, got input ${shapeString(x.shape)}`);
  const mean = Tensor.empty([c], x.backend);
  const rstd = Tensor.empty([c], x.backend);
  b.batchNormForwardTrain(x.buf, gamma?.buf ?? null, beta?.buf ?? null, y.buf, mean.buf, rstd.buf,
    state.runningMean?.buf ?? null, state.runningVar?.buf ?? null, n, c, h * w, eps, state.momentum ?? 0.1);
  if (!needsGrad(x, gamma, beta)) {
    mean.dispose();
    rstd.dispose();
    return y;
  }
  const saved = gamma ? [x, gamma] : [x];
  return record('batchNorm', y, [x, gamma, beta], saved, (gy) => {
    const dx = Tensor.empty(x.shape, x.backend);
    const wantAffine = !!gamma && (gamma.requiresGrad || beta!.requiresGrad);
    const dgamma = wantAffine ? Tensor.empty(gamma!.shape, x.backend) : null;
    const dbeta = wantAffine ? Tensor.empty(beta!.shape, x.backend) : null;
    b.batchNormBackward(gy.buf, x.buf, mean.buf, rstd.buf, gamma?.buf ?? null, dx.buf, dgamma?.buf ?? null, dbeta?.buf ?? null, n, c, h * w);
    return [x.requiresGrad ? dx : (dx.dispose(), null), dgamma, dbeta];
  }, [mean, rstd]);
}
