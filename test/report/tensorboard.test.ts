/**
 * TensorBoard event files: the TFRecord framing and Event encoding against files written by
 * tensorboardX (test/fixtures/tensorboard/make.py), and `--tensorboard` on a real run, resumed.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'fs';
import * as path from 'path';
import {
  decodeEvent, encodeEvent, readTfRecords, summaryValues, tfRecord, SESSION_START, EVENT_FILE_VERSION, type EventProto,
} from '../../src/report/tensorboard';
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
  assert.deepEqual(summaryValues({ type: 'start', options: {}, machine: {}, time: '' }, '.'), []);
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
