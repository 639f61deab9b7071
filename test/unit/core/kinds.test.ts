/**
 * The job-kind interface: each kind's answers to the questions the
 * scheduler, the validator and the services ask instead of branching on the
 * kind; and the byte codecs of a training checkpoint.
 */
import { describe, expect, it } from 'vitest';
import { INFERENCE, kindOf, TRAIN } from '../../../server/core/jobs/kinds.ts';
import type { InferenceSpec, Job, TrainSpec } from '../../../server/core/jobs/types.ts';
import { gradientDisagreement, LOSS_TOLERANCE } from '../../../server/core/validation/gradients.ts';
import {
  decodeGradients, decodeOptimizer, decodeWeights, encodeOptimizer, encodeWeights, unflattenGradients,
} from '../../../server/training/checkpoint-codec.ts';
import { encodeTensors } from '../../../shared/tensor/codec.ts';
import { type NamedTensor, tensorFromTyped } from '../../../shared/tensor/tensor.ts';
import { makeJob, makeTrainJob } from '../store/contract.ts';

const f32 = (name: string, dims: number[], values: number[]): NamedTensor => ({ name, ...tensorFromTyped('float32', dims, new Float32Array(values)) });
/** A training result: [loss, gradient of w (2 values), gradient of b (1 value)]. */
const trainResult = (loss: number, g: number[]) => [f32('loss', [], [loss]), f32('gw', [2], g.slice(0, 2)), f32('gb', [1], g.slice(2))];

const inference = makeJob('p').job;
const train = makeTrainJob('p', { shards: 8, shardsPerRound: 4, cap: 2 }).job;
const ispec = inference.spec as InferenceSpec;
const tspec = train.spec as TrainSpec;
const shard = (index: number) => ({ id: `s${index}`, jobId: train.id, index, start: 0, end: 8, state: 'open' as const, wanted: 1, canonicalCopyId: null, errors: 0, issued: 0 });

describe('kindOf', () => {
  it('answers with the rules of the spec\'s kind', () => {
    expect(kindOf(ispec)).toBe(INFERENCE);
    expect(kindOf(tspec)).toBe(TRAIN);
  });
});

describe('which volunteers may compute a copy', () => {
  it('inference keeps to the backends its job allows; training runs on every backend', () => {
    expect(INFERENCE.runsOn(ispec, 'webgpu/nvidia/hopper/ort-1.30.0')).toBe(true);
    expect(INFERENCE.runsOn({ ...ispec, backends: ['wasm'] }, 'webgpu/nvidia/hopper/ort-1.30.0')).toBe(false);
    expect(INFERENCE.runsOn({ ...ispec, backends: ['wasm'] }, 'wasm/ort-1.30.0')).toBe(true);
    expect(TRAIN.runsOn(tspec, 'webgpu/nvidia/hopper/ort-1.30.0')).toBe(true);
  });
  it('caps a volunteer within a training round only, and only when the job asks', () => {
    expect(INFERENCE.capWindow(ispec, 5)).toBeNull();
    expect(TRAIN.capWindow(tspec, 5)).toEqual({ from: 4, to: 8, cap: 2 });
    expect(TRAIN.capWindow(tspec, 3)).toEqual({ from: 0, to: 4, cap: 2 });
    expect(TRAIN.capWindow({ ...tspec, maxShardsPerVolunteer: 0 }, 5)).toBeNull();
  });
});

describe('late results and closed rounds', () => {
  it('a training result for a round already closed comes too late; inference results never do', () => {
    const atRound1: Job = { ...train, progress: { ...train.progress!, round: 1 } };
    expect(TRAIN.tooLate(atRound1, shard(3))).toBe('arrived after its training round closed');
    expect(TRAIN.tooLate(atRound1, shard(4))).toBeNull();
    expect(INFERENCE.tooLate(inference, shard(0))).toBeNull();
  });
  it('a round\'s shards are the indexes of that round', () => {
    expect(TRAIN.roundShards(tspec, 1)).toEqual({ from: 4, to: 8 });
    expect(INFERENCE.roundShards(ispec, 0)).toEqual({ from: 0, to: Number.MAX_SAFE_INTEGER });
  });
  it('inference yields outputs, training a model, and each says where the other lives', () => {
    expect([INFERENCE.yields, TRAIN.yields]).toEqual(['outputs', 'model']);
    expect(TRAIN.describe).toBe('a training job; fetch /model and /history');
    expect(INFERENCE.describe).toBe('an inference job; its results are /outputs');
  });
});

describe('how two results of one shard are compared', () => {
  it('inference compares outputs within the job tolerance', () => {
    const a = [f32('y', [2], [1, 2])];
    expect(INFERENCE.disagreement(ispec, a, [f32('y', [2], [1, 2.000001])])).toBeNull();
    expect(INFERENCE.disagreement(ispec, a, [f32('y', [2], [1, 2.5])])).toMatch(/^output "y": element 1: 2 vs 2.5 /);
  });
  it('training compares losses, then gradients in L2 and direction', () => {
    const tol = { maxRelL2: 0.05, minCosine: 0.99 };
    const a = trainResult(1, [1, 2, 3]);
    expect(TRAIN.disagreement({ ...tspec, gradTolerance: tol }, a, trainResult(1, [1, 2, 3.01]))).toBeNull();
    expect(gradientDisagreement(tol, a, trainResult(1.01, [1, 2, 3]))).toBe('loss 1 vs 1.0099999904632568');
    expect(gradientDisagreement(tol, a, trainResult(1, [1, 2, -3]))).toMatch(/^gradients disagree: relative L2 error .* \(max 0.05\), cosine .* \(min 0.99\)$/);
    expect(gradientDisagreement(tol, a, trainResult(1, [1, Number.NaN, 3]))).toBe('gradients hold NaN or Inf');
    expect(gradientDisagreement(tol, a, trainResult(Number.NaN, [1, 2, 3]))).toBe('loss 1 vs NaN');
  });
  it('losses agree within the named loss tolerance and no further', () => {
    const tol = { maxRelL2: 0.05, minCosine: 0.99 };
    const edge = 1 + 0.9 * (LOSS_TOLERANCE.atol + LOSS_TOLERANCE.rtol * 1.002);
    expect(gradientDisagreement(tol, trainResult(1, [1, 2, 3]), trainResult(edge, [1, 2, 3]))).toBeNull();
    const past = 1 + 1.1 * (LOSS_TOLERANCE.atol + LOSS_TOLERANCE.rtol * 1.002);
    expect(gradientDisagreement(tol, trainResult(1, [1, 2, 3]), trainResult(past, [1, 2, 3]))).toMatch(/^loss 1 vs /);
  });
});

describe('checkpoint codecs', () => {
  const params = [{ name: 'w', dims: [2] }, { name: 'b', dims: [1] }];
  it('weights round-trip by name', () => {
    const back = decodeWeights(encodeWeights({ w: new Float32Array([1, 2]), b: new Float32Array([3]) }, params));
    expect(back).toEqual({ w: new Float32Array([1, 2]), b: new Float32Array([3]) });
  });
  it('optimizer slots round-trip per parameter and slot, beside the config and step kept in the checkpoint', () => {
    const state = { config: { kind: 'adam' as const, lr: 0.01 }, step: 7, slots: { w: { m: new Float32Array([0.5, 0.25]), v: new Float32Array([1, 2]) }, b: { m: new Float32Array([3]), v: new Float32Array([4]) } } };
    expect(decodeOptimizer(encodeOptimizer(state), params, state.config, 7)).toEqual(state);
  });
  it('a result is its loss and its gradients flattened in parameter order; the flat update is cut back per parameter', () => {
    const { loss, gradient } = decodeGradients(encodeTensors(trainResult(0.5, [1, 2, 3])));
    expect(loss).toBe(0.5);
    expect([...gradient]).toEqual([1, 2, 3]);
    const cut = unflattenGradients(new Float32Array([4, 5, 6]), params);
    expect({ w: [...cut.w!], b: [...cut.b!] }).toEqual({ w: [4, 5], b: [6] });
  });
});
