/** Shared fixtures of the evaluation tests: tiny digit classifiers in a temporary data dir. */
import * as path from 'path';
import type { Backend } from '../../src/backend/device';
import { trainAndSaveClassifier, type ClassifierDomain } from '../../src/eval/classifier-store';
import { encodeModel } from '../../src/export/proto';
import { OnnxGraphBuilder } from '../../src/export/graph';
import * as L from '../../src/export/layers';
import { writeFileAtomicSync } from '../../src/util/atomic';

/**
 * Trains small classifiers (a few hundred images, one epoch: seconds, well above chance) into
 * <dataDir>/classifiers, where the evaluator looks, so no test pays for a full training.
 */
export async function tinyClassifiers(backend: Backend, dataDir: string, domains: ClassifierDomain[] = ['mnist', 'synth-svhn']): Promise<Record<string, number>> {
  const accuracy: Record<string, number> = {};
  for (const domain of domains) {
    const r = await trainAndSaveClassifier(backend, { domain, data: { dataDir }, training: { epochs: 1, batchSize: 32 }, maxTrain: 384, maxTest: 100 });
    accuracy[domain] = r.testAccuracy;
    r.model.dispose();
  }
  return accuracy;
}

/**
 * A stand-in for Inception-v3 with its interface: input [N, 3, 299, 299], output 0 = "pool
 * features" (here the per-channel means, [N, 3]), output 1 = logits ([N, 4], a fixed linear map).
 */
export function writeStandInInception(dir: string): { file: string; logitWeights: Float32Array } {
  const b = new OnnxGraphBuilder('inception_stand_in');
  const x = b.input('images', ['N', 3, 299, 299]);
  const pooled = b.node('GlobalAveragePool', [x]);
  const features = L.flatten(b, pooled);
  const logitWeights = Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, -1, 0.5]);
  const logits = L.linear(b, features, { weight: { name: 'fc.weight', shape: [4, 3], data: logitWeights } });
  b.output(features, 'pool3', ['N', 3]);
  b.output(logits, 'logits', ['N', 4]);
  const file = path.join(dir, 'inception-stand-in.onnx');
  writeFileAtomicSync(file, encodeModel(b.toModel({ producerVersion: 'test', metadata: {} })));
  return { file, logitWeights };
}
