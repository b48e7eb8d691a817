/**
 * Layers with PyTorch's constructor arguments and attribute names. Fields are public so the ONNX
 * exporter can walk a network (kernel size, stride, padding, weights, norm kind, ...).
 */
import type { Backend } from '../backend/device';
import { Tensor } from '../tensor';
import * as F from '../ops';
import { Rng } from '../util/rng';
import { Module } from './module';
import { fans, fillUniform, getDefaultRng, type Initialisable } from './init';

/** torch's default conv/linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias. */
function defaultInit(weight: Tensor, bias: Tensor | null, rng: Rng): void {
  const bound = 1 / Math.sqrt(Math.max(1, fans(weight.shape).fanIn));
  fillUniform(weight, -bound, bound, rng);
  if (bias) fillUniform(bias, -bound, bound, rng);
}

export interface ConvLayerOptions {
  stride?: number;
  padding?: number;
  bias?: boolean;
  rng?: Rng;
}

export class Conv2d extends Module implements Initialisable {
  readonly initKind = 'weight';
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number;
  readonly padding: number;

  constructor(backend: Backend, readonly inChannels: number, readonly outChannels: number, readonly kernelSize: number, options: ConvLayerOptions = {}) {
    super(backend);
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.weight = this.registerParameter('weight', Tensor.empty([outChannels, inChannels, kernelSize, kernelSize], backend))!;
    this.bias = this.registerParameter('bias', options.bias === false ? null : Tensor.empty([outChannels], backend));
    defaultInit(this.weight, this.bias, options.rng ?? getDefaultRng());
  }

  forward(x: Tensor): Tensor {
    return F.conv2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding });
  }

  /** ReflectionPad2d(padding) followed by this (unpadded) conv, as one op (see Sequential). */
  forwardReflectPadded(x: Tensor, padding: number): Tensor {
    return F.conv2d(x, this.weight, this.bias, { stride: this.stride, padding, paddingMode: 'reflect' });
  }
}

export class ConvTranspose2d extends Module implements Initialisable {
  readonly initKind = 'weight';
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: number;
  readonly padding: number;
  readonly outputPadding: number;

  constructor(backend: Backend, readonly inChannels: number, readonly outChannels: number, readonly kernelSize: number,
    options: ConvLayerOptions & { outputPadding?: number } = {}) {
    super(backend);
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.outputPadding = options.outputPadding ?? 0;
    this.weight = this.registerParameter('weight', Tensor.empty([inChannels, outChannels, kernelSize, kernelSize], backend))!;
    this.bias = this.registerParameter('bias', options.bias === false ? null : Tensor.empty([outChannels], backend));
    defaultInit(this.weight, this.bias, options.rng ?? getDefaultRng());
  }

  forward(x: Tensor): Tensor {
    return F.convTranspose2d(x, this.weight, this.bias, { stride: this.stride, padding: this.padding, outputPadding: this.outputPadding });
  }
}

export class Linear extends Module implements Initialisable {
  readonly initKind = 'weight';
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(backend: Backend, readonly inFeatures: number, readonly outFeatures: number, options: { bias?: boolean; rng?: Rng } = {}) {
    super(backend);
    this.weight = this.registerParameter('weight', Tensor.empty([outFeatures, inFeatures], backend))!;
    this.bias = this.registerParameter('bias', options.bias === false ? null : Tensor.empty([outFeatures], backend));
    defaultInit(this.weight, this.bias, options.rng ?? getDefaultRng());
  }

  forward(x: Tensor): Tensor {
    return F.linear(x, this.weight, this.bias);
  }
}

export type NormKind = 'instance' | 'batch' | 'none';

/** nn.InstanceNorm2d; the reference uses affine=False, track_running_stats=False. */
export class InstanceNorm2d extends Module implements Initialisable {
  readonly initKind = 'none';
  readonly normKind = 'instance';
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;

  constructor(backend: Backend, readonly numFeatures: number, options: { affine?: boolean; eps?: number } = {}) {
    super(backend);
    this.eps = options.eps ?? 1e-5;
    const affine = options.affine ?? false;
    this.weight = this.registerParameter('weight', affine ? Tensor.full([numFeatures], 1, backend) : null);
    this.bias = this.registerParameter('bias', affine ? Tensor.zeros([numFeatures], backend) : null);
  }

  readonly eps: number;

  forward(x: Tensor): Tensor {
    return F.instanceNorm(x, this.weight, this.bias, this.eps);
  }
}

/** nn.BatchNorm2d (affine, tracking running statistics; num_batches_tracked is not kept). */
export class BatchNorm2d extends Module implements Initialisable {
  readonly initKind = 'batchnorm';
  readonly normKind = 'batch';
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly eps: number;
  readonly momentum: number;

  constructor(backend: Backend, readonly numFeatures: number, options: { eps?: number; momentum?: number } = {}) {
    super(backend);
    this.eps = options.eps ?? 1e-5;
    this.momentum = options.momentum ?? 0.1;
    this.weight = this.registerParameter('weight', Tensor.full([numFeatures], 1, backend))!;
    this.bias = this.registerParameter('bias', Tensor.zeros([numFeatures], backend))!;
    this.runningMean = this.registerBuffer('running_mean', Tensor.zeros([numFeatures], backend));
    this.runningVar = this.registerBuffer('running_var', Tensor.full([numFeatures], 1, backend));
  }

  forward(x: Tensor): Tensor {
    return F.batchNorm(x, this.weight, this.bias, {
      runningMean: this.runningMean, runningVar: this.runningVar, training: this.training, momentum: this.momentum, eps: this.eps,
    });
  }
}

export class Identity extends Module {
  forward(x: Tensor): Tensor {
    return x;
  }
}

export class ReLU extends Module {
  forward(x: Tensor): Tensor {
    return F.relu(x);
  }
}

export class LeakyReLU extends Module {
  constructor(backend: Backend, readonly negativeSlope = 0.01) {
    super(backend);
  }

  forward(x: Tensor): Tensor {
    return F.leakyRelu(x, this.negativeSlope);
  }
}

export class Tanh extends Module {
  forward(x: Tensor): Tensor {
    return F.tanh(x);
  }
}

export class Sigmoid extends Module {
  forward(x: Tensor): Tensor {
    return F.sigmoid(x);
  }
}

/** nn.Dropout: active in training mode only; masks drawn from the given seeded Rng. */
export class Dropout extends Module {
  constructor(backend: Backend, readonly p: number, readonly rng: Rng) {
    super(backend);
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
  }

  forward(x: Tensor): Tensor {
    return this.training && this.p > 0 ? F.dropout(x, this.p, this.rng) : x;
  }
}

export class ReflectionPad2d extends Module {
  constructor(backend: Backend, readonly padding: number) {
    super(backend);
  }

  forward(x: Tensor): Tensor {
    return F.reflectionPad2d(x, this.padding);
  }
}

export class ZeroPad2d extends Module {
  constructor(backend: Backend, readonly padding: number) {
    super(backend);
  }

  forward(x: Tensor): Tensor {
    return F.zeroPad2d(x, this.padding);
  }
}

/** nn.Upsample(scale_factor=2, mode='nearest'). */
export class Upsample extends Module {
  readonly scaleFactor = 2;
  readonly mode = 'nearest';

  forward(x: Tensor): Tensor {
    return F.upsampleNearest2x(x);
  }
}

/** nn.Flatten(): [N, ...] -> [N, prod(...)]. */
export class Flatten extends Module {
  forward(x: Tensor): Tensor {
    return F.flatten(x);
  }
}

/** nn.Unflatten(1, shape): [N, prod(shape)] -> [N, ...shape]. */
export class Unflatten extends Module {
  constructor(backend: Backend, readonly shape: readonly number[]) {
    super(backend);
  }

  forward(x: Tensor): Tensor {
    return F.reshape(x, [x.shape[0], ...this.shape]);
  }
}

/**
 * nn.Sequential: children named 0, 1, 2, ... Each intermediate activation is released after the
 * next layer consumed it, so only what the backward needs stays alive. On the CPU backend a
 * ReflectionPad2d followed by an unpadded Conv2d runs as one reflection-padded conv (the
 * residual blocks' pad + 3x3 conv): no padded copy is stored, and Winograd reads the reflected
 * windows itself; an InstanceNorm2d followed by a ReLU runs as one kernel each way. The modules,
 * and so state_dict and ONNX export, stay as they are.
 */
export class Sequential extends Module {
  readonly layers: Module[];

  constructor(backend: Backend, layers: Module[]) {
    super(backend);
    this.layers = layers;
    layers.forEach((layer, i) => this.registerModule(String(i), layer));
  }

  forward(x: Tensor): Tensor {
    let h = x;
    for (let i = 0; i < this.layers.length; i++) {
      const layer = this.layers[i];
      const following = this.layers[i + 1];
      let next: Tensor;
      if (layer instanceof ReflectionPad2d && following instanceof Conv2d && fusesReflectionPad(h, layer.padding, following)) {
        next = following.forwardReflectPadded(h, layer.padding);
        i++;
      } else if (layer instanceof InstanceNorm2d && following instanceof ReLU && sequentialFusion.normRelu && F.hasInstanceNormRelu(h)) {
        next = F.instanceNormRelu(h, layer.weight, layer.bias, layer.eps);
        i++;
      } else {
        next = layer.forward(h);
      }
      if (h !== x && next !== h) h.release();
      h = next;
    }
    return h;
  }
}

/**
 * Sequential's fusions; $CGTRAIN_FUSE_PAD=0 keeps pad and conv apart, $CGTRAIN_FUSE_NORM_RELU=0
 * instance norm and ReLU (to compare).
 */
export const sequentialFusion = {
  reflectionPad: process.env.CGTRAIN_FUSE_PAD !== '0',
  normRelu: process.env.CGTRAIN_FUSE_NORM_RELU !== '0',
};

/**
 * Whether Sequential runs this pad + conv pair as one reflection-padded conv: on the CPU, where
 * the kernels read the reflected windows themselves. The CUDA backend takes the pad mode too, but
 * runs it as the pad kernel and the conv, and pads x again for the weight gradient: one launch
 * more than the separate modules.
 */
function fusesReflectionPad(x: Tensor, padding: number, conv: Conv2d): boolean {
  return sequentialFusion.reflectionPad && x.backend.kind === 'cpu' && conv.padding === 0 && x.shape.length === 4 &&
    padding < x.shape[2] && padding < x.shape[3];
}

/** The norm layer of the reference's get_norm_layer, or null for 'none' (nn.Identity). */
export function normLayer(backend: Backend, kind: NormKind, channels: number): Module {
  if (kind === 'instance') return new InstanceNorm2d(backend, channels);
  if (kind === 'batch') return new BatchNorm2d(backend, channels);
  if (kind === 'none') return new Identity(backend);
  throw new Error(`norm must be instance, batch or none, got '${String(kind)}'`);
}
