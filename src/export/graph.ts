/**
 * A small builder for ONNX graphs: named inputs and outputs, float/int64 initializers, nodes with
 * typed attributes, and unique value names. It produces the ModelProto object of ./proto; the
 * layer exporters (./layers) and the generator walker (./generator) only ever talk to it.
 */
import * as os from 'os';
import {
  AttributeType,
  ONNX_IR_VERSION,
  ONNX_OPSET,
  TensorDataType,
  type AttributeProto,
  type DimensionProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './proto';

/** An attribute value tagged with its ONNX type, since a JavaScript number can be INT or FLOAT. */
export type Attr =
  | { type: AttributeType.INT; value: number }
  | { type: AttributeType.INTS; value: number[] }
  | { type: AttributeType.FLOAT; value: number }
  | { type: AttributeType.FLOATS; value: number[] }
  | { type: AttributeType.STRING; value: string };

export const attr = {
  int: (value: number): Attr => ({ type: AttributeType.INT, value }),
  ints: (value: number[]): Attr => ({ type: AttributeType.INTS, value }),
  float: (value: number): Attr => ({ type: AttributeType.FLOAT, value }),
  floats: (value: number[]): Attr => ({ type: AttributeType.FLOATS, value }),
  string: (value: string): Attr => ({ type: AttributeType.STRING, value }),
};

/** A dimension: a fixed size, or a name that makes it dynamic (dim_param). */
export type Dim = number | string;

export interface ModelInfo {
  producerVersion: string;
  docString?: string;
  metadata: Record<string, string>;
}

function toAttribute(name: string, a: Attr): AttributeProto {
  switch (a.type) {
    case AttributeType.INT:
      return { name, type: a.type, i: a.value };
    case AttributeType.INTS:
      return { name, type: a.type, ints: a.value };
    case AttributeType.FLOAT:
      return { name, type: a.type, f: a.value };
    case AttributeType.FLOATS:
      return { name, type: a.type, floats: a.value };
    case AttributeType.STRING:
      return { name, type: a.type, s: Buffer.from(a.value, 'utf8') };
  }
}

function valueInfo(name: string, dims: Dim[]): ValueInfoProto {
  const dim: DimensionProto[] = dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d }));
  return { name, type: { tensor_type: { elem_type: TensorDataType.FLOAT, shape: { dim } } } };
}

/** Little-endian bytes of a typed array (ONNX raw_data is little-endian on every machine). */
function littleEndianBytes(values: Float32Array | BigInt64Array): Uint8Array {
  if (os.endianness() === 'LE') return new Uint8Array(values.buffer, values.byteOffset, values.byteLength).slice();
  const out = new DataView(new ArrayBuffer(values.byteLength));
  values.forEach((v: number | bigint, i: number) => {
    if (typeof v === 'bigint') out.setBigInt64(i * 8, v, true);
    else out.setFloat32(i * 4, v, true);
  });
  return new Uint8Array(out.buffer);
}

function checkShape(name: string, dims: number[], length: number): void {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (!dims.every((d) => Number.isInteger(d) && d >= 0) || expected !== length) {
    throw new Error(`cgtrain export: initializer ${name}: shape [${dims.join(', ')}] needs ${expected} values, got ${length}`);
  }
}

export class OnnxGraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly usedNames = new Set<string>();
  private readonly opCounts = new Map<string, number>();

  constructor(readonly graphName: string) {}

  /** `base` if unused, else `base_1`, `base_2`, ...: ONNX requires every value name to be unique. */
  uniqueName(base: string): string {
    let name = base;
    for (let i = 1; this.usedNames.has(name); i++) name = `${base}_${i}`;
    this.usedNames.add(name);
    return name;
  }

  input(name: string, dims: Dim[]): string {
    const unique = this.uniqueName(name);
    if (unique !== name) throw new Error(`cgtrain export: graph input name '${name}' is already used`);
    this.inputs.push(valueInfo(name, dims));
    return name;
  }

  /** Declares `value` as a graph output named `name` (an Identity node renames it when they differ). */
  output(value: string, name: string, dims: Dim[]): string {
    if (value !== name) this.node('Identity', [value], {}, name);
    this.outputs.push(valueInfo(name, dims));
    return name;
  }

  initializer(name: string, dims: number[], values: Float32Array): string {
    checkShape(name, dims, values.length);
    const unique = this.uniqueName(name);
    this.initializers.push({ name: unique, dims, data_type: TensorDataType.FLOAT, raw_data: littleEndianBytes(values) });
    return unique;
  }

  int64Initializer(name: string, dims: number[], values: number[]): string {
    checkShape(name, dims, values.length);
    const unique = this.uniqueName(name);
    const data = BigInt64Array.from(values.map((v) => BigInt(v)));
    this.initializers.push({ name: unique, dims, data_type: TensorDataType.INT64, raw_data: littleEndianBytes(data) });
    return unique;
  }

  /**
   * Adds a node with one output and returns the output's name. `outputName` defaults to a fresh
   * name derived from the op type; an empty string in `inputs` marks an omitted optional input.
   */
  node(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, outputName?: string): string {
    const count = (this.opCounts.get(opType) ?? 0) + 1;
    this.opCounts.set(opType, count);
    const output = this.uniqueName(outputName ?? `${opType.toLowerCase()}_${count}`);
    this.nodes.push({
      name: `${opType}_${count}`,
      op_type: opType,
      input: inputs,
      output: [output],
      attribute: Object.entries(attrs).map(([name, a]) => toAttribute(name, a)),
    });
    return output;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  toModel(info: ModelInfo): ModelProto {
    if (this.inputs.length === 0 || this.outputs.length === 0) {
      throw new Error(`cgtrain export: graph ${this.graphName} needs at least one input and one output`);
    }
    return {
      ir_version: ONNX_IR_VERSION,
      opset_import: [{ domain: '', version: ONNX_OPSET }],
      producer_name: 'cgtrain',
      producer_version: info.producerVersion,
      doc_string: info.docString ?? '',
      graph: {
        name: this.graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      },
      metadata_props: Object.entries(info.metadata).map(([key, value]) => ({ key, value })),
    };
  }
}
