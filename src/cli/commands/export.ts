/** `cgtrain export --checkpoint FILE | --run NAME [--best] [--direction AtoB|BtoA|both] [--out DIR|FILE.onnx]`: generators to ONNX. */
import * as fs from 'fs';
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { loadBackend } from '../../backend/device';
import { exportGeneratorFile, exportGeneratorFiles } from '../../export/export';
import { loadCheckpointGenerators } from '../../export/from-checkpoint';
import { readCheckpointMetadata } from '../../train/checkpoint';
import { BEST_CHECKPOINT, runCheckpoint } from '../../train/run';
import type { Direction } from '../../export/metadata';

interface ExportArgs {
  checkpoint?: string;
  run?: string;
  best: boolean;
  direction: 'AtoB' | 'BtoA' | 'both';
  out?: string;
  device: 'cpu' | 'cuda' | 'auto';
}

/**
 * runs/<name>/checkpoints/x.safetensors exports into runs/<name>/ (best.safetensors into
 * runs/<name>/best/, beside and not over the final models); elsewhere, beside the checkpoint.
 */
export function defaultExportDir(checkpoint: string): string {
  const dir = path.dirname(path.resolve(checkpoint));
  if (path.basename(dir) !== 'checkpoints') return dir;
  return path.basename(checkpoint) === BEST_CHECKPOINT ? path.join(path.dirname(dir), 'best') : path.dirname(dir);
}

export const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export',
  describe: 'export the generators of a checkpoint to ONNX (opset 17), checked against our forward pass',
  builder: (y: Argv<object>) =>
    y
      .option('checkpoint', { type: 'string', describe: 'training checkpoint (.safetensors)' })
      .option('run', { type: 'string', describe: 'a run directory or name (runs/NAME): its latest checkpoint' })
      .option('best', { type: 'boolean', default: false, describe: 'with --run: its best evaluated epoch (checkpoints/best.safetensors), written to runs/NAME/best/' })
      .conflicts('run', 'checkpoint')
      .check((a) => {
        if (!a.checkpoint && !a.run) throw new Error('name the checkpoint: --checkpoint FILE or --run NAME');
        if (a.best && !a.run) throw new Error("--best picks a run's best checkpoint: pass --run NAME with it");
        return true;
      })
      .option('direction', { choices: ['AtoB', 'BtoA', 'both'] as const, default: 'both' as const, describe: 'AtoB writes G_A.onnx, BtoA writes G_B.onnx' })
      .option('out', { type: 'string', describe: 'output directory (default: the run directory of the checkpoint), or a .onnx file with --direction AtoB or BtoA' })
      .option('device', { choices: ['cpu', 'cuda', 'auto'] as const, default: 'cpu' as const, describe: 'where our forward pass runs for the export check' })
      .example('$0 export --checkpoint runs/quick/checkpoints/latest.safetensors', 'write runs/quick/G_A.onnx and G_B.onnx')
      .example('$0 export --checkpoint ckpt.safetensors --direction AtoB --out models', 'write models/G_A.onnx')
      .example('$0 export --checkpoint ckpt.safetensors --direction BtoA --out svhn2mnist.onnx', 'write svhn2mnist.onnx')
      .example('$0 export --run h2z --best', 'the best evaluated epoch of runs/h2z -> runs/h2z/best/G_A.onnx, G_B.onnx') as Argv<ExportArgs>,
  handler: async (args) => {
    const directions: Direction[] = args.direction === 'both' ? ['AtoB', 'BtoA'] : [args.direction];
    const outFile = args.out !== undefined && /\.onnx$/i.test(args.out) ? args.out : undefined;
    if (outFile && directions.length > 1) {
      throw new Error(`--out ${outFile} names one file, but --direction both writes two models: pass --direction AtoB or BtoA, or a folder for G_A.onnx and G_B.onnx`);
    }
    const checkpoint = args.run ? runCheckpoint(args.run, args.best) : args.checkpoint!;
    // a wrong file is reported before anything about the backend
    if (!fs.existsSync(checkpoint)) throw new Error(`checkpoint ${checkpoint} does not exist`);
    readCheckpointMetadata(checkpoint);
    const backend = loadBackend(args.device, { quiet: true });
    const { options, generators } = loadCheckpointGenerators(checkpoint, backend, directions);
    try {
      const model = { netG_A: generators.AtoB!, netG_B: generators.BtoA! };
      const exported = outFile
        ? [await exportGeneratorFile(model, options, directions[0], outFile)]
        : await exportGeneratorFiles(model, options, args.out ?? defaultExportDir(checkpoint), directions);
      for (const e of exported) {
        const shown = path.relative(process.cwd(), e.file) || e.file;
        process.stdout.write(
          `cgtrain: wrote ${shown} (${options.netG} ${e.direction}, ${(e.bytes / 1e6).toFixed(2)} MB; onnxruntime vs ${backend.kind} forward max abs diff ${e.maxAbsDiff.toExponential(1)})\n`,
        );
      }
    } finally {
      for (const g of Object.values(generators)) g?.dispose();
    }
  },
};
