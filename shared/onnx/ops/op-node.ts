/**
 * What an op's rules in the registry see of one node: its inputs as shapes
 * (symbolic dims allowed) with the contents of small constant tensors, its
 * attributes through a reader that hides whether they came from an ONNX
 * AttributeProto (the FLOP estimate, the model checks) or from the autodiff's
 * normalised IR, and the model's opset.
 */
import { type Dim, type Shape } from '../dims.ts';

export interface Val {
  dims: Shape;
  /** The contents, for small numeric tensors (shape arithmetic needs them). */
  values?: number[];
  /** Whether the values are floating point (integer Div truncates). */
  float?: boolean;
}

/** An op's shapes cannot be followed; `why` names the input or attribute at fault. */
export class ShapeError extends Error {
  override name = 'ShapeError';
}

export const fail = (why: string): never => { throw new ShapeError(why); };

/** Attribute access, whatever the node's form; absent attributes are undefined. */
export interface AttrReader {
  int(name: string): number | undefined;
  ints(name: string): number[] | undefined;
  float(name: string): number | undefined;
  floats(name: string): number[] | undefined;
  str(name: string): string | undefined;
  /** A tensor attribute (Constant's value, ConstantOfShape's fill) as a value. */
  tensor(name: string): Val | undefined;
  has(name: string): boolean;
}

export class OpNode {
  constructor(
    readonly op: string,
    readonly inputs: ReadonlyArray<Val | undefined>,
    readonly nOut: number,
    readonly opset: number,
    readonly attrs: AttrReader,
    /** A new symbol for a dim that cannot be computed statically; absent where every dim must be known. */
    private readonly freshDim?: (hint: string) => Dim,
  ) {}

  in(i: number): Val {
    return this.inputs[i] ?? fail(`input ${i} unknown`);
  }
  has(i: number): boolean {
    return this.inputs[i] !== undefined;
  }
  /** Values of an input that must be a small constant (axes, shape, pads...). */
  values(i: number): number[] {
    return this.in(i).values ?? fail(`input ${i} is not constant`);
  }
  int(name: string, def: number): number {
    return this.attrs.int(name) ?? def;
  }
  /** A list attribute; null when absent or empty. */
  ints(name: string): number[] | null {
    const v = this.attrs.ints(name);
    return v && v.length > 0 ? v : null;
  }
  float(name: string, def: number): number {
    return this.attrs.float(name) ?? def;
  }
  str(name: string, def: string): string {
    const s = this.attrs.str(name);
    return s && s.length > 0 ? s : def;
  }
  fresh(hint: string): Dim {
    return this.freshDim ? this.freshDim(hint) : fail(`${hint} cannot be computed statically`);
  }
}
