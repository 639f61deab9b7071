/**
 * Accumulates nodes and constant initializers for a generated graph, handing out
 * unique tensor names. Constants are deduplicated by value so repeated helpers
 * (a scalar 1.0, an axes list) cost one initializer.
 */
import type { Tensor } from '../../../shared/tensor/tensor.ts';
import type { IrNode } from './ir.ts';
import { encodeModel, float32Tensor, int64Tensor, tensorToProto, valueInfo, writeAttr } from './proto.ts';
import type { Attrs, ModelProto, NodeProto } from './proto.ts';

export class GraphBuilder {
  readonly nodes: IrNode[] = [];
  readonly initializers = new Map<string, Tensor>();
  private readonly used = new Set<string>();
  private readonly constByValue = new Map<string, string>();
  private counter = 0;

  constructor(reserved: Iterable<string> = []) {
    for (const r of reserved) this.used.add(r);
  }

  reserve(name: string): void {
    this.used.add(name);
  }

  isUsed(name: string): boolean {
    return this.used.has(name);
  }

  /** A name not yet used in the graph, derived from `hint`. */
  fresh(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_./:-]/g, '_') || 't';
    if (!this.used.has(base)) { this.used.add(base); return base; }
    for (;;) {
      const name = `${base}__${++this.counter}`;
      if (!this.used.has(name)) { this.used.add(name); return name; }
    }
  }

  /** Appends a node; `outputs` are exact names (reserved here) or a count of fresh ones. */
  add(op: string, inputs: string[], attrs: Attrs = {}, outputs: string[] | number = 1, hint?: string): string[] {
    const outs = typeof outputs === 'number'
      ? Array.from({ length: outputs }, () => this.fresh(`${hint ?? op}_out`))
      : outputs.map((o) => { this.used.add(o); return o; });
    this.nodes.push({ op, name: this.fresh(`${hint ?? op}_node`), inputs: [...inputs], outputs: outs, attrs });
    return outs;
  }

  /** Appends a single-output node and returns its output. */
  op(op: string, inputs: string[], attrs: Attrs = {}, hint?: string): string {
    return this.add(op, inputs, attrs, 1, hint)[0]!;
  }

  /** Appends a node whose single output has an exact name. */
  opNamed(op: string, inputs: string[], output: string, attrs: Attrs = {}): string {
    return this.add(op, inputs, attrs, [output])[0]!;
  }

  constant(t: Tensor, hint = 'const'): string {
    // small constants (scalars, axes, shapes) repeat a lot; big ones are unique masks/kernels
    const key = t.data.byteLength <= 256 ? `${t.dtype}|${t.dims.join(',')}|${t.data.join(',')}` : null;
    const hit = key ? this.constByValue.get(key) : undefined;
    if (hit) return hit;
    const name = this.fresh(hint);
    this.initializers.set(name, t);
    if (key) this.constByValue.set(key, name);
    return name;
  }

  /** A float32 constant; a plain number gives a scalar (rank 0). */
  f32(values: number | ArrayLike<number>, dims?: number[]): string {
    if (typeof values === 'number') return this.constant(float32Tensor(dims ?? [], [values]), 'f32');
    return this.constant(float32Tensor(dims ?? [values.length], values), 'f32');
  }

  /** An int64 constant, 1-D unless dims say otherwise (shapes, axes, indices). */
  i64(values: ArrayLike<number>, dims?: number[]): string {
    return this.constant(int64Tensor(dims ?? [values.length], values), 'i64');
  }

  /** Registers a named initializer verbatim (forward-graph constants keep their names). */
  namedInitializer(name: string, t: Tensor): void {
    this.used.add(name);
    this.initializers.set(name, t);
  }
}

export function irToNodeProto(n: IrNode): NodeProto {
  return {
    opType: n.op,
    name: n.name,
    domain: '',
    input: [...n.inputs],
    output: [...n.outputs],
    attribute: Object.entries(n.attrs).map(([k, v]) => writeAttr(k, v)),
  };
}

export interface GraphIo {
  name: string;
  dtype: Parameters<typeof valueInfo>[1];
  dims: Parameters<typeof valueInfo>[2];
}

/** Serializes the builder's nodes and initializers as a single-graph model. */
export function toModelBytes(
  b: GraphBuilder, io: { inputs: GraphIo[]; outputs: GraphIo[] }, meta: { opset: number; name: string; doc?: string },
): Uint8Array {
  const model: ModelProto = {
    irVersion: 8,
    producerName: 'tabgrid',
    ...(meta.doc ? { docString: meta.doc } : {}),
    opsetImport: [{ domain: '', version: meta.opset }],
    graph: {
      name: meta.name,
      node: b.nodes.map(irToNodeProto),
      initializer: [...b.initializers].map(([name, t]) => tensorToProto(name, t)),
      input: io.inputs.map((i) => valueInfo(i.name, i.dtype, i.dims)),
      output: io.outputs.map((o) => valueInfo(o.name, o.dtype, o.dims)),
    },
  };
  return encodeModel(model);
}
