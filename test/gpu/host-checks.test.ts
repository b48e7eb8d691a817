/**
 * The CUDA convolution code, checked on the CPU where the CUDA toolkit is installed (as on CI):
 *  - cuda/dev/conv_index_check.cu (nvcc, host code): the implicit GEMM's index math against
 *    direct convolutions, built with cuda/dev/conv_fwd.cu by scripts/build-cuda-dev.sh (the GPU
 *    session's build of them: conv_fwd must still compile and link);
 *  - cuda/dev/emu/conv_tc_check.cc (g++ and the CUDA headers): the tensor-core engine's kernels
 *    run on the CPU emulator of cuda/dev/emu (fibers for threads, warp-collective mma, deferred
 *    cp.async) against direct convolutions, on every op, both TF32 modes and split-K;
 *  - cuda/dev/emu/norm_check.cc: the instance/batch norm group kernels on the emulator against
 *    a double-precision reference, for every threads-per-group size.
 *  - cuda/dev/emu/emu_self_check.cc: the emulator's own rules: it refuses a launch past 48 KiB
 *    of dynamic shared memory without the kernel's opt-in (a GPU would), stops a cp.async or
 *    __ldg that reads outside every device allocation (a GPU may fault), and running a block's
 *    threads last-first shows shared-memory races the default order hides (and the reverse), so
 *    the two checks above run in both orders.
 * Skipped, with the reason, where nvcc or g++ is missing. No GPU involved.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../../src/backend/device';

const root = packageRoot();

function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const file = path.join(dir, cmd);
    if (dir && fs.existsSync(file)) return file;
  }
  return null;
}

function findNvcc(): string | null {
  if (process.env.CUDACXX) return fs.existsSync(process.env.CUDACXX) ? process.env.CUDACXX : null;
  return which('nvcc') ?? (fs.existsSync('/usr/local/cuda/bin/nvcc') ? '/usr/local/cuda/bin/nvcc' : null);
}

const nvcc = findNvcc();
// The toolkit's include directory: next to nvcc's bin/ (nvcc may be a link or wrapper elsewhere).
const cudaInclude = nvcc
  ? [process.env.CUDA_HOME, process.env.CUDA_PATH, path.dirname(path.dirname(fs.realpathSync(nvcc))), '/usr/local/cuda']
      .filter((d): d is string => !!d)
      .map((d) => path.join(d, 'include'))
      .find((d) => fs.existsSync(path.join(d, 'cuda_runtime.h'))) ?? null
  : null;
const gxx = process.env.CXX ?? which('g++');
const noNvcc = nvcc ? false : 'nvcc not found (CUDACXX, PATH, /usr/local/cuda/bin)';
const noEmulator = noNvcc || (!gxx ? 'no C++ compiler (CXX or g++ on PATH)' : false) ||
  (!cudaInclude ? 'no cuda_runtime.h in $CUDA_HOME, $CUDA_PATH, next to nvcc or in /usr/local/cuda' : false);

/** Builds `exe` and runs it once per environment (default: one plain run). */
function buildAndRun(compiler: string, args: string[], exe: string, passLine: RegExp, envs: Record<string, string>[] = [{}]): void {
  const build = spawnSync(compiler, [...args, '-o', exe], { cwd: root, encoding: 'utf8', timeout: 300_000 });
  assert.equal(build.status, 0, `${compiler} ${args.join(' ')}\n${build.stdout}${build.stderr}`);
  for (const env of envs) {
    const run = spawnSync(exe, [], { cwd: root, encoding: 'utf8', timeout: 600_000, env: { ...process.env, ...env } });
    const failed = run.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
    const how = Object.keys(env).length ? ` (${JSON.stringify(env)})` : '';
    assert.equal(run.status, 0, `${exe}${how} exited ${run.status}${run.signal ? ` (${run.signal})` : ''}:\n${failed.join('\n')}\n${run.stderr}`);
    assert.match(run.stdout, passLine);
  }
}

test('conv index math (cuda/dev/conv_index_check.cu) agrees with direct convolutions; conv_fwd builds and links as the GPU session builds it', { skip: noNvcc }, () => {
  // scripts/build-cuda-dev.sh is what gpu-prepare.sh and gpu-check.sh run; PTX only (no ptxas)
  // and -O0 keep it to about a minute here. Its list of sources once went stale unnoticed.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgtrain-cuda-dev-'));
  try {
    const run = spawnSync('bash', [path.join(root, 'scripts', 'build-cuda-dev.sh'), dir, 'compute_75'], {
      cwd: root, encoding: 'utf8', timeout: 600_000, env: { ...process.env, CUDACXX: nvcc!, CGTRAIN_DEV_OPT: '-O0' },
    });
    assert.equal(run.status, 0, `scripts/build-cuda-dev.sh exited ${run.status}:\n${run.stdout}${run.stderr}`);
    assert.match(run.stdout, /conv index check passed/);
    assert.ok(fs.statSync(path.join(dir, 'conv_fwd')).size > 0, 'conv_fwd was linked');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

function emulatorCheck(source: string, passLine: RegExp): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgtrain-emu-'));
  try {
    const args = ['-std=c++17', '-O2', '-DCGK_CUDA_EMU', '-include', 'cuda/dev/emu/cuda_emu.h', `-I${cudaInclude}`, '-Inative/include', '-Icuda',
      source, 'cuda/dev/emu/cuda_emu.cc'];
    // Both thread orders (emu_self_check.cc): a race the barriers leave open shows in one of them.
    buildAndRun(gxx!, args, path.join(dir, 'check'), passLine, [{ CGTRAIN_EMU_REVERSE: '0' }, { CGTRAIN_EMU_REVERSE: '1' }]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('the tensor-core conv engine is right on the CUDA emulator (cuda/dev/emu/conv_tc_check.cc)', { skip: noEmulator }, () => {
  emulatorCheck('cuda/dev/emu/conv_tc_check.cc', /conv_tc emulator check passed \(\d+ runs\)/);
});

test('the norm kernels are right on the CUDA emulator (cuda/dev/emu/norm_check.cc)', { skip: noEmulator }, () => {
  emulatorCheck('cuda/dev/emu/norm_check.cc', /norm emulator check passed \(\d+ runs\)/);
});

test('the emulator\'s own rules: a launch past 48 KiB of dynamic shared memory needs its kernel\'s opt-in; a global read must stay inside a device allocation; each thread order shows the races the other hides (cuda/dev/emu/emu_self_check.cc)', { skip: noEmulator }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cgtrain-emu-self-'));
  try {
    const exe = path.join(dir, 'check');
    const args = ['-std=c++17', '-O1', '-DCGK_CUDA_EMU', '-include', 'cuda/dev/emu/cuda_emu.h', `-I${cudaInclude}`, '-Inative/include', '-Icuda',
      'cuda/dev/emu/emu_self_check.cc', 'cuda/dev/emu/cuda_emu.cc', 'cuda/dev/emu/cudart_emu.cc', '-o', exe];
    const build = spawnSync(gxx!, args, { cwd: root, encoding: 'utf8', timeout: 300_000 });
    assert.equal(build.status, 0, `${build.stdout}${build.stderr}`);
    const run = (mode: string, reverse: boolean) =>
      spawnSync(exe, [mode], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, CGTRAIN_EMU_REVERSE: reverse ? '1' : '0' } });
    for (const [mode, allowed] of [['smem-default', true], ['smem-opted', true], ['smem-other', false], ['smem-short', false], ['smem-missing', false]] as const) {
      const r = run(mode, false);
      if (allowed) {
        assert.equal(r.status, 0, `${mode}: ${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /launched with \d+ bytes: out 1/);
      } else {
        assert.equal(r.status, 3, `${mode} should have been refused: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, /asks for 65536 bytes of dynamic shared memory; this kernel may have \d+ \(above 48 KiB it must opt in/);
      }
    }
    // Write-after-read: caught last-first only; read-before-write: in the default order only.
    for (const [mode, caughtReversed] of [['race-war', true], ['race-raw', false]] as const) {
      for (const reverse of [false, true]) {
        const r = run(mode, reverse);
        const caught = reverse === caughtReversed;
        assert.equal(r.status, caught ? 1 : 0, `${mode}, ${reverse ? 'last-first' : 'default'} order: ${r.stdout}${r.stderr}`);
        assert.match(r.stdout, caught ? /order: [1-9]\d* of 64 threads read a wrong value/ : /order: 0 of 64 threads/);
      }
    }
    // Global reads past a device allocation stop the program; the last float of one does not.
    const inside = run('read-inside', false);
    assert.equal(inside.status, 0, `read-inside: ${inside.stdout}${inside.stderr}`);
    for (const [mode, via] of [['read-past', '__ldg reads 4'], ['async-past', 'cp.async reads 16']] as const) {
      const r = run(mode, false);
      assert.equal(r.status, 3, `${mode} should have stopped: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, new RegExp(`${via.replace('.', '\\.')} bytes at \\S+, outside every device allocation`));
    }
    // Blocks writing the same element: the last block's value only in the default order.
    for (const reverse of [false, true]) {
      const r = run('race-blocks', reverse);
      assert.equal(r.status, reverse ? 1 : 0, `race-blocks, ${reverse ? 'last-first' : 'default'} order: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, reverse ? /last-first order: block 0 wrote last/ : /default order: block 7 wrote last/);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
