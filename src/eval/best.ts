/**
 * The best evaluated epoch of a run. GAN training does not improve steadily: the last epoch is
 * often not the best one, so after each evaluation the run keeps checkpoints/best.safetensors,
 * a copy of the checkpoint of the evaluated epoch with the lowest FID so far (Inception's FID
 * when the run has --inception, else the digit classifier's), averaged over the directions
 * evaluated. Its metadata `eval` holds the metrics it was chosen by, so a resumed run compares
 * against it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { readCheckpointMetadata } from '../train/checkpoint';
import { BEST_CHECKPOINT } from '../train/run';
import { copyFileAtomicSync } from '../util/atomic';

export interface SelectionScore {
  /** the metric family: 'FID' (Inception) or 'digit-FID' (the digit classifier's features) */
  metric: string;
  /** its mean over the directions evaluated (lower is better) */
  value: number;
  directions: string[];
}

const FAMILIES = ['FID', 'digit-FID'];
const DIRECTIONS = ['AtoB', 'BtoA'];

/** The score an evaluation's metrics rank by, or undefined when they have no FID. */
export function selectionScore(metrics: Record<string, unknown>): SelectionScore | undefined {
  for (const metric of FAMILIES) {
    const directions = DIRECTIONS.filter((d) => typeof metrics[`${metric}_${d}`] === 'number' && Number.isFinite(metrics[`${metric}_${d}`]));
    if (directions.length === 0) continue;
    const value = directions.reduce((sum, d) => sum + (metrics[`${metric}_${d}`] as number), 0) / directions.length;
    return { metric, value, directions };
  }
  return undefined;
}

/** `FID 23.41 (mean of A->B and B->A)` */
export function formatScore(score: SelectionScore): string {
  const label = (d: string): string => (d === 'AtoB' ? 'A->B' : 'B->A');
  const over = score.directions.length === 1 ? label(score.directions[0]) : `mean of ${score.directions.map(label).join(' and ')}`;
  return `${score.metric} ${score.value.toFixed(3)} (${over})`;
}

/** The epoch and score of the evaluation list's best entry (the earliest among equals). */
export function bestEvaluation(evals: { epoch: number; metrics: Record<string, unknown> }[]): { epoch: number; score: SelectionScore } | undefined {
  let best: { epoch: number; score: SelectionScore } | undefined;
  for (const e of evals) {
    const score = selectionScore(e.metrics);
    if (!score) continue;
    // a run that gained --inception part way ranks by the newer family from then on
    if (!best || score.metric !== best.score.metric || score.value < best.score.value) best = { epoch: e.epoch, score };
  }
  return best;
}

/** The epoch and score recorded in an existing best checkpoint, if it has them. */
function recordedBest(file: string): { epoch: number; score: SelectionScore } | undefined {
  if (!fs.existsSync(file)) return undefined;
  try {
    const evaluation = JSON.parse(readCheckpointMetadata(file).eval ?? 'null') as { epoch?: number; metrics?: Record<string, unknown> } | null;
    const score = evaluation?.metrics ? selectionScore(evaluation.metrics) : undefined;
    return score && typeof evaluation?.epoch === 'number' ? { epoch: evaluation.epoch, score } : undefined;
  } catch {
    return undefined; // unreadable: replaced by the next evaluation
  }
}

/**
 * After epoch `epoch` was evaluated (its checkpoint in `source` annotated with `metrics`): copies
 * it to checkpoints/best.safetensors when it beats the one there. Returns the line to log, or
 * undefined when the metrics have no FID.
 */
export function keepBestCheckpoint(runDir: string, epoch: number, metrics: Record<string, unknown>, source: string): string | undefined {
  const score = selectionScore(metrics);
  if (!score) return undefined;
  const file = path.join(runDir, 'checkpoints', BEST_CHECKPOINT);
  const previous = recordedBest(file);
  const shown = path.join('checkpoints', BEST_CHECKPOINT);
  if (previous && previous.epoch !== epoch && previous.score.metric === score.metric && previous.score.value <= score.value) {
    return `best so far: epoch ${previous.epoch}, ${formatScore(previous.score)} (${shown})`;
  }
  copyFileAtomicSync(source, file);
  const than = previous && previous.epoch !== epoch && previous.score.metric === score.metric ? `, better than epoch ${previous.epoch}'s ${previous.score.value.toFixed(3)}` : '';
  return `best so far: epoch ${epoch}, ${formatScore(score)}${than}: kept as ${shown}`;
}
