/**
 * Adam (torch.optim.Adam semantics, L2 weight decay) over a fixed parameter list: one fused
 * native call updates every parameter. Moments are allocated on the first step. The learning
 * rate is a plain field the schedule sets; state() / loadState() round-trip it for checkpoints.
 */
import { Tensor, shapeString } from '../tensor';

export interface AdamOptions {
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

export interface AdamStateTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

export class Adam {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** number of steps taken (torch's state['step']) */
  stepCount = 0;
  private readonly m: Tensor[];
  private readonly v: Tensor[];

  constructor(readonly params: Tensor[], options: AdamOptions) {
    if (params.length === 0) throw new Error('Adam: the parameter list is empty');
    this.lr = options.lr;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0;
    for (const [name, value, lo, hi] of [['beta1', this.beta1, 0, 1], ['beta2', this.beta2, 0, 1]] as const) {
      if (!(value >= lo && value < hi)) throw new Error(`Adam: ${name} must be in [${lo}, ${hi}), got ${value}`);
    }
    if (!(this.lr >= 0)) throw new Error(`Adam: lr must be >= 0, got ${this.lr}`);
    this.m = params.map((p) => Tensor.zeros(p.shape, p.backend).keep());
    this.v = params.map((p) => Tensor.zeros(p.shape, p.backend).keep());
  }

  /** Updates every parameter that has a gradient. */
  step(): void {
    const idx: number[] = [];
    for (let i = 0; i < this.params.length; i++) if (this.params[i].grad) idx.push(i);
    if (idx.length === 0) return;
    this.stepCount++;
    const binding = this.params[0].binding;
    binding.adamStep(
      idx.map((i) => this.params[i].buf), idx.map((i) => this.params[i].grad!.buf),
      idx.map((i) => this.m[i].buf), idx.map((i) => this.v[i].buf),
      this.lr, this.beta1, this.beta2, this.eps, this.weightDecay, this.stepCount,
    );
  }

  /** Drops every parameter's gradient (set_to_none=True). */
  zeroGrad(): void {
    for (const p of this.params) {
      if (p.grad) {
        p.grad.dispose();
        p.grad = null;
      }
    }
  }

  /** Moments as host arrays named `<prefix>.m.<i>` / `<prefix>.v.<i>` (or by the given names). */
  stateTensors(prefix: string, names?: string[]): AdamStateTensor[] {
    const label = (i: number) => names?.[i] ?? String(i);
    const out: AdamStateTensor[] = [];
    for (let i = 0; i < this.params.length; i++) {
      out.push({ name: `${prefix}.m.${label(i)}`, shape: this.m[i].shape.slice(), data: this.m[i].toFloat32Array() });
      out.push({ name: `${prefix}.v.${label(i)}`, shape: this.v[i].shape.slice(), data: this.v[i].toFloat32Array() });
    }
    return out;
  }

  loadStateTensors(prefix: string, tensors: Map<string, { shape: readonly number[]; data: Float32Array }>, names?: string[]): void {
    const label = (i: number) => names?.[i] ?? String(i);
    for (let i = 0; i < this.params.length; i++) {
      for (const [kind, target] of [['m', this.m[i]], ['v', this.v[i]]] as const) {
        const key = `${prefix}.${kind}.${label(i)}`;
        const entry = tensors.get(key);
        if (!entry) throw new Error(`Adam.loadState: the checkpoint has no '${key}'`);
        if (entry.data.length !== target.size) {
          throw new Error(`Adam.loadState: '${key}' has ${entry.data.length} values, expected ${shapeString(target.shape)}`);
        }
        target.copyFromArray(entry.data);
      }
    }
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}
