/**
 * Losses reduced to a one-element device scalar (mean over elements). The backward kernels read
 * the upstream gradient from the device scalar, so nothing crosses the bus. A target may be a
 * tensor or a number (a constant target of the prediction's shape, like torch.full_like).
 */
import { Tensor, needsGrad, record, shapeString } from '../tensor';
import { expectSameShape } from './check';

export type Target = Tensor | number;

/** A tensor target as is, or a constant one filled on the device (owned by the loss node). */
function targetTensor(op: string, x: Tensor, target: Target): { t: Tensor; owned: boolean } {
  if (typeof target === 'number') return { t: Tensor.full(x.shape, target, x.backend), owned: true };
  expectSameShape(op, x, target, 'input', 'target');
  return { t: target, owned: false };
}

type PairKernel = 'l1' | 'mse';

function pairLoss(kind: PairKernel, x: Tensor, target: Target): Tensor {
  const op = kind === 'l1' ? 'l1Loss' : 'mseLoss';
  const { t, owned } = targetTensor(op, x, target);
  const b = x.binding;
  const out = Tensor.empty([1], x.backend);
  if (kind === 'l1') b.l1LossForward(x.buf, t.buf, out.buf, x.size);
  else b.mseLossForward(x.buf, t.buf, out.buf, x.size);
  if (!needsGrad(x, t)) {
    if (owned) t.dispose();
    return out;
  }
  return record(op, out, [x, t], owned ? [x] : [x, t], (gy) => {
    const dx = Tensor.empty(x.shape, x.backend);
    if (kind === 'l1') b.l1LossBackward(x.buf, t.buf, gy.buf, dx.buf, x.size);
    else b.mseLossBackward(x.buf, t.buf, gy.buf, dx.buf, x.size);
    let dt: Tensor | null = null;
    if (t.requiresGrad) {
      // Both losses depend on x - t only, so d/dt = -d/dx.
      dt = Tensor.empty(t.shape, t.backend);
      b.affine(dx.buf, -1, 0, dt.buf, dx.size);
    }
    return [x.requiresGrad ? dx : (dx.dispose(), null), dt];
  }, owned ? [t] : []);
}

/** mean |x - t| (nn.L1Loss). */
export function l1Loss(x: Tensor, target: Target): Tensor {
  return pairLoss('l1', x, target);
}

/** mean (x - t)^2 (nn.MSELoss). */
export function mseLoss(x: Tensor, target: Target): Tensor {
  return pairLoss('mse', x, target);
}

function checkNoTargetGrad(op: string, t: Tensor): void {
  if (t.requiresGrad && needsGrad(t)) throw new Error(`${op}: the target must not require a gradient`);
}

/** nn.BCEWithLogitsLoss (mean), numerically stable. */
export function bceWithLogits(x: Tensor, target: Target): Tensor {
  const { t, owned } = targetTensor('bceWithLogits', x, target);
  checkNoTargetGrad('bceWithLogits', t);
  const out = Tensor.empty([1], x.backend);
  x.binding.bceLogitsForward(x.buf, t.buf, out.buf, x.size);
  return finishLogitLoss('bceWithLogits', x, t, owned, out, [], (gy, dx) => x.binding.bceLogitsBackward(x.buf, t.buf, gy.buf, dx.buf, x.size));
}

/** Binary focal loss on logits (Lin et al. 2017); alpha < 0 disables the alpha weighting. */
export function focalLoss(x: Tensor, target: Target, alpha: number, gamma: number): Tensor {
  if (!(gamma >= 0)) throw new Error(`focalLoss: gamma must be >= 0, got ${gamma}`);
  if (!(alpha <= 1)) throw new Error(`focalLoss: alpha must be <= 1 (negative disables it), got ${alpha}`);
  const { t, owned } = targetTensor('focalLoss', x, target);
  checkNoTargetGrad('focalLoss', t);
  const out = Tensor.empty([1], x.backend);
  x.binding.focalLossForward(x.buf, t.buf, alpha, gamma, out.buf, x.size);
  return finishLogitLoss('focalLoss', x, t, owned, out, [], (gy, dx) => x.binding.focalLossBackward(x.buf, t.buf, alpha, gamma, gy.buf, dx.buf, x.size));
}

/**
 * GHM-C loss (Li et al. 2019). `acc` [bins] is the caller's momentum-averaged histogram of
 * gradient norms, updated in place by the forward (it is training state to checkpoint).
 */
export function ghmcLoss(x: Tensor, target: Target, acc: Tensor, momentum: number): Tensor {
  const bins = acc.size;
  if (acc.shape.length !== 1 || bins < 1) throw new Error(`ghmcLoss: acc must be a [bins] tensor, got ${shapeString(acc.shape)}`);
  if (!(momentum >= 0 && momentum < 1)) throw new Error(`ghmcLoss: momentum must be in [0, 1), got ${momentum}`);
  const { t, owned } = targetTensor('ghmcLoss', x, target);
  checkNoTargetGrad('ghmcLoss', t);
  const out = Tensor.empty([1], x.backend);
  const weights = Tensor.empty(x.shape, x.backend);
  x.binding.ghmcLossForward(x.buf, t.buf, bins, momentum, acc.buf, weights.buf, out.buf, x.size);
  return finishLogitLoss('ghmcLoss', x, t, owned, out, [weights], (gy, dx) => x.binding.ghmcLossBackward(x.buf, t.buf, weights.buf, gy.buf, dx.buf, x.size));
}

function finishLogitLoss(op: string, x: Tensor, t: Tensor, ownedTarget: boolean, out: Tensor, scratch: Tensor[],
  kernel: (gy: Tensor, dx: Tensor) => void): Tensor {
  const owned = ownedTarget ? [t, ...scratch] : scratch;
  if (!needsGrad(x)) {
    for (const s of owned) s.dispose();
    return out;
  }
  return record(op, out, [x], ownedTarget ? [x] : [x, t], (gy) => {
    const dx = Tensor.empty(x.shape, x.backend);
    kernel(gy, dx);
    return [dx];
  }, owned);
}

/** nn.CrossEntropyLoss (mean) on logits [N, K] with class indices (as numbers) [N]. */
export function softmaxCrossEntropy(logits: Tensor, labels: Tensor): Tensor {
  if (logits.shape.length !== 2) throw new Error(`softmaxCrossEntropy: logits must be [N, K], got ${shapeString(logits.shape)}`);
  const [n, k] = logits.shape;
  if (labels.size !== n) throw new Error(`softmaxCrossEntropy: expected ${n} labels for logits ${shapeString(logits.shape)}, got ${shapeString(labels.shape)}`);
  const probs = Tensor.empty([n, k], logits.backend);
  const out = Tensor.empty([1], logits.backend);
  logits.binding.softmaxXentForward(logits.buf, labels.buf, probs.buf, out.buf, n, k);
  if (!needsGrad(logits)) {
    probs.dispose();
    return out;
  }
  return record('softmaxCrossEntropy', out, [logits], [labels], (gy) => {
    const dlogits = Tensor.empty(logits.shape, logits.backend);
    logits.binding.softmaxXentBackward(probs.buf, labels.buf, gy.buf, dlogits.buf, n, k);
    return [dlogits];
  }, [probs]);
}

/** Row softmax [N, K] for inference (no gradient). */
export function softmax(logits: Tensor): Tensor {
  if (logits.shape.length !== 2) throw new Error(`softmax: logits must be [N, K], got ${shapeString(logits.shape)}`);
  const y = Tensor.empty(logits.shape, logits.backend);
  logits.binding.softmaxForward(logits.buf, y.buf, logits.shape[0], logits.shape[1]);
  return y;
}
