/**
 * Learning-rate policies of the reference CycleGAN's get_scheduler, written in closed form over
 * the global 1-based epoch number so that a resumed run lands on the same rate without replaying
 * a scheduler:
 *  - linear: lr for epochs 1..n_epochs, then 1 - (epoch - n_epochs) / (n_epochs_decay + 1)
 *    (the reference lambda_rule with epoch_count folded in), reaching lr / (n_epochs_decay + 1)
 *    in the last epoch;
 *  - step: lr * 0.1^floor((epoch - 1) / lr_decay_iters) (StepLR, gamma 0.1);
 *  - cosine: lr * (1 + cos(pi * (epoch - 1) / n_epochs)) / 2 (CosineAnnealingLR, T_max n_epochs);
 *  - plateau: ReduceLROnPlateau(mode min, factor 0.2, threshold 0.01 relative, patience 5). The
 *    reference feeds it a constant 0; we feed the epoch's mean generator loss, a real signal.
 */

export type LrPolicy = 'linear' | 'step' | 'cosine' | 'plateau';

export interface ScheduleOptions {
  lrPolicy: LrPolicy;
  lr: number;
  nEpochs: number;
  nEpochsDecay: number;
  lrDecayIters: number;
}

/** What a checkpoint keeps of the schedule: only plateau has state beyond the epoch number. */
export interface ScheduleState {
  policy: LrPolicy;
  plateauLr: number;
  plateauBest: number | null;
  plateauBadEpochs: number;
}

const PLATEAU_FACTOR = 0.2;
const PLATEAU_THRESHOLD = 0.01;
const PLATEAU_PATIENCE = 5;
/** ReduceLROnPlateau ignores reductions smaller than this (its eps). */
const PLATEAU_MIN_CHANGE = 1e-8;

export function linearFactor(epoch: number, nEpochs: number, nEpochsDecay: number): number {
  return 1 - Math.max(0, epoch - nEpochs) / (nEpochsDecay + 1);
}

export class LrScheduler {
  private plateauLr: number;
  private plateauBest: number | null = null;
  private plateauBadEpochs = 0;

  constructor(private readonly options: ScheduleOptions) {
    if (!(options.lr > 0)) throw new Error(`cgtrain: lr schedule: expected lr > 0, got ${options.lr}`);
    if (!['linear', 'step', 'cosine', 'plateau'].includes(options.lrPolicy)) {
      throw new Error(`cgtrain: lr schedule: unknown policy '${options.lrPolicy}', expected linear, step, cosine or plateau`);
    }
    this.plateauLr = options.lr;
  }

  /** The learning rate for the given 1-based epoch. */
  lr(epoch: number): number {
    if (!Number.isInteger(epoch) || epoch < 1) throw new Error(`cgtrain: lr schedule: expected an epoch number >= 1, got ${epoch}`);
    const { lr, nEpochs, nEpochsDecay, lrDecayIters } = this.options;
    switch (this.options.lrPolicy) {
      case 'linear':
        return lr * linearFactor(epoch, nEpochs, nEpochsDecay);
      case 'step':
        return lr * 0.1 ** Math.floor((epoch - 1) / lrDecayIters);
      case 'cosine':
        return (lr * (1 + Math.cos((Math.PI * (epoch - 1)) / Math.max(1, nEpochs)))) / 2;
      case 'plateau':
        return this.plateauLr;
    }
  }

  /** Called once at the end of every epoch with the epoch's monitored loss (plateau only uses it). */
  endEpoch(metric: number): void {
    if (this.options.lrPolicy !== 'plateau' || !Number.isFinite(metric)) return;
    if (this.plateauBest === null || metric < this.plateauBest * (1 - PLATEAU_THRESHOLD)) {
      this.plateauBest = metric;
      this.plateauBadEpochs = 0;
      return;
    }
    this.plateauBadEpochs++;
    if (this.plateauBadEpochs > PLATEAU_PATIENCE) {
      const reduced = this.plateauLr * PLATEAU_FACTOR;
      if (this.plateauLr - reduced > PLATEAU_MIN_CHANGE) this.plateauLr = reduced;
      this.plateauBadEpochs = 0;
    }
  }

  getState(): ScheduleState {
    return { policy: this.options.lrPolicy, plateauLr: this.plateauLr, plateauBest: this.plateauBest, plateauBadEpochs: this.plateauBadEpochs };
  }

  setState(state: ScheduleState): void {
    if (state.policy !== this.options.lrPolicy) {
      throw new Error(`cgtrain: lr schedule: the checkpoint was trained with --lr-policy ${state.policy}, this run uses ${this.options.lrPolicy}`);
    }
    this.plateauLr = state.plateauLr;
    this.plateauBest = state.plateauBest;
    this.plateauBadEpochs = state.plateauBadEpochs;
  }
}
