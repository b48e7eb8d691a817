#!/usr/bin/env node
/**
 * Builds the CUDA addon cuda/build/Release/cgtrain_cuda.node with cmake-js (npm run build:cuda).
 *
 *   node scripts/build-cuda.js [--optional] [--debug]
 *
 * --optional (the package's install step): when nvcc, CMake or cmake-js is missing, print one
 * line and exit 0 so a CPU-only install succeeds; when they are there, build, and a compile error
 * fails the install (CI relies on that).
 * Env: CGTRAIN_CUDA_ARCHS  compute capabilities, e.g. "90" or "75,80,86,89,90" (default: all of
 *                          those; the highest also gets PTX)
 *      CGTRAIN_BUILD_JOBS  parallel compile jobs (default: the number of CPUs)
 *      CUDACXX             the nvcc to use (default: nvcc on PATH, then /usr/local/cuda/bin/nvcc)
 */
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const args = process.argv.slice(2);
const optional = args.includes('--optional');
const debug = args.includes('--debug');
for (const a of args) {
  if (a !== '--optional' && a !== '--debug') {
    console.error(`build-cuda: unknown option ${a} (expected --optional or --debug)`);
    process.exit(2);
  }
}

function findOnPath(name) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

function findNvcc() {
  if (process.env.CUDACXX) return fs.existsSync(process.env.CUDACXX) ? process.env.CUDACXX : null;
  const onPath = findOnPath('nvcc');
  if (onPath) return onPath;
  return fs.existsSync('/usr/local/cuda/bin/nvcc') ? '/usr/local/cuda/bin/nvcc' : null;
}

function missing(what, fix) {
  if (optional) {
    console.log(`cgtrain: ${what}; skipping the CUDA addon (the CPU backend is built). ${fix}`);
    process.exit(0);
  }
  console.error(`build-cuda: ${what}. ${fix}`);
  process.exit(1);
}

const nvcc = findNvcc();
if (!nvcc) {
  const where = process.env.CUDACXX ? ` (CUDACXX=${process.env.CUDACXX} does not exist)` : '';
  missing(`nvcc not found${where}`, 'Install the CUDA toolkit (12.x or 13.x) and run `npm run build:cuda`.');
}
if (!findOnPath('cmake')) missing('cmake not found', 'Install CMake 3.18+ and run `npm run build:cuda`.');
let cmakeJs;
try {
  cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
} catch {
  missing('cmake-js not installed', 'Run `npm install` with dev dependencies, then `npm run build:cuda`.');
}

const archs = (process.env.CGTRAIN_CUDA_ARCHS || '75,80,86,89,90').replace(/[;\s]+/g, ',').replace(/^,|,$/g, '');
if (!/^\d+(,\d+)*$/.test(archs)) {
  console.error(`build-cuda: CGTRAIN_CUDA_ARCHS="${process.env.CGTRAIN_CUDA_ARCHS}" is not a list of compute capabilities like "80,90"`);
  process.exit(2);
}
const jobs = Number(process.env.CGTRAIN_BUILD_JOBS) > 0 ? Number(process.env.CGTRAIN_BUILD_JOBS) : os.cpus().length;

// configure every time (cheap), so a changed CGTRAIN_CUDA_ARCHS or nvcc reaches the CMake cache
// of an existing build directory; `build` alone would reuse the old configuration.
const common = [
  '--directory', path.join(root, 'cuda'),
  '--out', path.join(root, 'cuda', 'build'),
  '--config', debug ? 'Debug' : 'Release',
  `--CDCGTRAIN_CUDA_ARCHS=${archs}`,
  `--CDCMAKE_CUDA_COMPILER=${nvcc}`,
];
console.log(`cgtrain: building the CUDA addon with ${nvcc} for sm_${archs.split(',').join(', sm_')} (+PTX), ${jobs} jobs`);
const started = Date.now();
const env = { ...process.env, CGTRAIN_CUDA_ARCHS: archs };
for (const command of [['configure', ...common], ['build', ...common, '--parallel', String(jobs)]]) {
  const result = spawnSync(process.execPath, [cmakeJs, ...command], { cwd: root, stdio: 'inherit', env });
  if (result.status !== 0) {
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    console.error(`build-cuda: cmake-js ${command[0]} of the CUDA addon failed after ${seconds} s (exit ${result.status ?? result.signal}); see the output above`);
    process.exit(1);
  }
}
const seconds = ((Date.now() - started) / 1000).toFixed(0);
const output = path.join(root, 'cuda', 'build', debug ? 'Debug' : 'Release', 'cgtrain_cuda.node');
if (!fs.existsSync(output)) {
  console.error(`build-cuda: the build finished but ${path.relative(root, output)} is missing`);
  process.exit(1);
}
console.log(`cgtrain: built ${path.relative(root, output)} in ${seconds} s`);
