/**
 * Reverse-mode autograd over the graph that record() builds. backward(loss) seeds dloss = 1 on
 * the device, runs each node's backward in reverse topological order, accumulates gradients
 * (ownership transfer on the first write, binding.axpy after), and frees every intermediate
 * gradient and every node's saved tensors as soon as they have been used, so the activations of a
 * long forward are returned to the allocator while the backward walks over them.
 */
import { freeNode, noGrad, Tensor, shapeString, type GradNode } from './tensor';

/** Nodes reachable from `root`, each after all nodes that consume its output. */
function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  visited.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [tensor, next] = top;
    const inputs = tensor.gradFn ? tensor.gradFn.inputs : [];
    if (next < inputs.length) {
      top[1]++;
      const input = inputs[next];
      if (input && input.gradFn && !visited.has(input)) {
        visited.add(input);
        stack.push([input, 0]);
      }
    } else {
      stack.pop();
      order.push(tensor);
    }
  }
  return order.reverse(); // root first
}

function accumulateLeaf(leaf: Tensor, grad: Tensor): void {
  if (leaf.grad === null) {
    leaf.grad = grad.keep();
  } else {
    leaf.binding.axpy(1, grad.buf, leaf.grad.buf, grad.size);
    grad.dispose();
  }
}

function accumulate(grads: Map<Tensor, Tensor>, target: Tensor, grad: Tensor): void {
  if (grad.size !== target.size) {
    throw new Error(`backward: gradient ${shapeString(grad.shape)} does not match its tensor ${shapeString(target.shape)} (${target.gradFn?.name ?? 'leaf'})`);
  }
  if (!target.gradFn) {
    accumulateLeaf(target, grad);
    return;
  }
  const existing = grads.get(target);
  if (existing === undefined) {
    grads.set(target, grad);
  } else {
    target.binding.axpy(1, grad.buf, existing.buf, grad.size);
    grad.dispose();
  }
}

function runNode(node: GradNode, gy: Tensor, grads: Map<Tensor, Tensor>): void {
  const inputGrads = node.backward(gy);
  if (inputGrads.length !== node.inputs.length) {
    throw new Error(`backward of ${node.name}: returned ${inputGrads.length} gradients for ${node.inputs.length} inputs`);
  }
  // Pair gradients with inputs first: a gradient handed to two inputs (add's dy to both sides)
  // gets one copy per extra owner before any accumulation can consume the original.
  const owned = new Set<Tensor>();
  const unused: Tensor[] = [gy];
  const pairs: [Tensor, Tensor][] = [];
  for (let i = 0; i < node.inputs.length; i++) {
    const input = node.inputs[i];
    const grad = inputGrads[i];
    if (!grad) continue;
    if (!input) {
      unused.push(grad);
      continue;
    }
    pairs.push([input, owned.has(grad) ? grad.clone() : grad]);
    owned.add(grad);
  }
  for (const t of unused) if (!owned.has(t)) t.dispose();
  for (const [input, grad] of pairs) accumulate(grads, input, grad);
}

/**
 * Computes d(root)/d(leaf) for every leaf that requires a gradient and accumulates it into
 * leaf.grad. root must be a one-element tensor (a loss); the graph is freed afterwards.
 */
export function backward(root: Tensor): void {
  if (root.size !== 1) throw new Error(`backward: expected a one-element loss, got shape ${shapeString(root.shape)}`);
  if (!root.requiresGrad) throw new Error('backward: the loss does not require a gradient (no parameter or input on its path requires one)');
  noGrad(() => {
    const grads = new Map<Tensor, Tensor>();
    if (!root.gradFn) {
      accumulateLeaf(root, Tensor.full([1], 1, root.backend));
      return;
    }
    grads.set(root, Tensor.full(root.shape, 1, root.backend));
    for (const tensor of topologicalOrder(root)) {
      const node = tensor.gradFn!;
      const gy = grads.get(tensor);
      grads.delete(tensor);
      // The graph is consumed: later ops see this tensor as a constant, not as a leaf.
      tensor.gradFn = null;
      tensor.requiresGrad = false;
      try {
        if (gy) runNode(node, gy, grads);
      } finally {
        freeNode(node);
      }
    }
    for (const leftover of grads.values()) leftover.dispose();
  });
}
