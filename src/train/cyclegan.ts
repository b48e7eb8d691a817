/**
 * The CycleGAN model step, like the reference models/cycle_gan_model.py: G_A: A -> B,
 * G_B: B -> A, D_A judges domain B, D_B judges domain A.
 *
 * optimizeParameters() runs the reference's order (G step with both D frozen: GAN + cycle L1 +
 * identity L1, Adam on G; then D_A and D_B on image-pool samples, 0.5 * (real + fake), Adam on D).
 * The generator loss is a sum of independent sub-graphs (cycle through A with G_A's identity
 * term, cycle through B with G_B's; the identity terms separately under batch norm); we run
 * backward on each as soon as it is built. The gradients are the same (accumulated into .grad),
 * but only one sub-graph's activations are alive at a time, which about halves the step's peak
 * memory. Without batch norm, images that meet the same network go through it as one batch (a
 * generator's identity images, a discriminator's real and fake): the same values, fewer calls.
 *
 * Everything a step creates lives in tidy(); what outlives it (the losses and the visuals of the
 * last step) is kept explicitly and freed at the start of the next step.
 */
import type { Backend } from '../backend/device';
import { Tensor, backward, noGrad, tidy } from '../tensor';
import * as F from '../ops';
import type { Module } from '../nn/module';
import type { NormKind } from '../nn/layers';

/** Shared batches can be turned off (tests compare the step both ways). */
export const batchSharing = { enabled: true };
import type { InitType } from '../nn/init';
import { defineD, defineG, type DiscriminatorName, type GeneratorName } from '../nn/networks';
import { Adam } from '../optim/adam';
import type { Rng } from '../util/rng';
import { ImagePool } from './pool';
import { FocalLoss, GANLoss, GHMCLoss, type DLossKind, type GanMode } from './losses';

export interface ModelConfig {
  netG: GeneratorName;
  netD: DiscriminatorName;
  nLayersD: number;
  ngf: number;
  ndf: number;
  norm: NormKind;
  initType: InitType;
  initGain: number;
  noDropout: boolean;
  upsample: 'transpose' | 'resize';
  inputNc: number;
  outputNc: number;
  ganMode: GanMode;
  dLoss: DLossKind;
  focalAlpha: number;
  focalGamma: number;
  ghmBins: number;
  ghmMomentum: number;
  lambdaA: number;
  lambdaB: number;
  lambdaIdentity: number;
  poolSize: number;
  lr: number;
  beta1: number;
  beta2: number;
  imageSize: number;
}

export const LOSS_NAMES = ['D_A', 'G_A', 'cycle_A', 'idt_A', 'D_B', 'G_B', 'cycle_B', 'idt_B'] as const;
export type LossName = (typeof LOSS_NAMES)[number];
const VISUAL_NAMES = ['realA', 'fakeB', 'recA', 'realB', 'fakeA', 'recB'] as const;
type VisualName = (typeof VISUAL_NAMES)[number];
export type Visuals = Record<VisualName, Float32Array>;

export interface CycleGANMeta {
  optimizerGStep: number;
  optimizerDStep: number;
  lr: number;
  poolCounts: { fake_A: number; fake_B: number };
}

export interface CheckpointTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

type DCriterion = (prediction: Tensor, targetIsReal: boolean) => Tensor;

export class CycleGANModel {
  readonly netG_A: Module;
  readonly netG_B: Module;
  readonly netD_A: Module;
  readonly netD_B: Module;
  readonly optimizerG: Adam;
  readonly optimizerD: Adam;
  readonly fakeAPool: ImagePool;
  readonly fakeBPool: ImagePool;
  readonly ghm: { D_A: GHMCLoss; D_B: GHMCLoss } | null;
  private readonly ganLoss: GANLoss;
  private readonly criterionD_A: DCriterion;
  private readonly criterionD_B: DCriterion;
  private readonly criterionG: DCriterion;
  private realA: Tensor | null = null;
  private realB: Tensor | null = null;
  private batch = 0;
  private readonly losses = new Map<LossName, Tensor>();
  private readonly outputs = new Map<VisualName, Tensor>();
  private macsCache: { g: number; d: number } | null = null;

  constructor(readonly cfg: ModelConfig, readonly backend: Backend, readonly rng: Rng) {
    validateConfig(cfg);
    const g = {
      netG: cfg.netG, ngf: cfg.ngf, norm: cfg.norm, useDropout: !cfg.noDropout, upsample: cfg.upsample,
      imageSize: cfg.imageSize, initType: cfg.initType, initGain: cfg.initGain,
    };
    this.netG_A = defineG(backend, { ...g, inputNc: cfg.inputNc, outputNc: cfg.outputNc }, rng);
    this.netG_B = defineG(backend, { ...g, inputNc: cfg.outputNc, outputNc: cfg.inputNc }, rng);
    const d = { netD: cfg.netD, ndf: cfg.ndf, nLayersD: cfg.nLayersD, norm: cfg.norm, initType: cfg.initType, initGain: cfg.initGain };
    this.netD_A = defineD(backend, { ...d, inputNc: cfg.outputNc }, rng);
    this.netD_B = defineD(backend, { ...d, inputNc: cfg.inputNc }, rng);
    const betas = { beta1: cfg.beta1, beta2: cfg.beta2 };
    this.optimizerG = new Adam([...this.netG_A.parameters(), ...this.netG_B.parameters()], { lr: cfg.lr, ...betas });
    this.optimizerD = new Adam([...this.netD_A.parameters(), ...this.netD_B.parameters()], { lr: cfg.lr, ...betas });
    this.fakeAPool = new ImagePool(cfg.poolSize, backend, rng);
    this.fakeBPool = new ImagePool(cfg.poolSize, backend, rng);
    this.ganLoss = new GANLoss(cfg.ganMode);
    this.ghm = null;
    if (cfg.dLoss === 'gan') {
      this.criterionD_A = this.criterionD_B = (p, real) => this.ganLoss.call(p, real, true);
      this.criterionG = (p) => this.ganLoss.call(p, true, false);
    } else {
      // Focal and GHM-C read D outputs as logits; the generator then uses the non-saturating
      // BCE-with-logits loss on the same logits (GHM's histograms are discriminator statistics).
      this.criterionG = (p) => F.bceWithLogits(p, 1);
      if (cfg.dLoss === 'focal') {
        const focal = new FocalLoss(cfg.focalAlpha, cfg.focalGamma);
        this.criterionD_A = this.criterionD_B = (p, real) => focal.call(p, real);
      } else {
        const ghm = { D_A: new GHMCLoss(cfg.ghmBins, cfg.ghmMomentum, backend), D_B: new GHMCLoss(cfg.ghmBins, cfg.ghmMomentum, backend) };
        this.ghm = ghm;
        this.criterionD_A = (p, real) => ghm.D_A.call(p, real);
        this.criterionD_B = (p, real) => ghm.D_B.call(p, real);
      }
    }
  }

  private imageShape(n: number, channels: number): number[] {
    return [n, channels, this.cfg.imageSize, this.cfg.imageSize];
  }

  /** Uploads a batch: a [n, inputNc, S, S] and b [n, outputNc, S, S], NCHW float32 in [-1, 1]. */
  setInput(a: Float32Array, b: Float32Array, n: number): void {
    if (!Number.isInteger(n) || n < 1) throw new Error(`CycleGANModel.setInput: n must be a positive integer, got ${n}`);
    const { inputNc, outputNc, imageSize } = this.cfg;
    for (const [label, data, c] of [['a', a, inputNc], ['b', b, outputNc]] as const) {
      if (data.length !== n * c * imageSize * imageSize) {
        throw new Error(`CycleGANModel.setInput: ${label} has ${data.length} values, expected ${n} x ${c} x ${imageSize} x ${imageSize}`);
      }
    }
    if (this.batch !== n) {
      this.realA?.dispose();
      this.realB?.dispose();
      this.realA = Tensor.empty(this.imageShape(n, inputNc), this.backend).keep();
      this.realB = Tensor.empty(this.imageShape(n, outputNc), this.backend).keep();
      this.batch = n;
    }
    this.realA!.copyFromArray(a);
    this.realB!.copyFromArray(b);
  }

  private replaceStepOutputs(losses: Partial<Record<LossName, Tensor>>, visuals: Partial<Record<VisualName, Tensor>>): void {
    for (const t of this.losses.values()) t.dispose();
    for (const t of this.outputs.values()) t.dispose();
    this.losses.clear();
    this.outputs.clear();
    for (const [k, t] of Object.entries(losses)) this.losses.set(k as LossName, t.keep());
    for (const [k, t] of Object.entries(visuals)) this.outputs.set(k as VisualName, t.keep());
  }

  /** One training step on the current batch. */
  optimizeParameters(): void {
    const realA = this.realA;
    const realB = this.realB;
    if (!realA || !realB) throw new Error('CycleGANModel.optimizeParameters: call setInput() first');
    const losses: Partial<Record<LossName, Tensor>> = {};
    const visuals: Partial<Record<VisualName, Tensor>> = {};
    tidy(() => {
      const { fakeA, fakeB } = this.generatorStep(realA, realB, losses, visuals);
      this.discriminatorStep(realA, realB, fakeA, fakeB, losses);
      // keep() before the scope ends; on an exception the scope frees this step's tensors and
      // the previous step's outputs stay.
      this.replaceStepOutputs(losses, visuals);
    });
  }

  private generatorStep(realA: Tensor, realB: Tensor, losses: Partial<Record<LossName, Tensor>>, visuals: Partial<Record<VisualName, Tensor>>): { fakeA: Tensor; fakeB: Tensor } {
    const { lambdaA, lambdaB, lambdaIdentity } = this.cfg;
    this.netD_A.requiresGrad(false);
    this.netD_B.requiresGrad(false);
    this.optimizerG.zeroGrad();
    // With instance norm (or none) every image is normalised on its own, so G_A(real B) for the
    // identity loss can ride in G_A(real A)'s batch (and G_B(real A) in G_B(real B)'s): the same
    // values, in half the generator calls, at a batch size the kernels run more efficiently.
    // Batch norm's statistics would mix the two, so it keeps the reference's separate calls.
    const identity = lambdaIdentity > 0;
    const shareBatch = identity && this.sharesBatches();
    if (identity && !shareBatch) {
      const idtA = this.netG_A.forward(realB);
      losses.idt_A = F.scale(F.l1Loss(idtA, realB), lambdaB * lambdaIdentity);
      idtA.release();
      const idtB = this.netG_B.forward(realA);
      losses.idt_B = F.scale(F.l1Loss(idtB, realA), lambdaA * lambdaIdentity);
      idtB.release();
      backward(F.add(losses.idt_A, losses.idt_B));
    } else if (!identity) {
      losses.idt_A = Tensor.zeros([1], this.backend);
      losses.idt_B = Tensor.zeros([1], this.backend);
    }
    const a = this.cycle(this.netG_A, this.netG_B, this.netD_A, realA, lambdaA, shareBatch ? realB : null, lambdaB * lambdaIdentity);
    const b = this.cycle(this.netG_B, this.netG_A, this.netD_B, realB, lambdaB, shareBatch ? realA : null, lambdaA * lambdaIdentity);
    Object.assign(losses, { G_A: a.gan, cycle_A: a.cycle, G_B: b.gan, cycle_B: b.cycle });
    if (a.idt) losses.idt_A = a.idt;
    if (b.idt) losses.idt_B = b.idt;
    this.optimizerG.step();
    this.optimizerG.zeroGrad(); // the gradients are spent: free them before the D step's peak
    Object.assign(visuals, { realA: realA.clone(), fakeB: a.fake, recA: a.rec, realB: realB.clone(), fakeA: b.fake, recB: b.rec });
    return { fakeA: b.fake, fakeB: a.fake };
  }

  /**
   * One half of the generator loss, and its backward: fake = g(real), rec = gBack(fake), the
   * adversarial loss of netD on fake and the cycle L1 (times lambdaCycle); with `identityInput`,
   * the identity L1 of g(identityInput) (times lambdaIdt), its image computed in g's call on real.
   */
  private cycle(g: Module, gBack: Module, netD: Module, real: Tensor, lambdaCycle: number, identityInput: Tensor | null,
                lambdaIdt: number): { fake: Tensor; rec: Tensor; gan: Tensor; cycle: Tensor; idt: Tensor | null } {
    let fake: Tensor;
    let idt: Tensor | null = null;
    if (identityInput) {
      const both = g.forward(F.concatBatch(real, identityInput));
      fake = F.sliceBatch(both, 0, real.shape[0]);
      const same = F.sliceBatch(both, real.shape[0], identityInput.shape[0]);
      both.release();
      idt = F.scale(F.l1Loss(same, identityInput), lambdaIdt);
      same.release();
    } else {
      fake = g.forward(real);
    }
    const rec = gBack.forward(fake);
    const gan = this.adversarialG(netD, fake);
    const cycle = F.scale(F.l1Loss(rec, real), lambdaCycle);
    backward(F.addN(idt ? [gan, cycle, idt] : [gan, cycle]));
    return { fake, rec, gan, cycle, idt };
  }

  private adversarialG(netD: Module, fake: Tensor): Tensor {
    const prediction = netD.forward(fake);
    const loss = this.criterionG(prediction, true);
    prediction.release();
    return loss;
  }

  private discriminatorStep(realA: Tensor, realB: Tensor, fakeA: Tensor, fakeB: Tensor, losses: Partial<Record<LossName, Tensor>>): void {
    this.netD_A.requiresGrad(true);
    this.netD_B.requiresGrad(true);
    this.optimizerD.zeroGrad();
    const pooledB = this.fakeBPool.query(fakeB);
    losses.D_A = this.backwardD(this.netD_A, this.criterionD_A, realB, pooledB);
    const pooledA = this.fakeAPool.query(fakeA);
    losses.D_B = this.backwardD(this.netD_B, this.criterionD_B, realA, pooledA);
    this.optimizerD.step();
    this.optimizerD.zeroGrad();
  }

  /**
   * The reference's backward_D_basic: 0.5 * (loss(D(real), real) + loss(D(fake), fake)). Without
   * batch norm, D sees each image on its own, so real and fake go through D as one batch (as the
   * generator's identity images do): the same values in one call instead of two.
   */
  private backwardD(netD: Module, criterion: DCriterion, real: Tensor, fake: Tensor): Tensor {
    let predReal: Tensor;
    let predFake: Tensor;
    if (this.sharesBatches()) {
      const both = netD.forward(F.concatBatch(real, fake));
      predReal = F.sliceBatch(both, 0, real.shape[0]);
      predFake = F.sliceBatch(both, real.shape[0], fake.shape[0]);
      both.release();
    } else {
      predReal = netD.forward(real);
      predFake = netD.forward(fake);
    }
    const lossReal = criterion(predReal, true);
    predReal.release();
    const lossFake = criterion(predFake, false);
    predFake.release();
    const loss = F.scale(F.add(lossReal, lossFake), 0.5);
    backward(loss);
    return loss;
  }

  /** Whether images that meet the same network share its call (see the file comment). */
  private sharesBatches(): boolean {
    return batchSharing.enabled && this.cfg.norm !== 'batch';
  }

  /** The last step's losses as numbers (downloaded now, eight scalars). */
  currentLosses(): Record<LossName, number> {
    const out = {} as Record<LossName, number>;
    for (const name of LOSS_NAMES) {
      const t = this.losses.get(name);
      out[name] = t ? t.item() : 0;
    }
    return out;
  }

  /** The first k images of the last step's inputs and outputs (host NCHW). */
  visuals(k: number): Visuals {
    if (this.outputs.size === 0) throw new Error('CycleGANModel.visuals: no step has run yet');
    const out = {} as Visuals;
    for (const name of VISUAL_NAMES) {
      const t = this.outputs.get(name)!;
      const count = Math.max(0, Math.min(k, t.shape[0]));
      const data = new Float32Array((t.size / t.shape[0]) * count);
      if (data.length > 0) t.binding.download(t.buf, data);
      out[name] = data;
    }
    return out;
  }

  /** Runs one generator in eval mode without autograd: x [n, C, S, S] -> [n, C', S, S]. */
  translate(x: Float32Array, n: number, direction: 'AtoB' | 'BtoA'): Float32Array {
    if (direction !== 'AtoB' && direction !== 'BtoA') throw new Error(`translate: direction must be AtoB or BtoA, got '${String(direction)}'`);
    const net = direction === 'AtoB' ? this.netG_A : this.netG_B;
    const channels = direction === 'AtoB' ? this.cfg.inputNc : this.cfg.outputNc;
    const plane = x.length / (n * channels);
    const size = Math.round(Math.sqrt(plane));
    if (!Number.isInteger(n) || n < 1 || size * size !== plane) {
      throw new Error(`translate: ${x.length} values are not ${n} square images of ${channels} channels`);
    }
    const wasTraining = net.training;
    net.eval();
    try {
      return tidy(() => noGrad(() => {
        const input = Tensor.fromArray(x, [n, channels, size, size], this.backend);
        return net.forward(input).toFloat32Array();
      }));
    } finally {
      net.train(wasTraining);
    }
  }

  setLearningRate(lr: number): void {
    if (!(lr >= 0)) throw new Error(`setLearningRate: lr must be >= 0, got ${lr}`);
    this.optimizerG.lr = lr;
    this.optimizerD.lr = lr;
  }

  private namedNets(): [string, Module][] {
    return [['netG_A', this.netG_A], ['netG_B', this.netG_B], ['netD_A', this.netD_A], ['netD_B', this.netD_B]];
  }

  private paramNames(nets: [string, Module][]): string[] {
    return nets.flatMap(([prefix, net]) => net.namedParameters(prefix).map(([name]) => name));
  }

  /** Weights (reference names), optimiser moments, pools and GHM histograms, as host arrays. */
  checkpointTensors(): CheckpointTensor[] {
    const out: CheckpointTensor[] = [];
    for (const [prefix, net] of this.namedNets()) {
      for (const [name, t] of net.stateDict(prefix)) out.push({ name, shape: t.shape.slice(), data: t.toFloat32Array() });
    }
    const nets = this.namedNets();
    out.push(...this.optimizerG.stateTensors('optimizer_G', this.paramNames(nets.slice(0, 2))));
    out.push(...this.optimizerD.stateTensors('optimizer_D', this.paramNames(nets.slice(2))));
    for (const [name, pool] of [['pool.fake_A', this.fakeAPool], ['pool.fake_B', this.fakeBPool]] as const) {
      const state = pool.stateTensor();
      if (state) out.push({ name, ...state });
    }
    if (this.ghm) {
      for (const key of ['D_A', 'D_B'] as const) out.push({ name: `ghm.${key}.acc`, shape: [this.cfg.ghmBins], data: this.ghm[key].acc.toFloat32Array() });
    }
    return out;
  }

  checkpointMeta(): CycleGANMeta {
    return {
      optimizerGStep: this.optimizerG.stepCount,
      optimizerDStep: this.optimizerD.stepCount,
      lr: this.optimizerG.lr,
      poolCounts: { fake_A: this.fakeAPool.count, fake_B: this.fakeBPool.count },
    };
  }

  /** Restores everything checkpointTensors()/checkpointMeta() saved; shapes must match. */
  loadCheckpoint(tensors: CheckpointTensor[], meta: CycleGANMeta): void {
    const byName = new Map(tensors.map((t) => [t.name, t]));
    for (const [prefix, net] of this.namedNets()) {
      const entries = net.stateDict(prefix).map(([name]): [string, CheckpointTensor] => {
        const t = byName.get(name);
        if (!t) throw new Error(`loadCheckpoint: the checkpoint has no '${name}' (was it written for another architecture?)`);
        return [name.slice(prefix.length + 1), t];
      });
      net.loadStateDict(entries);
    }
    const nets = this.namedNets();
    this.optimizerG.loadStateTensors('optimizer_G', byName, this.paramNames(nets.slice(0, 2)));
    this.optimizerD.loadStateTensors('optimizer_D', byName, this.paramNames(nets.slice(2)));
    if (!meta || typeof meta.optimizerGStep !== 'number' || typeof meta.optimizerDStep !== 'number') {
      throw new Error(`loadCheckpoint: model metadata must hold optimizerGStep and optimizerDStep, got ${JSON.stringify(meta)}`);
    }
    this.optimizerG.stepCount = meta.optimizerGStep;
    this.optimizerD.stepCount = meta.optimizerDStep;
    if (typeof meta.lr === 'number') this.setLearningRate(meta.lr);
    this.fakeAPool.loadState(byName.get('pool.fake_A') ?? null);
    this.fakeBPool.loadState(byName.get('pool.fake_B') ?? null);
    if (this.ghm) {
      for (const key of ['D_A', 'D_B'] as const) {
        const t = byName.get(`ghm.${key}.acc`);
        if (!t) throw new Error(`loadCheckpoint: the checkpoint has no 'ghm.${key}.acc'`);
        this.ghm[key].acc.copyFromArray(t.data);
      }
    }
  }

  parameterCount(): number {
    return this.namedNets().reduce((n, [, net]) => n + net.parameterCount(), 0);
  }

  /** Conv/linear MACs of one forward of one image through G_A + G_B and D_A + D_B. */
  private macsPerImage(): { g: number; d: number } {
    if (this.macsCache) return this.macsCache;
    const { inputNc, outputNc, imageSize } = this.cfg;
    const count = (net: Module, channels: number): number => {
      const wasTraining = net.training;
      net.eval(); // batch norm at batch 1 needs running statistics
      try {
        return F.countMacs(() => tidy(() => noGrad(() => {
          net.forward(Tensor.zeros([1, channels, imageSize, imageSize], this.backend));
        })));
      } finally {
        net.train(wasTraining);
      }
    };
    this.macsCache = {
      g: count(this.netG_A, inputNc) + count(this.netG_B, outputNc),
      d: count(this.netD_A, outputNc) + count(this.netD_B, inputNc),
    };
    return this.macsCache;
  }

  /**
   * FLOPs of one training step per image, counted like shared/reference/torch_cyclegan_step.py:
   * 3 (forward + backward ~ 2x forward) * 2 (FLOPs per MAC) * (6 G forwards + 6 D forwards).
   * Each generator runs 3 times (2 without the identity loss), each discriminator 3 times.
   */
  flopsPerImage(): number {
    const { g, d } = this.macsPerImage();
    const gRuns = this.cfg.lambdaIdentity > 0 ? 3 : 2;
    return 3 * 2 * (gRuns * g + 3 * d);
  }

  dispose(): void {
    this.replaceStepOutputs({}, {});
    for (const [, net] of this.namedNets()) net.dispose();
    this.optimizerG.dispose();
    this.optimizerD.dispose();
    this.fakeAPool.dispose();
    this.fakeBPool.dispose();
    this.ghm?.D_A.dispose();
    this.ghm?.D_B.dispose();
    this.realA?.dispose();
    this.realB?.dispose();
    this.realA = this.realB = null;
    this.batch = 0;
  }
}

function validateConfig(cfg: ModelConfig): void {
  const positiveInts: (keyof ModelConfig)[] = ['ngf', 'ndf', 'inputNc', 'outputNc', 'imageSize'];
  for (const key of positiveInts) {
    const v = cfg[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw new Error(`ModelConfig.${key} must be a positive integer, got ${String(v)}`);
  }
  for (const key of ['lambdaA', 'lambdaB', 'lambdaIdentity', 'lr'] as const) {
    if (!(cfg[key] >= 0)) throw new Error(`ModelConfig.${key} must be >= 0, got ${cfg[key]}`);
  }
  if (cfg.lambdaIdentity > 0 && cfg.inputNc !== cfg.outputNc) {
    throw new Error(`ModelConfig: the identity loss (lambdaIdentity ${cfg.lambdaIdentity}) needs inputNc == outputNc, got ${cfg.inputNc} and ${cfg.outputNc}; set lambdaIdentity 0`);
  }
  if (!['gan', 'focal', 'ghmc'].includes(cfg.dLoss)) throw new Error(`ModelConfig.dLoss must be gan, focal or ghmc, got '${String(cfg.dLoss)}'`);
}
