/**
 * Walks a generator module tree (src/nn) and emits the equivalent ONNX graph in eval mode: batch
 * norm uses its running statistics, dropout is the identity. Initializers take the module's
 * state-dict names (`model.1.weight`, ...), so the graph reads like the PyTorch model. A module
 * kind without an exporter is an error naming its path, never a silently wrong graph.
 */
import type { Tensor } from '../tensor';
import type { Module } from '../nn/module';
import {
  BatchNorm2d, Conv2d, ConvTranspose2d, Dropout, Flatten, Identity, InstanceNorm2d, LeakyReLU, Linear, ReflectionPad2d, ReLU,
  Sequential, Sigmoid, Tanh, Unflatten, Upsample, ZeroPad2d,
} from '../nn/layers';
import { MlpGenerator, ResnetBlock, ResnetGenerator, UnetGenerator, UnetSkipConnectionBlock } from '../nn/generators';
import { OnnxGraphBuilder, type Dim } from './graph';
import * as L from './layers';
import { cgtrainVersion, generatorMetadata, sizeConstraint, type GeneratorDescription } from './metadata';
import type { ModelProto } from './proto';

const join = (prefix: string, name: string) => (prefix ? `${prefix}.${name}` : name);

function weight(t: Tensor, name: string): L.Weight {
  return { name, shape: t.shape.slice(), data: t.toFloat32Array() };
}

function maybeWeight(t: Tensor | null, name: string): L.Weight | null {
  return t ? weight(t, name) : null;
}

function emitSequence(b: OnnxGraphBuilder, layers: readonly Module[], x: string, path: string, first = 0): string {
  let v = x;
  for (let i = first; i < layers.length; i++) v = emitModule(b, layers[i], v, join(path, String(i)));
  return v;
}

/** Layers with parameters: each becomes one ONNX node plus its initializers. */
function emitParametric(b: OnnxGraphBuilder, m: Module, x: string, path: string): string | null {
  if (m instanceof Conv2d) {
    return L.conv2d(b, x, { weight: weight(m.weight, join(path, 'weight')), bias: maybeWeight(m.bias, join(path, 'bias')), stride: [m.stride, m.stride], padding: [m.padding, m.padding] });
  }
  if (m instanceof ConvTranspose2d) {
    return L.convTranspose2d(b, x, {
      weight: weight(m.weight, join(path, 'weight')),
      bias: maybeWeight(m.bias, join(path, 'bias')),
      stride: [m.stride, m.stride],
      padding: [m.padding, m.padding],
      outputPadding: [m.outputPadding, m.outputPadding],
    });
  }
  if (m instanceof Linear) return L.linear(b, x, { weight: weight(m.weight, join(path, 'weight')), bias: maybeWeight(m.bias, join(path, 'bias')) });
  if (m instanceof InstanceNorm2d) {
    return L.instanceNorm(b, x, { name: path, channels: m.numFeatures, eps: m.eps, weight: maybeWeight(m.weight, join(path, 'weight')), bias: maybeWeight(m.bias, join(path, 'bias')) });
  }
  if (m instanceof BatchNorm2d) {
    return L.batchNorm(b, x, {
      name: path,
      channels: m.numFeatures,
      eps: m.eps,
      weight: weight(m.weight, join(path, 'weight')),
      bias: weight(m.bias, join(path, 'bias')),
      runningMean: weight(m.runningMean, join(path, 'running_mean')),
      runningVar: weight(m.runningVar, join(path, 'running_var')),
    });
  }
  return null;
}

/** Parameter-free layers. */
function emitElementwise(b: OnnxGraphBuilder, m: Module, x: string): string | null {
  if (m instanceof Identity || m instanceof Dropout) return x;
  if (m instanceof ReLU) return L.relu(b, x);
  if (m instanceof LeakyReLU) return L.leakyRelu(b, x, m.negativeSlope);
  if (m instanceof Tanh) return L.tanh(b, x);
  if (m instanceof Sigmoid) return L.sigmoid(b, x);
  if (m instanceof ReflectionPad2d) return L.reflectionPad2d(b, x, [m.padding, m.padding, m.padding, m.padding]);
  if (m instanceof ZeroPad2d) return L.zeroPad2d(b, x, [m.padding, m.padding, m.padding, m.padding]);
  if (m instanceof Upsample) return L.upsampleNearest(b, x, m.scaleFactor);
  if (m instanceof Flatten) return L.flatten(b, x);
  if (m instanceof Unflatten) return L.reshape(b, x, [-1, ...m.shape]);
  return null;
}

/** Containers and blocks with their own data flow (skip connections). */
function emitComposite(b: OnnxGraphBuilder, m: Module, x: string, path: string): string | null {
  if (m instanceof Sequential) return emitSequence(b, m.layers, x, path);
  if (m instanceof ResnetGenerator || m instanceof MlpGenerator) return emitModule(b, m.model, x, join(path, 'model'));
  if (m instanceof UnetGenerator) return emitModule(b, m.model, x, join(path, 'model'));
  if (m instanceof ResnetBlock) return L.add(b, x, emitModule(b, m.convBlock, x, join(path, 'conv_block')));
  if (m instanceof UnetSkipConnectionBlock) {
    const inner = join(path, 'model');
    if (m.outermost) return emitModule(b, m.model, x, inner);
    // The skip concatenates the block's first activation, as the reference's in-place LeakyReLU does.
    const activated = emitModule(b, m.model.layers[0], x, join(inner, '0'));
    return L.concatChannels(b, [activated, emitSequence(b, m.model.layers, activated, inner, 1)]);
  }
  return null;
}

export function emitModule(b: OnnxGraphBuilder, m: Module, x: string, path: string): string {
  const out = emitParametric(b, m, x, path) ?? emitElementwise(b, m, x) ?? emitComposite(b, m, x, path);
  if (out === null) throw new Error(`cgtrain export: no ONNX exporter for ${m.constructor.name} at '${path || '(root)'}'`);
  return out;
}

/** The whole generator as an ONNX model with cgtrain's metadata. */
export function generatorToOnnx(generator: Module, g: GeneratorDescription): ModelProto {
  const size = sizeConstraint(g.netG, g.imageSize);
  const spatial = (prefix: string): Dim[] => (size.fixed ? [g.imageSize, g.imageSize] : [`${prefix}height`, `${prefix}width`]);
  const b = new OnnxGraphBuilder(`cgtrain_${g.netG}_${g.direction}`);
  const input = b.input('input', ['batch', g.inputChannels, ...spatial('')]);
  const out = emitModule(b, generator, input, '');
  // resnet outputs differ from the input size when it is not a multiple of 4: separate names
  b.output(out, 'output', ['batch', g.outputChannels, ...spatial('out_')]);
  return b.toModel({
    producerVersion: cgtrainVersion(),
    docString: `CycleGAN generator ${g.netG} (${g.direction}); inputs NCHW float32 in [-1, 1]; see metadata_props`,
    metadata: generatorMetadata(g),
  });
}
