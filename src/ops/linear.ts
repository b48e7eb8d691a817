/** Fully connected layer: x [N, ...] (flattened to [N, in]) times w [out, in]^T plus bias. */
import { Tensor, needsGrad, record, shapeString } from '../tensor';
import { opCounters } from './counters';

export function linear(x: Tensor, w: Tensor, bias: Tensor | null = null): Tensor {
  if (w.shape.length !== 2) throw new Error(`linear: weight must be [out, in], got ${shapeString(w.shape)}`);
  const [outF, inF] = w.shape;
  const n = x.shape[0];
  if (x.shape.length < 2 || x.size !== n * inF) {
    throw new Error(`linear: input ${shapeString(x.shape)} must be [N, ${inF}] (or flatten to it) for weight ${shapeString(w.shape)}`);
  }
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== outF)) {
    throw new Error(`linear: bias must have shape [${outF}], got ${shapeString(bias.shape)}`);
  }
  const y = Tensor.empty([n, outF], x.backend);
  x.binding.linearForward(x.buf, w.buf, bias ? bias.buf : null, y.buf, n, inF, outF);
  if (opCounters.countMacs) opCounters.macs += n * inF * outF;
  if (!needsGrad(x, w, bias)) return y;
  const saved = [w.requiresGrad || (bias?.requiresGrad ?? false) ? x : null, x.requiresGrad ? w : null].filter((t): t is Tensor => t !== null);
  return record('linear', y, [x, w, bias], saved, (gy) => {
    let dx: Tensor | null = null;
    let dw: Tensor | null = null;
    let db: Tensor | null = null;
    if (x.requiresGrad) {
      dx = Tensor.empty(x.shape, x.backend);
      x.binding.linearBackwardData(gy.buf, w.buf, dx.buf, n, inF, outF);
    }
    if (w.requiresGrad) {
      dw = Tensor.empty(w.shape, w.backend);
      if (bias && bias.requiresGrad) db = Tensor.empty(bias.shape, bias.backend);
      x.binding.linearBackwardWeight(x.buf, gy.buf, dw.buf, db ? db.buf : null, n, inF, outF);
    } else if (bias && bias.requiresGrad) {
      db = Tensor.empty(bias.shape, bias.backend);
      x.binding.biasBackward(gy.buf, db.buf, n, outF, 1);
    }
    return [dx, dw, db];
  });
}
