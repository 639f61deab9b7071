/**
 * Writes small ONNX models as protobuf bytes, without any dependency: enough
 * for the device self-test (a model with known outputs built in code, so no
 * file has to be fetched before the first real shard) and for test fixtures.
 * Covers float32 graphs of attribute-light operators; not a general ONNX tool.
 */

class ProtoWriter {
  private chunks: number[] = [];

  private varint(v: number | bigint) {
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) { this.chunks.push(Number(x & 0x7fn) | 0x80); x >>= 7n; }
    this.chunks.push(Number(x));
  }

  private tag(field: number, wire: number) { this.varint((field << 3) | wire); }

  int(field: number, v: number | bigint) { this.tag(field, 0); this.varint(v); return this; }
  bytes(field: number, b: Uint8Array) { this.tag(field, 2); this.varint(b.length); for (const x of b) this.chunks.push(x); return this; }
  string(field: number, s: string) { return this.bytes(field, new TextEncoder().encode(s)); }
  message(field: number, w: ProtoWriter) { return this.bytes(field, w.finish()); }
  float(field: number, f: number) {
    this.tag(field, 5);
    const b = new Uint8Array(4); new DataView(b.buffer).setFloat32(0, f, true);
    for (const x of b) this.chunks.push(x);
    return this;
  }
  finish() { return Uint8Array.from(this.chunks); }
}

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

function valueInfo(v: OnnxValue): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of v.dims) {
    shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
  }
  const tensorType = new ProtoWriter().int(1, FLOAT).message(2, shape);
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}

function attribute(name: string, value: number | number[]): ProtoWriter {
  const a = new ProtoWriter().string(1, name);
  if (Array.isArray(value)) { for (const x of value) a.int(8, x); return a.int(20, 7); } // INTS
  return Number.isInteger(value) ? a.int(3, value).int(20, 2) : a.float(2, value).int(20, 1); // INT / FLOAT
}

export function writeOnnxModel(g: OnnxGraph): Uint8Array {
  const graph = new ProtoWriter();
  g.nodes.forEach((n, i) => {
    const node = new ProtoWriter();
    for (const x of n.inputs) node.string(1, x);
    for (const x of n.outputs) node.string(2, x);
    node.string(3, `n${i}_${n.op}`).string(4, n.op);
    for (const [k, v] of Object.entries(n.attrs ?? {})) node.message(5, attribute(k, v));
    graph.message(1, node);
  });
  graph.string(2, 'g');
  for (const t of g.initializers ?? []) {
    const tp = new ProtoWriter();
    for (const d of t.dims) tp.int(1, d);
    tp.int(2, FLOAT).string(8, t.name).bytes(9, new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength));
    graph.message(5, tp);
  }
  for (const v of g.inputs) graph.message(11, valueInfo(v));
  for (const v of g.outputs) graph.message(12, valueInfo(v));
  return new ProtoWriter()
    .int(1, 8) // ir_version
    .string(2, 'tabgrid')
    .message(7, graph)
    .message(8, new ProtoWriter().string(1, '').int(2, g.opset ?? 17))
    .finish();
}
