/**
 * Writes the normalised forward nodes into a graph at TRAIN_GRAPH_OPSET,
 * keeping every tensor name. LogSoftmax (no WebGPU kernel) is expanded into
 * max-shifted Exp/ReduceSum/Log arithmetic, and LayerNormalization into
 * reductions and arithmetic (the same the backward recomputes); reduce axes
 * and Split sizes take the opset-17 form.
 */
import type { GraphBuilder } from './builder.ts';
import type { IrNode } from './ir.ts';
import { attrFloat, attrInt, attrInts } from './ir.ts';
import { attr } from './proto.ts';
import type { Attrs } from './proto.ts';
import { layerNormAxes, layerNormParts } from './rules-transformer.ts';
import type { Shape } from '../../../shared/onnx/dims.ts';

export function emitForwardNode(b: GraphBuilder, n: IrNode, shapeOf: (tensor: string) => Shape): void {
  switch (n.op) {
    case 'LayerNormalization': {
      const [x, scale, bias] = n.inputs as [string, string, string | undefined];
      const axes = layerNormAxes(attrInt(n, 'axis', -1), shapeOf(x).length);
      const { xhat } = layerNormParts(b, x, axes, attrFloat(n, 'epsilon', 1e-5));
      const scaled = b.op('Mul', [xhat, scale]);
      if (bias) b.opNamed('Add', [scaled, bias], n.outputs[0]!);
      else b.opNamed('Reshape', [scaled, b.op('Shape', [x])], n.outputs[0]!);
      return;
    }
    case 'Split': {
      const axis = attrInt(n, 'axis', 0);
      const sizes = n.outputs.map((o) => shapeOf(o)[axis] as number);
      b.add('Split', [n.inputs[0]!, b.i64(sizes)], { axis: attr.int(axis) }, n.outputs, n.name);
      return;
    }
    case 'LogSoftmax': {
      const axis = attrInt(n, 'axis', -1);
      const x = n.inputs[0]!;
      const max = b.op('ReduceMax', [x], { axes: attr.ints([axis]), keepdims: attr.int(1) });
      const shifted = b.op('Sub', [x, max]);
      const sum = b.op('ReduceSum', [b.op('Exp', [shifted]), b.i64([axis])], { keepdims: attr.int(1) });
      b.opNamed('Sub', [shifted, b.op('Log', [sum])], n.outputs[0]!);
      return;
    }
    case 'ReduceSum':
      b.opNamed('ReduceSum', [n.inputs[0]!, b.i64(attrInts(n, 'axes')!)], n.outputs[0]!, {
        keepdims: attr.int(attrInt(n, 'keepdims', 1)),
      });
      return;
    case 'ReduceMean':
      b.opNamed('ReduceMean', [n.inputs[0]!], n.outputs[0]!, {
        axes: attr.ints(attrInts(n, 'axes')!),
        keepdims: attr.int(attrInt(n, 'keepdims', 1)),
      });
      return;
    case 'Reshape': {
      const attrs: Attrs = {};
      if (attrInt(n, 'allowzero', 0) === 1) attrs.allowzero = attr.int(1);
      b.opNamed('Reshape', [n.inputs[0]!, n.inputs[1]!], n.outputs[0]!, attrs);
      return;
    }
    default:
      b.add(n.op, n.inputs, n.attrs, n.outputs, n.name);
  }
}
