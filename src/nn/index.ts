export { Module } from './module';
export * from './layers';
export { initWeights, manualSeed, fillNormal, fillUniform, fillConstant, fillOrthogonal, type InitType } from './init';
export { ResnetGenerator, ResnetBlock, UnetGenerator, UnetSkipConnectionBlock, MlpGenerator } from './generators';
export { NLayerDiscriminator, PixelDiscriminator, ResNet34Discriminator, BasicBlock } from './discriminators';
export { defineG, defineD, GENERATORS, DISCRIMINATORS, type GeneratorName, type DiscriminatorName, type GeneratorSpec, type DiscriminatorSpec } from './networks';
