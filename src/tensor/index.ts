export { Tensor, tidy, noGrad, enableGrad, isGradEnabled, needsGrad, record, shapeString } from './tensor';
export type { GradNode } from './tensor';
export { backward } from './autograd';
