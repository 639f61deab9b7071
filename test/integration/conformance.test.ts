/**
 * ONNX conformance: every case in ../shared/onnx-tests/{pytorch-converted,simple}
 * that onnxruntime-web reproduces directly must come out of `tabgrid infer`
 * equal to its expected output_N.pb (rtol 1e-3, atol 1e-5).
 */
import { readFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { infer } from '../../cli/commands/infer.ts';
import { outputsDisagreement } from '../../server/core/validation/compare.ts';
import { decodeTensorProto } from '../../shared/tensor/tensorproto.ts';
import type { NamedTensor } from '../../shared/tensor/tensor.ts';
import { runDirect } from '../helpers/direct-run.ts';
import { perDescribe } from '../helpers/per-test.ts';
import { type ConformanceCase, conformanceCases } from '../helpers/shared-data.ts';

const TOL = { rtol: 1e-3, atol: 1e-5 };
const read = (f: string) => decodeTensorProto(new Uint8Array(readFileSync(f)));

/** Whether onnxruntime-web itself reproduces the case; null when it does. */
async function directProblem(k: ConformanceCase): Promise<string | null> {
  try {
    const model = new Uint8Array(readFileSync(k.model));
    const { modelSignature, parseModel } = await import('../../shared/onnx/model.ts');
    const sig = modelSignature(parseModel(model));
    const feeds: Record<string, NamedTensor> = {};
    k.inputs.forEach((f, i) => { feeds[sig.inputs[i]!.name] = read(f); });
    const got = await runDirect(model, feeds);
    return outputsDisagreement(got, k.outputs.map((f, i) => ({ ...read(f), name: got[i]?.name ?? '' })), TOL);
  } catch (e) {
    return (e as Error).message.slice(0, 200);
  }
}

describe('ONNX conformance through tabgrid infer', () => {
  const shared = perDescribe();
  const out = mkdtempSync(join(tmpdir(), 'tabgrid-conf-'));
  // Two honest volunteers: each shard's two copies.
  beforeAll(() => { shared.volunteer(); shared.volunteer(); });

  for (const suite of ['pytorch-converted', 'simple'] as const) {
    it(`reproduces every ${suite} case that onnxruntime-web runs`, async () => {
      const { c } = shared;
      const cases = conformanceCases(suite);
      expect(cases.length).toBeGreaterThan(0);
      const reproducible: ConformanceCase[] = [];
      for (const k of cases) if ((await directProblem(k)) === null) reproducible.push(k);
      // The README of ../shared measured 59 of 82 and 15 of 23 straight through onnxruntime-web.
      console.info(`${suite}: onnxruntime-web reproduces ${reproducible.length} of ${cases.length} cases; each goes through tabgrid infer`);
      expect(reproducible.length).toBeGreaterThanOrEqual(suite === 'simple' ? 15 : 59);
      const failures: string[] = [];
      for (const k of reproducible) {
        const dir = join(out, suite, k.name);
        const code = await infer({ server: c.url, token: c.token, model: k.model, input: k.inputs, format: 'pb', out: dir, quiet: true });
        if (code !== 0) { failures.push(`${k.name}: infer exited ${code}`); continue; }
        const got = k.outputs.map((_, i) => read(join(dir, `output_${i}.pb`)));
        const why = outputsDisagreement(got, k.outputs.map((f, i) => ({ ...read(f), name: got[i]!.name })), TOL);
        if (why) failures.push(`${k.name}: ${why}`);
      }
      expect(failures).toEqual([]);
    }, 600_000);
  }
});
