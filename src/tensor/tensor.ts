/**
 * Tensor: a contiguous float32 NCHW array in backend memory, plus the bookkeeping autograd and
 * the memory scopes need.
 *
 * Memory is released deterministically, never by the garbage collector:
 *  - `tidy(fn)` disposes every tensor created inside fn except the ones it returns or keep()s;
 *  - `release()` says "the caller no longer needs this"; the buffer is freed now, or as soon as
 *    the last autograd node that saved it has run its backward (like dropping a Python
 *    reference while the graph still holds the tensor). Module code releases intermediate
 *    activations this way, so a training step's peak memory is the saved activations only.
 */
import type { Binding, Buf } from '../backend/binding';
import type { Backend } from '../backend/device';

/** One recorded op: how to turn the output's gradient into its inputs' gradients. */
export interface GradNode {
  readonly name: string;
  /** inputs in op order; null where an input does not need a gradient */
  inputs: (Tensor | null)[];
  /** returns one gradient per input (null where not needed); may return gy itself once */
  backward: (gy: Tensor) => (Tensor | null)[];
  /** tensors the backward reads; released when the node has run or is freed */
  saved: Tensor[];
}

class Scope {
  readonly tensors = new Set<Tensor>();
}

const scopeStack: Scope[] = [];
let gradEnabled = true;

export function isGradEnabled(): boolean {
  return gradEnabled;
}

function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`Tensor: shape [${shape.join(', ')}] must hold non-negative integers`);
    n *= d;
  }
  return n;
}

export function shapeString(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

export class Tensor {
  readonly shape: readonly number[];
  readonly size: number;
  readonly backend: Backend;
  /** true for parameters and for outputs of recorded ops */
  requiresGrad = false;
  grad: Tensor | null = null;
  gradFn: GradNode | null = null;
  /** a label for error messages and state dicts */
  name = '';
  private bufHandle: Buf | null;
  /** an alias (detach()) shares its base's buffer and never frees it */
  private readonly base: Tensor | null;
  private scope: Scope | null = null;
  private savedCount = 0;
  private released = false;

  constructor(shape: readonly number[], backend: Backend, buf: Buf, base: Tensor | null = null) {
    this.shape = Object.freeze(shape.slice());
    this.size = shapeSize(shape);
    this.backend = backend;
    this.bufHandle = buf;
    this.base = base;
    const top = scopeStack[scopeStack.length - 1];
    if (top) {
      top.tensors.add(this);
      this.scope = top;
    }
  }

  /** Uninitialised memory from the caching allocator: every kernel output starts here. */
  static empty(shape: readonly number[], backend: Backend): Tensor {
    const n = shapeSize(shape);
    return new Tensor(shape, backend, backend.binding.alloc(Math.max(n, 1)));
  }

  static full(shape: readonly number[], value: number, backend: Backend): Tensor {
    const t = Tensor.empty(shape, backend);
    if (t.size > 0) backend.binding.fill(t.buf, value, t.size);
    return t;
  }

  static zeros(shape: readonly number[], backend: Backend): Tensor {
    return Tensor.full(shape, 0, backend);
  }

  static fromArray(data: ArrayLike<number>, shape: readonly number[], backend: Backend): Tensor {
    const n = shapeSize(shape);
    if (data.length !== n) {
      throw new Error(`Tensor.fromArray: ${data.length} values do not fill shape ${shapeString(shape)} (${n} expected)`);
    }
    const t = Tensor.empty(shape, backend);
    if (n > 0) backend.binding.upload(t.buf, data instanceof Float32Array ? data : Float32Array.from(data));
    return t;
  }

  get binding(): Binding {
    return this.backend.binding;
  }

  get buf(): Buf {
    if (this.bufHandle === null || (this.base !== null && this.base.isDisposed)) {
      throw new Error(`Tensor${this.name ? ` '${this.name}'` : ''} ${shapeString(this.shape)} was used after dispose()`);
    }
    return this.bufHandle;
  }

  get isDisposed(): boolean {
    return this.bufHandle === null;
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** Returns the buffer to the caching allocator now. Idempotent. */
  dispose(): void {
    if (this.bufHandle === null) return;
    if (this.base === null) this.backend.binding.free(this.bufHandle);
    this.bufHandle = null;
    this.scope?.tensors.delete(this);
    this.scope = null;
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  /** Frees the buffer once no recorded op still needs it (see the file comment). */
  release(): void {
    this.released = true;
    if (this.savedCount === 0) this.dispose();
  }

  /** Takes the tensor out of every tidy() scope: it lives until dispose(). */
  keep(): this {
    this.scope?.tensors.delete(this);
    this.scope = null;
    return this;
  }

  /** Called by autograd when a node saves / stops saving this tensor. */
  retainForGraph(): void {
    this.savedCount++;
  }

  releaseFromGraph(): void {
    this.savedCount--;
    if (this.savedCount === 0 && this.released) this.dispose();
  }

  /** A tensor sharing this buffer, cut from the graph (torch's detach()). */
  detach(): Tensor {
    return new Tensor(this.shape, this.backend, this.buf, this.base ?? this);
  }

  toFloat32Array(): Float32Array {
    const out = new Float32Array(this.size);
    if (this.size > 0) this.binding.download(this.buf, out);
    return out;
  }

  /** The value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new Error(`Tensor.item: expected one element, the shape is ${shapeString(this.shape)}`);
    const out = new Float32Array(1);
    this.binding.download(this.buf, out);
    return out[0];
  }

  /** Overwrites the contents from host data of the same size. */
  copyFromArray(data: Float32Array): void {
    if (data.length !== this.size) {
      throw new Error(`Tensor.copyFromArray: ${data.length} values for shape ${shapeString(this.shape)} (${this.size} expected)`);
    }
    if (this.size > 0) this.binding.upload(this.buf, data);
  }

  /** Overwrites the contents from another tensor of the same size (no autograd). */
  copyFrom(src: Tensor): void {
    if (src.size !== this.size) {
      throw new Error(`Tensor.copyFrom: source ${shapeString(src.shape)} does not match ${shapeString(this.shape)}`);
    }
    if (this.size > 0) this.binding.copy(this.buf, 0, src.buf, 0, this.size);
  }

  /** A new tensor with a copy of the data (no autograd). */
  clone(): Tensor {
    const t = Tensor.empty(this.shape, this.backend);
    t.copyFrom(this);
    return t;
  }

  toString(): string {
    return `Tensor(${shapeString(this.shape)}${this.name ? `, '${this.name}'` : ''}${this.requiresGrad ? ', requiresGrad' : ''})`;
  }
}

type Tensors = Tensor | Tensor[] | Record<string, unknown> | void | null | undefined | number | string | boolean;

function collectTensors(value: unknown, into: Set<Tensor>, depth = 0): void {
  if (value instanceof Tensor) into.add(value);
  else if (depth < 3 && Array.isArray(value)) for (const v of value) collectTensors(v, into, depth + 1);
  else if (depth < 3 && value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, into, depth + 1);
  }
}

/**
 * Runs fn and disposes every tensor created inside it, except the tensors it returns (directly,
 * in an array or in a plain object), which move to the enclosing scope, and kept ones.
 */
export function tidy<T extends Tensors | unknown>(fn: () => T): T {
  const scope = new Scope();
  scopeStack.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopeStack.pop();
    const survivors = new Set<Tensor>();
    // On an exception, result is unset: everything created inside is disposed.
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    collectTensors((result! as any) ?? null, survivors);
    const parent = scopeStack[scopeStack.length - 1] ?? null;
    for (const t of scope.tensors) {
      if (survivors.has(t)) {
        // eslint-disable-next-line @typescript-eslint/no-explicit-any
        (t as any).scope = parent;
        parent?.tensors.add(t);
      } else {
        t.dispose();
      }
    }
  }
  return result;
}

/** Runs fn with autograd recording off (inference, optimiser updates, metrics). */
export function noGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/** Runs fn with autograd recording on (inside a noGrad region). */
export function enableGrad<T>(fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = true;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/** True when an op on these inputs must be recorded on the tape. */
export function needsGrad(...inputs: (Tensor | null | undefined)[]): boolean {
  if (!gradEnabled) return false;
  for (const t of inputs) if (t && t.requiresGrad) return true;
  return false;
}

/**
 * Records an op producing `output` from `inputs`. Inputs that do not require a gradient are
 * stored as null so the backward can skip their work (e.g. a frozen discriminator's weights, or
 * the real images fed to the first convolution). `saved` tensors stay alive until the node runs.
 * Tensors in `ownedSaved` are the op's private scratch (norm statistics, masks): they are freed
 * with the node.
 */
export function record(
  name: string,
  output: Tensor,
  inputs: (Tensor | null | undefined)[],
  saved: Tensor[],
  backward: (gy: Tensor) => (Tensor | null)[],
  ownedSaved: Tensor[] = [],
): Tensor {
  const node: GradNode = {
    name,
    inputs: inputs.map((t) => (t && t.requiresGrad ? t : null)),
    backward,
    saved: saved.concat(ownedSaved),
  };
  for (const t of node.saved) t.retainForGraph();
  for (const t of ownedSaved) t.release();
  output.gradFn = node;
  output.requiresGrad = true;
  return output;
}

/** Lets go of a node's saved tensors (after its backward ran, or when the graph is dropped). */
export function freeNode(node: GradNode): void {
  for (const t of node.saved) t.releaseFromGraph();
  node.saved = [];
  node.inputs = [];
}
