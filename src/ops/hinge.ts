/** Hinge GAN loss pieces (Lim & Ye 2017; SAGAN), composed from relu, affine and mean. */
import { Tensor } from '../tensor';
import { affine, scale } from './elementwise';
import { relu } from './activation';
import { mean } from './reduce';

/** Discriminator on real samples: mean(relu(1 - x)). */
export function hingeLossReal(x: Tensor): Tensor {
  return mean(relu(affine(x, -1, 1)));
}

/** Discriminator on fake samples: mean(relu(1 + x)). */
export function hingeLossFake(x: Tensor): Tensor {
  return mean(relu(affine(x, 1, 1)));
}

/** Generator: -mean(x). */
export function hingeLossGenerator(x: Tensor): Tensor {
  return scale(mean(x), -1);
}
