/**
 * The ONNX protobuf schema (src/export/onnx.proto), loaded once with protobufjs. Field names keep
 * the schema's snake_case so the objects below read like the ONNX specification.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as protobuf from 'protobufjs';
import { packageRoot } from '../backend/device';

export const ONNX_OPSET = 17;
/** IR version 8 is the one ONNX 1.12+ writes for opset 17. */
export const ONNX_IR_VERSION = 8;

export enum TensorDataType {
  FLOAT = 1,
  INT64 = 7,
}

export enum AttributeType {
  FLOAT = 1,
  INT = 2,
  STRING = 3,
  FLOATS = 6,
  INTS = 7,
}

export interface DimensionProto {
  dim_value?: number;
  dim_param?: string;
}

export interface ValueInfoProto {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: DimensionProto[] } } };
  doc_string?: string;
}

export interface TensorProto {
  name: string;
  dims: number[];
  data_type: number;
  raw_data?: Uint8Array;
  float_data?: number[];
  int64_data?: number[];
}

export interface AttributeProto {
  name: string;
  type: AttributeType;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
}

export interface NodeProto {
  name: string;
  op_type: string;
  input: string[];
  output: string[];
  attribute: AttributeProto[];
  domain?: string;
}

export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  doc_string?: string;
}

export interface ModelProto {
  ir_version: number;
  opset_import: { domain: string; version: number }[];
  producer_name: string;
  producer_version: string;
  doc_string?: string;
  graph: GraphProto;
  metadata_props: { key: string; value: string }[];
}

/** Where onnx.proto lives: next to this file when copied there, else in the package's src/. */
export function onnxProtoPath(): string {
  const beside = path.join(__dirname, 'onnx.proto');
  if (fs.existsSync(beside)) return beside;
  const inSource = path.join(packageRoot(), 'src', 'export', 'onnx.proto');
  if (fs.existsSync(inSource)) return inSource;
  throw new Error(`cgtrain: the ONNX schema is missing (looked for ${beside} and ${inSource})`);
}

let modelType: protobuf.Type | undefined;

export function modelProtoType(): protobuf.Type {
  if (!modelType) {
    const root = new protobuf.Root().loadSync(onnxProtoPath(), { keepCase: true });
    modelType = root.lookupType('onnx.ModelProto');
  }
  return modelType;
}

export function encodeModel(model: ModelProto): Uint8Array {
  const type = modelProtoType();
  const problem = type.verify(model);
  if (problem) throw new Error(`cgtrain: internal error: the ONNX model does not fit the schema: ${problem}`);
  return type.encode(type.fromObject(model)).finish();
}

/**
 * Parses ONNX bytes. `source` names the file in errors. Besides protobuf's own checks, a model must
 * have an IR version, an opset and a graph with nodes, which rejects most non-ONNX files that
 * happen to parse as protobuf.
 */
export function decodeModel(bytes: Uint8Array, source: string): ModelProto {
  const type = modelProtoType();
  let message: protobuf.Message;
  try {
    message = type.decode(bytes);
  } catch (err) {
    throw new Error(`cgtrain: ${source} is not a valid ONNX model (truncated or not protobuf: ${(err as Error).message})`);
  }
  const model = type.toObject(message, { longs: Number, defaults: true, arrays: true }) as ModelProto;
  const nodes = model.graph?.node?.length ?? 0;
  if (!(model.ir_version > 0) || model.opset_import.length === 0 || nodes === 0) {
    throw new Error(
      `cgtrain: ${source} is not an ONNX model (ir_version ${model.ir_version}, ${model.opset_import.length} opsets, ${nodes} graph nodes; ` +
        'expected a file written by `cgtrain export` or another ONNX exporter)',
    );
  }
  return model;
}

/** metadata_props as a plain object. */
export function metadataOf(model: ModelProto): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { key, value } of model.metadata_props) out[key] = value;
  return out;
}
