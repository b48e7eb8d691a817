/** Every differentiable op, PyTorch-style functional names. */
export { add, sub, mul, affine, scale, addN, concatChannels, concatBatch, sliceBatch, reshape, flatten } from './elementwise';
export { relu, leakyRelu, tanh, sigmoid, dropout } from './activation';
export { conv2d, convTranspose2d, type ConvOptions } from './conv';
export { linear } from './linear';
export { reflectionPad2d, zeroPad2d, upsampleNearest2x, type Padding2d } from './pad';
export { instanceNorm, instanceNormRelu, hasInstanceNormRelu, batchNorm, type BatchNormState } from './norm';
export { maxPool2d, globalAvgPool } from './pool';
export { sum, mean } from './reduce';
export { l1Loss, mseLoss, bceWithLogits, focalLoss, ghmcLoss, softmaxCrossEntropy, softmax, type Target } from './loss';
export { hingeLossReal, hingeLossFake, hingeLossGenerator } from './hinge';
export { countMacs, opCounters } from './counters';
