/**
 * The best evaluated epoch: which metric ranks, checkpoints/best.safetensors kept across
 * evaluations (and a resumed run), and where the summary and the report show it.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { bestEvaluation, keepBestCheckpoint, selectionScore } from '../../src/eval/best';
import { annotateCheckpoints } from '../../src/eval/hook';
import { buildReport, formatSummary, loadRunSummary } from '../../src/report';
import { readCheckpoint, writeCheckpoint } from '../../src/train/checkpoint';
import { makeSyntheticRun } from '../report/fixture';
import { tempDir } from '../train/tiny';

test('the score is Inception FID when there, else digit-FID, averaged over the directions evaluated', () => {
  assert.deepEqual(selectionScore({ 'digit-FID_AtoB': 4, 'digit-FID_BtoA': 8, accuracy_AtoB: 0.9 }), { metric: 'digit-FID', value: 6, directions: ['AtoB', 'BtoA'] });
  assert.deepEqual(selectionScore({ 'digit-FID_AtoB': 4, FID_AtoB: 30, FID_BtoA: 50 }), { metric: 'FID', value: 40, directions: ['AtoB', 'BtoA'] });
  assert.deepEqual(selectionScore({ 'digit-FID_BtoA': 3 }), { metric: 'digit-FID', value: 3, directions: ['BtoA'] });
  assert.equal(selectionScore({ accuracy_AtoB: 0.9, 'digit-FID_AtoB': Number.NaN }), undefined);
  assert.equal(selectionScore({}), undefined);
});

test('bestEvaluation: the lowest score, the earliest among equals, the newer family after a switch', () => {
  const at = (epoch: number, metrics: Record<string, unknown>) => ({ epoch, metrics });
  assert.equal(bestEvaluation([at(5, { 'digit-FID_AtoB': 9 }), at(10, { 'digit-FID_AtoB': 4 }), at(15, { 'digit-FID_AtoB': 4 }), at(20, { 'digit-FID_AtoB': 6 })])?.epoch, 10);
  assert.equal(bestEvaluation([at(5, { 'digit-FID_AtoB': 1 }), at(10, { FID_AtoB: 80 }), at(15, { FID_AtoB: 90 })])?.epoch, 10);
  assert.equal(bestEvaluation([at(5, { accuracy_AtoB: 1 })]), undefined);
});

/** A run directory whose latest checkpoint holds epoch `epoch` (one tensor filled with it). */
function writeEpoch(runDir: string, epoch: number): string {
  const latest = path.join(runDir, 'checkpoints', 'latest.safetensors');
  fs.mkdirSync(path.dirname(latest), { recursive: true });
  writeCheckpoint(latest, [{ name: 'netG_A.w', shape: [4], data: new Float32Array(4).fill(epoch) }], { epoch: String(epoch) });
  return latest;
}

test('keepBestCheckpoint keeps the lowest-FID epoch, and a resumed run compares against it', () => {
  const runDir = tempDir('best');
  const best = path.join(runDir, 'checkpoints', 'best.safetensors');
  const evaluate = (epoch: number, fid: number): string | undefined => {
    const latest = writeEpoch(runDir, epoch);
    const metrics = { 'digit-FID_AtoB': fid, 'digit-FID_BtoA': fid + 2 };
    const [annotated] = annotateCheckpoints(runDir, epoch, metrics);
    assert.equal(annotated, latest);
    return keepBestCheckpoint(runDir, epoch, metrics, annotated);
  };
  const keptEpoch = () => readCheckpoint(best).tensors[0].data[0];

  assert.equal(evaluate(5, 10), 'best so far: epoch 5, digit-FID 11.000 (mean of A->B and B->A): kept as checkpoints/best.safetensors');
  assert.equal(keptEpoch(), 5);
  assert.equal(evaluate(10, 6), 'best so far: epoch 10, digit-FID 7.000 (mean of A->B and B->A), better than epoch 5\'s 11.000: kept as checkpoints/best.safetensors');
  assert.equal(keptEpoch(), 10);
  // worse: the file is left alone (the state a resumed run starts from is on disk, nothing in memory)
  const before = fs.statSync(best).mtimeMs;
  assert.equal(evaluate(15, 8), 'best so far: epoch 10, digit-FID 7.000 (mean of A->B and B->A) (checkpoints/best.safetensors)');
  assert.equal(keptEpoch(), 10);
  assert.equal(fs.statSync(best).mtimeMs, before);
  assert.equal(JSON.parse(readCheckpoint(best).metadata.eval).epoch, 10);
  // metrics without a FID: no ranking, no line
  assert.equal(keepBestCheckpoint(runDir, 20, { accuracy_AtoB: 0.5 }, writeEpoch(runDir, 20)), undefined);
  assert.equal(keptEpoch(), 10);
  // an unreadable best file is replaced, not fatal
  fs.writeFileSync(best, 'not a checkpoint');
  assert.match(evaluate(25, 9) ?? '', /^best so far: epoch 25, digit-FID 10.000 .*: kept as/);
  assert.equal(keptEpoch(), 25);
  assert.deepEqual(fs.readdirSync(path.dirname(best)).filter((f) => f.endsWith('.tmp')), []);
});

test('the end summary and the report name the best evaluation; the summary leaves the spreads out', async () => {
  const root = tempDir('best-report');
  const runDir = await makeSyntheticRun(root, 'ranked', { epochs: 4, stepsPerEpoch: 4, ended: true, evalEvery: 100 });
  const log = path.join(runDir, 'log.jsonl');
  const evals = [[1, 30], [2, 12], [3, 18]].map(([epoch, fid]) => JSON.stringify({ type: 'eval', epoch, metrics: { 'digit-FID_AtoB': fid, 'digit-FID_BtoA': fid + 4, 'digit-KID_AtoB': 0.5, 'digit-KID-std_AtoB': 0.01 } }));
  const lines = fs.readFileSync(log, 'utf8').trimEnd().split('\n');
  fs.writeFileSync(log, [...lines.slice(0, -2), ...evals, ...lines.slice(-2)].join('\n') + '\n');
  fs.writeFileSync(path.join(runDir, 'checkpoints', 'best.safetensors'), Buffer.alloc(64));
  const text = formatSummary(await loadRunSummary(runDir), { color: false, cwd: root });
  assert.match(text, /\n {2}metrics {4}digit-FID_AtoB 18 {2}digit-FID_BtoA 22 {2}digit-KID_AtoB 0.5 {2}\(epoch 3\)\n/, 'no spreads in the summary line');
  assert.match(text, /\n {2}best {7}epoch 2, digit-FID 14.000 \(mean of A->B and B->A\): ranked\/checkpoints\/best.safetensors\n/);
  const html = fs.readFileSync(await buildReport(runDir), 'utf8');
  assert.match(html, /3 evaluations; best: epoch 2, digit-FID 14.000/);
  assert.match(html, /<tr class="best"[^>]*><td class="num">2<\/td>/);
  assert.equal((html.match(/<tr class="best"/g) ?? []).length, 1);
  assert.ok(html.includes('checkpoints/best.safetensors'), 'the models list has the best checkpoint');
  const cards = [...html.matchAll(/<div class="stat metric"><div class="k">([^<]+)<\/div>/g)].map((m) => m[1]);
  assert.deepEqual(cards, ['digit-FID_AtoB', 'digit-FID_BtoA', 'digit-KID_AtoB'], 'no cards for the spreads');
});
