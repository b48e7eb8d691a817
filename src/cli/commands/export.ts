/** `cgtrain export --checkpoint FILE [--direction AtoB|BtoA|both] [--out DIR|FILE.onnx]`: generators to ONNX. */
import * as fs from 'fs';
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { loadBackend } from '../../backend/device';
import { exportGeneratorFile, exportGeneratorFiles } from '../../export/export';
import { loadCheckpointGenerators } from '../../export/from-checkpoint';
import { readCheckpointMetadata } from '../../train/checkpoint';
import type { Direction } from '../../export/metadata';

interface ExportArgs {
  checkpoint: string;
  direction: 'AtoB' | 'BtoA' | 'both';
  out?: string;
  device: 'cpu' | 'cuda' | 'auto';
}

/** runs/<name>/checkpoints/x.safetensors exports into runs/<name>/; elsewhere, beside the checkpoint. */
export function defaultExportDir(checkpoint: string): string {
  const dir = path.dirname(path.resolve(checkpoint));
  return path.basename(dir) === 'checkpoints' ? path.dirname(dir) : dir;
}

export const exportCommand: CommandModule<object, ExportArgs> = {
  command: 'export',
  describe: 'export the generators of a checkpoint to ONNX (opset 17), checked against our forward pass',
  builder: (y: Argv<object>) =>
    y
      .option('checkpoint', { type: 'string', demandOption: true, describe: 'training checkpoint (.safetensors)' })
      .option('direction', { choices: ['AtoB', 'BtoA', 'both'] as const, default: 'both' as const, describe: 'AtoB writes G_A.onnx, BtoA writes G_B.onnx' })
      .option('out', { type: 'string', describe: 'output directory (default: the run directory of the checkpoint), or a .onnx file with --direction AtoB or BtoA' })
      .option('device', { choices: ['cpu', 'cuda', 'auto'] as const, default: 'cpu' as const, describe: 'where our forward pass runs for the export check' })
      .example('$0 export --checkpoint runs/quick/checkpoints/latest.safetensors', 'write runs/quick/G_A.onnx and G_B.onnx')
      .example('$0 export --checkpoint ckpt.safetensors --direction AtoB --out models', 'write models/G_A.onnx')
      .example('$0 export --checkpoint ckpt.safetensors --direction BtoA --out svhn2mnist.onnx', 'write svhn2mnist.onnx') as Argv<ExportArgs>,
  handler: async (args) => {
    const directions: Direction[] = args.direction === 'both' ? ['AtoB', 'BtoA'] : [args.direction];
    const outFile = args.out !== undefined && /\.onnx$/i.test(args.out) ? args.out : undefined;
    if (outFile && directions.length > 1) {
      throw new Error(`--out ${outFile} names one file, but --direction both writes two models: pass --direction AtoB or BtoA, or a folder for G_A.onnx and G_B.onnx`);
    }
    // a wrong file is reported before anything about the backend
    if (!fs.existsSync(args.checkpoint)) throw new Error(`checkpoint ${args.checkpoint} does not exist`);
    readCheckpointMetadata(args.checkpoint);
    const backend = loadBackend(args.device, { quiet: true });
    const { options, generators } = loadCheckpointGenerators(args.checkpoint, backend, directions);
    try {
      const model = { netG_A: generators.AtoB!, netG_B: generators.BtoA! };
      const exported = outFile
        ? [await exportGeneratorFile(model, options, directions[0], outFile)]
        : await exportGeneratorFiles(model, options, args.out ?? defaultExportDir(args.checkpoint), directions);
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
