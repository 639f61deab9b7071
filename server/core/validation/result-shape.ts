/**
 * Checks an uploaded result against what the graph promises before anything is
 * stored: the right outputs, in order, with the right dtypes and shapes. A copy
 * that fails here is refused with the reason and keeps its lease.
 */
import { describe, type Tensor } from '../../../shared/tensor/tensor.ts';
import type { OutputSpec } from '../jobs/types.ts';

export function resultShapeProblem(outputs: readonly (Tensor & { name: string })[], spec: readonly OutputSpec[], records: number, stacked: boolean): string | null {
  if (outputs.length !== spec.length) return `expected ${spec.length} outputs (${spec.map((s) => s.name).join(', ')}), got ${outputs.length}`;
  for (let i = 0; i < spec.length; i++) {
    const want = spec[i]!;
    const got = outputs[i]!;
    if (got.name !== want.name) return `output ${i} must be ${JSON.stringify(want.name)}, got ${JSON.stringify(got.name)}`;
    if (got.dtype !== want.dtype) return `output ${JSON.stringify(want.name)} must be ${want.dtype}, got ${describe(got)}`;
    if (stacked && got.dims[0] !== records) {
      return `output ${JSON.stringify(want.name)} must have ${records} records on axis 0, got ${describe(got)}`;
    }
    if (want.dims === null) continue;
    if (got.dims.length !== want.dims.length) return `output ${JSON.stringify(want.name)} must have rank ${want.dims.length}, got ${describe(got)}`;
    for (let axis = stacked ? 1 : 0; axis < want.dims.length; axis++) {
      const d = want.dims[axis];
      if (d !== null && d !== undefined && d !== got.dims[axis]) {
        return `output ${JSON.stringify(want.name)} dim ${axis} must be ${d}, got ${describe(got)}`;
      }
    }
  }
  return null;
}
