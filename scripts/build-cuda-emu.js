#!/usr/bin/env node
/**
 * Builds build/cuda-emu/cgtrain_cuda_emu.node: the CUDA addon (cuda/*.cu and the N-API glue of
 * native/addon) compiled with g++ for the CPU emulator of cuda/dev/emu, so the parity tests can
 * run every CUDA kernel on a machine without a GPU:
 *
 *   node scripts/build-cuda-emu.js
 *   CGTRAIN_CUDA_ADDON=build/cuda-emu/cgtrain_cuda_emu.node node --test dist/test/gpu/parity.test.js
 *
 * The kernel sources are copied to build/cuda-emu/src with each `kernel<<<config>>>(args)`
 * rewritten into `::emu::launch_kernel(::emu::LaunchConfig(config), kernel, args)`, then compiled
 * with -DCGK_CUDA_EMU and cuda_emu.h (the CUDA headers supply the runtime API's types;
 * cudart_emu.cc its functions). Needs g++ and the CUDA toolkit's headers (no GPU, no driver).
 * Exits 0 with one line when those are missing and --optional is given.
 *
 * --program cuda/dev/<name>.cu builds that standalone program instead (the kernels and the
 * emulator, no N-API glue) as build/cuda-emu/<name>, e.g. to check cuda/dev/conv_fwd.cu here.
 *
 * Environment: CXX (default g++), CUDA_HOME / CUDA_PATH, CGTRAIN_BUILD_JOBS.
 */
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawn, spawnSync } = require('child_process');

const root = path.resolve(__dirname, '..');
const out = path.join(root, 'build', 'cuda-emu');
const srcOut = path.join(out, 'src');
const objOut = path.join(out, 'obj');
const optional = process.argv.includes('--optional');
const programArg = process.argv.indexOf('--program');
const program = programArg > 0 ? process.argv[programArg + 1] : null;
if (programArg > 0 && !program) {
  console.error('build-cuda-emu: --program needs a cuda/dev/<name>.cu file');
  process.exit(2);
}

function which(cmd) {
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, cmd))) return path.join(dir, cmd);
  }
  return null;
}

function missing(what) {
  if (optional) {
    console.log(`cgtrain: ${what}; skipping the emulated CUDA addon`);
    process.exit(0);
  }
  console.error(`build-cuda-emu: ${what}`);
  process.exit(1);
}

/** The CUDA toolkit's include directory (for cuda_runtime.h), or null. */
function cudaInclude() {
  const nvcc = process.env.CUDACXX || which('nvcc') || '/usr/local/cuda/bin/nvcc';
  const candidates = [process.env.CUDA_HOME, process.env.CUDA_PATH];
  if (fs.existsSync(nvcc)) candidates.push(path.dirname(path.dirname(fs.realpathSync(nvcc))));
  candidates.push('/usr/local/cuda');
  for (const dir of candidates.filter(Boolean)) {
    if (fs.existsSync(path.join(dir, 'include', 'cuda_runtime.h'))) return path.join(dir, 'include');
  }
  return null;
}

/** Rewrites every `kernel<<<config>>>(args)` of a CUDA source into an emulator call. */
function rewriteLaunches(text, file) {
  let result = '';
  let i = 0;
  for (;;) {
    const open = text.indexOf('<<<', i);
    if (open < 0) return result + text.slice(i);
    // The kernel expression: identifiers, '::' and balanced template arguments before '<<<'.
    let k = open;
    while (k > i) {
      const c = text[k - 1];
      if (/[\w:]/.test(c)) {
        k--;
      } else if (c === '>') {
        let depth = 0;
        let m = k - 1;
        for (; m >= i; m--) {
          if (text[m] === '>') depth++;
          else if (text[m] === '<' && --depth === 0) break;
        }
        k = m;
      } else {
        break;
      }
    }
    const kernel = text.slice(k, open).trim();
    const close = text.indexOf('>>>', open);
    let p = close + 3;
    while (/\s/.test(text[p])) p++;
    if (!kernel || close < 0 || text[p] !== '(') {
      throw new Error(`${file}: cannot parse the launch at offset ${open}: ${text.slice(k, open + 60)}`);
    }
    let depth = 0;
    let q = p;
    for (; q < text.length; q++) {
      if (text[q] === '(') depth++;
      else if (text[q] === ')' && --depth === 0) break;
    }
    const args = text.slice(p + 1, q);
    const config = text.slice(open + 3, close);
    result += `${text.slice(i, k)}::emu::launch_kernel(::emu::LaunchConfig(${config}), ${kernel}${args.trim() ? `, ${args}` : ''})`;
    i = q + 1;
  }
}

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.join(' ')}\n${stderr}`));
    });
  });
}

async function main() {
  const cxx = process.env.CXX || which('g++');
  if (!cxx) missing('no C++ compiler (CXX or g++ on PATH)');
  const cudaInc = cudaInclude();
  if (!cudaInc) missing('cuda_runtime.h not found ($CUDA_HOME, $CUDA_PATH, next to nvcc, /usr/local/cuda)');
  let napiInc;
  try {
    napiInc = require('node-addon-api').include_dir;
  } catch {
    missing('node-addon-api is not installed (npm ci)');
  }
  const nodeInc = [path.join(root, 'node_modules', 'node-api-headers', 'include'), '/usr/include/node', path.join(process.execPath, '..', '..', 'include', 'node')]
    .find((d) => fs.existsSync(path.join(d, 'node_api.h')));
  if (!nodeInc) missing('node_api.h not found (node-api-headers or the Node.js headers)');

  fs.rmSync(srcOut, { recursive: true, force: true });
  fs.mkdirSync(srcOut, { recursive: true });
  fs.mkdirSync(objOut, { recursive: true });
  const cudaDir = path.join(root, 'cuda');
  const kernelSources = [];
  for (const name of fs.readdirSync(cudaDir).sort()) {
    if (!/\.(cu|cuh)$/.test(name)) continue;
    const text = fs.readFileSync(path.join(cudaDir, name), 'utf8');
    fs.writeFileSync(path.join(srcOut, name), rewriteLaunches(text, name));
    if (name.endsWith('.cu')) kernelSources.push(path.join(srcOut, name));
  }
  const emuDir = path.join(cudaDir, 'dev', 'emu');
  const common = ['-std=c++17', '-O2', '-fPIC', '-ffp-contract=off', '-Wno-attributes', '-pthread'];
  const kernelFlags = [...common, '-DCGK_CUDA_EMU', '-include', path.join(emuDir, 'cuda_emu.h'), `-I${cudaInc}`,
    `-I${path.join(root, 'native', 'include')}`, `-I${srcOut}`, '-DCGK_CUDA_ARCHS="emulated"'];
  const glueFlags = [...common, '-fexceptions', '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', '-DCGK_BACKEND_CUDA',
    `-I${napiInc.replace(/"/g, '')}`, `-I${nodeInc}`, `-I${path.join(root, 'native', 'include')}`];
  const jobs = [];
  for (const src of kernelSources) jobs.push({ src, flags: ['-x', 'c++', ...kernelFlags] });
  for (const name of ['cuda_emu.cc', 'cudart_emu.cc']) jobs.push({ src: path.join(emuDir, name), flags: kernelFlags });
  if (program) {
    const file = path.resolve(root, program);
    const devOut = path.join(srcOut, 'dev');
    fs.mkdirSync(devOut, { recursive: true });
    for (const name of fs.readdirSync(path.dirname(file))) {
      if (/\.(h|cuh)$/.test(name)) fs.copyFileSync(path.join(path.dirname(file), name), path.join(devOut, name));
    }
    const rewritten = path.join(devOut, path.basename(file));
    fs.writeFileSync(rewritten, rewriteLaunches(fs.readFileSync(file, 'utf8'), program));
    jobs.push({ src: rewritten, flags: ['-x', 'c++', ...kernelFlags] });
  } else {
    for (const dir of ['addon', 'host']) {
      for (const name of fs.readdirSync(path.join(root, 'native', dir)).sort()) {
        if (name.endsWith('.cc')) jobs.push({ src: path.join(root, 'native', dir, name), flags: glueFlags });
      }
    }
  }
  const parallel = Number(process.env.CGTRAIN_BUILD_JOBS) || os.cpus().length;
  const started = Date.now();
  console.log(`cgtrain: building the emulated CUDA addon (${jobs.length} files, ${parallel} jobs)`);
  const objects = [];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const job = jobs[next++];
      const obj = path.join(objOut, `${path.basename(path.dirname(job.src))}_${path.basename(job.src)}.o`);
      objects.push(obj);
      await run(cxx, [...job.flags, '-c', job.src, '-o', obj]);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  const target = path.join(out, program ? path.basename(program).replace(/\.cu$/, '') : 'cgtrain_cuda_emu.node');
  const tmp = `${target}.tmp`;
  const link = spawnSync(cxx, [...(program ? [] : ['-shared']), '-pthread', '-o', tmp, ...objects.sort()], { cwd: root, encoding: 'utf8' });
  if (link.status !== 0) throw new Error(`link failed:\n${link.stderr}`);
  fs.renameSync(tmp, target);
  console.log(`cgtrain: built ${path.relative(root, target)} in ${Math.round((Date.now() - started) / 1000)} s`);
}

main().catch((err) => {
  console.error(`build-cuda-emu: ${err.message}`);
  process.exit(1);
});
