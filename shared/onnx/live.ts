/**
 * Which nodes of a graph reach one of its outputs. A node whose outputs no
 * live node and no graph output consumes computes nothing anyone receives:
 * the FLOP estimate gives it no credit (a dead MatMul fed by a huge
 * ConstantOfShape must not pay), and need not even follow its shapes.
 *
 * A node with subgraph attributes (If, Loop, Scan) also reads, by name, any
 * outer value its subgraphs use, so those names count as its inputs.
 */
import type { GraphProto } from './proto.ts';

type Graph = Pick<GraphProto, 'node' | 'output'>;

/** Names a subgraph reads from the scope around it (or defines itself: harmless extra names). */
function namesUsedBy(g: GraphProto, into: Set<string>): void {
  for (const n of g.node ?? []) {
    for (const i of n.input ?? []) if (i) into.add(i);
    for (const a of n.attribute ?? []) {
      if (a.g) namesUsedBy(a.g, into);
      for (const sub of a.graphs ?? []) namesUsedBy(sub, into);
    }
  }
  for (const o of g.output ?? []) if (o.name) into.add(o.name);
}

/** Indices (into `g.node`) of the nodes that reach a graph output, found by one walk back from the outputs. */
export function liveNodes(g: Graph): Set<number> {
  const nodes = g.node ?? [];
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => { for (const o of n.output ?? []) if (o) producer.set(o, i); });
  const live = new Set<number>();
  const wanted = (g.output ?? []).map((o) => o.name ?? '').filter((name) => name !== '');
  while (wanted.length > 0) {
    const i = producer.get(wanted.pop()!);
    if (i === undefined || live.has(i)) continue;
    live.add(i);
    const n = nodes[i]!;
    const reads = new Set<string>();
    for (const name of n.input ?? []) if (name) reads.add(name);
    for (const a of n.attribute ?? []) {
      if (a.g) namesUsedBy(a.g, reads);
      for (const sub of a.graphs ?? []) namesUsedBy(sub, reads);
    }
    wanted.push(...reads);
  }
  return live;
}
