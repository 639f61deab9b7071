import { describe, expect, it } from 'vitest';
import { assembleOutputs } from '../../../server/core/jobs/assemble.ts';
import { JobInputError, planJob } from '../../../server/core/jobs/plan.ts';
import type { ModelSignature, ValueInfo } from '../../../shared/onnx/model.ts';
import { decodeTensors, encodeTensorParts } from '../../../shared/tensor/codec.ts';
import { sliceRecords, tensorFromTyped } from '../../../shared/tensor/tensor.ts';


const vi = (name: string, dims: ValueInfo['dims'], dtype: ValueInfo['dtype'] = 'float32'): ValueInfo => ({ name, dtype, elemType: 1, dims });
const sig = (inputs: ValueInfo[], outputs: ValueInfo[]): ModelSignature => ({ inputs, outputs, initializers: [], opsets: { '': 17 }, ops: [], irVersion: 8 });
const f32 = (dims: number[]) => tensorFromTyped('float32', dims, new Float32Array(dims.reduce((a, b) => a * b, 1)).map((_, i) => i));

describe('planJob', () => {
  it('splits a symbolic batch into shards of shard-size records', () => {
    const p = planJob(sig([vi('x', ['N', 4])], [vi('y', ['N', 2])]), [{ tensor: f32([10, 4]) }], 4);
    expect(p.records).toBe(10);
    expect(p.runUnit).toBe(0);
    expect(p.batchedInputs).toEqual(['x']);
    expect(p.shards).toEqual([{ start: 0, end: 4 }, { start: 4, end: 8 }, { start: 8, end: 10 }]);
    expect(p.stackOutputs).toBe(true);
  });

  it('runs a model fixed to batch 1 one record at a time, shards still of shard-size', () => {
    const p = planJob(sig([vi('x', [1, 3])], [vi('y', [1, 5])]), [{ tensor: f32([7, 3]) }], 3);
    expect(p.runUnit).toBe(1);
    expect(p.shards.map((s) => s.end - s.start)).toEqual([3, 3, 1]);
  });

  it('rounds shards to whole multiples of a fixed batch', () => {
    const p = planJob(sig([vi('x', [2, 3])], [vi('y', [2, 3])]), [{ tensor: f32([8, 3]) }], 3);
    expect(p.runUnit).toBe(2);
    expect(p.shardSize).toBe(2);
    expect(p.shards).toHaveLength(4);
  });

  it('keeps a job whole when outputs do not follow the records', () => {
    const p = planJob(sig([vi('x', [2, 3])], [vi('y', [3, 2])]), [{ tensor: f32([2, 3]) }], 1);
    expect(p.shards).toEqual([{ start: 0, end: 1 }]);
    expect(p.stackOutputs).toBe(false);
    expect(p.batchedInputs).toEqual([]);
  });

  it('keeps a job whole when inputs disagree on axis 0 (a weight fed as input)', () => {
    const p = planJob(sig([vi('a', ['N', 4]), vi('b', [4, 5])], [vi('y', ['N', 5])]), [{ tensor: f32([3, 4]) }, { tensor: f32([4, 5]) }], 1);
    expect(p.shards).toHaveLength(1);
    expect(p.stackOutputs).toBe(false);
  });

  it('binds unnamed inputs in graph order and named ones by name', () => {
    const s = sig([vi('a', ['N', 2]), vi('b', ['N', 3])], [vi('y', ['N', 1])]);
    const p = planJob(s, [{ name: 'b', tensor: f32([4, 3]) }, { tensor: f32([4, 2]) }], 2);
    expect(p.inputs.map((i) => [i.name, i.dims])).toEqual([['a', [4, 2]], ['b', [4, 3]]]);
  });

  it('refuses inputs that do not fit, with the reason', () => {
    const s = sig([vi('x', ['N', 4])], [vi('y', ['N', 2])]);
    expect(() => planJob(s, [{ tensor: f32([2, 5]) }], 1)).toThrow('input "x" dim 1 must be 4, got float32[2,5] (model expects [N,4])');
    expect(() => planJob(s, [{ tensor: f32([2, 4, 1]) }], 1)).toThrow('input "x" must have rank 2 ([N,4]), got float32[2,4,1]');
    expect(() => planJob(s, [{ tensor: tensorFromTyped('int64', [2, 4], new BigInt64Array(8)) }], 1)).toThrow('input "x" must be float32, got int64[2,4]');
    expect(() => planJob(s, [{ name: 'z', tensor: f32([2, 4]) }], 1)).toThrow('input "z" is not an input of the model (its inputs: x)');
    expect(() => planJob(s, [], 1)).toThrow('missing input "x"');
    expect(() => planJob(s, [{ tensor: f32([2, 4]) }, { tensor: f32([2, 4]) }], 1)).toThrow(/2 inputs given but the model takes 1/);
    expect(() => planJob(s, [{ tensor: f32([2, 4]) }], 0)).toThrow(JobInputError);
    expect(() => planJob(sig([vi('x', [3, 4])], [vi('y', [3, 2])]), [{ tensor: f32([4, 4]) }], 1)).toThrow(/dim 0 must be 3/);
  });

  it('refuses outputs tabgrid cannot carry', () => {
    expect(() => planJob(sig([vi('x', ['N'])], [{ name: 's', dtype: null, elemType: 8, dims: ['N'] }]), [{ tensor: f32([2]) }], 1))
      .toThrow('output "s" has an element type tabgrid cannot carry (ONNX type 8)');
  });
});

describe('assembleOutputs', () => {
  it('stacks shard outputs back in record order', () => {
    const whole = f32([10, 3]);
    const parts = [[0, 4], [4, 8], [8, 10]].map(([a, b]) => [{ name: 'y', ...sliceRecords(whole, a!, b!) }]);
    const [y] = assembleOutputs(['y'], parts, true);
    expect(y!.dims).toEqual([10, 3]);
    // Left in place, in order: the shards' own bytes, not a copy.
    expect(y!.parts).toHaveLength(3);
    expect(y!.parts[1]).toBe(parts[1]![0]!.data);
    expect(decodeTensors(new Uint8Array(Buffer.concat(encodeTensorParts([y!]))))).toEqual([{ name: 'y', dtype: 'float32', dims: [10, 3], data: whole.data }]);
    expect(() => assembleOutputs(['y'], [parts[0]!, [{ name: 'y', ...f32([2, 4]) }]], true)).toThrow('shape mismatch: [2,4] vs [4,3] beyond axis 0');
  });

  it('returns the single shard of an unsplit job as is', () => {
    const out = [{ name: 'y', ...f32([3, 2]) }];
    expect(assembleOutputs(['y'], [out], false)).toEqual([{ name: 'y', dtype: 'float32', dims: [3, 2], parts: [out[0]!.data] }]);
    expect(() => assembleOutputs(['y'], [out, out], false)).toThrow(/one shard/);
  });
});
