/**
 * Writes small ONNX models as protobuf bytes: enough for the device self-test
 * (a model with known outputs built in code, so no file has to be fetched
 * before the first real shard) and for test fixtures. Covers float32 graphs of
 * attribute-light operators; not a general ONNX tool. The bytes come from the
 * one ONNX encoder, shared/onnx/proto.ts.
 */
import { AttributeType, type AttributeProto, encodeModelProto, type ValueInfoProto } from '../../shared/onnx/proto.ts';

const FLOAT = 1;

export interface OnnxValue { name: string; dims: (number | string)[] }
export interface OnnxInitializer { name: string; dims: number[]; values: Float32Array }
export interface OnnxNode {
  op: string;
  inputs: string[];
  outputs: string[];
  attrs?: Record<string, number | number[]>;
}
export interface OnnxGraph {
  inputs: OnnxValue[];
  outputs: OnnxValue[];
  initializers?: OnnxInitializer[];
  nodes: OnnxNode[];
  opset?: number;
}

function valueInfo(v: OnnxValue): ValueInfoProto {
  const dim = v.dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d }));
  return { name: v.name, type: { tensorType: { elemType: FLOAT, shape: { dim } } } };
}

function attribute(name: string, value: number | number[]): AttributeProto {
  if (Array.isArray(value)) return { name, ints: value, type: AttributeType.INTS };
  return Number.isInteger(value) ? { name, i: value, type: AttributeType.INT } : { name, f: value, type: AttributeType.FLOAT };
}

export function writeOnnxModel(g: OnnxGraph): Uint8Array {
  return encodeModelProto({
    irVersion: 8,
    producerName: 'tabgrid',
    graph: {
      node: g.nodes.map((n, i) => ({
        input: n.inputs,
        output: n.outputs,
        name: `n${i}_${n.op}`,
        opType: n.op,
        attribute: Object.entries(n.attrs ?? {}).map(([k, v]) => attribute(k, v)),
      })),
      name: 'g',
      initializer: (g.initializers ?? []).map((t) => ({
        dims: t.dims,
        dataType: FLOAT,
        name: t.name,
        rawData: new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength),
      })),
      input: g.inputs.map(valueInfo),
      output: g.outputs.map(valueInfo),
    },
    opsetImport: [{ domain: '', version: g.opset ?? 17 }],
  });
}
