import type { Attrs, AttrValue } from './proto.ts';
import type { Tensor } from '../../../shared/tensor/tensor.ts';

/**
 * One operator in tabgrid's normalised graph form: attributes are typed plain
 * values, optional inputs that are absent are '' (as in ONNX).
 */
export interface IrNode {
  op: string;
  name: string;
  inputs: string[];
  outputs: string[];
  attrs: Attrs;
}

export function attrInt(n: IrNode, key: string, dflt: number): number {
  const a = n.attrs[key];
  if (!a) return dflt;
  if (a.kind !== 'int') throw new Error(`attribute ${key} of ${n.op} should be an int`);
  return a.value;
}

export function attrFloat(n: IrNode, key: string, dflt: number): number {
  const a = n.attrs[key];
  if (!a) return dflt;
  if (a.kind !== 'float') throw new Error(`attribute ${key} of ${n.op} should be a float`);
  return a.value;
}

export function attrInts(n: IrNode, key: string): number[] | null {
  const a = n.attrs[key];
  if (!a) return null;
  if (a.kind !== 'ints') throw new Error(`attribute ${key} of ${n.op} should be a list of ints`);
  return a.value;
}

export function attrString(n: IrNode, key: string, dflt: string): string {
  const a = n.attrs[key];
  if (!a) return dflt;
  if (a.kind !== 'string') throw new Error(`attribute ${key} of ${n.op} should be a string`);
  return a.value;
}

export function attrTensor(n: IrNode, key: string): Tensor | null {
  const a: AttrValue | undefined = n.attrs[key];
  if (!a) return null;
  if (a.kind !== 'tensor') throw new Error(`attribute ${key} of ${n.op} should be a tensor`);
  return a.value;
}
