/**
 * TensorBoard event files (`cgtrain train --tensorboard`): the run's log records as TensorBoard
 * summaries, so that `tensorboard --logdir runs` shows each run's losses, learning rate,
 * throughput, evaluation metrics and sample grids while it trains.
 *
 * The file format is TensorFlow's: TFRecord framing (the length as a little-endian uint64, its
 * masked CRC-32C, the bytes, their masked CRC-32C) around `tensorflow.Event` protobufs, encoded
 * with protobufjs from the subset of event.proto and summary.proto below (field numbers as
 * TensorFlow's). The x axis of every chart is the number of images the run has trained on (per
 * domain), the `images` of log.jsonl's step records, so runs of different batch sizes line up.
 *
 * Each training session appends to its own file (TensorBoard reads a directory's files in name
 * order, and the names start with the time). A resumed session starts with a SessionLog START
 * just past the step it resumes from: TensorBoard then drops what an earlier session logged past
 * that step (the part of a crashed session that the checkpoint does not hold).
 *
 * A run trained without --tensorboard gets the same events afterwards from its log.jsonl
 * (`cgtrain report RUN --tensorboard`, writeEventsFromLog): one file for all its sessions, with
 * the same STARTs, the records' own times as wall times, rewritten whole on every call.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as protobuf from 'protobufjs';
import type { TrainOptions } from '../options';
import type { LogRecord } from '../train/logger';
import { writeFileAtomicSync } from '../util/atomic';
import { crc32c } from '../util/crc';
import { forEachLogLine, timeMs } from './runlog';
import { LOG_FILE } from '../util/run-dir';

const SCHEMA = `
syntax = "proto3";
package tensorflow;

message Event {
  double wall_time = 1;
  int64 step = 2;
  oneof what {
    string file_version = 3;
    Summary summary = 5;
    SessionLog session_log = 7;
  }
}

message SessionLog {
  enum SessionStatus {
    STATUS_UNSPECIFIED = 0;
    START = 1;
    STOP = 2;
    CHECKPOINT = 3;
  }
  SessionStatus status = 1;
  string checkpoint_path = 2;
  string msg = 3;
}

message Summary {
  message Image {
    int32 height = 1;
    int32 width = 2;
    int32 colorspace = 3;
    bytes encoded_image_string = 4;
  }
  message Value {
    string tag = 1;
    oneof value {
      float simple_value = 2;
      Image image = 4;
    }
    SummaryMetadata metadata = 9;
  }
  repeated Value value = 1;
}

message SummaryMetadata {
  message PluginData {
    string plugin_name = 1;
    bytes content = 2;
  }
  PluginData plugin_data = 1;
}
`;

/**
 * TensorBoard's HPARAMS dashboard: the subset of tensorboard/plugins/hparams' plugin_data.proto
 * and api.proto a run's SessionStartInfo needs (Value has google.protobuf.Value's field numbers).
 * TensorBoard infers the experiment from the runs' SessionStartInfos and takes their scalar tags
 * as the metrics, so a run needs no other hparams summary.
 */
const HPARAMS_SCHEMA = `
syntax = "proto3";
package tensorboard.hparams;

message HParamsPluginData {
  int32 version = 1;
  oneof data {
    SessionStartInfo session_start_info = 3;
  }
}

message SessionStartInfo {
  map<string, Value> hparams = 1;
  string group_name = 4;
  double start_time_secs = 5;
}

message Value {
  oneof kind {
    double number_value = 2;
    string string_value = 3;
    bool bool_value = 4;
  }
}
`;

export const HPARAMS_TAG = '_hparams_/session_start_info';

export const EVENT_FILE_VERSION = 'brain.Event:2';
export const SESSION_START = 1;

export interface SummaryValue {
  tag: string;
  simple_value?: number;
  image?: { height: number; width: number; colorspace: number; encoded_image_string: Uint8Array };
  metadata?: { plugin_data: { plugin_name: string; content: Uint8Array } };
}

export interface EventProto {
  wall_time: number;
  step?: number;
  file_version?: string;
  summary?: { value: SummaryValue[] };
  session_log?: { status: number; checkpoint_path?: string; msg?: string };
}

let eventType: protobuf.Type | undefined;
let hparamsType: protobuf.Type | undefined;

function eventProtoType(): protobuf.Type {
  eventType ??= protobuf.parse(SCHEMA, { keepCase: true }).root.lookupType('tensorflow.Event');
  return eventType;
}

export function encodeEvent(event: EventProto): Uint8Array {
  const type = eventProtoType();
  return type.encode(type.fromObject(event)).finish();
}

export function decodeEvent(bytes: Uint8Array): EventProto {
  const type = eventProtoType();
  return type.toObject(type.decode(bytes), { longs: Number, bytes: Uint8Array, defaults: false, oneofs: false }) as EventProto;
}

export type HParamValue = string | number | boolean;

function hparamsProtoType(): protobuf.Type {
  hparamsType ??= protobuf.parse(HPARAMS_SCHEMA, { keepCase: true }).root.lookupType('tensorboard.hparams.HParamsPluginData');
  return hparamsType;
}

/** A SessionStartInfo as the hparams plugin's content bytes. */
export function encodeSessionStartInfo(hparams: Record<string, HParamValue>, startTimeSecs: number): Uint8Array {
  const value = (v: HParamValue) => (typeof v === 'number' ? { number_value: v } : typeof v === 'boolean' ? { bool_value: v } : { string_value: v });
  const type = hparamsProtoType();
  return type.encode(type.fromObject({
    version: 0,
    session_start_info: { hparams: Object.fromEntries(Object.entries(hparams).map(([k, v]) => [k, value(v)])), start_time_secs: startTimeSecs },
  })).finish();
}

export function decodeSessionStartInfo(content: Uint8Array): { hparams: Record<string, HParamValue>; startTimeSecs: number } {
  const type = hparamsProtoType();
  const data = type.toObject(type.decode(content), { defaults: false, oneofs: false }) as {
    session_start_info?: { hparams?: Record<string, { number_value?: number; string_value?: string; bool_value?: boolean }>; start_time_secs?: number };
  };
  const info = data.session_start_info ?? {};
  const hparams = Object.fromEntries(Object.entries(info.hparams ?? {}).map(([k, v]) => [k, (v.number_value ?? v.string_value ?? v.bool_value) as HParamValue]));
  return { hparams, startTimeSecs: info.start_time_secs ?? 0 };
}

/**
 * The options a run is compared by in TensorBoard's HPARAMS dashboard: the model, the losses and
 * optimiser, the schedule, and the data and batch choices (not paths, cadences or the device).
 */
export const HPARAM_KEYS = [
  'preset', 'netG', 'netD', 'nLayersD', 'ngf', 'ndf', 'norm', 'initType', 'initGain', 'noDropout', 'upsample',
  'ganMode', 'dLoss', 'focalAlpha', 'focalGamma', 'ghmBins', 'ghmMomentum', 'lambdaA', 'lambdaB', 'lambdaIdentity', 'poolSize',
  'lr', 'beta1', 'beta2', 'lrPolicy', 'lrDecayIters', 'nEpochs', 'nEpochsDecay', 'batchSize', 'seed', 'precision',
  'dataset', 'preprocess', 'loadSize', 'cropSize', 'noFlip', 'maxDatasetSize',
] as const satisfies readonly (keyof TrainOptions)[];

/** Options that mean something only with another's value: left out otherwise, so they do not look like choices. */
const HPARAM_WHEN: Partial<Record<(typeof HPARAM_KEYS)[number], (o: Record<string, unknown>) => boolean>> = {
  focalAlpha: (o) => o.dLoss === 'focal', focalGamma: (o) => o.dLoss === 'focal',
  ghmBins: (o) => o.dLoss === 'ghmc', ghmMomentum: (o) => o.dLoss === 'ghmc',
  lrDecayIters: (o) => o.lrPolicy === 'step',
  nLayersD: (o) => o.netD === 'n_layers',
  // mnist2svhn is 32x32 whatever the folder preprocessing says
  preprocess: (o) => o.dataset === 'folder', loadSize: (o) => o.dataset === 'folder', cropSize: (o) => o.dataset === 'folder',
};

export function hparamsOf(options: unknown): Record<string, HParamValue> {
  const out: Record<string, HParamValue> = {};
  if (options === null || typeof options !== 'object') return out;
  for (const key of HPARAM_KEYS) {
    if (HPARAM_WHEN[key] && !HPARAM_WHEN[key]!(options as Record<string, unknown>)) continue;
    const v = (options as Record<string, unknown>)[key];
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) out[key] = v;
  }
  return out;
}

/** The event that gives a run its hyperparameters in TensorBoard, or null when the options hold none. */
function hparamsEvent(options: unknown, wallTime: number, step: number): EventProto | null {
  const hparams = hparamsOf(options);
  if (Object.keys(hparams).length === 0) return null;
  const content = encodeSessionStartInfo(hparams, wallTime);
  return { wall_time: wallTime, step, summary: { value: [{ tag: HPARAMS_TAG, metadata: { plugin_data: { plugin_name: 'hparams', content } } }] } };
}

/** TFRecord's masked CRC: rotate right by 15 bits, add a constant (so CRCs of CRCs stay apart). */
export function maskedCrc32c(bytes: Uint8Array): number {
  const crc = crc32c(bytes);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: length, masked CRC of the length, data, masked CRC of the data. */
export function tfRecord(data: Uint8Array): Buffer {
  const out = Buffer.alloc(data.length + 16);
  out.writeBigUInt64LE(BigInt(data.length), 0);
  out.writeUInt32LE(maskedCrc32c(out.subarray(0, 8)), 8);
  out.set(data, 12);
  out.writeUInt32LE(maskedCrc32c(data), data.length + 12);
  return out;
}

/** The records of a TFRecord file, each checked against its CRCs; `source` names the file in errors. */
export function readTfRecords(bytes: Uint8Array, source: string): Uint8Array[] {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const records: Uint8Array[] = [];
  for (let at = 0; at < buf.length;) {
    if (buf.length - at < 12) throw new Error(`${source}: a record header at byte ${at} is cut short (${buf.length - at} of 12 bytes)`);
    const length = Number(buf.readBigUInt64LE(at));
    if (buf.readUInt32LE(at + 8) !== maskedCrc32c(buf.subarray(at, at + 8))) throw new Error(`${source}: the length CRC of the record at byte ${at} does not match`);
    if (buf.length - at - 16 < length) throw new Error(`${source}: the record at byte ${at} is cut short (${length} bytes announced)`);
    const data = buf.subarray(at + 12, at + 12 + length);
    if (buf.readUInt32LE(at + 12 + length) !== maskedCrc32c(data)) throw new Error(`${source}: the data CRC of the record at byte ${at} does not match`);
    records.push(data);
    at += 16 + length;
  }
  return records;
}

/** Width and height from a PNG's IHDR chunk, or undefined for anything else. */
function pngSize(bytes: Uint8Array): { width: number; height: number } | undefined {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (bytes.length < 24 || signature.some((b, i) => bytes[i] !== b)) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** The summary values a log record becomes (none for start, checkpoint, export and end records). */
export function summaryValues(record: LogRecord, runDir: string): SummaryValue[] {
  switch (record.type) {
    case 'step':
      return [
        ...Object.entries(record.losses).map(([name, value]) => ({ tag: `loss/${name}`, simple_value: value })),
        { tag: 'train/lr', simple_value: record.lr },
        { tag: 'train/images_per_sec', simple_value: record.imagesPerSec },
      ];
    case 'epoch':
      return [{ tag: 'train/epoch', simple_value: record.epoch }, ...(record.imagesPerSec === undefined ? [] : [{ tag: 'train/epoch_images_per_sec', simple_value: record.imagesPerSec }])];
    case 'eval':
      return Object.entries(record.metrics)
        .filter((e): e is [string, number] => typeof e[1] === 'number' && Number.isFinite(e[1]))
        .map(([name, value]) => ({ tag: `eval/${name}`, simple_value: value }));
    case 'sample': {
      const bytes = fs.readFileSync(path.join(runDir, record.file));
      const size = pngSize(bytes);
      if (!size) throw new Error(`TensorBoard: sample ${record.file} is not a PNG file`);
      // colorspace 3: RGB, as the grids are written
      return [{ tag: 'samples', image: { ...size, colorspace: 3, encoded_image_string: bytes } }];
    }
    default:
      return [];
  }
}

/**
 * The event file name: TensorBoard needs "tfevents" in it and reads a directory's files in name
 * order. `tail` tells the writers apart: a live session's process, or the file made from the log.
 */
export function eventFileName(now = Date.now(), tail = `cgtrain.${process.pid}`): string {
  return `events.out.tfevents.${String(Math.floor(now / 1000)).padStart(10, '0')}.${os.hostname()}.${tail}`;
}

/** The SessionLog START of a session that resumes after `images`: TensorBoard drops later steps of earlier sessions. */
function resumeEvent(wallTime: number, images: number): EventProto {
  return { wall_time: wallTime, step: images + 1, session_log: { status: SESSION_START, msg: `cgtrain resumed after ${images} images` } };
}

/**
 * Appends a session's events to a new event file in the run directory. Appends are synchronous,
 * as log.jsonl's: what TensorBoard shows is on disk when the step that made it returns.
 */
export class TensorBoardWriter {
  readonly file: string;
  private fd: number | null;
  /** images trained on so far: the step of every event */
  private step: number;

  /**
   * `startStep`: the images the run had trained on when this session began (0 for a new run);
   * `options`: the session's training options, whose hyperparameters (hparamsOf) go first.
   */
  constructor(readonly runDir: string, startStep: number, resumed: boolean, options?: unknown) {
    // A second session of one process within the same second (an API caller resuming at once)
    // gets a suffix, which sorts after the first file's name.
    const name = eventFileName();
    let file = path.join(runDir, name);
    for (let n = 1; fs.existsSync(file); n++) file = path.join(runDir, `${name}.${n}`);
    this.file = file;
    this.step = startStep;
    this.fd = fs.openSync(this.file, 'wx');
    this.append({ wall_time: Date.now() / 1000, file_version: EVENT_FILE_VERSION });
    // TensorBoard drops the events at and after a START's step: what the checkpoint holds (up to
    // startStep) stays, what an interrupted session logged past it goes.
    if (resumed) this.append(resumeEvent(Date.now() / 1000, startStep));
    const hparams = hparamsEvent(options, Date.now() / 1000, startStep);
    if (hparams) this.append(hparams);
  }

  write(record: LogRecord): void {
    if (record.type === 'step') this.step = record.images;
    const value = summaryValues(record, this.runDir);
    if (value.length > 0) this.append({ wall_time: Date.now() / 1000, step: this.step, summary: { value } });
  }

  close(): void {
    if (this.fd === null) return;
    fs.closeSync(this.fd);
    this.fd = null;
  }

  private append(event: EventProto): void {
    if (this.fd === null) throw new Error(`TensorBoard: ${this.file} is closed`);
    fs.writeSync(this.fd, tfRecord(encodeEvent(event)));
  }
}

/** The file writeEventsFromLog writes: named after the run's first record, marked as made from the log. */
const FROM_LOG_TAIL = 'cgtrain-log';

export interface EventsFromLog {
  file: string;
  /** events written: the file version, the STARTs of resumed sessions, one per record with values */
  events: number;
  scalarPoints: number;
  images: number;
  /** training sessions in the log (start records) */
  sessions: number;
  /** what was skipped, and why: lines that are not JSON, samples whose file is gone or not a PNG */
  skipped: string[];
}

/**
 * Writes the TensorBoard events of a run's log.jsonl to one event file in the run directory, for
 * a run trained without --tensorboard: the events a live writer would have written in its
 * sessions, in one file, each at the wall time its record (or the record before it) carries.
 * A run that has live event files already is refused: TensorBoard would show every point twice.
 * An earlier file made from the log is replaced; the new one is written to a temp file first.
 */
export function writeEventsFromLog(runDir: string): EventsFromLog {
  const files = fs.readdirSync(runDir).filter((f) => f.includes('tfevents'));
  const live = files.filter((f) => !f.endsWith(`.${FROM_LOG_TAIL}`));
  if (live.length > 0) {
    throw new Error(`${runDir} already has TensorBoard event files from training with --tensorboard (${live.join(', ')}): ` +
      'TensorBoard shows the run from them; delete them first to write one from log.jsonl instead');
  }
  const logFile = path.join(runDir, LOG_FILE);
  const text = fs.readFileSync(logFile, 'utf8');
  const skipped: string[] = [];
  const events: EventProto[] = [];
  let step = 0;
  // a log whose first records carry no time: the log's own modification time until one does
  let wallTime = fs.statSync(logFile).mtimeMs / 1000;
  let sessions = 0;
  /** a resumed session of an older log (no `images` in its start record): START at its first step */
  let startAtFirstStep = false;
  let scalarPoints = 0;
  let images = 0;
  forEachLogLine(text, (value, line) => {
    if (value === null || typeof value !== 'object') return;
    const record = value as LogRecord;
    const ms = 'time' in record ? timeMs(record.time) : undefined;
    if (ms !== undefined) wallTime = ms / 1000;
    if (record.type === 'start') {
      const resumedAfter = typeof record.images === 'number' ? record.images : undefined;
      if (sessions === 0) events.push({ wall_time: wallTime, file_version: EVENT_FILE_VERSION });
      else if (resumedAfter !== undefined) events.push(resumeEvent(wallTime, resumedAfter));
      else startAtFirstStep = true;
      const hparams = hparamsEvent(record.options, wallTime, resumedAfter ?? step);
      if (hparams) events.push(hparams);
      sessions++;
      return;
    }
    if (record.type === 'step' && typeof record.images === 'number') {
      if (startAtFirstStep) events.push(resumeEvent(wallTime, record.images - 1));
      startAtFirstStep = false;
      step = record.images;
    }
    let summary: SummaryValue[];
    try {
      summary = summaryValues(record, runDir);
    } catch (err) {
      skipped.push(`${LOG_FILE} line ${line}: ${(err as Error).message.replace(/^TensorBoard: /, '')}`);
      return;
    }
    if (summary.length === 0) return;
    for (const v of summary) {
      if (v.image) images++;
      else scalarPoints++;
    }
    events.push({ wall_time: wallTime, step, summary: { value: summary } });
  }, (line) => skipped.push(`${LOG_FILE} line ${line}: not JSON`));
  if (events.length === 0) throw new Error(`${logFile} has no records of a training run`);
  if (sessions === 0) events.unshift({ wall_time: events[0].wall_time, file_version: EVENT_FILE_VERSION });
  const file = path.join(runDir, eventFileName(events[0].wall_time * 1000, FROM_LOG_TAIL));
  writeFileAtomicSync(file, Buffer.concat(events.map((e) => tfRecord(encodeEvent(e)))));
  for (const old of files) if (path.join(runDir, old) !== file) fs.rmSync(path.join(runDir, old), { force: true });
  return { file, events: events.length, scalarPoints, images, sessions, skipped };
}
