/** define_G / define_D of the reference: build a network by name and initialise it. */
import type { Backend } from '../backend/device';
import type { Rng } from '../util/rng';
import { Module } from './module';
import type { NormKind } from './layers';
import { initWeights, type InitType } from './init';
import { MlpGenerator, ResnetGenerator, UnetGenerator } from './generators';
import { NLayerDiscriminator, PixelDiscriminator, ResNet34Discriminator } from './discriminators';

export const GENERATORS = ['resnet_9blocks', 'resnet_6blocks', 'unet_256', 'unet_128', 'unet_32', 'mlp'] as const;
export type GeneratorName = (typeof GENERATORS)[number];
export const DISCRIMINATORS = ['basic', 'n_layers', 'pixel', 'resnet34'] as const;
export type DiscriminatorName = (typeof DISCRIMINATORS)[number];

export interface GeneratorSpec {
  netG: GeneratorName;
  inputNc: number;
  outputNc: number;
  ngf: number;
  norm: NormKind;
  useDropout: boolean;
  upsample: 'transpose' | 'resize';
  /** needed by 'mlp' only */
  imageSize: number;
  initType: InitType;
  initGain: number;
}

export function defineG(backend: Backend, spec: GeneratorSpec, rng: Rng): Module {
  const { inputNc, outputNc, ngf, norm, useDropout } = spec;
  let net: Module;
  switch (spec.netG) {
    case 'resnet_9blocks':
    case 'resnet_6blocks':
      net = new ResnetGenerator(backend, { inputNc, outputNc, ngf, norm, useDropout, nBlocks: spec.netG === 'resnet_9blocks' ? 9 : 6, upsample: spec.upsample }, rng);
      break;
    case 'unet_256':
    case 'unet_128':
    case 'unet_32':
      net = new UnetGenerator(backend, { inputNc, outputNc, ngf, norm, useDropout, numDowns: { unet_256: 8, unet_128: 7, unet_32: 5 }[spec.netG] }, rng);
      break;
    case 'mlp':
      net = new MlpGenerator(backend, { inputNc, outputNc, ngf, imageSize: spec.imageSize });
      break;
    default:
      throw new Error(`netG must be one of ${GENERATORS.join(', ')}, got '${String(spec.netG)}'`);
  }
  initWeights(net, spec.initType, spec.initGain, rng);
  return net;
}

export interface DiscriminatorSpec {
  netD: DiscriminatorName;
  inputNc: number;
  ndf: number;
  nLayersD: number;
  norm: NormKind;
  initType: InitType;
  initGain: number;
}

export function defineD(backend: Backend, spec: DiscriminatorSpec, rng: Rng): Module {
  const { inputNc, ndf, norm } = spec;
  let net: Module;
  switch (spec.netD) {
    case 'basic':
      net = new NLayerDiscriminator(backend, { inputNc, ndf, nLayers: 3, norm });
      break;
    case 'n_layers':
      net = new NLayerDiscriminator(backend, { inputNc, ndf, nLayers: spec.nLayersD, norm });
      break;
    case 'pixel':
      net = new PixelDiscriminator(backend, { inputNc, ndf, norm });
      break;
    case 'resnet34':
      net = new ResNet34Discriminator(backend, { inputNc, ndf, norm });
      break;
    default:
      throw new Error(`netD must be one of ${DISCRIMINATORS.join(', ')}, got '${String(spec.netD)}'`);
  }
  initWeights(net, spec.initType, spec.initGain, rng);
  return net;
}
