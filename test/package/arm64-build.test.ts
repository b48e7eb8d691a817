/**
 * The CPU addon off x86: every source binding.gyp builds is compiled for arm64 (Apple silicon,
 * Graviton) with the aarch64 cross compiler, as the install would there, and linked into a
 * shared object whose only unresolved symbols are Node-API's and the C/C++ runtime's. On arm64
 * only the scalar level exists (native/cpu/arch.h); this catches x86 intrinsics or dispatch that
 * slipped outside `#if CGK_X86`. -O0 keeps the dead branches a constant simd() level would let
 * the optimiser drop, so their references are checked too.
 *
 * Skipped, with the reason, where aarch64-linux-gnu-g++ is missing (.ci/run installs it).
 * Running the result needs an arm64 machine or qemu-user with an arm64 Node (docs/architecture.md).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { packageRoot } from '../../src/backend/device';

const root = packageRoot();
const cross = process.env.CGTRAIN_ARM64_CXX ?? 'aarch64-linux-gnu-g++';
const nm = cross.replace(/g\+\+$/, 'nm');
const found = spawnSync(cross, ['--version'], { encoding: 'utf8' }).status === 0;

/** binding.gyp's sources: every .cc of these folders. */
const SOURCE_DIRS = ['native/addon', 'native/cpu', 'native/host'];

function compile(source: string, object: string, flags: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    const child = spawn(cross, [...flags, '-c', source, '-o', object], { cwd: root });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code) => resolve(code === 0 && err === '' ? null : `${source}:\n${err}`));
  });
}

test('the CPU addon compiles and links for arm64 with no x86 code left in it', { skip: found ? false : `${cross} not found (apt install g++-aarch64-linux-gnu)`, timeout: 600_000 }, async () => {
  const napi = (require('node-addon-api') as { include_dir: string }).include_dir.replace(/^"|"$/g, '');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'cgtrain-arm64-'));
  try {
    // binding.gyp's defines and flags (gyp adds -Wall -Wextra -Wno-unused-parameter), warnings as errors
    const flags = ['-std=c++17', '-O0', '-fPIC', '-pthread', '-fexceptions', '-fno-math-errno', '-Wall', '-Wextra', '-Wno-unused-parameter', '-Werror',
      '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', '-DCGK_BACKEND_CPU', `-I${napi}`, '-I/usr/include/node', '-Inative/include', '-Inative/cpu'];
    const sources = SOURCE_DIRS.flatMap((dir) => fs.readdirSync(path.join(root, dir)).filter((f) => f.endsWith('.cc')).map((f) => `${dir}/${f}`));
    assert.ok(sources.length > 20, sources.join(' '));
    const objects = sources.map((s) => path.join(work, `${s.replace(/\//g, '_')}.o`));
    const failures: string[] = [];
    for (let i = 0; i < sources.length; i += os.cpus().length) {
      const batch = sources.slice(i, i + os.cpus().length);
      const results = await Promise.all(batch.map((s, j) => compile(s, objects[i + j], flags)));
      failures.push(...results.filter((r): r is string => r !== null));
    }
    assert.deepEqual(failures, [], 'every source compiles for arm64 without a warning');
    const addon = path.join(work, 'cgtrain_cpu.node');
    const link = spawnSync(cross, ['-shared', '-pthread', '-o', addon, ...objects], { encoding: 'utf8' });
    assert.equal(link.status, 0, link.stderr);
    // Unresolved: Node-API's functions (the node binary has them) and versioned libc/libstdc++
    // symbols; an unversioned other name is a function no arm64 source defines (an x86 kernel).
    const undefinedSymbols = spawnSync(nm, ['-u', addon], { encoding: 'utf8' }).stdout.trim().split('\n')
      .map((line) => line.trim().split(/\s+/)).filter(([kind]) => kind === 'U').map(([, name]) => name);
    assert.ok(undefinedSymbols.some((n) => n.startsWith('napi_')), 'the Node-API imports are listed');
    const unexpected = undefinedSymbols.filter((n) => !/^(napi_|node_api_)/.test(n) && !n.includes('@'));
    assert.deepEqual(unexpected, [], 'no reference to a function that only x86 builds define');
    const header = fs.readFileSync(addon).subarray(0, 20);
    assert.equal(header.readUInt16LE(18), 183, 'an ELF for the AArch64 machine (e_machine 183)');
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
