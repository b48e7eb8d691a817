/**
 * Running an ONNX generator with onnxruntime-node. The file is parsed with our schema first, so a
 * non-ONNX or truncated file fails with a message naming it instead of an onnxruntime status code,
 * and the metadata written by `cgtrain export` is available without a second parser.
 */
import * as fs from 'fs';
import type * as Ort from 'onnxruntime-node';

import { decodeModel, metadataOf, type ModelProto } from './proto';

/** onnxruntime-node is ~290 MB of native code: load it on first use, not whenever the CLI starts. */
export function ort(): typeof Ort {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return require('onnxruntime-node') as typeof Ort;
}

export interface NchwArray {
  data: Float32Array;
  shape: [number, number, number, number];
}

export interface OnnxModelFile {
  file: string;
  model: ModelProto;
  metadata: Record<string, string>;
  /** the first graph input's dimensions: a number when fixed, the dim_param name when dynamic */
  inputDims: (number | string)[];
  inputName: string;
  outputName: string;
}

/** Reads and parses an ONNX file; throws an error naming the file when it is missing or not ONNX. */
export function readOnnxModel(file: string): OnnxModelFile {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    throw new Error(`cgtrain: cannot read the ONNX model ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const model = decodeModel(bytes, file);
  const input = model.graph.input.find((i) => !model.graph.initializer.some((t) => t.name === i.name));
  const output = model.graph.output[0];
  if (!input || !output) throw new Error(`cgtrain: ONNX model ${file} has no graph input or output`);
  const inputDims = input.type.tensor_type.shape.dim.map((d) => (d.dim_param ? d.dim_param : Number(d.dim_value ?? 0)));
  return { file, model, metadata: metadataOf(model), inputDims, inputName: input.name, outputName: output.name };
}

export class OnnxGeneratorSession {
  private constructor(
    readonly info: OnnxModelFile,
    private readonly session: Ort.InferenceSession,
  ) {}

  static async open(file: string, options: Ort.InferenceSession.SessionOptions = {}): Promise<OnnxGeneratorSession> {
    const info = readOnnxModel(file);
    let session: Ort.InferenceSession;
    try {
      session = await ort().InferenceSession.create(fs.readFileSync(file), { executionProviders: ['cpu'], ...options });
    } catch (err) {
      throw new Error(`cgtrain: onnxruntime could not load ${file}: ${(err as Error).message}`);
    }
    return new OnnxGeneratorSession(info, session);
  }

  /** Runs the generator on an NCHW float32 batch and returns its NCHW output. */
  async run(input: NchwArray): Promise<NchwArray> {
    const feed = { [this.info.inputName]: new (ort().Tensor)('float32', input.data, input.shape) };
    let result: Ort.InferenceSession.ReturnType;
    try {
      result = await this.session.run(feed);
    } catch (err) {
      throw new Error(`cgtrain: running ${this.info.file} on input [${input.shape.join(', ')}] failed: ${(err as Error).message}`);
    }
    const out = result[this.info.outputName];
    const dims = out.dims.map(Number);
    if (dims.length !== 4) throw new Error(`cgtrain: ${this.info.file} returned a rank-${dims.length} output, expected NCHW`);
    return { data: out.data as Float32Array, shape: dims as NchwArray['shape'] };
  }

  async close(): Promise<void> {
    await this.session.release();
  }
}
