/**
 * `cgtrain translate --model G.onnx | --checkpoint FILE [--direction] INPUT... --out DIR [--device] [--precision]`:
 * translates image files and folders to PNG or JPEG files with an exported model (onnxruntime-node) or a
 * checkpoint (our addon on the CPU or CUDA).
 */
import * as fs from 'fs';
import * as path from 'path';
import type { Argv, CommandModule } from 'yargs';
import { PRECISION_CHOICES, type PrecisionName } from '../../backend/device';
import { writeFileAtomicSync } from '../../util/atomic';
import { LATEST_CHECKPOINT, runCheckpoint, runDirOf } from '../../train/run';
import { loadTranslator, type LoadTranslatorOptions } from '../../translate/translator';

interface TranslateArgs {
  inputs: string[];
  model?: string;
  checkpoint?: string;
  run?: string;
  best: boolean;
  direction?: 'AtoB' | 'BtoA';
  out: string;
  device?: 'cpu' | 'cuda' | 'auto';
  precision?: PrecisionName | 'auto';
  'keep-size': boolean;
  format?: 'png' | 'jpeg';
  html: boolean;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A URL path from the page in `dir` to `file` (segments escaped, so '#' or '?' in a name stay names). */
function relativeUrl(dir: string, file: string): string {
  return path.relative(path.resolve(dir), path.resolve(file)).split(path.sep).map(encodeURIComponent).join('/');
}

/**
 * <out>/index.html: each input beside its translation, as the reference's test.py results page
 * (inputs are linked where they are, not copied).
 */
function resultsPage(out: string, files: string[], outputs: string[], title: string): string {
  const rows = files.map((file, i) => `<tr><td>${esc(path.basename(file))}</td>` +
    `<td><a href="${relativeUrl(out, file)}"><img src="${relativeUrl(out, file)}" alt="input ${esc(path.basename(file))}"></a></td>` +
    `<td><a href="${relativeUrl(out, outputs[i])}"><img src="${relativeUrl(out, outputs[i])}" alt="translation of ${esc(path.basename(file))}"></a></td></tr>`);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font:14px system-ui,sans-serif;margin:24px;color:#222}table{border-collapse:collapse}td,th{padding:6px 10px;border-bottom:1px solid #ddd;text-align:left;vertical-align:middle}img{max-width:256px;min-width:96px;image-rendering:pixelated}</style>
</head><body><h1>${esc(title)}</h1><p>${files.length} image${files.length === 1 ? '' : 's'}</p>
<table><thead><tr><th>image</th><th>input</th><th>translation</th></tr></thead><tbody>
${rows.join('\n')}
</tbody></table></body></html>
`;
}

/**
 * --run DIR|NAME: the run's exported generator for the direction (G_A.onnx or G_B.onnx), else,
 * or when --device/--precision ask for our addon, its latest checkpoint; with `best` its
 * checkpoints/best.safetensors. NAME means runs/NAME.
 */
export function generatorOfRun(run: string, direction: 'AtoB' | 'BtoA', wantAddon: boolean, best = false): { model?: string; checkpoint?: string } {
  if (best) return { checkpoint: runCheckpoint(run, true) };
  const dir = runDirOf(run);
  const onnx = path.join(dir, direction === 'AtoB' ? 'G_A.onnx' : 'G_B.onnx');
  const latest = path.join(dir, 'checkpoints', LATEST_CHECKPOINT);
  if (!wantAddon && fs.existsSync(onnx)) return { model: onnx };
  if (fs.existsSync(latest)) return { checkpoint: latest };
  throw new Error(`--run ${run}: ${dir} has no ${path.basename(onnx)} and no checkpoints/latest.safetensors`);
}

export const IMAGE_EXTENSIONS = new Set(['.png', '.jpg', '.jpeg', '.webp', '.tif', '.tiff', '.gif', '.avif']);

/** Files as given; folders as their image files (not recursive), sorted by name. */
export function collectImages(inputs: string[]): string[] {
  const files: string[] = [];
  for (const input of inputs) {
    let stat: fs.Stats;
    try {
      stat = fs.statSync(input);
    } catch {
      throw new Error(`input ${input} does not exist`);
    }
    if (!stat.isDirectory()) {
      files.push(input);
      continue;
    }
    const images = fs.readdirSync(input).filter((f) => IMAGE_EXTENSIONS.has(path.extname(f).toLowerCase())).sort();
    if (images.length === 0) throw new Error(`folder ${input} holds no images (${[...IMAGE_EXTENSIONS].join(', ')})`);
    files.push(...images.map((f) => path.join(input, f)));
  }
  return files;
}

/** The file names --out may end in for a single output image; anything else is a directory. */
const OUTPUT_EXTENSIONS = ['.png', '.jpg', '.jpeg'];

/**
 * An --out that names an image file but cannot be one (several inputs, or a format we do not
 * write) would otherwise become a directory called, say, out.webp/: refused with what to pass.
 */
function checkOut(out: string, ext: string, singleFile: boolean, count: number): void {
  if (singleFile || !(IMAGE_EXTENSIONS.has(ext) || ext === '.bmp')) return;
  if (fs.existsSync(out) && fs.statSync(out).isDirectory()) return; // an existing folder with a dotted name
  if (!OUTPUT_EXTENSIONS.includes(ext)) {
    throw new Error(`--out ${out}: translated images are written as PNG or JPEG; name a .png or .jpg file, or a directory`);
  }
  throw new Error(`--out ${out} names one image file, but the inputs hold ${count} images; pass a directory`);
}

/** <out>/<name>.<ext>, with -1, -2, ... when two inputs share a name. */
function outputNames(files: string[], out: string, ext: string): string[] {
  const used = new Set<string>();
  return files.map((file) => {
    const stem = path.basename(file, path.extname(file));
    let name = `${stem}.${ext}`;
    for (let i = 1; used.has(name); i++) name = `${stem}-${i}.${ext}`;
    used.add(name);
    return path.join(out, name);
  });
}

export const translateCommand: CommandModule<object, TranslateArgs> = {
  command: 'translate <inputs..>',
  describe: 'translate images with an exported ONNX generator or a checkpoint',
  builder: (y: Argv<object>) =>
    y
      .positional('inputs', { type: 'string', array: true, demandOption: true, describe: 'image files and/or folders of images' })
      .option('model', { type: 'string', describe: 'exported generator (.onnx), run with onnxruntime-node' })
      .option('checkpoint', { type: 'string', describe: 'training checkpoint (.safetensors), run with our addon' })
      .option('run', { type: 'string', describe: 'a run directory or name (runs/NAME): its G_A.onnx / G_B.onnx for --direction, else (or with --device/--precision) its latest checkpoint' })
      .option('best', { type: 'boolean', default: false, describe: 'with --run: the best evaluated epoch (checkpoints/best.safetensors) instead' })
      .option('direction', { choices: ['AtoB', 'BtoA'] as const, describe: 'which generator of a checkpoint (default AtoB); checked against an ONNX model' })
      .option('out', { type: 'string', demandOption: true, describe: 'output directory (or a .png/.jpg file for a single input image)' })
      .option('format', { choices: ['png', 'jpeg'] as const, describe: 'output encoding (default png, or as the --out file name says)' })
      .option('device', { choices: ['cpu', 'cuda', 'auto'] as const, describe: 'with --checkpoint: where our addon runs (default auto)' })
      .option('precision', { choices: PRECISION_CHOICES, describe: 'with --checkpoint: operand precision of the convolutions, as for train (default auto: tf32 on CUDA, fp32 on the CPU)' })
      .option('keep-size', { type: 'boolean', default: false, describe: 'translate at each image\'s own size instead of the training size' })
      .option('html', { type: 'boolean', default: false, describe: 'also write <out>/index.html: each input beside its translation' })
      .conflicts('model', 'checkpoint')
      .conflicts('run', ['model', 'checkpoint'])
      .check((a) => {
        if (!a.model && !a.checkpoint && !a.run) throw new Error('name the generator: --model G.onnx, --checkpoint FILE or --run NAME');
        if (a.best && !a.run) throw new Error('--best picks a run\'s best checkpoint: pass --run NAME with it');
        if (a.model && a.device) throw new Error('--device runs our addon and needs --checkpoint; an ONNX --model runs on onnxruntime (CPU)');
        if (a.model && a.precision) throw new Error('--precision sets our addon\'s convolutions and needs --checkpoint; an ONNX --model runs on onnxruntime (CPU, fp32)');
        return true;
      })
      .example('$0 translate --model runs/quick/G_A.onnx digits/ --out translated', 'every image in digits/')
      .example('$0 translate --model runs/quick/G_A.onnx in.png --out out.png', 'one image to one file')
      .example('$0 translate --run quick --direction BtoA house.png --out digit.png', 'runs/quick/G_B.onnx')
      .example('$0 translate --model runs/horse2zebra/G_A.onnx horse2zebra/testA --out results --html', 'and results/index.html, inputs beside translations')
      .example('$0 translate --checkpoint ckpt.safetensors --direction BtoA --device cuda a.png --out out', 'G_B on the GPU')
      .example('$0 translate --checkpoint ckpt.safetensors --device cuda --precision fp32 a.png --out out', 'exact float32 products on the GPU') as Argv<TranslateArgs>,
  handler: async (args) => {
    const files = collectImages(args.inputs);
    const outExt = path.extname(args.out).toLowerCase();
    const singleFile = files.length === 1 && args.inputs.length === 1 && files[0] === args.inputs[0] && OUTPUT_EXTENSIONS.includes(outExt);
    checkOut(args.out, outExt, singleFile, files.length);
    if (args.html && singleFile) throw new Error(`--html writes <out>/index.html beside the translations: --out must be a directory, not ${args.out}`);
    const format = args.format ?? (singleFile && outExt !== '.png' ? 'jpeg' : 'png');
    const source = args.run ? generatorOfRun(args.run, args.direction ?? 'AtoB', args.device !== undefined || args.precision !== undefined, args.best) : { model: args.model, checkpoint: args.checkpoint };
    const options: LoadTranslatorOptions = {
      direction: args.direction,
      device: source.checkpoint ? (args.device ?? 'auto') : undefined,
      precision: source.checkpoint ? args.precision : undefined,
    };
    const translator = await loadTranslator((source.model ?? source.checkpoint)!, options);
    try {
      const outputs = singleFile ? [args.out] : outputNames(files, args.out, format === 'jpeg' ? 'jpg' : 'png');
      fs.mkdirSync(singleFile ? path.dirname(path.resolve(args.out)) : args.out, { recursive: true });
      const started = performance.now();
      for (const [i, file] of files.entries()) {
        writeFileAtomicSync(outputs[i], await translator.translate(file, { keepSize: args['keep-size'], format }));
        process.stdout.write(`${file} -> ${outputs[i]}\n`);
      }
      const seconds = (performance.now() - started) / 1000;
      if (args.html) {
        const page = path.join(args.out, 'index.html');
        const title = `${path.basename((source.model ?? source.checkpoint)!)}${args.direction ? ` ${args.direction}` : ''}: ${files.length} translation${files.length === 1 ? '' : 's'}`;
        writeFileAtomicSync(page, resultsPage(args.out, files, outputs, title));
        process.stdout.write(`cgtrain: wrote ${page}\n`);
      }
      process.stdout.write(`cgtrain: translated ${files.length} image${files.length === 1 ? '' : 's'} in ${seconds.toFixed(2)} s with ${translator.engine}\n`);
    } finally {
      await translator.close();
    }
  },
};
