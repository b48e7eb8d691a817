/**
 * Discriminators: the reference's NLayerDiscriminator (PatchGAN; `basic` = 3 layers) and
 * PixelDiscriminator (1x1 PatchGAN), with its state-dict names, and a ResNet-34 discriminator.
 */
import type { Backend } from '../backend/device';
import { Tensor } from '../tensor';
import * as F from '../ops';
import { Module } from './module';
import { Conv2d, LeakyReLU, Linear, ReLU, Sequential, normLayer, type NormKind } from './layers';
import { convBias } from './generators';

export class NLayerDiscriminator extends Module {
  readonly model: Sequential;

  constructor(backend: Backend, readonly options: { inputNc: number; ndf: number; nLayers: number; norm: NormKind }) {
    super(backend);
    const { inputNc, ndf, nLayers, norm } = options;
    if (!Number.isInteger(nLayers) || nLayers < 1) throw new Error(`NLayerDiscriminator: nLayers must be a positive integer, got ${nLayers}`);
    const useBias = convBias(norm);
    const kw = 4;
    const padw = 1;
    const layers: Module[] = [new Conv2d(backend, inputNc, ndf, kw, { stride: 2, padding: padw }), new LeakyReLU(backend, 0.2)];
    let nfMult = 1;
    for (let n = 1; n < nLayers; n++) {
      const prev = nfMult;
      nfMult = Math.min(2 ** n, 8);
      layers.push(new Conv2d(backend, ndf * prev, ndf * nfMult, kw, { stride: 2, padding: padw, bias: useBias }),
        normLayer(backend, norm, ndf * nfMult), new LeakyReLU(backend, 0.2));
    }
    const prev = nfMult;
    nfMult = Math.min(2 ** nLayers, 8);
    layers.push(new Conv2d(backend, ndf * prev, ndf * nfMult, kw, { stride: 1, padding: padw, bias: useBias }),
      normLayer(backend, norm, ndf * nfMult), new LeakyReLU(backend, 0.2));
    layers.push(new Conv2d(backend, ndf * nfMult, 1, kw, { stride: 1, padding: padw }));
    this.model = this.registerModule('model', new Sequential(backend, layers));
  }

  forward(x: Tensor): Tensor {
    // nLayers stride-2 4x4 convs halve the size (floor), then two stride-1 4x4 convs take 1 each.
    const outSize = (s: number) => Math.floor(s / 2 ** this.options.nLayers) - 2;
    if (x.shape.length === 4 && (outSize(x.shape[2]) < 1 || outSize(x.shape[3]) < 1)) {
      const minSize = 3 * 2 ** this.options.nLayers;
      throw new Error(`NLayerDiscriminator: ${this.options.nLayers} layers need images of at least ${minSize}x${minSize}, got ${x.shape[2]}x${x.shape[3]}`);
    }
    return this.model.forward(x);
  }
}

export class PixelDiscriminator extends Module {
  readonly net: Sequential;

  constructor(backend: Backend, readonly options: { inputNc: number; ndf: number; norm: NormKind }) {
    super(backend);
    const { inputNc, ndf, norm } = options;
    const useBias = convBias(norm);
    this.net = this.registerModule('net', new Sequential(backend, [
      new Conv2d(backend, inputNc, ndf, 1), new LeakyReLU(backend, 0.2),
      new Conv2d(backend, ndf, ndf * 2, 1, { bias: useBias }), normLayer(backend, norm, ndf * 2), new LeakyReLU(backend, 0.2),
      new Conv2d(backend, ndf * 2, 1, 1, { bias: useBias }),
    ]));
  }

  forward(x: Tensor): Tensor {
    return this.net.forward(x);
  }
}

/** torchvision's BasicBlock with the chosen norm (names conv1, bn1, conv2, bn2, downsample.0/1). */
export class BasicBlock extends Module {
  readonly conv1: Conv2d;
  readonly bn1: Module;
  readonly relu: ReLU;
  readonly conv2: Conv2d;
  readonly bn2: Module;
  readonly downsample: Sequential | null;

  constructor(backend: Backend, inC: number, outC: number, stride: number, norm: NormKind) {
    super(backend);
    this.conv1 = this.registerModule('conv1', new Conv2d(backend, inC, outC, 3, { stride, padding: 1, bias: false }));
    this.bn1 = this.registerModule('bn1', normLayer(backend, norm, outC));
    this.relu = this.registerModule('relu', new ReLU(backend));
    this.conv2 = this.registerModule('conv2', new Conv2d(backend, outC, outC, 3, { padding: 1, bias: false }));
    this.bn2 = this.registerModule('bn2', normLayer(backend, norm, outC));
    this.downsample = stride !== 1 || inC !== outC
      ? this.registerModule('downsample', new Sequential(backend, [new Conv2d(backend, inC, outC, 1, { stride, bias: false }), normLayer(backend, norm, outC)]))
      : null;
  }

  forward(x: Tensor): Tensor {
    let h = this.conv1.forward(x);
    h = releaseAfter(h, this.bn1.forward(h));
    h = releaseAfter(h, this.relu.forward(h));
    h = releaseAfter(h, this.conv2.forward(h));
    h = releaseAfter(h, this.bn2.forward(h));
    const shortcut = this.downsample ? this.downsample.forward(x) : x;
    const sum = F.add(h, shortcut);
    h.release();
    if (shortcut !== x) shortcut.release();
    const y = F.relu(sum);
    sum.release();
    return y;
  }
}

function releaseAfter(previous: Tensor, next: Tensor): Tensor {
  if (next !== previous) previous.release();
  return next;
}

/**
 * A ResNet-34 discriminator (BasicBlocks [3, 4, 6, 3], widths ndf, 2ndf, 4ndf, 8ndf). The stem
 * is adapted to small images: one 3x3 stride-1 conv + norm + ReLU and no max pool, so a 32x32
 * image still reaches a 4x4 map in the last stage. It outputs one logit per image
 * (global average pool + linear), shape [N, 1], like a classifier; the GAN losses average over
 * whatever shape a discriminator returns, so it plugs in where a PatchGAN does.
 */
export class ResNet34Discriminator extends Module {
  readonly conv1: Conv2d;
  readonly bn1: Module;
  readonly relu: ReLU;
  readonly stages: Sequential[];
  readonly fc: Linear;

  constructor(backend: Backend, readonly options: { inputNc: number; ndf: number; norm: NormKind }) {
    super(backend);
    const { inputNc, ndf, norm } = options;
    this.conv1 = this.registerModule('conv1', new Conv2d(backend, inputNc, ndf, 3, { stride: 1, padding: 1, bias: false }));
    this.bn1 = this.registerModule('bn1', normLayer(backend, norm, ndf));
    this.relu = this.registerModule('relu', new ReLU(backend));
    const blocks = [3, 4, 6, 3];
    let inC = ndf;
    this.stages = blocks.map((count, stage) => {
      const outC = ndf * 2 ** stage;
      const stride = stage === 0 ? 1 : 2;
      const layer: Module[] = [];
      for (let i = 0; i < count; i++) {
        layer.push(new BasicBlock(backend, inC, outC, i === 0 ? stride : 1, norm));
        inC = outC;
      }
      return this.registerModule(`layer${stage + 1}`, new Sequential(backend, layer));
    });
    this.fc = this.registerModule('fc', new Linear(backend, inC, 1));
  }

  forward(x: Tensor): Tensor {
    let h = this.conv1.forward(x);
    h = releaseAfter(h, this.bn1.forward(h));
    h = releaseAfter(h, this.relu.forward(h));
    for (const stage of this.stages) h = releaseAfter(h, stage.forward(h));
    h = releaseAfter(h, F.globalAvgPool(h));
    return releaseAfter(h, this.fc.forward(h));
  }
}
