import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import yargs from 'yargs';
import { addOptions, OPTION_SPECS, OptionsError, PRESETS, resolveOptions, typedOptions, validateOptions } from '../../src/options';

function parse(args: string[]): Record<string, unknown> {
  return typedOptions(addOptions(yargs(args)).strict().exitProcess(false).fail((msg, err) => { throw err ?? new Error(msg); }).parseSync() as Record<string, unknown>);
}

test('no options resolve to the quick preset', () => {
  const o = resolveOptions({});
  assert.equal(o.preset, 'quick');
  assert.equal(o.name, 'quick');
  for (const [key, value] of Object.entries(PRESETS.quick)) assert.deepEqual(o[key as keyof typeof o], value, key);
  assert.equal(o.lr, 0.0002);
  assert.equal(o.lambdaIdentity, 0.5);
});

test('the mnist2svhn preset matches the brief', () => {
  const o = resolveOptions({ preset: 'mnist2svhn' });
  assert.deepEqual(
    [o.netG, o.netD, o.norm, o.ganMode, o.batchSize, o.nEpochs, o.nEpochsDecay, o.evalFreq, o.printFreq, o.dataset],
    ['resnet_6blocks', 'basic', 'instance', 'lsgan', 128, 100, 100, 20, 1000, 'mnist2svhn'],
  );
});

test('a folder dataset without a preset gets the reference CycleGAN defaults and the dataroot as its name', () => {
  const o = resolveOptions(parse(['--dataset', 'folder', '--dataroot', '/data/my horse2zebra']));
  assert.equal(o.preset, 'none');
  assert.equal(o.name, 'my-horse2zebra');
  assert.deepEqual(
    [o.netG, o.ngf, o.ndf, o.batchSize, o.nEpochs, o.nEpochsDecay, o.maxDatasetSize, o.loadSize, o.cropSize, o.poolSize, o.lr],
    ['resnet_9blocks', 64, 64, 1, 100, 100, 0, 286, 256, 50, 0.0002],
  );
  // A typed preset still applies, as does a typed name.
  const quick = resolveOptions(parse(['--dataset', 'folder', '--dataroot', 'x', '--preset', 'quick', '--name', 'demo']));
  assert.deepEqual([quick.preset, quick.ngf, quick.batchSize, quick.name, quick.dataset], ['quick', 16, 8, 'demo', 'folder']);
  assert.equal(resolveOptions({ preset: 'none' }).name, 'mnist2svhn');
  assert.equal(resolveOptions({ dataset: 'folder', dataroot: '/' }).name, 'folder');
  validateOptions(o);
});

test('typed options override the preset, untyped ones keep it', () => {
  const o = resolveOptions(parse(['--preset', 'mnist2svhn', '--ngf', '32', '--lambda-A', '5', '--no-flip', '--no-dropout', 'false']));
  assert.equal(o.ngf, 32);
  assert.equal(o.ndf, 64);
  assert.equal(o.lambdaA, 5);
  assert.equal(o.noFlip, true);
  assert.equal(o.noDropout, false);
  assert.equal(o.batchSize, 128);
});

test('out-of-range and malformed values name the option and the expectation', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ lr: 0 }, /--lr: expected a value \[> 0, <= 1\], got 0/],
    [{ lr: -1 }, /--lr/],
    [{ ngf: 2.5 }, /--ngf: expected an integer, got 2.5/],
    [{ batchSize: 0 }, /--batch-size: expected a value \[>= 1/],
    [{ beta1: 1 }, /--beta1/],
    [{ netG: 'resnet_7blocks' }, /--net-g: expected one of resnet_9blocks, .*got 'resnet_7blocks'/],
    [{ lr: NaN }, /--lr: expected a number/],
    [{ inputNc: 2 }, /--input-nc: expected 1 \(gray\) or 3/],
    [{ nEpochs: 0, nEpochsDecay: 0 }, /at least 1 epoch/],
    [{ dataset: 'folder' }, /--dataroot: required/],
    [{ name: '../x' }, /--name: expected letters/],
    [{ inputNc: 1, outputNc: 3 }, /--lambda-identity: needs --input-nc == --output-nc/],
    [{ netG: 'unet_256' }, /unet_256: needs an image size divisible by 256, got 32/],
    [{ precision: 'fp16' }, /--precision: expected one of auto, fp32, tf32, bf16, got 'fp16'/],
    [{ device: 'cpu', precision: 'bf16' }, /--precision bf16: the CPU backend computes in fp32; use --precision fp32 \(or auto\), or --device cuda/],
    [{ device: 'cpu', precision: 'tf32' }, /--precision tf32: the CPU backend/],
  ];
  for (const [given, message] of cases) {
    assert.throws(() => resolveOptions(given), (err: Error) => err instanceof OptionsError && message.test(err.message), JSON.stringify(given));
  }
});

test('the command line rejects unknown options and bad choices', () => {
  assert.throws(() => parse(['--ngff', '3']), /Unknown argument/);
  assert.throws(() => parse(['--norm', 'layer']), /Invalid values/);
  assert.throws(() => parse(['--lr']), /Not enough arguments|lr/);
});

test('every option has help text, a group, and a default that passes its own check', () => {
  const flags = new Set<string>();
  for (const spec of OPTION_SPECS) {
    assert.ok(spec.help.length > 10, spec.flag);
    assert.ok(!flags.has(spec.flag), `duplicate ${spec.flag}`);
    flags.add(spec.flag);
    assert.match(spec.flag, /^[a-z][a-z0-9]*(-[a-zA-Z0-9]+)*$/);
  }
  validateOptions(resolveOptions({}));
  validateOptions(resolveOptions({ preset: 'mnist2svhn' }));
});

test('--checkpoint implies --continue-train', () => {
  assert.equal(resolveOptions({ checkpoint: 'x.safetensors' }).continueTrain, true);
});
