import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import { resolveOptions } from '../../src/options';
import { chooseRunName, mergeResumedOptions, removeEmptyRunDirs, resumeCheckpoint, runCheckpoint, runDirOf, runPaths } from '../../src/train/run';
import { checkpointDiskNote, evaluationPlan, prepareRun, runSession } from '../../src/train/session';
import { listModelFiles } from '../../src/report/report';
import { readRunLog } from '../../src/report/runlog';
import { tempDir, tinyOptions } from './tiny';

test('a fresh run never overwrites another: preset names get a suffix, typed names an error', () => {
  const runsDir = tempDir('runs');
  const fresh = resolveOptions({ runsDir });
  assert.equal(chooseRunName(fresh, false), 'quick');
  fs.mkdirSync(path.join(runsDir, 'quick'));
  fs.writeFileSync(path.join(runsDir, 'quick', 'log.jsonl'), '{}\n');
  assert.equal(chooseRunName(fresh, false), 'quick-2');
  assert.throws(() => chooseRunName(resolveOptions({ runsDir, name: 'quick' }), true), /--name quick: .* already holds a run\. Pass --continue-train/);
  assert.equal(chooseRunName(resolveOptions({ runsDir, name: 'quick', continueTrain: true }), true), 'quick');
});

test('the resume checkpoint is --checkpoint, else latest of the run, else a clear error', () => {
  const runsDir = tempDir('resume-paths');
  const options = resolveOptions({ runsDir, name: 'r', continueTrain: true });
  const paths = runPaths(runsDir, 'r');
  assert.throws(() => resumeCheckpoint(options, paths), /--continue-train: run 'r' has no checkpoint/);
  assert.equal(resumeCheckpoint({ ...options, continueTrain: false }, paths), null);
  fs.mkdirSync(paths.checkpointsDir, { recursive: true });
  fs.writeFileSync(paths.latest, '');
  assert.equal(resumeCheckpoint(options, paths), paths.latest);
  assert.throws(() => resumeCheckpoint({ ...options, checkpoint: path.join(runsDir, 'nope.safetensors') }, paths), /--checkpoint: no such file/);
});

test('a resumed run keeps the saved model options and takes typed schedule/cadence changes', () => {
  const saved = resolveOptions({ ngf: 8, nEpochs: 3 });
  const merged = mergeResumedOptions(saved, { nEpochs: 10, printFreq: 50, ngf: 8 }, 'x.safetensors');
  assert.deepEqual([merged.ngf, merged.nEpochs, merged.printFreq, merged.continueTrain], [8, 10, 50, true]);
  assert.throws(() => mergeResumedOptions(saved, { netG: 'unet_32' }, 'x.safetensors'), /--net-g unet_32: x\.safetensors was trained with --net-g resnet_6blocks/);
});

test('training checks what its evaluation will need before it starts, not after --eval-freq epochs', () => {
  const runsDir = tempDir('eval-needs');
  const dataroot = tempDir('eval-needs-data');
  assert.throws(() => prepareRun({ runsDir, dataset: 'folder', dataroot, evalFreq: 5 }),
    /--eval-freq 5: image folders have no digit labels, so the evaluation needs --inception fid .* or --inception FILE .*; or set --eval-freq 0/);
  assert.throws(() => prepareRun({ runsDir, evalFreq: 1, inception: path.join(dataroot, 'nope.onnx') }), /--inception: no such file .*nope\.onnx/);
  // Options alone still resolve: translate and export re-read a checkpoint's options on machines
  // without the run's --inception file.
  assert.equal(resolveOptions({ dataset: 'folder', dataroot, evalFreq: 5, inception: '/elsewhere/inception.onnx' }).evalFreq, 5);
  assert.equal(prepareRun({ runsDir, dataset: 'folder', dataroot, evalFreq: 0 }).options.evalFreq, 0);
});

test('a run that fails before writing anything leaves no empty run folder behind', async () => {
  const runsDir = tempDir('failed-start');
  const dataroot = path.join(tempDir('failed-start-data'), 'no-such-data');
  await assert.rejects(runSession({ given: { runsDir, dataset: 'folder', dataroot, device: 'cpu' }, interactive: false, quiet: true }),
    /no-such-data: --dataroot does not exist$/);
  assert.deepEqual(fs.readdirSync(runsDir), [], 'runs/no-such-data was created for the lock, then removed');
  // A folder holding anything is kept.
  const paths = runPaths(runsDir, 'kept');
  fs.mkdirSync(paths.checkpointsDir, { recursive: true });
  fs.writeFileSync(path.join(paths.checkpointsDir, 'latest.safetensors'), 'x');
  removeEmptyRunDirs(paths);
  assert.ok(fs.existsSync(path.join(paths.checkpointsDir, 'latest.safetensors')));
});

test('--keep-epochs N keeps the newest N epoch checkpoints; the report lists only those on disk', async () => {
  const root = tempDir('keep-epochs');
  const session = await runSession({ given: tinyOptions(root, { name: 'keep', nEpochs: 3, nEpochsDecay: 1, saveEpochFreq: 1, keepEpochs: 2 }), interactive: false, quiet: true });
  const dir = path.join(session.runDir, 'checkpoints');
  assert.deepEqual(fs.readdirSync(dir).sort(), ['epoch_3.safetensors', 'epoch_4.safetensors', 'latest.safetensors']);
  const listed = (await listModelFiles(await readRunLog(session.runDir))).filter((f) => f.kind === 'checkpoint').map((f) => f.file);
  assert.deepEqual(listed.sort(), ['checkpoints/epoch_3.safetensors', 'checkpoints/epoch_4.safetensors', 'checkpoints/latest.safetensors']);
  // 0 (the default) keeps them all, as the reference does.
  const all = await runSession({ given: tinyOptions(root, { name: 'all', nEpochs: 2, nEpochsDecay: 1, saveEpochFreq: 1 }), interactive: false, quiet: true });
  assert.equal(fs.readdirSync(path.join(all.runDir, 'checkpoints')).filter((f) => f.startsWith('epoch_')).length, 3);
});

test('a run whose kept epoch checkpoints pass 2 GB says so, and how to keep fewer', () => {
  // The reference setup: resnet_9blocks + basic D, 28.29 M parameters, 200 epochs, every 5th kept.
  const o = resolveOptions({ dataset: 'folder', dataroot: '/x' });
  assert.match(checkpointDiskNote(o, 1, 28.29e6) ?? '', /keeps 40 epoch checkpoints of at least 339 MB \(13\.6 GB in all; --save-epoch-freq 5\); --keep-epochs N keeps only the newest N/);
  assert.equal(checkpointDiskNote({ ...o, keepEpochs: 3 }, 1, 28.29e6), null, '3 x 339 MB');
  assert.match(checkpointDiskNote(o, 151, 28.29e6) ?? '', /keeps 10 epoch/, 'a resumed run counts the epochs left');
  assert.equal(checkpointDiskNote(resolveOptions({}), 1, 1.34e6), null, 'the quick demo');
});

test('the start block says when and how the run evaluates, or how to turn it on', () => {
  assert.equal(evaluationPlan(resolveOptions({ preset: 'mnist2svhn' }), true), 'every 20 epochs and the last, on up to 10000 test images per domain: digit accuracy, digit-FID/KID/IS, PRDC');
  assert.equal(evaluationPlan(resolveOptions({ preset: 'quick', inception: 'fid', evalFreq: 1 }), true),
    'every 1 epoch and the last, on up to 1000 test images per domain: digit metrics and FID/KID/IS with the FID Inception');
  assert.equal(evaluationPlan(resolveOptions({ dataset: 'folder', dataroot: '/x', inception: '/m/inc.onnx', evalFreq: 5 }), true),
    'every 5 epochs and the last, on up to 10000 test images per domain: FID/KID/IS with /m/inc.onnx');
  assert.match(evaluationPlan(resolveOptions({ dataset: 'folder', dataroot: '/x' }), true), /^off \(image folders .*'cgtrain data download inception', then --inception fid --eval-freq N\)$/);
  assert.equal(evaluationPlan(resolveOptions({ evalFreq: 0 }), true), 'off (--eval-freq N evaluates every N epochs)');
  assert.equal(evaluationPlan(resolveOptions({ preset: 'mnist2svhn' }), false), 'off (no evaluation hook in this session)');
});

test('--run finds the run directory, not a dataset folder of the same name, and --best its best checkpoint', () => {
  const root = tempDir('run-dir');
  const cwd = process.cwd();
  process.chdir(root);
  try {
    fs.mkdirSync(path.join('h2z', 'trainA'), { recursive: true }); // the dataset, named like the run
    fs.mkdirSync(path.join('runs', 'h2z', 'checkpoints'), { recursive: true });
    fs.writeFileSync(path.join('runs', 'h2z', 'checkpoints', 'latest.safetensors'), 'x');
    assert.equal(runDirOf('h2z'), path.join('runs', 'h2z'));
    assert.equal(runCheckpoint('h2z', false), path.join('runs', 'h2z', 'checkpoints', 'latest.safetensors'));
    assert.throws(() => runCheckpoint('h2z', true), /--run h2z --best: runs\/h2z\/checkpoints\/best\.safetensors does not exist; a run keeps its best evaluated epoch there when it evaluates \(--eval-freq\)/);
    fs.writeFileSync(path.join('runs', 'h2z', 'checkpoints', 'best.safetensors'), 'x');
    assert.equal(runCheckpoint('runs/h2z', true), path.join('runs', 'h2z', 'checkpoints', 'best.safetensors'));
    assert.throws(() => runDirOf('nope'), /--run nope: neither nope nor runs\/nope holds a run/);
  } finally {
    process.chdir(cwd);
  }
});
