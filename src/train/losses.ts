/**
 * Adversarial losses on discriminator outputs: the reference's GANLoss (lsgan = MSE against
 * 1/0, vanilla = BCE with logits, wgangp = -mean(x) for real targets and mean(x) for fake ones)
 * plus hinge, and the discriminator-side alternatives focal loss and GHM-C. The reference's
 * CycleGAN uses wgangp without a gradient penalty (its cal_gradient_penalty serves pix2pix-style
 * models only) and so does this one: the same objective as `--gan_mode wgangp` there. Each returns a one-element device tensor averaged over every output element, so
 * patch maps and per-image logits are treated alike.
 */
import type { Backend } from '../backend/device';
import { Tensor } from '../tensor';
import * as F from '../ops';

export const GAN_MODES = ['lsgan', 'vanilla', 'wgangp', 'hinge'] as const;
export type GanMode = (typeof GAN_MODES)[number];
export type DLossKind = 'gan' | 'focal' | 'ghmc';

export class GANLoss {
  constructor(readonly mode: GanMode) {
    if (!GAN_MODES.includes(mode)) throw new Error(`GANLoss: gan mode must be one of ${GAN_MODES.join(', ')}, got '${String(mode)}'`);
  }

  /**
   * Loss of `prediction` for the label targetIsReal. For hinge, `forDiscriminator` selects the
   * margin terms (D) or -mean(x) (G), as the hinge objective differs between the two players.
   */
  call(prediction: Tensor, targetIsReal: boolean, forDiscriminator = true): Tensor {
    if (this.mode === 'lsgan') return F.mseLoss(prediction, targetIsReal ? 1 : 0);
    if (this.mode === 'vanilla') return F.bceWithLogits(prediction, targetIsReal ? 1 : 0);
    if (this.mode === 'wgangp') return targetIsReal ? F.scale(F.mean(prediction), -1) : F.mean(prediction);
    if (!forDiscriminator) {
      if (!targetIsReal) throw new Error('GANLoss(hinge): the generator loss is defined for real targets only');
      return F.hingeLossGenerator(prediction);
    }
    return targetIsReal ? F.hingeLossReal(prediction) : F.hingeLossFake(prediction);
  }
}

/** Focal loss on D logits with constant 1/0 targets. */
export class FocalLoss {
  constructor(readonly alpha: number, readonly gamma: number) {
    if (!(gamma >= 0)) throw new Error(`FocalLoss: gamma must be >= 0, got ${gamma}`);
  }

  call(prediction: Tensor, targetIsReal: boolean): Tensor {
    return F.focalLoss(prediction, targetIsReal ? 1 : 0, this.alpha, this.gamma);
  }
}

/**
 * GHM-C loss on D logits. The momentum-averaged histogram `acc` is state that persists across
 * steps (and checkpoints); it starts at zero like the original implementation's accumulator.
 */
export class GHMCLoss {
  readonly acc: Tensor;

  constructor(readonly bins: number, readonly momentum: number, backend: Backend) {
    if (!Number.isInteger(bins) || bins < 1) throw new Error(`GHMCLoss: bins must be a positive integer, got ${bins}`);
    if (!(momentum >= 0 && momentum < 1)) throw new Error(`GHMCLoss: momentum must be in [0, 1), got ${momentum}`);
    this.acc = Tensor.zeros([bins], backend).keep();
  }

  call(prediction: Tensor, targetIsReal: boolean): Tensor {
    return F.ghmcLoss(prediction, targetIsReal ? 1 : 0, this.acc, this.momentum);
  }

  dispose(): void {
    this.acc.dispose();
  }
}
