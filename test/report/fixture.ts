/**
 * A synthetic run directory shaped like the trainer's (docs/architecture.md, "Runs"): log.jsonl
 * with every record type, opt.json, sample grids made with sharp, an exported model and a
 * checkpoint. Numbers follow a plausible CycleGAN run: cycle and identity losses fall, the
 * adversarial ones hover, the learning rate decays linearly in the second half.
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import sharp from 'sharp';

export interface SyntheticRunOptions {
  epochs?: number;
  stepsPerEpoch?: number;
  batchSize?: number;
  /** write the end record (a finished run); otherwise the run looks live */
  ended?: boolean | string;
  evalEvery?: number;
  /** a torn last line, as a reader sees while the trainer is mid-append */
  tornTail?: boolean;
  sampleSize?: number;
}

export const LOSS_KEYS = ['D_A', 'G_A', 'cycle_A', 'idt_A', 'D_B', 'G_B', 'cycle_B', 'idt_B'];
export const START_MS = Date.parse('2026-11-27T10:00:00Z');

export async function makeTempDir(prefix: string): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), `cgtrain-${prefix}-`));
}

export async function makeSyntheticRun(parent: string, name: string, o: SyntheticRunOptions = {}): Promise<string> {
  const epochs = o.epochs ?? 4;
  const stepsPerEpoch = o.stepsPerEpoch ?? 25;
  const batchSize = o.batchSize ?? 4;
  const runDir = path.join(parent, name);
  await fs.mkdir(path.join(runDir, 'samples'), { recursive: true });
  await fs.mkdir(path.join(runDir, 'checkpoints'), { recursive: true });
  const options = { name, preset: 'quick', device: 'cpu', netG: 'resnet_6blocks', netD: 'basic', ngf: 16, ndf: 16, lr: 0.0002, nEpochs: epochs / 2, nEpochsDecay: epochs / 2, epochCount: 1, batchSize, lambdaIdentity: 0.5, poolSize: 50 };
  await fs.writeFile(path.join(runDir, 'opt.json'), JSON.stringify(options, null, 2));
  const records: unknown[] = [{ type: 'start', time: new Date(START_MS).toISOString(), options, machine: { cpu: 'Synthetic CPU @ 3.0GHz', threads: 2, simd: 'avx2', device: 'cpu', deviceName: 'Synthetic CPU @ 3.0GHz' } }];
  let images = 0;
  let clock = START_MS;
  const totalSteps = epochs * stepsPerEpoch;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const lr = epoch <= epochs / 2 ? 0.0002 : 0.0002 * (1 - (epoch - epochs / 2) / (epochs / 2 + 1));
    for (let iter = 1; iter <= stepsPerEpoch; iter++) {
      images += batchSize;
      clock += 1000;
      const progress = (images / batchSize) / totalSteps;
      records.push({ type: 'step', epoch, iter, images, time: clock, lr, imagesPerSec: 40 + 5 * Math.sin(iter), losses: syntheticLosses(progress, images) });
    }
    const file = `samples/epoch${String(epoch).padStart(3, '0')}.png`;
    await writeSampleGrid(path.join(runDir, file), epoch, o.sampleSize ?? 32);
    records.push({ type: 'sample', epoch, iter: stepsPerEpoch, file });
    records.push({ type: 'epoch', epoch, time: clock, lr, imagesPerSec: 41.5 });
    if (epoch % (o.evalEvery ?? 2) === 0) {
      records.push({ type: 'eval', epoch, metrics: { fid_A: 120 / epoch, fid_B: 150 / epoch, accuracy_B: 0.5 + 0.1 * epoch, kid: { A: 0.05 / epoch, B: 0.06 / epoch } } });
    }
    const checkpoint = 'checkpoints/latest.safetensors';
    await fs.writeFile(path.join(runDir, checkpoint), Buffer.alloc(2048));
    records.push({ type: 'checkpoint', epoch, iter: stepsPerEpoch, file: checkpoint });
  }
  if (o.ended !== undefined && o.ended !== false) {
    for (const model of ['G_A.onnx', 'G_B.onnx']) await fs.writeFile(path.join(runDir, model), Buffer.alloc(4096));
    records.push({ type: 'export', files: ['G_A.onnx', 'G_B.onnx'] });
    records.push({ type: 'end', time: clock, epochs, imagesPerSec: 41.5, reason: o.ended === true ? 'finished' : o.ended });
  }
  let text = records.map((r) => JSON.stringify(r)).join('\n') + '\n';
  if (o.tornTail) text += '{"type":"step","epoch":';
  await fs.writeFile(path.join(runDir, 'log.jsonl'), text);
  return runDir;
}

function syntheticLosses(progress: number, seed: number): Record<string, number> {
  const noise = (k: number): number => 0.08 * Math.sin(seed * 12.9898 + k * 78.233);
  const decay = Math.exp(-2.5 * progress);
  return {
    D_A: 0.25 + noise(1), G_A: 0.6 + 0.3 * decay + noise(2), cycle_A: 0.4 + 2.2 * decay + noise(3), idt_A: 0.2 + 1.1 * decay + noise(4),
    D_B: 0.22 + noise(5), G_B: 0.55 + 0.35 * decay + noise(6), cycle_B: 0.45 + 2.0 * decay + noise(7), idt_B: 0.22 + 1.0 * decay + noise(8),
  };
}

/** A 6x3 grid of tiles like real | fake | reconstructed rows, whose contrast sharpens with the epoch. */
async function writeSampleGrid(file: string, epoch: number, tile: number): Promise<void> {
  const cols = 6;
  const rows = 3;
  const width = cols * tile;
  const height = rows * tile;
  const pixels = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const tx = (x % tile) / tile - 0.5;
      const ty = (y % tile) / tile - 0.5;
      const ring = Math.abs(Math.hypot(tx, ty) - 0.3) < 0.06 + 0.02 / epoch ? 1 : 0;
      const i = (y * width + x) * 3;
      pixels[i] = 30 + ring * 200;
      pixels[i + 1] = 40 + ring * (120 + 20 * Math.floor(x / tile));
      pixels[i + 2] = 80 + 60 * Math.floor(y / tile);
    }
  }
  await sharp(pixels, { raw: { width, height, channels: 3 } }).png().toFile(file);
}
