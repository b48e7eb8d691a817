/**
 * One exporter per layer kind: each appends the ONNX nodes (opset 17) that compute the layer in
 * eval mode and returns the name of its output value. They take plain parameter descriptions,
 * not modules, so the same code serves every generator and the hand-built graphs in the tests.
 * Weight layouts are PyTorch's, which are also ONNX's: Conv [out, in, kh, kw], ConvTranspose
 * [in, out, kh, kw], Linear [out, in].
 */
import { attr, type OnnxGraphBuilder } from './graph';

/** A named parameter tensor copied into the graph as an initializer. */
export interface Weight {
  name: string;
  shape: number[];
  data: Float32Array;
}

function init(b: OnnxGraphBuilder, w: Weight): string {
  return b.initializer(w.name, w.shape, w.data);
}

export interface ConvSpec {
  weight: Weight;
  bias?: Weight | null;
  stride: [number, number];
  padding: [number, number];
}

export function conv2d(b: OnnxGraphBuilder, x: string, spec: ConvSpec): string {
  const [, , kh, kw] = spec.weight.shape;
  const inputs = [x, init(b, spec.weight)];
  if (spec.bias) inputs.push(init(b, spec.bias));
  return b.node('Conv', inputs, {
    kernel_shape: attr.ints([kh, kw]),
    strides: attr.ints(spec.stride),
    pads: attr.ints([spec.padding[0], spec.padding[1], spec.padding[0], spec.padding[1]]),
  });
}

export interface ConvTransposeSpec extends ConvSpec {
  outputPadding: [number, number];
}

/** ONNX's output size rule with explicit pads and output_padding is PyTorch's, so no output_shape is needed. */
export function convTranspose2d(b: OnnxGraphBuilder, x: string, spec: ConvTransposeSpec): string {
  const [, , kh, kw] = spec.weight.shape;
  const inputs = [x, init(b, spec.weight)];
  if (spec.bias) inputs.push(init(b, spec.bias));
  return b.node('ConvTranspose', inputs, {
    kernel_shape: attr.ints([kh, kw]),
    strides: attr.ints(spec.stride),
    pads: attr.ints([spec.padding[0], spec.padding[1], spec.padding[0], spec.padding[1]]),
    output_padding: attr.ints(spec.outputPadding),
  });
}

/** Padding amounts in PyTorch's order: left, right, top, bottom. */
export type Padding2d = [number, number, number, number];

function pad(b: OnnxGraphBuilder, x: string, [left, right, top, bottom]: Padding2d, mode: 'reflect' | 'constant'): string {
  // ONNX pads: all begins (N, C, H, W) then all ends.
  const pads = b.int64Initializer('pads', [8], [0, 0, top, left, 0, 0, bottom, right]);
  return b.node('Pad', [x, pads], { mode: attr.string(mode) });
}

export function reflectionPad2d(b: OnnxGraphBuilder, x: string, padding: Padding2d): string {
  return pad(b, x, padding, 'reflect');
}

export function zeroPad2d(b: OnnxGraphBuilder, x: string, padding: Padding2d): string {
  return pad(b, x, padding, 'constant');
}

export interface NormSpec {
  channels: number;
  eps: number;
  /** the affine parameters; absent when the layer has none (they are then 1 and 0) */
  weight?: Weight | null;
  bias?: Weight | null;
}

function affineOrIdentity(b: OnnxGraphBuilder, spec: NormSpec, prefix: string): [string, string] {
  const scale = spec.weight ? init(b, spec.weight) : b.initializer(`${prefix}.scale_one`, [spec.channels], new Float32Array(spec.channels).fill(1));
  const shift = spec.bias ? init(b, spec.bias) : b.initializer(`${prefix}.bias_zero`, [spec.channels], new Float32Array(spec.channels));
  return [scale, shift];
}

/** Instance norm always uses the statistics of the instance, in eval mode as in training (PyTorch's default). */
export function instanceNorm(b: OnnxGraphBuilder, x: string, spec: NormSpec & { name: string }): string {
  const [scale, shift] = affineOrIdentity(b, spec, spec.name);
  return b.node('InstanceNormalization', [x, scale, shift], { epsilon: attr.float(spec.eps) });
}

export interface BatchNormSpec extends NormSpec {
  name: string;
  runningMean: Weight;
  runningVar: Weight;
}

/** Eval-mode batch norm: normalises with the running statistics. */
export function batchNorm(b: OnnxGraphBuilder, x: string, spec: BatchNormSpec): string {
  const [scale, shift] = affineOrIdentity(b, spec, spec.name);
  return b.node('BatchNormalization', [x, scale, shift, init(b, spec.runningMean), init(b, spec.runningVar)], {
    epsilon: attr.float(spec.eps),
  });
}

export function relu(b: OnnxGraphBuilder, x: string): string {
  return b.node('Relu', [x]);
}

export function leakyRelu(b: OnnxGraphBuilder, x: string, slope: number): string {
  return b.node('LeakyRelu', [x], { alpha: attr.float(slope) });
}

export function tanh(b: OnnxGraphBuilder, x: string): string {
  return b.node('Tanh', [x]);
}

export function sigmoid(b: OnnxGraphBuilder, x: string): string {
  return b.node('Sigmoid', [x]);
}

/** Nearest-neighbour upsampling by an integer factor: output pixel i reads input floor(i / scale). */
export function upsampleNearest(b: OnnxGraphBuilder, x: string, scale: number): string {
  const scales = b.initializer('upsample_scales', [4], Float32Array.from([1, 1, scale, scale]));
  return b.node('Resize', [x, '', scales], {
    mode: attr.string('nearest'),
    coordinate_transformation_mode: attr.string('asymmetric'),
    nearest_mode: attr.string('floor'),
  });
}

/** Concatenation along the channel axis (the U-Net skip connections). */
export function concatChannels(b: OnnxGraphBuilder, values: string[]): string {
  return b.node('Concat', values, { axis: attr.int(1) });
}

/** A fully connected layer: y = x W^T + b with W of shape [out, in], as Gemm with transB. */
export function linear(b: OnnxGraphBuilder, x: string, spec: { weight: Weight; bias?: Weight | null }): string {
  const inputs = [x, init(b, spec.weight)];
  if (spec.bias) inputs.push(init(b, spec.bias));
  return b.node('Gemm', inputs, { transB: attr.int(1) });
}

/** [N, ...] -> [N, prod(...)]. */
export function flatten(b: OnnxGraphBuilder, x: string): string {
  return b.node('Flatten', [x], { axis: attr.int(1) });
}

/** Reshape to `shape`; -1 keeps the batch dimension dynamic. */
export function reshape(b: OnnxGraphBuilder, x: string, shape: number[]): string {
  const target = b.int64Initializer('shape', [shape.length], shape);
  return b.node('Reshape', [x, target]);
}

/** Elementwise sum (the resnet blocks' skip connection). */
export function add(b: OnnxGraphBuilder, x: string, y: string): string {
  return b.node('Add', [x, y]);
}
