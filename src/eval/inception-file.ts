/**
 * Which file --inception names: a path, or `fid` for the FID Inception-v3 that
 * `cgtrain data download inception` converts from pytorch-fid's weights into the data dir.
 */
import * as fs from 'fs';
import * as path from 'path';

/** pytorch-fid's weights (torch hub's naming: the name ends in the SHA-256's first hex digits). */
export const FID_WEIGHTS = {
  url: 'https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth',
  file: 'pt_inception-2015-12-05-6726825d.pth',
  /** the converted model's file name under <data-dir>/inception/ */
  onnx: 'pt_inception-2015-12-05.onnx',
};

export const FID_INCEPTION_KEYWORD = 'fid';

export function fidInceptionPath(dataDir: string): string {
  return path.join(dataDir, 'inception', FID_WEIGHTS.onnx);
}

/** --inception's file: `fid` is the converted FID Inception under dataDir; anything else a path. */
export function resolveInceptionOption(value: string, dataDir: string): string {
  if (value !== FID_INCEPTION_KEYWORD) return value;
  const file = fidInceptionPath(dataDir);
  if (!fs.existsSync(file)) {
    throw new Error(`--inception fid: ${file} does not exist yet; make it once with: cgtrain data download inception --data-dir ${dataDir}`);
  }
  return file;
}

/** The missing-file message of every place that takes --inception FILE. */
export function missingInceptionMessage(file: string): string {
  return `--inception: no such file ${file} (an Inception-v3 ONNX model; 'cgtrain data download inception' makes the standard FID one, then pass --inception fid)`;
}
