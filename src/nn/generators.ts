/**
 * Generators of the reference junyanz/pytorch-CycleGAN-and-pix2pix models/networks.py, built
 * with the same layer order so state-dict names match (`model.1.weight`,
 * `model.10.conv_block.1.weight`, `model.model.1.model.1.weight`, ...), plus a fully connected
 * generator for tiny images.
 */
import type { Backend } from '../backend/device';
import { Tensor } from '../tensor';
import * as F from '../ops';
import type { Rng } from '../util/rng';
import { Module } from './module';
import {
  Conv2d, ConvTranspose2d, Dropout, Flatten, LeakyReLU, Linear, ReflectionPad2d, ReLU, Sequential, Tanh, Unflatten, Upsample,
  normLayer, type NormKind,
} from './layers';

/** The reference's use_bias: convs feeding an instance norm carry a bias, others do not. */
export function convBias(norm: NormKind): boolean {
  return norm === 'instance';
}

export class ResnetBlock extends Module {
  readonly convBlock: Sequential;

  constructor(backend: Backend, readonly dim: number, norm: NormKind, useDropout: boolean, useBias: boolean, rng: Rng) {
    super(backend);
    const layers: Module[] = [
      new ReflectionPad2d(backend, 1), new Conv2d(backend, dim, dim, 3, { bias: useBias }), normLayer(backend, norm, dim), new ReLU(backend),
    ];
    if (useDropout) layers.push(new Dropout(backend, 0.5, rng));
    layers.push(new ReflectionPad2d(backend, 1), new Conv2d(backend, dim, dim, 3, { bias: useBias }), normLayer(backend, norm, dim));
    this.convBlock = this.registerModule('conv_block', new Sequential(backend, layers));
  }

  forward(x: Tensor): Tensor {
    const residual = this.convBlock.forward(x);
    const y = F.add(x, residual);
    residual.release();
    return y;
  }
}

export interface ResnetGeneratorOptions {
  inputNc: number;
  outputNc: number;
  ngf: number;
  norm: NormKind;
  useDropout: boolean;
  nBlocks: number;
  /** 'transpose' as the reference; 'resize' = nearest 2x upsampling + reflection pad + 3x3 conv */
  upsample: 'transpose' | 'resize';
}

export class ResnetGenerator extends Module {
  readonly model: Sequential;

  constructor(backend: Backend, readonly options: ResnetGeneratorOptions, rng: Rng) {
    super(backend);
    const { inputNc, outputNc, ngf, norm, useDropout, nBlocks, upsample } = options;
    if (!(nBlocks >= 0)) throw new Error(`ResnetGenerator: nBlocks must be >= 0, got ${nBlocks}`);
    const useBias = convBias(norm);
    const layers: Module[] = [
      new ReflectionPad2d(backend, 3), new Conv2d(backend, inputNc, ngf, 7, { bias: useBias }), normLayer(backend, norm, ngf), new ReLU(backend),
    ];
    const nDownsampling = 2;
    for (let i = 0; i < nDownsampling; i++) {
      const mult = 2 ** i;
      layers.push(new Conv2d(backend, ngf * mult, ngf * mult * 2, 3, { stride: 2, padding: 1, bias: useBias }),
        normLayer(backend, norm, ngf * mult * 2), new ReLU(backend));
    }
    const mult = 2 ** nDownsampling;
    for (let i = 0; i < nBlocks; i++) layers.push(new ResnetBlock(backend, ngf * mult, norm, useDropout, useBias, rng));
    for (let i = 0; i < nDownsampling; i++) {
      const m = 2 ** (nDownsampling - i);
      const outC = Math.floor((ngf * m) / 2);
      if (upsample === 'transpose') {
        layers.push(new ConvTranspose2d(backend, ngf * m, outC, 3, { stride: 2, padding: 1, outputPadding: 1, bias: useBias }));
      } else if (upsample === 'resize') {
        layers.push(new Upsample(backend), new ReflectionPad2d(backend, 1), new Conv2d(backend, ngf * m, outC, 3, { bias: useBias }));
      } else {
        throw new Error(`ResnetGenerator: upsample must be 'transpose' or 'resize', got '${String(upsample)}'`);
      }
      layers.push(normLayer(backend, norm, outC), new ReLU(backend));
    }
    layers.push(new ReflectionPad2d(backend, 3), new Conv2d(backend, ngf, outputNc, 7), new Tanh(backend));
    this.model = this.registerModule('model', new Sequential(backend, layers));
  }

  forward(x: Tensor): Tensor {
    return this.model.forward(x);
  }
}

/**
 * UnetSkipConnectionBlock. The reference's downrelu is LeakyReLU(0.2, inplace=True) applied to
 * the block input, so its skip connection concatenates leaky_relu(x), not x; we reproduce that.
 * (The parent applies ReLU right after the concat and relu(leaky_relu(x)) = relu(x), so outputs
 * and gradients equal those of a plain skip; test/train/cyclegan-torch.test.ts checks the unet
 * against PyTorch.)
 */
export class UnetSkipConnectionBlock extends Module {
  readonly model: Sequential;
  readonly outermost: boolean;
  readonly innermost: boolean;

  constructor(backend: Backend, outerNc: number, innerNc: number, opts: {
    inputNc?: number; submodule?: UnetSkipConnectionBlock; outermost?: boolean; innermost?: boolean; norm: NormKind; useDropout?: boolean; rng: Rng;
  }) {
    super(backend);
    this.outermost = opts.outermost ?? false;
    this.innermost = opts.innermost ?? false;
    const useBias = convBias(opts.norm);
    const inputNc = opts.inputNc ?? outerNc;
    const downconv = new Conv2d(backend, inputNc, innerNc, 4, { stride: 2, padding: 1, bias: useBias });
    let layers: Module[];
    if (this.outermost) {
      const upconv = new ConvTranspose2d(backend, innerNc * 2, outerNc, 4, { stride: 2, padding: 1 });
      layers = [downconv, opts.submodule!, new ReLU(backend), upconv, new Tanh(backend)];
    } else if (this.innermost) {
      const upconv = new ConvTranspose2d(backend, innerNc, outerNc, 4, { stride: 2, padding: 1, bias: useBias });
      layers = [new LeakyReLU(backend, 0.2), downconv, new ReLU(backend), upconv, normLayer(backend, opts.norm, outerNc)];
    } else {
      const upconv = new ConvTranspose2d(backend, innerNc * 2, outerNc, 4, { stride: 2, padding: 1, bias: useBias });
      layers = [new LeakyReLU(backend, 0.2), downconv, normLayer(backend, opts.norm, innerNc), opts.submodule!,
        new ReLU(backend), upconv, normLayer(backend, opts.norm, outerNc)];
      if (opts.useDropout) layers.push(new Dropout(backend, 0.5, opts.rng));
    }
    if (!this.innermost && !opts.submodule) throw new Error('UnetSkipConnectionBlock: a non-innermost block needs a submodule');
    this.model = this.registerModule('model', new Sequential(backend, layers));
  }

  forward(x: Tensor): Tensor {
    if (this.outermost) return this.model.forward(x);
    const activated = this.model.layers[0].forward(x);
    let h = activated;
    for (let i = 1; i < this.model.layers.length; i++) {
      const next = this.model.layers[i].forward(h);
      if (h !== activated && next !== h) h.release();
      h = next;
    }
    const y = F.concatChannels(activated, h);
    activated.release();
    h.release();
    return y;
  }
}

export class UnetGenerator extends Module {
  readonly model: UnetSkipConnectionBlock;

  constructor(backend: Backend, readonly options: { inputNc: number; outputNc: number; numDowns: number; ngf: number; norm: NormKind; useDropout: boolean }, rng: Rng) {
    super(backend);
    const { inputNc, outputNc, numDowns, ngf, norm, useDropout } = options;
    if (numDowns < 5) throw new Error(`UnetGenerator: numDowns must be >= 5, got ${numDowns}`);
    let block = new UnetSkipConnectionBlock(backend, ngf * 8, ngf * 8, { innermost: true, norm, rng });
    for (let i = 0; i < numDowns - 5; i++) block = new UnetSkipConnectionBlock(backend, ngf * 8, ngf * 8, { submodule: block, norm, useDropout, rng });
    block = new UnetSkipConnectionBlock(backend, ngf * 4, ngf * 8, { submodule: block, norm, rng });
    block = new UnetSkipConnectionBlock(backend, ngf * 2, ngf * 4, { submodule: block, norm, rng });
    block = new UnetSkipConnectionBlock(backend, ngf, ngf * 2, { submodule: block, norm, rng });
    this.model = this.registerModule('model', new UnetSkipConnectionBlock(backend, outputNc, ngf, { inputNc, submodule: block, outermost: true, norm, rng }));
  }

  forward(x: Tensor): Tensor {
    const size = x.shape[2];
    const need = 2 ** this.options.numDowns;
    if (x.shape[2] % need !== 0 || x.shape[3] % need !== 0) {
      throw new Error(`UnetGenerator: unet with ${this.options.numDowns} downsamplings needs H and W divisible by ${need}, got ${size}x${x.shape[3]}`);
    }
    return this.model.forward(x);
  }
}

/**
 * A fully connected generator for small images: flatten -> [Linear -> ReLU] x hiddenLayers ->
 * Linear -> Tanh -> unflatten, hidden width 16 * ngf.
 */
export class MlpGenerator extends Module {
  readonly model: Sequential;

  constructor(backend: Backend, readonly options: { inputNc: number; outputNc: number; ngf: number; imageSize: number; hiddenLayers?: number }) {
    super(backend);
    const { inputNc, outputNc, ngf, imageSize } = options;
    const hidden = 16 * ngf;
    const inF = inputNc * imageSize * imageSize;
    const layers: Module[] = [new Flatten(backend)];
    let width = inF;
    for (let i = 0; i < (options.hiddenLayers ?? 2); i++) {
      layers.push(new Linear(backend, width, hidden), new ReLU(backend));
      width = hidden;
    }
    layers.push(new Linear(backend, width, outputNc * imageSize * imageSize), new Tanh(backend), new Unflatten(backend, [outputNc, imageSize, imageSize]));
    this.model = this.registerModule('model', new Sequential(backend, layers));
  }

  forward(x: Tensor): Tensor {
    const { inputNc, imageSize } = this.options;
    if (x.shape.length !== 4 || x.shape[1] !== inputNc || x.shape[2] !== imageSize || x.shape[3] !== imageSize) {
      throw new Error(`MlpGenerator: expected input [N, ${inputNc}, ${imageSize}, ${imageSize}], got [${x.shape.join(', ')}]`);
    }
    return this.model.forward(x);
  }
}
