/**
 * Reverse-mode pass over the forward graph: walks nodes backwards from the
 * loss seed, applies each op's rule to the summed gradient of its output, and
 * returns one summed gradient tensor per requested parameter.
 */
import type { GraphBuilder } from './builder.ts';
import { GradOps } from './grad-context.ts';
import type { IrNode } from './ir.ts';
import type { ShapeMap } from './infer-shapes.ts';
import { GRAD_RULES } from './grad-rules.ts';

export function buildBackward(
  b: GraphBuilder,
  nodes: readonly IrNode[],
  shapes: ShapeMap,
  seed: { tensor: string; grad: string },
  params: readonly string[],
  constant: (name: string) => number[] | undefined = () => undefined,
): Map<string, string | null> {
  const shapeOf = (n: string) => {
    const s = shapes.get(n);
    if (!s) throw new Error(`internal: no shape for ${n}`);
    return s;
  };
  const ops = new GradOps(b, shapeOf);

  // only tensors that depend on a parameter carry gradients
  const live = new Set(params);
  for (const n of nodes) {
    if (n.inputs.some((i) => i && live.has(i))) n.outputs.forEach((o) => o && live.add(o));
  }

  const pending = new Map<string, string[]>();
  const contribute = (tensor: string, g: string) => {
    const list = pending.get(tensor);
    if (list) list.push(g);
    else pending.set(tensor, [g]);
  };
  contribute(seed.tensor, seed.grad);

  for (let k = nodes.length - 1; k >= 0; k--) {
    const node = nodes[k]!;
    const parts = node.outputs.map((o) => pending.get(o));
    if (!parts.some(Boolean)) continue;
    const needs = node.inputs.map((i) => !!i && live.has(i));
    if (!needs.some(Boolean)) continue;
    const rule = GRAD_RULES[node.op];
    if (!rule) throw new Error(`internal: no gradient rule for ${node.op}`);
    const dYs = parts.map((p) => (p ? ops.sum(p) : null));
    const dY = dYs[0] ?? b.op('Expand', [b.f32(0), ops.shapeTensor(node.outputs[0]!)]);
    const grads = rule({ b, node, dY, dYs, shape: shapeOf, needs: (i) => needs[i] ?? false, ops, constant });
    grads.forEach((g, i) => {
      if (g && needs[i]) contribute(node.inputs[i]!, g);
    });
  }

  return new Map(params.map((p) => {
    const parts = pending.get(p);
    return [p, parts ? ops.sum(parts) : null];
  }));
}
