/**
 * Networks against the reference PyTorch CycleGAN: parameter counts (the reference's printed
 * totals, or counted by hand from its layer lists), state-dict names and output shapes.
 */
import { test } from 'node:test';
import * as assert from 'node:assert';
import { Tensor, noGrad, tidy, backward } from '../../src/tensor';
import * as F from '../../src/ops';
import { defineD, defineG, type DiscriminatorSpec, type GeneratorSpec } from '../../src/nn/networks';
import { Conv2d, InstanceNorm2d, Sequential, BatchNorm2d, ReLU, sequentialFusion } from '../../src/nn/layers';
import { Module } from '../../src/nn/module';
import { Rng } from '../../src/util/rng';
import { assertClose, cpuBackend, randomArray, simdLevels } from '../util/native';
import { fillNormal } from '../../src/nn/init';

const backend = () => cpuBackend();

function g(spec: Partial<GeneratorSpec>): Module {
  return defineG(backend(), {
    netG: 'resnet_9blocks', inputNc: 3, outputNc: 3, ngf: 8, norm: 'instance', useDropout: false, upsample: 'transpose',
    imageSize: 32, initType: 'normal', initGain: 0.02, ...spec,
  }, new Rng(1));
}

function d(spec: Partial<DiscriminatorSpec>): Module {
  return defineD(backend(), { netD: 'basic', inputNc: 3, ndf: 8, nLayersD: 3, norm: 'instance', initType: 'normal', initGain: 0.02, ...spec }, new Rng(2));
}

function withNet<T>(net: Module, fn: (net: Module) => T): T {
  try {
    return fn(net);
  } finally {
    net.dispose();
  }
}

function outputShape(net: Module, input: number[]): readonly number[] {
  return tidy(() => noGrad(() => net.forward(Tensor.zeros(input, backend())).shape));
}

test('parameter counts equal the reference models', () => {
  // the reference prints 11.378 M for resnet_9blocks and 2.765 M for basic (ngf = ndf = 64)
  withNet(g({ netG: 'resnet_9blocks', ngf: 64 }), (net) => assert.strictEqual(net.parameterCount(), 11378179));
  withNet(d({ netD: 'basic', ndf: 64 }), (net) => assert.strictEqual(net.parameterCount(), 2764737));
  // counted from the reference layer lists
  withNet(g({ netG: 'resnet_6blocks', ngf: 64 }), (net) => assert.strictEqual(net.parameterCount(), 7837699));
  withNet(g({ netG: 'resnet_6blocks', norm: 'batch' }), (net) => assert.strictEqual(net.parameterCount(), 125395));
  withNet(g({ netG: 'unet_256', norm: 'instance' }), (net) => assert.strictEqual(net.parameterCount(), 851763));
  withNet(g({ netG: 'unet_128', norm: 'batch' }), (net) => assert.strictEqual(net.parameterCount(), 655443));
  withNet(g({ netG: 'unet_32', norm: 'instance' }), (net) => assert.strictEqual(net.parameterCount(), 261555));
  withNet(g({ netG: 'mlp', ngf: 8, imageSize: 32 }), (net) => assert.strictEqual(net.parameterCount(), 806144));
  withNet(d({ netD: 'n_layers', nLayersD: 5, norm: 'batch' }), (net) => assert.strictEqual(net.parameterCount(), 175977));
  withNet(d({ netD: 'pixel', ndf: 64 }), (net) => assert.strictEqual(net.parameterCount(), 8705));
  withNet(d({ netD: 'resnet34', norm: 'instance' }), (net) => assert.strictEqual(net.parameterCount(), 332441));
});

test('state-dict names follow the reference', () => {
  withNet(g({ netG: 'resnet_9blocks' }), (net) => {
    const names = net.stateDict().map(([n]) => n);
    assert.deepStrictEqual(names.slice(0, 6), ['model.1.weight', 'model.1.bias', 'model.4.weight', 'model.4.bias', 'model.7.weight', 'model.7.bias']);
    for (const n of ['model.10.conv_block.1.weight', 'model.10.conv_block.5.bias', 'model.18.conv_block.5.weight', 'model.19.weight', 'model.22.weight', 'model.26.weight', 'model.26.bias']) {
      assert.ok(names.includes(n), `missing ${n}`);
    }
    assert.strictEqual(names.length, 2 * (3 + 9 * 2 + 2 + 1));
  });
  withNet(g({ netG: 'resnet_6blocks', useDropout: true }), (net) => {
    const names = net.stateDict().map(([n]) => n);
    assert.ok(names.includes('model.10.conv_block.6.weight'), 'dropout shifts the second conv to index 6');
  });
  withNet(g({ netG: 'unet_32', norm: 'batch' }), (net) => {
    const names = net.stateDict().map(([n]) => n);
    assert.strictEqual(names[0], 'model.model.0.weight');
    for (const n of ['model.model.1.model.1.weight', 'model.model.1.model.2.running_var', 'model.model.3.weight', 'model.model.3.bias',
      'model.model.1.model.3.model.3.model.3.model.1.weight']) {
      assert.ok(names.includes(n), `missing ${n}`);
    }
  });
  withNet(d({ netD: 'basic', norm: 'batch' }), (net) => {
    assert.deepStrictEqual(net.stateDict().map(([n]) => n), [
      'model.0.weight', 'model.0.bias', 'model.2.weight', 'model.3.weight', 'model.3.bias', 'model.3.running_mean', 'model.3.running_var',
      'model.5.weight', 'model.6.weight', 'model.6.bias', 'model.6.running_mean', 'model.6.running_var',
      'model.8.weight', 'model.9.weight', 'model.9.bias', 'model.9.running_mean', 'model.9.running_var', 'model.11.weight', 'model.11.bias',
    ]);
  });
  withNet(d({ netD: 'pixel' }), (net) => assert.strictEqual(net.stateDict()[0][0], 'net.0.weight'));
  withNet(d({ netD: 'resnet34' }), (net) => {
    const names = net.stateDict().map(([n]) => n);
    for (const n of ['conv1.weight', 'layer1.0.conv1.weight', 'layer2.0.downsample.0.weight', 'layer4.2.conv2.weight', 'fc.weight', 'fc.bias']) {
      assert.ok(names.includes(n), `missing ${n}`);
    }
  });
});

test('output shapes', () => {
  withNet(g({ netG: 'resnet_6blocks' }), (net) => assert.deepStrictEqual(outputShape(net, [2, 3, 32, 32]), [2, 3, 32, 32]));
  withNet(g({ netG: 'resnet_6blocks', upsample: 'resize' }), (net) => assert.deepStrictEqual(outputShape(net, [1, 3, 24, 24]), [1, 3, 24, 24]));
  withNet(g({ netG: 'unet_32' }), (net) => assert.deepStrictEqual(outputShape(net, [2, 3, 32, 32]), [2, 3, 32, 32]));
  withNet(g({ netG: 'mlp', imageSize: 16, inputNc: 1, outputNc: 3 }), (net) => assert.deepStrictEqual(outputShape(net, [2, 1, 16, 16]), [2, 3, 16, 16]));
  withNet(d({ netD: 'basic', ndf: 4 }), (net) => {
    assert.deepStrictEqual(outputShape(net, [2, 3, 32, 32]), [2, 1, 2, 2]);
    assert.deepStrictEqual(outputShape(net, [1, 3, 64, 64]), [1, 1, 6, 6]);
  });
  withNet(d({ netD: 'pixel' }), (net) => assert.deepStrictEqual(outputShape(net, [2, 3, 8, 8]), [2, 1, 8, 8]));
  withNet(d({ netD: 'resnet34', ndf: 4 }), (net) => assert.deepStrictEqual(outputShape(net, [2, 3, 32, 32]), [2, 1]));
  withNet(g({ netG: 'unet_32' }), (net) => assert.throws(() => outputShape(net, [1, 3, 24, 24]), /divisible by 32/));
});

test('generator output is tanh-bounded and the init follows init_weights', () => {
  withNet(g({ netG: 'resnet_6blocks', initType: 'normal', initGain: 0.02 }), (net) => {
    const w = (net.stateDict().find(([n]) => n === 'model.1.weight')![1]).toFloat32Array();
    const std = Math.sqrt(w.reduce((s, v) => s + v * v, 0) / w.length);
    assert.ok(Math.abs(std - 0.02) < 0.002, `normal init std ${std}`);
    const b = (net.stateDict().find(([n]) => n === 'model.1.bias')![1]).toFloat32Array();
    assert.ok(b.every((v) => v === 0), 'biases start at zero');
    const y = tidy(() => noGrad(() => net.forward(Tensor.fromArray(randomArray(3 * 16 * 16, 3), [1, 3, 16, 16], backend())).toFloat32Array()));
    assert.ok(y.every((v) => v > -1 && v < 1));
  });
  withNet(g({ netG: 'resnet_6blocks', initType: 'orthogonal', initGain: 1, ngf: 4 }), (net) => {
    const w = net.stateDict().find(([n]) => n === 'model.4.weight')![1]; // [8, 4, 3, 3]: rows orthonormal
    const data = w.toFloat32Array();
    const cols = 36;
    for (let r = 0; r < 8; r++) {
      for (let s = 0; s < 8; s++) {
        let dot = 0;
        for (let c = 0; c < cols; c++) dot += data[r * cols + c] * data[s * cols + c];
        assert.ok(Math.abs(dot - (r === s ? 1 : 0)) < 1e-4, `rows ${r}, ${s}: ${dot}`);
      }
    }
  });
});

test('loadStateDict copies values and rejects bad shapes and names', () => {
  const a = g({ netG: 'resnet_6blocks', ngf: 4 });
  const b = defineG(backend(), { netG: 'resnet_6blocks', inputNc: 3, outputNc: 3, ngf: 4, norm: 'instance', useDropout: false, upsample: 'transpose', imageSize: 32, initType: 'normal', initGain: 0.02 }, new Rng(99));
  try {
    b.loadStateDict(a.stateDict());
    const x = randomArray(3 * 8 * 8, 5);
    const run = (net: Module) => tidy(() => noGrad(() => net.forward(Tensor.fromArray(x, [1, 3, 8, 8], backend())).toFloat32Array()));
    assert.deepStrictEqual(run(b), run(a));
    const entries = a.stateDict().map(([n, t]) => [n, { shape: t.shape, data: t.toFloat32Array() }] as [string, { shape: readonly number[]; data: Float32Array }]);
    entries[0] = [entries[0][0], { shape: [1, 2], data: new Float32Array(2) }];
    assert.throws(() => b.loadStateDict(entries), /'model.1.weight' has shape \[1, 2\], the model expects \[4, 3, 7, 7\]/);
    assert.throws(() => b.loadStateDict([['model.99.weight', { shape: [1], data: new Float32Array(1) }]]), /unexpected key 'model.99.weight'/);
    assert.throws(() => b.loadStateDict(a.stateDict().slice(1)), /missing 1 key\(s\): model.1.weight/);
  } finally {
    a.dispose();
    b.dispose();
  }
});

test('freezing with requiresGrad(false) stops weight gradients but not input gradients', () => {
  const be = backend();
  const net = new Sequential(be, [new Conv2d(be, 2, 3, 3, { padding: 1 }), new InstanceNorm2d(be, 3), new ReLU(be), new Conv2d(be, 3, 1, 1)]);
  try {
    net.requiresGrad(false);
    tidy(() => {
      const x = Tensor.fromArray(randomArray(2 * 2 * 5 * 5, 8), [2, 2, 5, 5], be);
      x.requiresGrad = true;
      backward(F.mean(net.forward(x)));
      assert.ok(x.grad !== null, 'the input still gets a gradient');
      assert.ok(net.parameters().every((p) => p.grad === null), 'frozen weights get none');
    });
  } finally {
    net.dispose();
  }
});

test('batch norm: running statistics in train mode, used in eval mode', () => {
  const be = backend();
  const bn = new BatchNorm2d(be, 2);
  try {
    const data = randomArray(4 * 2 * 3 * 3, 12, 2, 4);
    tidy(() => noGrad(() => bn.forward(Tensor.fromArray(data, [4, 2, 3, 3], be))));
    const rm = bn.runningMean.toFloat32Array();
    // channel 0 mean over n, h, w; running = 0.9 * 0 + 0.1 * mean
    let mean0 = 0;
    for (let n = 0; n < 4; n++) for (let i = 0; i < 9; i++) mean0 += data[n * 18 + i];
    mean0 /= 36;
    assert.ok(Math.abs(rm[0] - 0.1 * mean0) < 1e-5, `running mean ${rm[0]} vs ${0.1 * mean0}`);
    bn.eval();
    const y = tidy(() => noGrad(() => bn.forward(Tensor.fromArray(data, [4, 2, 3, 3], be)).toFloat32Array()));
    const rv = bn.runningVar.toFloat32Array();
    const expected = (data[0] - rm[0]) / Math.sqrt(rv[0] + 1e-5);
    assert.ok(Math.abs(y[0] - expected) < 1e-4);
  } finally {
    bn.dispose();
  }
});

test('whole networks: input gradients through the tape match directional finite differences, at every SIMD level', () => {
  // One directional derivative per network, grad . v against (L(x + eps v) - L(x - eps v)) / 2eps:
  // it sums over every input, so it is far less sensitive to float32 noise and relu kinks than
  // per-coordinate differences through these deep, strongly curved (tiny instance-norm planes) nets.
  // eps: 1e-4 converged in every net at every level (checked from 1e-2 down to 3e-5) but the
  // resize-upsampling one, whose 8x8 input leaves 2x2 planes to normalise and a derivative of
  // 0.077: there the scalar level's float32 noise moves the difference by 20% at 1e-4 (by 3% at
  // 1e-3), and 3e-3 agrees with the tape at every level to 0.3%.
  const nets: [string, Module, number[], number][] = [
    ['resnet generator', g({ netG: 'resnet_6blocks', ngf: 2 }), [1, 3, 16, 16], 1e-4],
    ['resnet generator (resize upsampling)', g({ netG: 'resnet_6blocks', ngf: 2, upsample: 'resize' }), [1, 3, 8, 8], 3e-3],
    ['unet_32', g({ netG: 'unet_32', ngf: 2, norm: 'batch' }), [2, 3, 32, 32], 1e-4],
    ['basic D', d({ netD: 'basic', ndf: 2 }), [1, 3, 24, 24], 1e-4],
    ['resnet34 D', d({ netD: 'resnet34', ndf: 2, norm: 'none' }), [1, 3, 8, 8], 1e-4],
  ];
  const be = backend();
  try {
    for (const [label, net, shape, eps] of nets) {
      try {
        // variance-preserving weights (not the tiny 0.02 init) so every input visibly moves the output
        for (const p of net.parameters()) if (p.shape.length > 1) fillNormal(p, 0, 1 / Math.sqrt(p.size / p.shape[0]), new Rng(p.size));
        const size = shape.reduce((a, b) => a * b, 1);
        const x0 = randomArray(size, 21);
        const direction = randomArray(size, 22);
        const lossOf = (x: Float32Array): number => tidy(() => noGrad(() => {
          const y = net.forward(Tensor.fromArray(x, shape, be)).toFloat32Array();
          return y.reduce((acc, v, i) => acc + v * Math.cos(i), 0);
        }));
        for (const level of simdLevels(be.binding)) {
          be.binding.setSimd(level);
          const grad = tidy(() => {
            const x = Tensor.fromArray(x0, shape, be);
            x.requiresGrad = true;
            const y = net.forward(x);
            const weights = Tensor.fromArray(Float32Array.from({ length: y.size }, (_, i) => Math.cos(i)), y.shape, be);
            backward(F.sum(F.mul(y, weights)));
            return x.grad!.toFloat32Array();
          });
          const analytic = grad.reduce((acc, v, i) => acc + v * direction[i], 0);
          const plus = x0.map((v, i) => v + eps * direction[i]);
          const minus = x0.map((v, i) => v - eps * direction[i]);
          const numeric = (lossOf(plus) - lossOf(minus)) / (2 * eps);
          if (process.env.SHOW_DIRECTIONAL) console.log(label, level, analytic, numeric);
          assert.ok(Math.abs(analytic - numeric) <= 0.02 * Math.abs(numeric) + 1e-3, `${label}, SIMD level ${level}: grad . v = ${analytic}, finite difference ${numeric}`);
        }
      } finally {
        net.dispose();
      }
    }
  } finally {
    be.binding.setSimd(-1);
  }
});

test('Sequential fuses reflection pad + conv and instance norm + ReLU, with the unfused results and gradients', () => {
  const be = backend();
  // ngf 8 makes the residual convs 32 -> 32 channels: Winograd by default at AVX-512, and for the
  // backward products at AVX2 (whose forward takes the direct route on maps this small)
  withNet(g({ netG: 'resnet_6blocks', ngf: 8 }), (net) => {
    for (const p of net.parameters()) if (p.shape.length > 1) fillNormal(p, 0, 1 / Math.sqrt(p.size / p.shape[0]), new Rng(p.size));
    const run = (fuse: boolean) => {
      const previous = { ...sequentialFusion };
      sequentialFusion.reflectionPad = fuse;
      sequentialFusion.normRelu = fuse;
      let pads = 0, relus = 0;
      const binding = be.binding as unknown as Record<string, (...args: unknown[]) => unknown>;
      const padForward = binding.reflectionPadForward, reluForward = binding.reluForward;
      binding.reflectionPadForward = function (this: unknown, ...args: unknown[]) {
        pads++;
        return padForward.apply(this, args);
      };
      binding.reluForward = function (this: unknown, ...args: unknown[]) {
        relus++;
        return reluForward.apply(this, args);
      };
      try {
        return tidy(() => {
          const x = Tensor.fromArray(randomArray(2 * 3 * 16 * 16, 5), [2, 3, 16, 16], be);
          x.requiresGrad = true;
          const y = net.forward(x);
          backward(F.sum(F.mul(y, Tensor.fromArray(randomArray(y.size, 6), y.shape, be))));
          const grads = net.parameters().map((p) => p.grad!.toFloat32Array());
          net.parameters().forEach((p) => { p.grad = null; });
          return { y: y.toFloat32Array(), dx: x.grad!.toFloat32Array(), grads, pads, relus };
        });
      } finally {
        Object.assign(sequentialFusion, previous);
        binding.reflectionPadForward = padForward;
        binding.reluForward = reluForward;
      }
    };
    const fused = run(true), unfused = run(false);
    assertClose(fused.y, unfused.y, 'y', 1e-4, 1e-5);
    assertClose(fused.dx, unfused.dx, 'dx', 1e-4, 1e-5);
    fused.grads.forEach((gr, i) => assertClose(gr, unfused.grads[i], `parameter ${i} grad`, 1e-3, 1e-4));
    assert.equal(fused.pads, 0, 'no reflection pad runs when fused');
    assert.ok(unfused.pads > 0, 'the unfused net pads');
    assert.equal(fused.relus, 0, 'every ReLU follows an instance norm and is fused');
    assert.ok(unfused.relus > 0, 'the unfused net runs ReLUs');
  });
});
