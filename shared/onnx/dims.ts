/**
 * Shape primitives shared by every shape pass over ONNX graphs (the FLOP
 * estimate in flops.ts, the autodiff's inference in
 * server/training/autodiff/infer-shapes.ts): symbolic dimension arithmetic,
 * numpy broadcasting, axis normalisation and the output size of a
 * convolution or pooling window.
 *
 * A dim is a number or a canonical product string such as "N" or "784*N"
 * (coefficient first, symbols sorted), so equal products compare equal as
 * strings.
 */

/** A dim of a value's shape: a number, or a symbolic name (product). */
export type Dim = number | string;
export type Shape = Dim[];

interface Product { coef: number; syms: string[] }

function parse(d: Dim): Product {
  if (typeof d === 'number') return { coef: d, syms: [] };
  let coef = 1;
  const syms: string[] = [];
  for (const part of d.split('*')) {
    if (/^\d+$/.test(part)) coef *= Number(part);
    else syms.push(part);
  }
  return { coef, syms };
}

function format(p: Product): Dim {
  if (p.syms.length === 0 || p.coef === 0) return p.coef;
  const syms = [...p.syms].sort().join('*');
  return p.coef === 1 ? syms : `${p.coef}*${syms}`;
}

export function isStatic(d: Dim): d is number {
  return typeof d === 'number';
}

export function allStatic(s: readonly Dim[]): s is number[] {
  return s.every(isStatic);
}

export function dimProduct(dims: readonly Dim[]): Dim {
  const acc: Product = { coef: 1, syms: [] };
  for (const d of dims) {
    const p = parse(d);
    acc.coef *= p.coef;
    acc.syms.push(...p.syms);
  }
  return format(acc);
}

/** total / divisor when it divides exactly (symbol for symbol); null when it cannot be decided. */
export function dimDivide(total: Dim, divisor: Dim): Dim | null {
  const t = parse(total);
  const d = parse(divisor);
  if (d.coef === 0 || t.coef % d.coef !== 0) return null;
  const syms = [...t.syms];
  for (const s of d.syms) {
    const i = syms.indexOf(s);
    if (i < 0) return null;
    syms.splice(i, 1);
  }
  return format({ coef: t.coef / d.coef, syms });
}

export function dimSum(dims: readonly Dim[]): Dim | null {
  if (allStatic(dims)) return dims.reduce((a, b) => a + b, 0);
  const first = parse(dims[0]!);
  // a sum of the same symbolic product k_i*S is (sum k_i)*S
  let coef = 0;
  const key = [...first.syms].sort().join('*');
  for (const d of dims) {
    const p = parse(d);
    if ([...p.syms].sort().join('*') !== key) return null;
    coef += p.coef;
  }
  return format({ coef, syms: first.syms });
}

export function shapeToString(s: readonly Dim[]): string {
  return `[${s.join(', ')}]`;
}

/** A possibly negative axis counted from the end, as ONNX allows; range is the caller's to check. */
export function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

/**
 * Output length of a convolution or pooling window along one axis, with
 * explicit pads or an auto_pad mode; null when the window does not fit the
 * padded input. VALID ignores ceil and pads (the FLOP estimate's reading).
 */
export function windowOutput(
  len: number, o: { kernel: number; stride: number; dilation: number; padHead: number; padTail: number; autoPad: string; ceil: boolean },
): number | null {
  if (o.autoPad === 'SAME_UPPER' || o.autoPad === 'SAME_LOWER') return Math.ceil(len / o.stride);
  const span = (o.kernel - 1) * o.dilation + 1;
  if (o.autoPad === 'VALID') return Math.floor((len - span) / o.stride) + 1;
  const room = len + o.padHead + o.padTail - span;
  if (room < 0) return null;
  if (!o.ceil) return Math.floor(room / o.stride) + 1;
  let out = Math.ceil(room / o.stride) + 1;
  // like onnxruntime and PyTorch: a last window that would start inside the end padding is dropped
  if ((out - 1) * o.stride >= len + o.padHead) out--;
  return out;
}

/**
 * numpy broadcasting of two shapes. A symbolic dim is assumed never to be 1 at
 * run time, so it broadcasts only against a static 1; two different symbols
 * cannot be reconciled and return null.
 */
export function broadcastShapes(a: readonly Dim[], b: readonly Dim[]): Shape | null {
  const rank = Math.max(a.length, b.length);
  const out: Shape = [];
  for (let i = 0; i < rank; i++) {
    const da = i - (rank - a.length) >= 0 ? a[i - (rank - a.length)]! : 1;
    const db = i - (rank - b.length) >= 0 ? b[i - (rank - b.length)]! : 1;
    if (da === db) out.push(da);
    else if (da === 1) out.push(db);
    else if (db === 1) out.push(da);
    else if (typeof da === 'string' && typeof db === 'number') out.push(db);
    else if (typeof db === 'string' && typeof da === 'number') out.push(da);
    else return null;
  }
  return out;
}
