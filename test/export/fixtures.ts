/**
 * Small ONNX generators built by hand with the graph builder and cgtrain's metadata, for the tests
 * of translation, the examples and the browser page that must not wait on a trained model.
 */
import * as fs from 'fs';
import * as path from 'path';
import { OnnxGraphBuilder } from '../../src/export/graph';
import * as L from '../../src/export/layers';
import { generatorMetadata, type Direction } from '../../src/export/metadata';
import { encodeModel } from '../../src/export/proto';
import { randomArray } from '../util/native';

export interface TinyGeneratorOptions {
  inputChannels: number;
  outputChannels: number;
  imageSize: number;
  direction?: Direction;
  netG?: string;
}

/** conv3x3 (reflect-padded) -> instance norm -> ReLU -> conv1x1 -> tanh, with seeded weights. */
export function writeTinyGenerator(file: string, o: TinyGeneratorOptions): string {
  const hidden = 4;
  const b = new OnnxGraphBuilder('tiny_generator');
  const fixed = o.netG === 'mlp';
  const dims = fixed ? ['batch', o.inputChannels, o.imageSize, o.imageSize] : ['batch', o.inputChannels, 'height', 'width'];
  let v = L.reflectionPad2d(b, b.input('input', dims), [1, 1, 1, 1]);
  v = L.conv2d(b, v, { weight: { name: 'model.1.weight', shape: [hidden, o.inputChannels, 3, 3], data: randomArray(hidden * o.inputChannels * 9, 21, -0.5, 0.5) }, stride: [1, 1], padding: [0, 0] });
  v = L.relu(b, L.instanceNorm(b, v, { name: 'model.2', channels: hidden, eps: 1e-5 }));
  v = L.conv2d(b, v, {
    weight: { name: 'model.4.weight', shape: [o.outputChannels, hidden, 1, 1], data: randomArray(hidden * o.outputChannels, 22) },
    bias: { name: 'model.4.bias', shape: [o.outputChannels], data: randomArray(o.outputChannels, 23, -0.1, 0.1) },
    stride: [1, 1],
    padding: [0, 0],
  });
  v = L.tanh(b, v);
  b.output(v, 'output', fixed ? ['batch', o.outputChannels, o.imageSize, o.imageSize] : ['batch', o.outputChannels, 'height', 'width']);
  const metadata = generatorMetadata({
    direction: o.direction ?? 'AtoB',
    netG: o.netG ?? 'resnet_6blocks',
    inputChannels: o.inputChannels,
    outputChannels: o.outputChannels,
    imageSize: o.imageSize,
    norm: 'instance',
    upsample: 'transpose',
    options: { test: true },
  });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, encodeModel(b.toModel({ producerVersion: 'test', metadata })));
  return file;
}
