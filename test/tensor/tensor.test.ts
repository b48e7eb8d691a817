/** Tensor basics, memory scopes, release() and the autograd engine. */
import { test } from 'node:test';
import * as assert from 'node:assert';
import { Tensor, backward, noGrad, tidy } from '../../src/tensor';
import * as F from '../../src/ops';
import { Rng } from '../../src/util/rng';
import { cpuBackend } from '../util/native';

const backend = () => cpuBackend();
const inUse = () => backend().binding.memoryStats().inUse;

test('fromArray / toFloat32Array / item / full round-trip', () => {
  tidy(() => {
    const t = Tensor.fromArray([1, 2, 3, 4, 5, 6], [2, 3], backend());
    assert.deepStrictEqual(Array.from(t.toFloat32Array()), [1, 2, 3, 4, 5, 6]);
    assert.strictEqual(t.size, 6);
    assert.strictEqual(Tensor.full([1], 2.5, backend()).item(), 2.5);
    assert.throws(() => t.item(), /item: expected one element, the shape is \[2, 3\]/);
    assert.throws(() => Tensor.fromArray([1, 2], [3], backend()), /2 values do not fill shape \[3\]/);
  });
});

test('tidy frees everything but the result; keep() survives; use after dispose throws', () => {
  const before = inUse();
  let kept: Tensor | undefined;
  const result = tidy(() => {
    Tensor.zeros([1000], backend());
    kept = Tensor.zeros([10], backend()).keep();
    return Tensor.full([4], 3, backend());
  });
  assert.deepStrictEqual(Array.from(result.toFloat32Array()), [3, 3, 3, 3]);
  assert.ok(!kept!.isDisposed);
  result.dispose();
  kept!.dispose();
  assert.strictEqual(inUse(), before, 'all memory returned');
  assert.throws(() => result.toFloat32Array(), /used after dispose/);
});

test('nested tidy moves returned tensors to the outer scope', () => {
  const before = inUse();
  tidy(() => {
    const inner = tidy(() => Tensor.zeros([8], backend()));
    assert.ok(!inner.isDisposed);
  });
  assert.strictEqual(inUse(), before);
});

test('backward: chain rule, accumulation over two uses, leaf grads outlive the tidy', () => {
  const x = Tensor.fromArray([1, -2, 3], [3], backend()).keep();
  x.requiresGrad = true;
  tidy(() => {
    // loss = sum(x * x + 3x) -> dloss/dx = 2x + 3
    const loss = F.sum(F.add(F.mul(x, x), F.scale(x, 3)));
    assert.strictEqual(loss.item(), 1 + 4 + 9 + 3 * 2);
    backward(loss);
  });
  assert.deepStrictEqual(Array.from(x.grad!.toFloat32Array()), [5, -1, 9]);
  // a second backward accumulates into .grad, as torch does
  tidy(() => backward(F.sum(x)));
  assert.deepStrictEqual(Array.from(x.grad!.toFloat32Array()), [6, 0, 10]);
  x.dispose();
});

test('noGrad records nothing; backward of a constant loss explains itself', () => {
  tidy(() => {
    const x = Tensor.fromArray([1, 2], [2], backend());
    x.requiresGrad = true;
    const y = noGrad(() => F.sum(F.mul(x, x)));
    assert.strictEqual(y.gradFn, null);
    assert.throws(() => backward(y), /does not require a gradient/);
  });
});

test('release() frees at once when unsaved, after the backward when saved', () => {
  tidy(() => {
    const w = Tensor.fromArray([0.5, -1], [2], backend());
    w.requiresGrad = true;
    const unsaved = F.add(w, w); // add saves nothing
    const y = F.tanh(unsaved); // tanh saves its output y, not its input
    unsaved.release();
    assert.ok(unsaved.isDisposed, 'an input nobody saved is freed immediately');
    const loss = F.sum(y);
    y.release();
    assert.ok(!y.isDisposed, 'the tanh node still needs its output');
    backward(loss);
    assert.ok(y.isDisposed, 'freed once the backward consumed it');
    const t = Math.tanh(1);
    assert.ok(Math.abs(w.grad!.toFloat32Array()[0] - 2 * (1 - t * t)) < 1e-5);
  });
});

test('a training-like loop keeps memory flat', () => {
  const w = Tensor.fromArray(new Float32Array(64).fill(0.1), [4, 16], backend()).keep();
  w.requiresGrad = true;
  const x = Tensor.fromArray(new Float32Array(48).fill(1), [3, 16], backend()).keep();
  const step = () => tidy(() => {
    w.grad?.dispose();
    w.grad = null;
    backward(F.mseLoss(F.relu(F.linear(x, w)), 0));
  });
  step();
  const after1 = inUse();
  for (let i = 0; i < 5; i++) step();
  assert.strictEqual(inUse(), after1);
  w.dispose();
  x.dispose();
});

test('Rng: deterministic, state round-trips, distributions are sane', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  for (let i = 0; i < 10; i++) assert.strictEqual(a.nextUint32(), b.nextUint32());
  const state = a.getState();
  assert.deepStrictEqual(JSON.parse(JSON.stringify(state)), state);
  const seq = [a.normal(), a.uniform(), a.int(7)];
  const c = new Rng(1);
  c.setState(state);
  assert.deepStrictEqual([c.normal(), c.uniform(), c.int(7)], seq);
  assert.notStrictEqual(new Rng(1).nextUint32(), new Rng(2).nextUint32());
  const r = new Rng(3);
  let sum = 0;
  let sq = 0;
  const n = 20000;
  for (let i = 0; i < n; i++) {
    const v = r.normal();
    sum += v;
    sq += v * v;
  }
  assert.ok(Math.abs(sum / n) < 0.03, `mean ${sum / n}`);
  assert.ok(Math.abs(sq / n - 1) < 0.05, `variance ${sq / n}`);
  for (let i = 0; i < 1000; i++) {
    const k = r.int(5);
    assert.ok(k >= 0 && k < 5 && Number.isInteger(k));
  }
  assert.throws(() => c.setState([1, 2, 3]), /expected an array of 4 uint32/);
  assert.throws(() => r.int(0), /positive integer/);
});

test('backward: one gradient handed to both inputs of add, after another use already accumulated', () => {
  tidy(() => {
    const x = Tensor.fromArray([1, 2], [2], backend());
    x.requiresGrad = true;
    const h = F.scale(x, 2); // h feeds mul (processed first) and add(h, h)
    const loss = F.sum(F.add(F.mul(h, h), F.add(h, h)));
    backward(loss);
    // loss = sum(4x^2 + 4x) -> 8x + 4
    assert.deepStrictEqual(Array.from(x.grad!.toFloat32Array()), [12, 20]);
  });
});
