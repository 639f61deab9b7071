/** Matrix products: MatMul (numpy batched, 1-D operands promoted) and Gemm. */
import { type Shape, isStatic, shapeToString } from '../dims.ts';
import { broadcast, numel } from './helpers.ts';
import { fail } from './op-node.ts';
import type { OpSpec } from './spec.ts';
import { from } from './webgpu-wasm.ts';

export const LINEAR_OPS: Record<string, OpSpec> = {
  MatMul: {
    // 2·M·K·N per matrix of the broadcast batch
    infer(n) {
      const a = n.in(0).dims;
      const b = n.in(1).dims;
      if (a.length === 0 || b.length === 0) fail('MatMul operands must have rank >= 1');
      const aa = a.length === 1 ? [1, a[0]!] : a;
      const bb = b.length === 1 ? [b[0]!, 1] : b;
      const [M, K] = aa.slice(-2);
      const [K2, N] = bb.slice(-2);
      if (isStatic(K!) && isStatic(K2!) && K !== K2) fail(`inner dimensions differ: ${shapeToString(a)} x ${shapeToString(b)}`);
      const batch = broadcast(aa.slice(0, -2), bb.slice(0, -2));
      const dims: Shape = [...batch, ...(a.length === 1 ? [] : [M!]), ...(b.length === 1 ? [] : [N!])];
      return { out: [{ dims }], flops: 2 * numel(batch) * numel([M!, K!, N!]) };
    },
    webgpuWasm: from(1),
  },

  Gemm: {
    // 2·M·K·N, + M·N when C is given
    infer(n) {
      const a = n.in(0).dims;
      const b = n.in(1).dims;
      if (a.length !== 2 || b.length !== 2) fail('Gemm operands must be 2-D');
      const transA = n.int('transA', 0) !== 0;
      const transB = n.int('transB', 0) !== 0;
      const M = transA ? a[1]! : a[0]!;
      const K = transA ? a[0]! : a[1]!;
      const K2 = transB ? b[1]! : b[0]!;
      const N = transB ? b[0]! : b[1]!;
      if (isStatic(K) && isStatic(K2) && K !== K2) fail(`inner dimensions differ: ${shapeToString(a)} x ${shapeToString(b)}`);
      const out: Shape = [M, N];
      if (n.has(2)) {
        const c = n.in(2).dims;
        const bc = broadcast(out, c);
        if (bc.length !== 2 || bc[0] !== M || bc[1] !== N) fail(`C ${shapeToString(c)} does not broadcast to ${shapeToString(out)}`);
      }
      return { out: [{ dims: out }], flops: 2 * numel([M, K, N]) + (n.has(2) ? numel([M, N]) : 0) };
    },
    webgpuWasm: from(7),
  },
};
