/**
 * Module: PyTorch's nn.Module for this library. Parameters, buffers and children are kept in
 * registration order, so namedParameters()/stateDict() produce the names torch would
 * (`model.1.weight`, `model.10.conv_block.5.bias`, ...). Parameters and buffers are long-lived
 * tensors (outside every tidy scope) that the module owns until dispose().
 */
import type { Backend } from '../backend/device';
import { Tensor, shapeString } from '../tensor';

export abstract class Module {
  training = true;
  readonly backend: Backend;
  private readonly params: [string, Tensor | null][] = [];
  private readonly buffers: [string, Tensor][] = [];
  private readonly children: [string, Module][] = [];

  constructor(backend: Backend) {
    this.backend = backend;
  }

  abstract forward(x: Tensor): Tensor;

  /** A parameter: requires a gradient and is never disposed by a tidy() scope. */
  protected registerParameter(name: string, t: Tensor | null): Tensor | null {
    if (t) {
      t.keep();
      t.requiresGrad = true;
      t.name = name;
    }
    this.params.push([name, t]);
    return t;
  }

  protected registerBuffer(name: string, t: Tensor): Tensor {
    t.keep();
    t.name = name;
    this.buffers.push([name, t]);
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.children.push([name, m]);
    return m;
  }

  namedChildren(): [string, Module][] {
    return this.children.slice();
  }

  /** This module and every descendant, depth first, with dotted names ('' for this one). */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.children) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  /** Own parameters then each child's, as torch's named_parameters(). */
  namedParameters(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, t] of this.params) if (t) out.push([prefix ? `${prefix}.${name}` : name, t]);
    for (const [name, child] of this.children) out.push(...child.namedParameters(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, t]) => t);
  }

  /** Parameters and buffers per module in torch's state_dict order. */
  stateDict(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const join = (n: string) => (prefix ? `${prefix}.${n}` : n);
    for (const [name, t] of this.params) if (t) out.push([join(name), t]);
    for (const [name, t] of this.buffers) out.push([join(name), t]);
    for (const [name, child] of this.children) out.push(...child.stateDict(join(name)));
    return out;
  }

  /**
   * Copies values into this module's parameters and buffers. Every entry of the state dict must
   * be present with the same shape (strict, like torch's default), and no unknown name is allowed
   * (except torch's BatchNorm `num_batches_tracked`, which is ignored).
   */
  loadStateDict(entries: Iterable<[string, Tensor | { shape: readonly number[]; data: Float32Array }]>): void {
    const own = new Map(this.stateDict());
    const seen = new Set<string>();
    for (const [name, value] of entries) {
      // torch's BatchNorm counter has no role here (momentum is fixed): accept and skip it.
      if (name.endsWith('num_batches_tracked') && !own.has(name)) continue;
      const target = own.get(name);
      if (!target) throw new Error(`loadStateDict: unexpected key '${name}' (the model has ${own.size} entries, e.g. '${own.keys().next().value}')`);
      const shape = value.shape;
      if (shape.length !== target.shape.length || shape.some((d, i) => d !== target.shape[i])) {
        throw new Error(`loadStateDict: '${name}' has shape ${shapeString(shape)}, the model expects ${shapeString(target.shape)}`);
      }
      if (value instanceof Tensor) target.copyFrom(value);
      else target.copyFromArray(value.data);
      seen.add(name);
    }
    const missing = [...own.keys()].filter((k) => !seen.has(k));
    if (missing.length > 0) throw new Error(`loadStateDict: missing ${missing.length} key(s): ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`);
  }

  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Freezes (false) or unfreezes (true) every parameter, like torch's requires_grad_(). */
  requiresGrad(flag: boolean): this {
    for (const t of this.parameters()) t.requiresGrad = flag;
    return this;
  }

  /** Drops the parameters' gradients (torch's zero_grad(set_to_none=True)). */
  zeroGrad(): void {
    for (const t of this.parameters()) {
      if (t.grad) {
        t.grad.dispose();
        t.grad = null;
      }
    }
  }

  parameterCount(): number {
    return this.parameters().reduce((n, t) => n + t.size, 0);
  }

  /** Frees every parameter and buffer. */
  dispose(): void {
    for (const [, t] of this.stateDict()) t.dispose();
  }
}
