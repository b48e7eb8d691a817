/** Adam against a scalar re-implementation of torch.optim.Adam, and its checkpoint state. */
import { test } from 'node:test';
import * as assert from 'node:assert';
import { Tensor } from '../../src/tensor';
import { Adam } from '../../src/optim/adam';
import { cpuBackend, randomArray, assertClose } from '../util/native';

function torchAdam(p: Float64Array, grads: Float32Array[], lr: number, b1: number, b2: number, eps: number, wd: number): Float64Array {
  const m = new Float64Array(p.length);
  const v = new Float64Array(p.length);
  grads.forEach((g, k) => {
    const t = k + 1;
    for (let i = 0; i < p.length; i++) {
      const gi = g[i] + wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * gi;
      v[i] = b2 * v[i] + (1 - b2) * gi * gi;
      const mHat = m[i] / (1 - b1 ** t);
      const vHat = v[i] / (1 - b2 ** t);
      p[i] -= (lr * mHat) / (Math.sqrt(vHat) + eps);
    }
  });
  return p;
}

test('three Adam steps match torch.optim.Adam semantics; parameters without a gradient stay', () => {
  const be = cpuBackend();
  const init = randomArray(37, 1);
  const grads = [randomArray(37, 2), randomArray(37, 3), randomArray(37, 4)];
  const p = Tensor.fromArray(init, [37], be).keep();
  const frozen = Tensor.fromArray([1, 2, 3], [3], be).keep();
  p.requiresGrad = frozen.requiresGrad = true;
  const opt = new Adam([p, frozen], { lr: 0.01, beta1: 0.5, beta2: 0.999, weightDecay: 0.1 });
  try {
    for (const g of grads) {
      opt.zeroGrad();
      p.grad = Tensor.fromArray(g, [37], be).keep();
      opt.step();
    }
    const expected = torchAdam(Float64Array.from(init), grads, 0.01, 0.5, 0.999, 1e-8, 0.1);
    assertClose(p.toFloat32Array(), expected, 'adam', 1e-5, 1e-6);
    assert.deepStrictEqual(Array.from(frozen.toFloat32Array()), [1, 2, 3]);
    assert.strictEqual(opt.stepCount, 3);
  } finally {
    opt.dispose();
    p.dispose();
    frozen.dispose();
  }
});

test('Adam state round-trips: a restored optimiser continues identically', () => {
  const be = cpuBackend();
  const make = () => {
    const p = Tensor.fromArray(randomArray(10, 5), [2, 5], be).keep();
    p.requiresGrad = true;
    return { p, opt: new Adam([p], { lr: 0.05, beta1: 0.5 }) };
  };
  const a = make();
  const b = make();
  try {
    const stepWith = (s: { p: Tensor; opt: Adam }, seed: number) => {
      s.opt.zeroGrad();
      s.p.grad = Tensor.fromArray(randomArray(10, seed), [2, 5], be).keep();
      s.opt.step();
    };
    stepWith(a, 10);
    stepWith(a, 11);
    const state = new Map(a.opt.stateTensors('opt').map((t) => [t.name, t]));
    b.p.copyFrom(a.p);
    b.opt.loadStateTensors('opt', state);
    b.opt.stepCount = a.opt.stepCount;
    stepWith(a, 12);
    stepWith(b, 12);
    assert.deepStrictEqual(b.p.toFloat32Array(), a.p.toFloat32Array());
    assert.throws(() => b.opt.loadStateTensors('other', state), /the checkpoint has no 'other.m.0'/);
    assert.throws(() => new Adam([], { lr: 1 }), /parameter list is empty/);
  } finally {
    for (const s of [a, b]) {
      s.opt.dispose();
      s.p.dispose();
    }
  }
});
