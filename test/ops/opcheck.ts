/**
 * Gradient checks through the tape: an op's analytic gradients (Tensor autograd, native backward
 * kernels) against central finite differences of the same native forward.
 */
import { Tensor, backward, noGrad, tidy } from '../../src/tensor';
import * as F from '../../src/ops';
import { assertGradcheck, weightedSum, type GradcheckOptions } from '../util/gradcheck';
import { cpuBackend, randomArray } from '../util/native';

export interface OpInput {
  shape: number[];
  /** default uniform [-1, 1) from a per-input seed */
  data?: Float32Array;
  /** default true */
  grad?: boolean;
}

/**
 * Checks d(sum(w * f(x...)))/dx for every input with grad, w a fixed random weighting, so every
 * output element contributes with a different weight.
 */
export function checkOpGradients(label: string, f: (xs: Tensor[]) => Tensor, specs: OpInput[], options: GradcheckOptions = {}): void {
  const backend = cpuBackend();
  const hostInputs = specs.map((s, i) => s.data ?? randomArray(s.shape.reduce((p, d) => p * d, 1), 1000 + 17 * i));
  const analytic = tidy(() => {
    const xs = specs.map((s, i) => {
      const t = Tensor.fromArray(hostInputs[i], s.shape, backend);
      t.requiresGrad = s.grad !== false;
      return t;
    });
    const y = f(xs);
    const weights = Tensor.fromArray(randomArray(y.size, 7, -1, 1), y.shape, backend);
    backward(F.sum(F.mul(y, weights)));
    return xs.map((x) => (x.grad ? x.grad.toFloat32Array() : new Float32Array(x.size)));
  });
  const lossOf = (inputs: Float32Array[]): number =>
    tidy(() => noGrad(() => {
      const xs = specs.map((s, i) => Tensor.fromArray(inputs[i], s.shape, backend));
      const y = f(xs).toFloat32Array();
      return weightedSum(y, randomArray(y.length, 7, -1, 1));
    }));
  const checkedInputs = specs.map((s, i) => (s.grad !== false ? i : -1)).filter((i) => i >= 0);
  assertGradcheck(label, (inputs) => {
    const all = hostInputs.slice();
    checkedInputs.forEach((k, j) => (all[k] = inputs[j]));
    return lossOf(all);
  }, checkedInputs.map((i) => hostInputs[i]), checkedInputs.map((i) => analytic[i]), options);
}
