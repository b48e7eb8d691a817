/**
 * TensorBoard event files: the TFRecord framing and Event encoding against files written by
 * tensorboardX (test/fixtures/tensorboard/make.py), `--tensorboard` on a real run, resumed, and
 * the same events written afterwards from the log of a run trained without it.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import {
  decodeEvent, encodeEvent, readTfRecords, summaryValues, tfRecord, writeEventsFromLog, SESSION_START, EVENT_FILE_VERSION, HPARAMS_TAG, decodeSessionStartInfo, encodeSessionStartInfo, hparamsOf, type EventProto, type SummaryValue,
} from '../../src/report/tensorboard';
import { resolveOptions } from '../../src/options';
import { runSession } from '../../src/train/session';
import { crc32c } from '../../src/util/crc';
import type { LogRecord } from '../../src/train/logger';
import { readLog, tempDir, tinyOptions } from '../train/tiny';

const fixtures = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'tensorboard');

test('CRC-32C: the check value of the Castagnoli polynomial and the iSCSI test vectors', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
  assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
  assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e);
});

interface FixtureEvent {
  wall_time: number;
  step: number;
  file_version?: string;
  scalar?: [string, number];
  image?: { tag: string; height: number; width: number; png: string };
}

/** The events make.py wrote with tensorboardX, as our encoder's input. */
function expectedEvents(): EventProto[] {
  const spec = JSON.parse(fs.readFileSync(path.join(fixtures, 'events.json'), 'utf8')) as FixtureEvent[];
  return spec.map((e): EventProto => {
    if (e.file_version) return { wall_time: e.wall_time, file_version: e.file_version };
    if (e.scalar) return { wall_time: e.wall_time, step: e.step, summary: { value: [{ tag: e.scalar[0], simple_value: e.scalar[1] }] } };
    const image = e.image!;
    const png = fs.readFileSync(path.join(fixtures, image.png));
    return { wall_time: e.wall_time, step: e.step, summary: { value: [{ tag: image.tag, image: { height: image.height, width: image.width, colorspace: 3, encoded_image_string: png } }] } };
  });
}

test('a file tensorboardX wrote reads back record by record, and ours is the same bytes', () => {
  const file = fs.readdirSync(fixtures).find((f) => f.includes('tfevents'))!;
  const bytes = fs.readFileSync(path.join(fixtures, file));
  const records = readTfRecords(bytes, file);
  const expected = expectedEvents();
  assert.equal(records.length, expected.length);
  const first = decodeEvent(records[0]);
  assert.equal(first.file_version, EVENT_FILE_VERSION);
  const scalar = decodeEvent(records[1]);
  assert.equal(scalar.step, expected[1].step);
  assert.equal(scalar.summary!.value[0].tag, expected[1].summary!.value[0].tag);
  assert.ok(Math.abs(scalar.summary!.value[0].simple_value! - expected[1].summary!.value[0].simple_value!) < 1e-6);
  const ours = Buffer.concat(expected.map((e) => tfRecord(encodeEvent(e))));
  assert.ok(ours.equals(bytes), 'our encoding of the same events is byte-identical to tensorboardX\'s file');
});

test('a damaged event file is refused with the byte where it breaks', () => {
  const record = tfRecord(encodeEvent({ wall_time: 1, file_version: EVENT_FILE_VERSION }));
  const flipped = Buffer.from(record);
  flipped[14] ^= 1;
  assert.throws(() => readTfRecords(flipped, 'x.tfevents'), /x\.tfevents: the data CRC of the record at byte 0 does not match/);
  assert.throws(() => readTfRecords(Buffer.concat([record, record.subarray(0, 20)]), 'x.tfevents'), new RegExp(`record at byte ${record.length} is cut short`));
});

test('an evaluation record becomes its finite numeric metrics; info strings and start records become nothing', () => {
  const values = summaryValues({ type: 'eval', epoch: 20, metrics: { 'digit-FID_AtoB': 12.5, accuracy_AtoB: 0.75, 'FID_BtoA': Number.NaN, info: { seconds: '3.0' } } }, '.');
  assert.deepEqual(values, [{ tag: 'eval/digit-FID_AtoB', simple_value: 12.5 }, { tag: 'eval/accuracy_AtoB', simple_value: 0.75 }]);
  assert.deepEqual(summaryValues({ type: 'start', options: {}, machine: {}, time: '', images: 0 }, '.'), []);
  assert.throws(() => summaryValues({ type: 'sample', epoch: 1, iter: 1, file: 'tensorboard.test.js' }, __dirname), /sample tensorboard\.test\.js is not a PNG file/);
});

function eventsOf(runDir: string): { file: string; events: EventProto[] }[] {
  return fs.readdirSync(runDir).filter((f) => f.startsWith('events.out.tfevents.')).sort()
    .map((file) => ({ file, events: readTfRecords(fs.readFileSync(path.join(runDir, file)), file).map(decodeEvent) }));
}

function scalars(events: EventProto[], tag: string): Array<[number, number]> {
  return events.flatMap((e) => (e.summary?.value ?? []).filter((v) => v.tag === tag).map((v): [number, number] => [e.step ?? 0, v.simple_value!]));
}

test('--tensorboard writes the losses, lr, metrics and samples of a run; a resumed session starts a file that purges past its step', async () => {
  const root = tempDir('tensorboard');
  const quiet = { interactive: false, quiet: true };
  const first = await runSession({
    given: tinyOptions(root, { name: 'tb', tensorboard: true, displayFreq: 4 }), ...quiet,
    hooks: { afterStep: ({ images, trainer }) => images === 6 && trainer.requestStop() },
  });
  assert.equal(first.result.reason, 'stopped');
  let files = eventsOf(first.runDir);
  assert.equal(files.length, 1);
  const events = files[0].events;
  assert.equal(events[0].file_version, EVENT_FILE_VERSION);
  assert.ok(!events.some((e) => e.session_log), 'a new run has no SessionLog');
  const log = readLog(first.runDir);
  const steps = log.filter((r): r is Extract<LogRecord, { type: 'step' }> => r.type === 'step');
  assert.deepEqual(scalars(events, 'loss/D_A'), steps.map((s) => [s.images, Math.fround(s.losses.D_A)]));
  assert.deepEqual(scalars(events, 'train/lr'), steps.map((s) => [s.images, Math.fround(s.lr)]));
  const samples = log.filter((r): r is Extract<LogRecord, { type: 'sample' }> => r.type === 'sample');
  const images = events.flatMap((e) => (e.summary?.value ?? []).filter((v) => v.tag === 'samples').map((v) => ({ step: e.step, image: v.image! })));
  assert.equal(images.length, samples.length);
  assert.ok(images.length >= 1);
  const png = fs.readFileSync(path.join(first.runDir, samples[0].file));
  assert.ok(Buffer.from(images[0].image.encoded_image_string).equals(png), 'the sample grid PNG as written');
  assert.equal(images[0].image.width, png.readUInt32BE(16));
  assert.equal(images[0].image.height, png.readUInt32BE(20));

  const resumed = await runSession({ given: { runsDir: tinyOptions(root).runsDir, name: 'tb', continueTrain: true, threads: 1, evalFreq: 0 }, ...quiet });
  assert.equal(resumed.result.reason, 'completed');
  files = eventsOf(first.runDir);
  assert.equal(files.length, 2, 'one file per session, the resumed one sorting last');
  const second = files[1].events;
  const start = second.find((e) => e.session_log);
  assert.equal(start?.session_log?.status, SESSION_START);
  assert.equal(start?.step, 7, 'TensorBoard keeps steps up to the 6 images the session resumes from, and drops later ones');
  const resumedSteps = readLog(first.runDir).filter((r): r is Extract<LogRecord, { type: 'step' }> => r.type === 'step').slice(steps.length);
  assert.deepEqual(scalars(second, 'loss/G_A'), resumedSteps.map((s) => [s.images, Math.fround(s.losses.G_A)]));
  assert.deepEqual(scalars(second, 'train/epoch').map(([, epoch]) => epoch), [1, 2]);
});

test('--tensorboard is off by default and may be turned on when resuming', async () => {
  const root = tempDir('tensorboard-off');
  const run = await runSession({ given: tinyOptions(root, { name: 'plain', nEpochsDecay: 0 }), interactive: false, quiet: true });
  assert.deepEqual(eventsOf(run.runDir), []);
  const more = await runSession({ given: { runsDir: tinyOptions(root).runsDir, name: 'plain', continueTrain: true, nEpochs: 2, threads: 1, tensorboard: true }, interactive: false, quiet: true });
  assert.equal(more.result.reason, 'completed');
  const [file] = eventsOf(run.runDir);
  assert.equal(file.events.find((e) => e.session_log)?.step, 9, 'resumed after epoch 1 (8 images)');
  assert.ok(scalars(file.events, 'loss/D_B').every(([step]) => step > 8));
});

/** What TensorBoard reads from events, less the wall times (and the file versions, one per file); speeds as tags alone. */
function content(events: EventProto[]): unknown[] {
  const value = (v: SummaryValue): unknown => {
    if (v.image) return { tag: v.tag, png: Buffer.from(v.image.encoded_image_string).toString('base64'), w: v.image.width };
    if (v.metadata) return { tag: v.tag, plugin: v.metadata.plugin_data.plugin_name, hparams: decodeSessionStartInfo(v.metadata.plugin_data.content).hparams };
    return /images_per_sec$/.test(v.tag) ? { tag: v.tag } : v;
  };
  return events.filter((e) => !e.file_version).map((e) => ({ step: e.step, session: e.session_log?.status, values: e.summary?.value.map(value) }));
}

test('report --tensorboard writes from log.jsonl the events a run trained with --tensorboard has', async () => {
  const root = tempDir('tensorboard-from-log');
  const quiet = { interactive: false, quiet: true };
  const runTwice = async (name: string, tensorboard: boolean): Promise<string> => {
    const first = await runSession({
      given: tinyOptions(root, { name, tensorboard, displayFreq: 4 }), ...quiet,
      hooks: { afterStep: ({ images, trainer }) => images === 6 && trainer.requestStop() },
    });
    await runSession({ given: { runsDir: tinyOptions(root).runsDir, name, continueTrain: true, threads: 1, evalFreq: 0 }, ...quiet });
    return first.runDir;
  };
  const live = eventsOf(await runTwice('live', true));
  const plainDir = await runTwice('plain', false);
  assert.deepEqual(eventsOf(plainDir), []);
  const written = writeEventsFromLog(plainDir);
  const files = eventsOf(plainDir);
  assert.equal(files.length, 1);
  assert.equal(path.join(plainDir, files[0].file), written.file);
  assert.match(files[0].file, /^events\.out\.tfevents\.\d{10}\..+\.cgtrain-log$/);
  const events = files[0].events;
  assert.equal(events[0].file_version, EVENT_FILE_VERSION);
  assert.deepEqual(content(events), content(live.flatMap((f) => f.events)), 'the same steps, values, STARTs and images, in the same order');
  assert.equal(written.sessions, 2);
  // each session's hyperparameters, for TensorBoard's HPARAMS dashboard, right after its start
  const hparams = events.filter((e) => e.summary?.value[0].tag === HPARAMS_TAG);
  assert.deepEqual(hparams.map((e) => e.step ?? 0), [0, 6]);
  assert.equal(events.indexOf(hparams[0]), 1);
  assert.equal(events[events.indexOf(hparams[1]) - 1].session_log?.status, SESSION_START);
  const info = decodeSessionStartInfo(hparams[0].summary!.value[0].metadata!.plugin_data.content);
  assert.deepEqual(
    [info.hparams.netG, info.hparams.ngf, info.hparams.batchSize, info.hparams.lambdaA, info.hparams.lr, info.hparams.noFlip, info.hparams.seed],
    ['resnet_6blocks', 4, 2, 10, 2e-4, false, 7]);
  assert.ok(!('runsDir' in info.hparams) && !('name' in info.hparams) && !('printFreq' in info.hparams), 'paths, names and cadences are not hyperparameters');
  assert.equal(info.startTimeSecs, hparams[0].wall_time);
  assert.equal(written.events, events.length);
  assert.equal(written.images, readLog(plainDir).filter((r) => r.type === 'sample').length);
  assert.deepEqual(written.skipped, []);
  // wall times are the records' own: the first event at the first start record's time
  const startTime = Date.parse((readLog(plainDir)[0] as Extract<LogRecord, { type: 'start' }>).time) / 1000;
  assert.equal(events[0].wall_time, startTime);
  assert.ok(events.every((e, i) => i === 0 || e.wall_time >= events[i - 1].wall_time));

  // a second call replaces the file; a run with live event files is refused
  fs.writeFileSync(path.join(plainDir, 'events.out.tfevents.0000000001.host.cgtrain-log'), 'older');
  writeEventsFromLog(plainDir);
  assert.deepEqual(eventsOf(plainDir).map((f) => f.file), [files[0].file]);
  assert.throws(() => writeEventsFromLog(path.join(root, 'runs', 'live')), /already has TensorBoard event files from training with --tensorboard \(events\.out\.tfevents\.\d+\..+\.cgtrain\.\d+, /);
});

test('events from an older log: a resumed session without its start images purges from its first step; damaged lines and lost samples are skipped', () => {
  const runDir = path.join(tempDir('tensorboard-old-log'), 'old');
  fs.mkdirSync(runDir, { recursive: true });
  const step = (images: number, time: string) => ({ type: 'step', epoch: 1, iter: images / 2, images, time, lr: 2e-4, imagesPerSec: 10, losses: { D_A: images } });
  const lines = [
    { type: 'start', options: {}, machine: {}, time: '2026-01-01T00:00:00Z' },
    step(2, '2026-01-01T00:00:01Z'), step(4, '2026-01-01T00:00:02Z'), step(6, '2026-01-01T00:00:03Z'),
    { type: 'sample', epoch: 1, iter: 3, file: 'samples/gone.png' },
    { type: 'start', options: {}, machine: {}, time: '2026-01-01T01:00:00Z', resumedFrom: 'checkpoints/latest.safetensors' },
    step(4, '2026-01-01T01:00:01Z'),
    { type: 'eval', epoch: 1, metrics: { fid: 3.5 } },
  ].map((r) => JSON.stringify(r));
  fs.writeFileSync(path.join(runDir, 'log.jsonl'), `${lines.slice(0, 5).join('\n')}\n{"type": "step", "ep\n${lines.slice(5).join('\n')}\n`);
  const written = writeEventsFromLog(runDir);
  assert.equal(written.skipped.length, 2);
  assert.match(written.skipped[0], /^log\.jsonl line 5: ENOENT.*samples\/gone\.png/);
  assert.match(written.skipped[1], /^log\.jsonl line 6: not JSON$/);
  const [file] = eventsOf(runDir);
  assert.deepEqual(content(file.events), [
    ...[2, 4, 6].map((s) => ({ step: s, session: undefined, values: [{ tag: 'loss/D_A', simple_value: s }, { tag: 'train/lr', simple_value: Math.fround(2e-4) }, { tag: 'train/images_per_sec' }] })),
    { step: 4, session: SESSION_START, values: undefined },
    { step: 4, session: undefined, values: [{ tag: 'loss/D_A', simple_value: 4 }, { tag: 'train/lr', simple_value: Math.fround(2e-4) }, { tag: 'train/images_per_sec' }] },
    { step: 4, session: undefined, values: [{ tag: 'eval/fid', simple_value: 3.5 }] },
  ]);
  assert.equal(file.events.find((e) => e.session_log)?.wall_time, Date.parse('2026-01-01T01:00:01Z') / 1000);
  fs.writeFileSync(path.join(runDir, 'log.jsonl'), '');
  assert.throws(() => writeEventsFromLog(runDir), /log\.jsonl has no records of a training run/);
});

test('hyperparameters: the model, loss, schedule and data choices, with the options that depend on another only when they apply', () => {
  const base = resolveOptions({ preset: 'quick' });
  const quick = hparamsOf(base);
  assert.equal(quick.ngf, base.ngf);
  assert.equal(quick.dLoss, 'gan');
  for (const key of ['focalAlpha', 'ghmBins', 'lrDecayIters', 'nLayersD', 'loadSize', 'cropSize', 'preprocess', 'name', 'runsDir', 'device', 'printFreq']) {
    assert.ok(!(key in quick), `${key} is not a hyperparameter of the quick preset`);
  }
  const focal = hparamsOf(resolveOptions({ dataset: 'folder', dataroot: '/tmp/x', dLoss: 'focal', focalGamma: 3, netD: 'n_layers', nLayersD: 4 }));
  assert.deepEqual([focal.focalGamma, focal.nLayersD, focal.loadSize, focal.cropSize, focal.preprocess], [3, 4, 286, 256, 'resize_and_crop']);
  assert.ok(!('ghmBins' in focal));
  // the content TensorBoard reads back
  const content = encodeSessionStartInfo({ netG: 'unet_256', lr: 2e-4, noFlip: true }, 1700000000.5);
  assert.deepEqual(decodeSessionStartInfo(content), { hparams: { netG: 'unet_256', lr: 2e-4, noFlip: true }, startTimeSecs: 1700000000.5 });
});
