/**
 * What `npm install cgtrain` gets: the tarball `npm pack` makes from package.json's `files`.
 * It must hold every file the install builds from (binding.gyp's sources and the headers they
 * include, the CUDA project and its build script) and every file the CLI reads at run time, and
 * nothing of the tests, benches or build outputs. The unpacked tarball, given the clone's
 * node_modules and CPU addon (what the install step would build), trains, writes its report and
 * exports ONNX.
 */
import { test, before } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { cpuAddonPath, packageRoot } from '../../src/backend/device';
import { tempDir, tinyArgs } from '../train/tiny';

const root = packageRoot();
let unpacked = '';
let files: Set<string>;

function run(command: string, args: string[], cwd: string): string {
  const r = spawnSync(command, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `${command} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** Every file under dir, as paths relative to it with forward slashes. */
function walk(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of fs.readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...walk(dir, rel));
    else out.push(rel);
  }
  return out;
}

before(() => {
  const work = tempDir('pack');
  // --ignore-scripts: no `prepare` (the suite's own build already compiled dist/)
  const json = run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], root);
  const tarball = path.join(work, (JSON.parse(json) as { filename: string }[])[0].filename);
  run('tar', ['-xzf', tarball, '-C', work], work);
  unpacked = path.join(work, 'package');
  files = new Set(walk(unpacked));
});

test('the tarball holds no tests, benches, build outputs or local data', () => {
  const unwanted = [...files].filter((f) => /^(test|bench|dist\/test|dist\/bench|build|cuda\/build|cuda\/dev|native\/cpu\/dev|node_modules|runs|data|\.gpu|test-output)\//.test(f) || /\.(node|tmp|tgz)$/.test(f));
  assert.deepEqual(unwanted, []);
  for (const f of ['package.json', 'README.md', 'LICENSE', 'binding.gyp', 'scripts/build-cuda.js', 'cuda/CMakeLists.txt', 'src/export/onnx.proto']) {
    assert.ok(files.has(f), `${f} is in the tarball`);
  }
});

test('the tarball holds every compiled module of dist/src, and the bin and main it names', () => {
  const built = walk(path.join(root, 'dist', 'src')).filter((f) => f.endsWith('.js') || f.endsWith('.d.ts'));
  assert.ok(built.length > 50, 'dist/src is built');
  const missing = built.map((f) => `dist/src/${f}`).filter((f) => !files.has(f));
  assert.deepEqual(missing, []);
  const manifest = JSON.parse(fs.readFileSync(path.join(unpacked, 'package.json'), 'utf8')) as { main: string; types: string; bin: Record<string, string> };
  for (const f of [manifest.main, manifest.types, ...Object.values(manifest.bin)]) assert.ok(files.has(f), `${f} is in the tarball`);
});

test('the install builds from what the tarball holds: binding.gyp sources, the CUDA sources and every header they include', () => {
  // binding.gyp compiles every .cc of these folders (a readdirSync in the file), as the clone did
  const gyp = fs.readFileSync(path.join(unpacked, 'binding.gyp'), 'utf8');
  const dirs = [...gyp.matchAll(/readdirSync\('([^']+)'\)/g)].map((m) => m[1]);
  assert.deepEqual(dirs, ['native/addon', 'native/cpu', 'native/host']);
  const sources = dirs.flatMap((d) => fs.readdirSync(path.join(root, d)).filter((f) => f.endsWith('.cc')).map((f) => `${d}/${f}`));
  for (const s of sources) assert.ok(files.has(s), `binding.gyp source ${s} is in the tarball`);
  // CMake globs cuda/*.cu, native/addon/*.cc and native/host/*.cc: each must be there with the glue
  assert.ok([...files].filter((f) => /^cuda\/[^/]+\.cu$/.test(f)).length >= 10, 'the CUDA kernels are in the tarball');
  const compiled = [...files].filter((f) => /^(native|cuda)\/.*\.(cc|cu|cuh|h|inc)$/.test(f));
  const unresolved: string[] = [];
  for (const f of compiled) {
    const text = fs.readFileSync(path.join(unpacked, f), 'utf8');
    for (const m of text.matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)) {
      const candidates = [path.posix.join(path.posix.dirname(f), m[1]), `native/include/${m[1]}`, `native/cpu/${m[1]}`];
      if (!candidates.some((c) => files.has(c))) unresolved.push(`${f}: ${m[1]}`);
    }
  }
  assert.deepEqual(unresolved, []);
  // the install script's CUDA step runs cmake-js, which a registry install has only as a dependency
  const manifest = JSON.parse(fs.readFileSync(path.join(unpacked, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; scripts: Record<string, string> };
  assert.match(manifest.scripts.install, /build-cuda\.js/);
  for (const dep of ['cmake-js', 'node-addon-api']) assert.ok(dep in manifest.dependencies, `${dep} is a dependency, not a devDependency`);
});

test('the unpacked tarball trains, reports and exports ONNX (with the clone\'s node_modules and CPU addon)', () => {
  fs.symlinkSync(path.join(root, 'node_modules'), path.join(unpacked, 'node_modules'), 'dir');
  fs.mkdirSync(path.join(unpacked, 'build', 'Release'), { recursive: true });
  fs.copyFileSync(cpuAddonPath(), path.join(unpacked, 'build', 'Release', 'cgtrain_cpu.node'));
  const work = tempDir('pack-run');
  const cli = path.join(unpacked, 'dist', 'src', 'cli', 'main.js');
  const env = { ...process.env };
  delete env.CGTRAIN_CPU_ADDON;
  delete env.CGTRAIN_CUDA_ADDON;
  const r = spawnSync(process.execPath, [cli, 'train', ...tinyArgs(work, { name: 'packed', nEpochsDecay: 0, export: true })], { cwd: work, env, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `stderr: ${r.stderr}\nstdout: ${r.stdout}`);
  const runDir = path.join(work, 'runs', 'packed');
  for (const f of ['G_A.onnx', 'G_B.onnx', 'report.html', 'opt.json', 'checkpoints/latest.safetensors']) {
    assert.ok(fs.existsSync(path.join(runDir, f)), `${f} written by the packaged CLI`);
  }
  const doctor = spawnSync(process.execPath, [cli, 'doctor'], { cwd: work, env, encoding: 'utf8', timeout: 60_000 });
  assert.equal(doctor.status, 0, doctor.stderr);
  assert.ok(doctor.stdout.includes(unpacked), `doctor names the packaged addon's place:\n${doctor.stdout}`);
});
