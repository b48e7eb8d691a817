/**
 * `cgtrain data download inception`: the standard FID network as <data-dir>/inception/
 * pt_inception-2015-12-05.onnx, made from pytorch-fid's weights. The weights come from a file
 * the user names (--weights), else torch hub's cache when PyTorch has fetched them before, else
 * pytorch-fid's release (resumable, like every download). `--inception fid` then names the
 * converted model wherever a run or `cgtrain eval` takes an Inception file.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { downloadUnlisted, sha256File, type DownloadOptions } from '../data/download';
import { DataError } from '../data/errors';
import { cgtrainVersion } from '../export/metadata';
import { writeFileAtomicSync } from '../util/atomic';
import { buildFidInception } from './fid-inception';
import { FID_WEIGHTS } from './inception-file';
import { InceptionModel } from './inception';
import { readPth } from './pth';

/** Where torch.hub keeps downloaded weights: $TORCH_HOME/hub, else $XDG_CACHE_HOME/torch/hub, else ~/.cache/torch/hub. */
export function torchHubCheckpoints(env: NodeJS.ProcessEnv = process.env): string {
  const torchHome = env.TORCH_HOME || path.join(env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'torch');
  return path.join(torchHome, 'hub', 'checkpoints');
}

export interface FidInstallOptions extends DownloadOptions {
  /** a local copy of the weights (.pth): no download */
  weights?: string;
  /** where the ONNX model goes (default <dataDir>/inception) */
  dir?: string;
  env?: NodeJS.ProcessEnv;
}

/** Checks a state dict's values the way a truncated or corrupted file would fail: finite, variances > 0. */
function checkValues(tensors: Awaited<ReturnType<typeof readPth>>, source: string): void {
  for (const [name, t] of tensors) {
    if (name.endsWith('num_batches_tracked')) continue;
    const bad = t.data.findIndex((v) => !Number.isFinite(v) || (name.endsWith('running_var') && v <= 0));
    if (bad >= 0) throw new DataError(source, `${name}[${bad}] = ${t.data[bad]}: the weights are damaged; delete the file and run the command again`);
  }
}

/** Makes the FID Inception ONNX model and returns its path. */
export async function installFidInception(dataDir: string, options: FidInstallOptions = {}): Promise<string> {
  const log = options.log ?? (() => {});
  const dir = options.dir ?? path.join(dataDir, 'inception');
  let weights = options.weights;
  let ours = false; // the weights are our download (a bad one is deleted, so a rerun fetches them anew)
  if (weights !== undefined && !fs.existsSync(weights)) throw new DataError(weights, 'no such file (expected pytorch-fid\'s pt_inception-2015-12-05-6726825d.pth)');
  if (weights === undefined) {
    const cached = path.join(torchHubCheckpoints(options.env), FID_WEIGHTS.file);
    if (fs.existsSync(cached)) {
      weights = cached;
      log(`using the weights PyTorch downloaded before: ${cached}`);
    } else {
      const url = options.baseUrl ? new URL(FID_WEIGHTS.file, options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`).toString() : FID_WEIGHTS.url;
      weights = path.join(dir, FID_WEIGHTS.file);
      ours = true;
      fs.mkdirSync(dir, { recursive: true });
      if (!fs.existsSync(weights)) {
        log(`downloading pytorch-fid's FID Inception weights (about 92 MB) from ${url}`);
        await downloadUnlisted(url, weights, options);
      }
    }
  }
  const sha256 = await sha256File(weights);
  // torch hub's convention: the name ends in the first hex digits of the SHA-256
  const prefix = /-([0-9a-f]{8,})\.pth$/.exec(path.basename(weights))?.[1];
  if (prefix && !sha256.startsWith(prefix)) log(`note: ${weights}: its SHA-256 ${sha256.slice(0, 16)}... does not begin with ${prefix} as its name says; the tensors are checked below`);
  log(`reading ${weights} (SHA-256 ${sha256.slice(0, 16)}...)`);
  const out = path.join(dir, FID_WEIGHTS.onnx);
  const candidate = `${out}.${process.pid}.check.onnx`;
  let bytes: Uint8Array;
  try {
    const tensors = await readPth(weights);
    checkValues(tensors, weights);
    bytes = buildFidInception(tensors, `${path.basename(weights)} sha256:${sha256}`, cgtrainVersion());
    writeFileAtomicSync(candidate, bytes);
    // the model must run as --inception runs it: one gray image through it, 2048 finite features
    const model = await InceptionModel.open(candidate);
    try {
      const probe = await model.run(new Float32Array(3 * 299 * 299), 1, 3, 299, 299);
      if (probe.featureDim !== 2048 || !probe.features.every(Number.isFinite)) {
        throw new DataError(weights, `the converted model gives ${probe.featureDim} features${probe.features.every(Number.isFinite) ? '' : ', not all finite'}; expected 2048`);
      }
    } finally {
      await model.close();
    }
    fs.renameSync(candidate, out);
  } catch (err) {
    fs.rmSync(candidate, { force: true });
    if (ours) {
      fs.rmSync(weights, { force: true });
      throw new Error(`${(err as Error).message}\n  The downloaded ${weights} was deleted; run the command again to fetch it anew.`);
    }
    throw err;
  }
  log(`wrote ${out} (${(bytes.length / 1e6).toFixed(1)} MB)`);
  return out;
}
