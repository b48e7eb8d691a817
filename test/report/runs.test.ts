/** `cgtrain runs`: every run of a runs directory with its status, progress and best evaluation. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFile } from 'child_process';
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { promisify } from 'util';
import { formatRunsTable, listRuns } from '../../src/report/runs';
import { makeSyntheticRun, makeTempDir } from './fixture';

const cli = path.resolve(__dirname, '../../src/cli/main.js');

/** Moves every record time of a run's log back by `ms` (a run that was active earlier). */
async function shiftLog(runDir: string, ms: number): Promise<void> {
  const log = path.join(runDir, 'log.jsonl');
  const records = (await fs.readFile(log, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { time?: string | number });
  for (const r of records) {
    if (typeof r.time === 'number') r.time -= ms;
    else if (typeof r.time === 'string') r.time = new Date(Date.parse(r.time) - ms).toISOString();
  }
  await fs.writeFile(log, `${records.map((r) => JSON.stringify(r)).join('\n')}\n`);
}

test('lists finished, live and stopped runs, the most recently active first, with the best evaluation', async () => {
  const root = await makeTempDir('runs');
  try {
    const done = await makeSyntheticRun(root, 'done', { epochs: 4, stepsPerEpoch: 5, ended: true, evalEvery: 100 });
    const evals = [[2, 20], [4, 12], [3, 15]].map(([epoch, fid]) => JSON.stringify({ type: 'eval', epoch, metrics: { 'digit-FID_AtoB': fid, 'digit-FID_BtoA': fid + 2 } }));
    await fs.appendFile(path.join(done, 'log.jsonl'), `${evals.join('\n')}\n`);
    await shiftLog(done, 3600_000);
    // no end record: a run whose lock a live process holds is running; one without (its log just
    // written, as a run killed a minute ago) has stopped
    const crashed = await makeSyntheticRun(root, 'crashed', { epochs: 2, stepsPerEpoch: 5 });
    await shiftLog(crashed, 2 * 3600_000);
    const live = await makeSyntheticRun(root, 'live', { epochs: 2, stepsPerEpoch: 5 });
    await fs.writeFile(path.join(live, 'train.lock'), JSON.stringify({ pid: process.pid, host: os.hostname(), started: new Date().toISOString() }));
    await fs.mkdir(path.join(root, 'not-a-run'));

    const rows = await listRuns(root);
    assert.deepEqual(rows.map((r) => [r.name, r.status]), [['live', 'running'], ['done', 'finished'], ['crashed', 'stopped']]);
    await fs.rm(path.join(live, 'train.lock'));
    assert.equal((await listRuns(root)).find((r) => r.name === 'live')!.status, 'stopped', 'no lock, no end record: stopped at once');
    const finished = rows[1];
    assert.equal(finished.epochsDone, 4);
    assert.equal(finished.epochsTotal, 4);
    assert.deepEqual(finished.best && { epoch: finished.best.epoch, value: finished.best.score.value }, { epoch: 4, value: 13 });
    assert.equal(rows[0].best, undefined);
    const table = formatRunsTable(rows, root);
    assert.match(table, /^name +status +epochs +speed +time +device +best +last activity$/m);
    assert.match(table, /^done +finished +4\/4 +41\.5 img\/s +\S+ +Synthetic CPU @ 3\.0GHz +digit-FID 13\.00 @4 /m);
    assert.match(table, /^live +running +2\/2 /m);
    assert.match(formatRunsTable([], root), /^no runs in /);

    const { stdout } = await promisify(execFile)(process.execPath, [cli, 'runs', '--runs-dir', root, '--json']);
    assert.deepEqual((JSON.parse(stdout) as { name: string }[]).map((r) => r.name).sort(), ['crashed', 'done', 'live']);
    const missing = await promisify(execFile)(process.execPath, [cli, 'runs', '--runs-dir', path.join(root, 'nope')]).catch((e: { code: number; stderr: string }) => e);
    assert.equal((missing as { code: number }).code, 1);
    assert.match((missing as { stderr: string }).stderr, /--runs-dir .*nope: no such directory/);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});
