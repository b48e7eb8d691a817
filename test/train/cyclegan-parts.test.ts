/** The image pool (the reference's image_pool.py behaviour) and the adversarial losses. */
import { test } from 'node:test';
import * as assert from 'node:assert';
import { Tensor, tidy } from '../../src/tensor';
import { ImagePool } from '../../src/train/pool';
import { FocalLoss, GANLoss, GHMCLoss } from '../../src/train/losses';
import { Rng } from '../../src/util/rng';
import { cpuBackend } from '../util/native';

/** n images of 2 values each, image i filled with `base + i`. */
function images(n: number, base: number): Tensor {
  return Tensor.fromArray(Float32Array.from({ length: 2 * n }, (_, k) => base + Math.floor(k / 2)), [n, 2, 1, 1], cpuBackend());
}

function ids(t: Tensor): number[] {
  const d = t.toFloat32Array();
  return Array.from({ length: t.shape[0] }, (_, i) => d[2 * i]);
}

test('ImagePool fills first, then swaps with probability 1/2, and round-trips its state', () => {
  const be = cpuBackend();
  const pool = new ImagePool(3, be, new Rng(4));
  try {
    tidy(() => {
      assert.deepStrictEqual(ids(pool.query(images(2, 0))), [0, 1], 'filling: returns its input');
      assert.deepStrictEqual(ids(pool.query(images(1, 10))), [10]);
      assert.strictEqual(pool.count, 3);
      let fromHistory = 0;
      let total = 0;
      for (let step = 0; step < 40; step++) {
        const out = ids(pool.query(images(4, 100 * (step + 1))));
        out.forEach((v, i) => {
          total++;
          if (v !== 100 * (step + 1) + i) fromHistory++;
        });
      }
      assert.ok(fromHistory > total * 0.35 && fromHistory < total * 0.65, `${fromHistory} of ${total} from history`);
      const state = pool.stateTensor()!;
      assert.deepStrictEqual(state.shape, [3, 2, 1, 1]);
      const copy = new ImagePool(3, be, new Rng(9));
      copy.loadState(state);
      assert.deepStrictEqual(copy.stateTensor()!.data, state.data);
      copy.dispose();
      assert.throws(() => pool.query(Tensor.zeros([1, 3, 1, 1], be)), /do not match the pool's \[2, 1, 1\]/);
    });
    const zero = new ImagePool(0, be, new Rng(1));
    tidy(() => {
      const x = images(2, 5);
      x.requiresGrad = true;
      const out = zero.query(x);
      assert.deepStrictEqual(ids(out), [5, 6]);
      assert.strictEqual(out.requiresGrad, false, 'pool output is detached from the generator graph');
    });
  } finally {
    pool.dispose();
  }
});

test('ImagePool gives what the reference\'s image-by-image loop gives, slots drawn twice in one batch included', () => {
  const be = cpuBackend();
  const poolSize = 3;
  const pool = new ImagePool(poolSize, be, new Rng(11));
  // The reference (util/image_pool.py), image by image, with a twin of the pool's Rng.
  const rng = new Rng(11);
  const slots: number[] = [];
  const reference = (batch: number[]): number[] =>
    batch.map((img) => {
      if (slots.length < poolSize) {
        slots.push(img);
        return img;
      }
      if (rng.uniform(0, 1) > 0.5) {
        const id = rng.int(poolSize);
        const old = slots[id];
        slots[id] = img;
        return old;
      }
      return img;
    });
  let repeats = 0;
  try {
    for (let step = 0; step < 60; step++) {
      const n = 1 + (step % 7);
      const batch = Array.from({ length: n }, (_, i) => 100 * step + i);
      const want = reference(batch);
      tidy(() => {
        const got = ids(pool.query(images(n, 100 * step)));
        assert.deepStrictEqual(got, want, `step ${step}`);
      });
      const state = pool.stateTensor()!;
      assert.deepStrictEqual(Array.from({ length: state.shape[0] }, (_, i) => state.data[2 * i]), slots, `step ${step}: the stored images`);
      // batches where a slot handed out an image stored earlier in the same batch
      if (want.some((v, i) => v >= 100 * step && v !== batch[i])) repeats++;
    }
    assert.ok(repeats > 3, `${repeats} batches drew a slot refilled in the same batch`);
  } finally {
    pool.dispose();
  }
});

test('copyBlocks copies block pairs at once and refuses pairs that would race', () => {
  const b = cpuBackend().binding;
  const src = b.alloc(12), dst = b.alloc(12);
  b.upload(src, Float32Array.from({ length: 12 }, (_, i) => i));
  b.fill(dst, -1, 12);
  b.copyBlocks(dst, src, 3, Int32Array.from([2, 0, 0, 3]));
  const out = new Float32Array(12);
  b.download(dst, out);
  assert.deepStrictEqual(Array.from(out), [9, 10, 11, -1, -1, -1, 0, 1, 2, -1, -1, -1]);
  b.copyBlocks(src, src, 3, Int32Array.from([1, 0, 3, 2]));
  b.download(src, out);
  assert.deepStrictEqual(Array.from(out), [0, 1, 2, 0, 1, 2, 6, 7, 8, 6, 7, 8]);
  b.copyBlocks(dst, src, 3, new Int32Array(0));
  assert.throws(() => b.copyBlocks(dst, src, 3, Int32Array.from([1, 0, 1, 2])), /copyBlocks: dst block 1 is written twice/);
  assert.throws(() => b.copyBlocks(src, src, 3, Int32Array.from([1, 0, 2, 1])), /copyBlocks: block 1 of the one buffer is both read and written/);
  assert.throws(() => b.copyBlocks(dst, src, 3, Int32Array.from([4, 0])), /copyBlocks: dst holds 12 floats, needs 15/);
  assert.throws(() => b.copyBlocks(dst, src, 3, Int32Array.from([0, -1])), /negative block index/);
  assert.throws(() => b.copyBlocks(dst, src, 3, Int32Array.from([0])), /an even count/);
  assert.throws(() => b.copyBlocks(dst, src, 3, [0, 1] as unknown as Int32Array), /pairs must be an Int32Array/);
  b.free(src);
  b.free(dst);
});

test('GAN losses: lsgan, vanilla, wgangp, hinge, focal and GHM-C values', () => {
  const be = cpuBackend();
  tidy(() => {
    const pred = Tensor.fromArray([0.5, -1, 2, 0], [4], be);
    const lsgan = new GANLoss('lsgan');
    assert.ok(Math.abs(lsgan.call(pred, true).item() - (0.25 + 4 + 1 + 1) / 4) < 1e-6);
    assert.ok(Math.abs(lsgan.call(pred, false).item() - (0.25 + 1 + 4 + 0) / 4) < 1e-6);
    const bce = (x: number, t: number) => Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x)));
    const vanilla = new GANLoss('vanilla').call(pred, true).item();
    assert.ok(Math.abs(vanilla - [0.5, -1, 2, 0].reduce((s, x) => s + bce(x, 1), 0) / 4) < 1e-6);
    const hinge = new GANLoss('hinge');
    assert.ok(Math.abs(hinge.call(pred, true).item() - (0.5 + 2 + 0 + 1) / 4) < 1e-6);
    assert.ok(Math.abs(hinge.call(pred, false).item() - (1.5 + 0 + 3 + 1) / 4) < 1e-6);
    assert.ok(Math.abs(hinge.call(pred, true, false).item() - -0.375) < 1e-6);
    // focal with gamma 0 and alpha disabled is plain BCE
    assert.ok(Math.abs(new FocalLoss(-1, 0).call(pred, true).item() - vanilla) < 1e-5);
    assert.ok(new FocalLoss(0.25, 2).call(pred, true).item() < vanilla);
    const ghm = new GHMCLoss(10, 0.75, be);
    assert.ok(Number.isFinite(ghm.call(pred, true).item()));
    assert.ok(ghm.acc.toFloat32Array().some((v) => v > 0), 'the histogram is updated');
    ghm.dispose();
    // wgangp (the reference's, no gradient penalty): -mean for real targets, mean for fake ones, for D and G alike.
    const wgan = new GANLoss('wgangp');
    assert.ok(Math.abs(wgan.call(pred, true).item() - -0.375) < 1e-6);
    assert.ok(Math.abs(wgan.call(pred, false).item() - 0.375) < 1e-6);
    assert.ok(Math.abs(wgan.call(pred, true, false).item() - -0.375) < 1e-6);
    assert.throws(() => new GANLoss('wgan' as never), /lsgan, vanilla, wgangp, hinge/);
  });
});
