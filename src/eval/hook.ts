/**
 * The trainer's evaluate hook (TrainerHooks.evaluate): every --eval-freq epochs (and the last),
 * evaluates G_A and G_B on --eval-samples test images, returns the metrics for the log's `eval`
 * record, and writes them into the epoch's checkpoints (metadata `eval`), so a checkpoint file
 * says how good its generators were, and keeps the best evaluated epoch's checkpoint as
 * checkpoints/best.safetensors (./best.ts).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Module } from '../nn/module';
import type { TrainerHooks } from '../train/trainer';
import { readCheckpoint, readCheckpointMetadata, writeCheckpoint } from '../train/checkpoint';
import { epochCheckpointName, LATEST_CHECKPOINT } from '../train/run';
import { keepBestCheckpoint } from './best';
import { evaluateTranslation, type EvalMetrics } from './evaluator';
import { formatMetricsLine } from './format';

type EvaluateHook = NonNullable<TrainerHooks['evaluate']>;

/** Adds `eval` = {epoch, metrics} to the metadata of the run's checkpoints of that epoch (atomic rewrite). */
export function annotateCheckpoints(runDir: string, epoch: number, metrics: EvalMetrics): string[] {
  const dir = path.join(runDir, 'checkpoints');
  if (!fs.existsSync(dir)) return [];
  const written: string[] = [];
  for (const name of [LATEST_CHECKPOINT, epochCheckpointName(epoch)]) {
    const file = path.join(dir, name);
    if (!fs.existsSync(file) || readCheckpointMetadata(file).epoch !== String(epoch)) continue;
    const { tensors, metadata } = readCheckpoint(file);
    writeCheckpoint(file, tensors, { ...metadata, eval: JSON.stringify({ epoch, metrics }) });
    written.push(file);
  }
  return written;
}

export interface EvaluationHookOptions {
  /** Inception-v3 ONNX file for the standard FID/KID/IS */
  inception?: string;
  log?: (line: string) => void;
}

export function evaluationHook(hookOptions: EvaluationHookOptions = {}): EvaluateHook {
  const log = hookOptions.log ?? ((line: string) => process.stdout.write(`cgtrain: eval: ${line}\n`));
  return async (ctx) => {
    const model = ctx.model as unknown as { netG_A?: Module; netG_B?: Module };
    if (!model.netG_A || !model.netG_B) throw new Error('evaluation: the trained model has no netG_A/netG_B generators');
    // A run option --inception (when the options table has one) or the hook's.
    const inception = hookOptions.inception ?? (ctx.options as unknown as { inception?: string }).inception;
    const metrics = await evaluateTranslation({
      backend: ctx.backend, generators: { AtoB: model.netG_A, BtoA: model.netG_B }, options: ctx.options,
      settings: { samples: ctx.samples, inception }, log, signal: ctx.signal,
    });
    const annotated = annotateCheckpoints(ctx.runDir, ctx.epoch, metrics);
    log(`epoch ${ctx.epoch}: ${formatMetricsLine(metrics)}`);
    if (annotated.length) {
      const best = keepBestCheckpoint(ctx.runDir, ctx.epoch, metrics, annotated[0]);
      if (best) log(best);
    }
    return metrics;
  };
}
