/**
 * The graph shared/onnx/webgpu-hazards.ts keeps off WebGPU, run in the
 * browser volunteers use (headless Chromium, its WebGPU adapter) with the
 * onnxruntime-web build the app ships: a Softmax before opset 13 over a
 * non-last axis comes out wrong on WebGPU and right on WASM, while the same
 * Softmax over the last axis agrees. When an onnxruntime-web upgrade fixes
 * the kernel this test fails, and the hazard rule can go.
 */
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseModel } from '../../shared/onnx/model.ts';
import { webgpuHazards } from '../../shared/onnx/webgpu-hazards.ts';
import { softmaxModel } from '../helpers/onnx-builder.ts';
import { type PageServer, startPageServer } from '../helpers/page-server.ts';
import { ensureClientBuilt, launchChromium, ortAssets } from './browser.ts';

const DIMS = [2, 3, 4];
const CASES = {
  hazard: { opset: 11, dims: DIMS, axis: 1 },
  safe: { opset: 11, dims: DIMS, axis: 2 },
} as const;

describe('onnxruntime-web WebGPU Softmax before opset 13 (the WebGPU hazard)', () => {
  let browser: Browser;
  let pages: PageServer;
  let ortUrl: string;
  let wasmUrl: string;

  beforeAll(async () => {
    await ensureClientBuilt();
    const { dir, js: ortJs, wasm: ortWasm } = ortAssets();
    pages = await startPageServer({
      dirs: { '/assets/': dir },
      blobs: Object.fromEntries(Object.entries(CASES).map(([k, c]) => [`/m/${k}.onnx`, softmaxModel(c)])),
    });
    ortUrl = `${pages.url}/assets/${ortJs}`;
    wasmUrl = `${pages.url}/assets/${ortWasm}`;
    browser = await launchChromium({ webgpu: true });
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await pages?.close();
  });

  it('is wrong on WebGPU only where webgpuHazards says so', async () => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(pages.url);
    const diffs = await page.evaluate(async ({ ortUrl, wasmUrl, models, dims }) => {
      // Built at run time: vitest would rewrite a literal import() in this function, which runs in the page.
      const mod = await (new Function('u', 'return import(u)') as (u: string) => Promise<{ default?: unknown }>)(ortUrl);
      const ort = (mod.default ?? mod) as any;
      ort.env.wasm.wasmPaths = { wasm: wasmUrl };
      ort.env.wasm.numThreads = 1;
      if (!(await navigator.gpu?.requestAdapter())) throw new Error('no WebGPU adapter in this Chromium');
      const n = dims.reduce((a: number, b: number) => a * b, 1);
      const x = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 1.7) * 3);
      const out: Record<string, number> = {};
      for (const name of models) {
        const bytes = new Uint8Array(await (await fetch(`/m/${name}.onnx`)).arrayBuffer());
        const run = async (ep: string) => {
          const s = await ort.InferenceSession.create(bytes, { executionProviders: [ep], graphOptimizationLevel: 'all' });
          const r = await s.run({ x: new ort.Tensor('float32', x, dims) });
          const y = Float32Array.from(await r.y.getData());
          await s.release();
          return y;
        };
        const gpu = await run('webgpu');
        const cpu = await run('wasm');
        out[name] = gpu.reduce((m: number, v: number, i: number) => Math.max(m, Math.abs(v - cpu[i]!)), 0);
      }
      return out;
    }, { ortUrl, wasmUrl, models: Object.keys(CASES), dims: DIMS });

    console.info(`WebGPU vs WASM, max abs difference: Softmax opset 11 over axis 1 of [2,3,4] ${diffs.hazard}, over axis 2 ${diffs.safe}`);
    expect(webgpuHazards(parseModel(softmaxModel(CASES.hazard)), { x: DIMS })).toHaveLength(1);
    expect(webgpuHazards(parseModel(softmaxModel(CASES.safe)), { x: DIMS })).toEqual([]);
    // Softmax outputs lie in [0, 1]: a wrong normalisation moves them by tenths, rounding by 1e-7.
    expect(diffs.safe).toBeLessThan(1e-5);
    expect(diffs.hazard, 'onnxruntime-web\'s WebGPU Softmax now flattens before opset 13: the hazard rule in shared/onnx/webgpu-hazards.ts can go').toBeGreaterThan(0.1);
  }, 120_000);
});
