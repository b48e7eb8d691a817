/**
 * The FID Inception-v3 as an ONNX file, made from pytorch-fid's weights without Python.
 *
 * pytorch-fid (and most papers' FID) uses the TensorFlow Inception graph of 2015-12-05, ported
 * to PyTorch as pt_inception-2015-12-05-6726825d.pth: torchvision's Inception3 with 1008
 * classes, no aux logits, and pooling that follows the TensorFlow graph (the pool branches of
 * Mixed_5b..7b average without counting the padding, Mixed_7c's pool branch takes the max).
 * buildFidInception() writes that network in ONNX (eval-mode batch norm, eps 0.001) with the
 * interface ./inception.ts expects: input `images` [N, 3, 299, 299] in [-1, 1], output 0
 * `pool3` [N, 2048] (the FID features), output 1 `logits` [N, 1008] (for IS).
 */
import { OnnxGraphBuilder, attr } from '../export/graph';
import * as L from '../export/layers';
import { encodeModel } from '../export/proto';
import type { PthTensor } from './pth';

export const FID_INCEPTION_CLASSES = 1008;
const BN_EPS = 0.001;

class Weights {
  constructor(private readonly tensors: Map<string, PthTensor>, private readonly source: string) {}

  get(name: string, shape: number[]): L.Weight {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`cgtrain: ${this.source} has no tensor ${name}: it is not pytorch-fid's FID Inception-v3 state dict (pt_inception-2015-12-05)`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`cgtrain: ${this.source}: ${name} has shape [${t.shape.join(', ')}], the FID Inception-v3 needs [${shape.join(', ')}]`);
    }
    return { name, shape, data: t.data };
  }
}

type Kernel = number | [number, number];
const pair = (k: Kernel): [number, number] => (typeof k === 'number' ? [k, k] : k);

/** torchvision's BasicConv2d: conv without bias, batch norm (eps 0.001), ReLU. */
function basicConv(b: OnnxGraphBuilder, w: Weights, x: string, prefix: string, cin: number, cout: number, kernel: Kernel, o: { stride?: number; padding?: Kernel } = {}): string {
  const [kh, kw] = pair(kernel);
  const stride = o.stride ?? 1;
  const conv = L.conv2d(b, x, { weight: w.get(`${prefix}.conv.weight`, [cout, cin, kh, kw]), stride: [stride, stride], padding: pair(o.padding ?? 0) });
  const bn = L.batchNorm(b, conv, {
    name: `${prefix}.bn`, channels: cout, eps: BN_EPS,
    weight: w.get(`${prefix}.bn.weight`, [cout]), bias: w.get(`${prefix}.bn.bias`, [cout]),
    runningMean: w.get(`${prefix}.bn.running_mean`, [cout]), runningVar: w.get(`${prefix}.bn.running_var`, [cout]),
  });
  return L.relu(b, bn);
}

function maxPool(b: OnnxGraphBuilder, x: string, stride: number, pad: number): string {
  return b.node('MaxPool', [x], { kernel_shape: attr.ints([3, 3]), strides: attr.ints([stride, stride]), pads: attr.ints([pad, pad, pad, pad]) });
}

/** 3x3, stride 1, padding 1, the padding not counted (TensorFlow's SAME average pool). */
function avgPool(b: OnnxGraphBuilder, x: string): string {
  return b.node('AveragePool', [x], { kernel_shape: attr.ints([3, 3]), strides: attr.ints([1, 1]), pads: attr.ints([1, 1, 1, 1]), count_include_pad: attr.int(0) });
}

function inceptionA(b: OnnxGraphBuilder, w: Weights, x: string, p: string, cin: number, poolFeatures: number): string {
  const b1 = basicConv(b, w, x, `${p}.branch1x1`, cin, 64, 1);
  const b5 = basicConv(b, w, basicConv(b, w, x, `${p}.branch5x5_1`, cin, 48, 1), `${p}.branch5x5_2`, 48, 64, 5, { padding: 2 });
  let d = basicConv(b, w, x, `${p}.branch3x3dbl_1`, cin, 64, 1);
  d = basicConv(b, w, d, `${p}.branch3x3dbl_2`, 64, 96, 3, { padding: 1 });
  d = basicConv(b, w, d, `${p}.branch3x3dbl_3`, 96, 96, 3, { padding: 1 });
  const pool = basicConv(b, w, avgPool(b, x), `${p}.branch_pool`, cin, poolFeatures, 1);
  return L.concatChannels(b, [b1, b5, d, pool]);
}

function inceptionB(b: OnnxGraphBuilder, w: Weights, x: string, p: string, cin: number): string {
  const b3 = basicConv(b, w, x, `${p}.branch3x3`, cin, 384, 3, { stride: 2 });
  let d = basicConv(b, w, x, `${p}.branch3x3dbl_1`, cin, 64, 1);
  d = basicConv(b, w, d, `${p}.branch3x3dbl_2`, 64, 96, 3, { padding: 1 });
  d = basicConv(b, w, d, `${p}.branch3x3dbl_3`, 96, 96, 3, { stride: 2 });
  return L.concatChannels(b, [b3, d, maxPool(b, x, 2, 0)]);
}

function inceptionC(b: OnnxGraphBuilder, w: Weights, x: string, p: string, c7: number): string {
  const cin = 768;
  const b1 = basicConv(b, w, x, `${p}.branch1x1`, cin, 192, 1);
  let s = basicConv(b, w, x, `${p}.branch7x7_1`, cin, c7, 1);
  s = basicConv(b, w, s, `${p}.branch7x7_2`, c7, c7, [1, 7], { padding: [0, 3] });
  s = basicConv(b, w, s, `${p}.branch7x7_3`, c7, 192, [7, 1], { padding: [3, 0] });
  let d = basicConv(b, w, x, `${p}.branch7x7dbl_1`, cin, c7, 1);
  d = basicConv(b, w, d, `${p}.branch7x7dbl_2`, c7, c7, [7, 1], { padding: [3, 0] });
  d = basicConv(b, w, d, `${p}.branch7x7dbl_3`, c7, c7, [1, 7], { padding: [0, 3] });
  d = basicConv(b, w, d, `${p}.branch7x7dbl_4`, c7, c7, [7, 1], { padding: [3, 0] });
  d = basicConv(b, w, d, `${p}.branch7x7dbl_5`, c7, 192, [1, 7], { padding: [0, 3] });
  const pool = basicConv(b, w, avgPool(b, x), `${p}.branch_pool`, cin, 192, 1);
  return L.concatChannels(b, [b1, s, d, pool]);
}

function inceptionD(b: OnnxGraphBuilder, w: Weights, x: string, p: string): string {
  const cin = 768;
  const b3 = basicConv(b, w, basicConv(b, w, x, `${p}.branch3x3_1`, cin, 192, 1), `${p}.branch3x3_2`, 192, 320, 3, { stride: 2 });
  let s = basicConv(b, w, x, `${p}.branch7x7x3_1`, cin, 192, 1);
  s = basicConv(b, w, s, `${p}.branch7x7x3_2`, 192, 192, [1, 7], { padding: [0, 3] });
  s = basicConv(b, w, s, `${p}.branch7x7x3_3`, 192, 192, [7, 1], { padding: [3, 0] });
  s = basicConv(b, w, s, `${p}.branch7x7x3_4`, 192, 192, 3, { stride: 2 });
  return L.concatChannels(b, [b3, s, maxPool(b, x, 2, 0)]);
}

/** Mixed_7b (average pool branch) and Mixed_7c (max pool branch, as in the TensorFlow graph). */
function inceptionE(b: OnnxGraphBuilder, w: Weights, x: string, p: string, cin: number, maxPoolBranch: boolean): string {
  const b1 = basicConv(b, w, x, `${p}.branch1x1`, cin, 320, 1);
  const t = basicConv(b, w, x, `${p}.branch3x3_1`, cin, 384, 1);
  const b3 = L.concatChannels(b, [
    basicConv(b, w, t, `${p}.branch3x3_2a`, 384, 384, [1, 3], { padding: [0, 1] }),
    basicConv(b, w, t, `${p}.branch3x3_2b`, 384, 384, [3, 1], { padding: [1, 0] }),
  ]);
  const d = basicConv(b, w, basicConv(b, w, x, `${p}.branch3x3dbl_1`, cin, 448, 1), `${p}.branch3x3dbl_2`, 448, 384, 3, { padding: 1 });
  const bd = L.concatChannels(b, [
    basicConv(b, w, d, `${p}.branch3x3dbl_3a`, 384, 384, [1, 3], { padding: [0, 1] }),
    basicConv(b, w, d, `${p}.branch3x3dbl_3b`, 384, 384, [3, 1], { padding: [1, 0] }),
  ]);
  const pooled = maxPoolBranch ? maxPool(b, x, 1, 1) : avgPool(b, x);
  const pool = basicConv(b, w, pooled, `${p}.branch_pool`, cin, 192, 1);
  return L.concatChannels(b, [b1, b3, bd, pool]);
}

/**
 * The ONNX model (encoded bytes) of the FID Inception-v3 with `tensors` (a state dict as
 * readPth gives it). `source` names the weights in errors and in the model's metadata.
 */
export function buildFidInception(tensors: Map<string, PthTensor>, source: string, producerVersion: string): Uint8Array {
  const w = new Weights(tensors, source);
  const b = new OnnxGraphBuilder('fid_inception_v3');
  let x = b.input('images', ['N', 3, 299, 299]);
  x = basicConv(b, w, x, 'Conv2d_1a_3x3', 3, 32, 3, { stride: 2 });
  x = basicConv(b, w, x, 'Conv2d_2a_3x3', 32, 32, 3);
  x = basicConv(b, w, x, 'Conv2d_2b_3x3', 32, 64, 3, { padding: 1 });
  x = maxPool(b, x, 2, 0);
  x = basicConv(b, w, x, 'Conv2d_3b_1x1', 64, 80, 1);
  x = basicConv(b, w, x, 'Conv2d_4a_3x3', 80, 192, 3);
  x = maxPool(b, x, 2, 0);
  x = inceptionA(b, w, x, 'Mixed_5b', 192, 32);
  x = inceptionA(b, w, x, 'Mixed_5c', 256, 64);
  x = inceptionA(b, w, x, 'Mixed_5d', 288, 64);
  x = inceptionB(b, w, x, 'Mixed_6a', 288);
  x = inceptionC(b, w, x, 'Mixed_6b', 128);
  x = inceptionC(b, w, x, 'Mixed_6c', 160);
  x = inceptionC(b, w, x, 'Mixed_6d', 160);
  x = inceptionC(b, w, x, 'Mixed_6e', 192);
  x = inceptionD(b, w, x, 'Mixed_7a');
  x = inceptionE(b, w, x, 'Mixed_7b', 1280, false);
  x = inceptionE(b, w, x, 'Mixed_7c', 2048, true);
  const pool3 = L.flatten(b, b.node('GlobalAveragePool', [x]));
  const logits = L.linear(b, pool3, { weight: w.get('fc.weight', [FID_INCEPTION_CLASSES, 2048]), bias: w.get('fc.bias', [FID_INCEPTION_CLASSES]) });
  b.output(pool3, 'pool3', ['N', 2048]);
  b.output(logits, 'logits', ['N', FID_INCEPTION_CLASSES]);
  return encodeModel(b.toModel({
    producerVersion,
    docString: 'pytorch-fid FID Inception-v3 (TensorFlow 2015-12-05 graph): images [N,3,299,299] in [-1,1] -> pool3 [N,2048], logits [N,1008]',
    metadata: { 'cgtrain.model': 'fid_inception_v3', 'cgtrain.weights': source },
  }));
}
