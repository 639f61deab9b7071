// Models onnxruntime-web's WebGPU backend computes wrongly are kept off it: the detector must catch a Softmax
// before opset 13 on a non-last axis (squeezenet's final Softmax over [1,1000,1,1]), and must not flag the
// common classifier head (rank 2, axis 1 = last), anything from opset 13 on, or LogSoftmax and Hardmax (no
// WebGPU kernel: they run on the CPU inside a WebGPU session, and right).
import { describe, expect, it } from 'vitest';
import { parseModel } from '../../../shared/onnx/model.ts';
import { webgpuHazards } from '../../../shared/onnx/webgpu-hazards.ts';
import { backendAllows, chooseBackends } from '../../../server/core/jobs/backends.ts';
import { mlpModel, softmaxModel } from '../../helpers/onnx-builder.ts';

const hazards = (o: Parameters<typeof softmaxModel>[0], dims: number[]) => webgpuHazards(parseModel(softmaxModel(o)), { x: dims });

describe('webgpuHazards', () => {
  it('flags a pre-13 Softmax that normalises from a non-last axis', () => {
    const squeeze = hazards({ opset: 9, dims: [1, 1000, 1, 1] }, [1, 1000, 1, 1]);
    expect(squeeze).toHaveLength(1);
    expect(squeeze[0]).toMatch(/Softmax "sm" \(opset 9\) normalises a rank-4 input \[1,1000,1,1\] from axis 1 on/);
    expect(hazards({ opset: 11, dims: [2, 3, 4], axis: 1 }, [2, 3, 4])).toHaveLength(1);
    expect(hazards({ opset: 12, dims: [2, 3, 4], axis: 0 }, [2, 3, 4])).toHaveLength(1);
    expect(hazards({ opset: 11, dims: [2, 3, 4], axis: -2 }, [2, 3, 4])).toHaveLength(1);
  });

  it('lets the last axis, opset 13 and later, and graphs without these ops through', () => {
    expect(hazards({ opset: 9, dims: ['N', 10] }, [4, 10])).toEqual([]);
    expect(hazards({ opset: 11, dims: [2, 3, 4], axis: 2 }, [2, 3, 4])).toEqual([]);
    expect(hazards({ opset: 11, dims: [2, 3, 4], axis: -1 }, [2, 3, 4])).toEqual([]);
    expect(hazards({ opset: 13, dims: [1, 1000, 1, 1], axis: 1 }, [1, 1000, 1, 1])).toEqual([]);
    expect(hazards({ op: 'LogSoftmax', opset: 11, dims: [2, 3, 4], axis: 1 }, [2, 3, 4])).toEqual([]);
    expect(hazards({ op: 'Hardmax', opset: 11, dims: [2, 3, 4], axis: 0 }, [2, 3, 4])).toEqual([]);
    expect(webgpuHazards(parseModel(mlpModel({ width: 8, layers: 2 })), { x: [4, 8] })).toEqual([]);
  });

  it('reads the rank a graph input declares when its dimensions are symbolic', () => {
    expect(webgpuHazards(parseModel(softmaxModel({ opset: 9, dims: ['N', 'C', 'L'], axis: 2 })), {})).toEqual([]);
    expect(webgpuHazards(parseModel(softmaxModel({ opset: 9, dims: ['N', 'C', 'L'] })), {})[0]).toMatch(/normalises a rank-3 input from axis 1 on/);
  });
});

describe('chooseBackends and backendAllows', () => {
  it('keeps a job off WebGPU when its model is a hazard there, and refuses a WebGPU-only request for it', () => {
    expect(chooseBackends(undefined, [])).toEqual({ ok: true, backends: undefined, notes: [] });
    expect(chooseBackends(['webgpu', 'webgpu'], [])).toEqual({ ok: true, backends: ['webgpu'], notes: [] });
    expect(chooseBackends(undefined, ['why'])).toEqual({ ok: true, backends: ['wasm'], notes: ['not on WebGPU: why'] });
    expect(chooseBackends(['webgpu'], ['why'])).toEqual({ ok: false, error: 'this model cannot run on WebGPU, the only backend asked for: why' });
  });

  it('matches a volunteer by the backend its numeric class names', () => {
    expect(backendAllows(undefined, 'webgpu/nvidia/hopper/ort-1.30.0')).toBe(true);
    expect(backendAllows(['wasm'], 'wasm/ort-1.30.0')).toBe(true);
    expect(backendAllows(['wasm'], 'webgpu/nvidia/hopper/ort-1.30.0')).toBe(false);
    expect(backendAllows(['webgpu'], 'wasm/ort-1.30.0')).toBe(false);
  });
});
