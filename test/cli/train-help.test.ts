import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'child_process';
import * as path from 'path';
import { OPTION_SPECS } from '../../src/options';

const cli = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, COLUMNS: '200' }, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('cgtrain train --help lists every option with its help text', () => {
  const r = run(['train', '--help']);
  assert.equal(r.status, 0, r.stderr);
  for (const spec of OPTION_SPECS) {
    assert.match(r.stdout, new RegExp(`--${spec.flag}\\b`), `--${spec.flag} missing from help`);
    assert.ok(r.stdout.includes(spec.help.slice(0, 30)), `help text of --${spec.flag} missing`);
  }
});

test('cgtrain bench --help lists its options', () => {
  const r = run(['bench', '--help']);
  assert.equal(r.status, 0, r.stderr);
  for (const flag of ['size', 'batch-size', 'net-g', 'net-d', 'ngf', 'ndf', 'steps', 'warmup', 'device', 'json']) {
    assert.match(r.stdout, new RegExp(`--${flag}\\b`), `--${flag} missing from bench help`);
  }
  // bench's own defaults, not train's (batch 1, resnet_9blocks, with preset notes)
  const flat = r.stdout.replace(/\s+/g, ' ');
  assert.match(flat, /--batch-size images per step and domain[^-]*\[default: 16\]/);
  assert.match(flat, /--net-g generator architecture[^-]*\[default: "resnet_6blocks"\]/);
  assert.ok(!flat.includes('preset quick'), 'no preset notes: bench has no --preset');
});

test('unknown and out-of-range options fail with a clear message and no run', () => {
  const unknown = run(['train', '--ngff', '8']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /Unknown argument: ngff/);
  const range = run(['train', '--lr', '-1', '--runs-dir', path.join(__dirname, 'never-created')]);
  assert.notEqual(range.status, 0);
  assert.match(range.stderr, /--lr: expected a value \[> 0, <= 1\], got -1/);
  const choice = run(['train', '--net-g', 'resnet_7blocks']);
  assert.equal(choice.status, 2);
  assert.match(choice.stderr, /net-g/);
});
