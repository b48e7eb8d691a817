import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { readCheckpoint } from '../../src/train/checkpoint';
import { readLog, tempDir, tinyArgs } from '../train/tiny';

const cli = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

test('cgtrain train runs a tiny training end to end and leaves a complete run directory', () => {
  const root = tempDir('cli-train');
  const r = spawnSync(process.execPath, [cli, 'train', ...tinyArgs(root, { name: 'tiny', displayFreq: 4, printFreq: 4 })], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, `stderr: ${r.stderr}\nstdout: ${r.stdout}`);
  assert.match(r.stdout, /Training \S+ finished in \S+: 2\/2 epochs, 16 images/);
  assert.doesNotMatch(r.stdout, /\r/, 'plain lines when stdout is not a terminal');
  const runDir = path.join(root, 'runs', 'tiny');
  const records = readLog(runDir);
  const types = records.map((x) => x.type);
  assert.equal(types[0], 'start');
  assert.equal(types[types.length - 1], 'end');
  for (const t of ['step', 'epoch', 'sample', 'checkpoint']) assert.ok(types.includes(t as never), `log has a ${t} record`);
  assert.equal(records.filter((x) => x.type === 'step').length, 4, 'a step record every 4 images');
  for (const rec of records) {
    if (rec.type === 'sample') assert.ok(fs.statSync(path.join(runDir, rec.file)).size > 100, rec.file);
  }
  const options = JSON.parse(fs.readFileSync(path.join(runDir, 'opt.json'), 'utf8'));
  assert.equal(options.ngf, 4);
  const checkpoint = readCheckpoint(path.join(runDir, 'checkpoints', 'epoch_2.safetensors'));
  assert.ok(checkpoint.tensors.some((t) => t.name.startsWith('netG_A.')), 'reference parameter names');
  assert.equal(JSON.parse(checkpoint.metadata.options).ngf, 4);
  assert.ok(fs.existsSync(path.join(runDir, 'report.html')), 'report rebuilt');
});

test('SIGINT saves a checkpoint and exits cleanly; a second process on the run is refused meanwhile; the run resumes', async () => {
  const root = tempDir('cli-sigint');
  const args = tinyArgs(root, { name: 'sig', nEpochs: 1000, nEpochsDecay: 0, saveEpochFreq: 0 });
  const child = spawn(process.execPath, [cli, 'train', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const logFile = path.join(root, 'runs', 'sig', 'log.jsonl');
  const deadline = Date.now() + 40_000;
  const latestFile = path.join(root, 'runs', 'sig', 'checkpoints', 'latest.safetensors');
  while (!(fs.existsSync(logFile) && fs.readFileSync(logFile, 'utf8').includes('"type":"step"') && fs.existsSync(latestFile))) {
    assert.ok(Date.now() < deadline && child.exitCode === null, `training never logged a step: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  // While it trains, a second process on the same run is refused and names the first.
  const second = spawnSync(process.execPath, [cli, 'train', '--runs-dir', path.join(root, 'runs'), '--name', 'sig', '--continue-train', '--threads', '1'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(second.status, 1, second.stdout);
  assert.match(second.stderr, new RegExp(`run 'sig' is being trained by process ${child.pid} on `));
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  assert.equal(code, 0, stderr);
  assert.equal(fs.existsSync(path.join(root, 'runs', 'sig', 'train.lock')), false, 'the lock goes with the process');
  assert.match(stdout, /Training \S+ stopped/);
  assert.match(stdout, /stopped\s+signal/);
  assert.match(stdout, /resume\s+cgtrain train --name sig --runs-dir \S+ --continue-train/);
  const records = readLog(path.join(root, 'runs', 'sig'));
  const end = records[records.length - 1];
  assert.equal(end.type, 'end');
  assert.equal((end as { reason: string }).reason, 'signal');
  const latest = path.join(root, 'runs', 'sig', 'checkpoints', 'latest.safetensors');
  const position = JSON.parse(readCheckpoint(latest).metadata.position);
  assert.ok(position.iteration >= 1);
  // Resume with fewer epochs than already reached: it finishes at once from the saved position.
  const resumed = spawnSync(process.execPath, [cli, 'train', '--runs-dir', path.join(root, 'runs'), '--name', 'sig', '--continue-train', '--n-epochs', String(position.epoch), '--threads', '1'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, new RegExp(`resuming epoch ${position.epoch} batch ${position.batch}`));
});
