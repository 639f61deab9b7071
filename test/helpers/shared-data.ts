/**
 * The ONNX conformance data lives beside the repo in ../shared, never copied
 * into it. Tests that need it fail loudly (not skip) when it is missing.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const SHARED = resolve(process.cwd(), '../shared');
export const ONNX_TESTS = join(SHARED, 'onnx-tests');

export function requireOnnxTests(): string {
  if (!existsSync(ONNX_TESTS)) {
    throw new Error(`../shared/onnx-tests is missing (looked in ${ONNX_TESTS}): these tests need the ONNX conformance cases beside the repo`);
  }
  return ONNX_TESTS;
}

export interface ConformanceCase {
  suite: string;
  name: string;
  dir: string;
  model: string;
  inputs: string[];
  outputs: string[];
}

export function conformanceCases(suite: 'pytorch-converted' | 'simple'): ConformanceCase[] {
  const root = join(requireOnnxTests(), suite);
  return readdirSync(root).sort().map((name) => {
    const dir = join(root, name);
    const data = join(dir, 'test_data_set_0');
    const files = existsSync(data) ? readdirSync(data) : [];
    const numbered = (prefix: string) => files.filter((f) => f.startsWith(prefix)).sort((a, b) => parseInt(a.slice(prefix.length)) - parseInt(b.slice(prefix.length))).map((f) => join(data, f));
    return { suite, name, dir, model: join(dir, 'model.onnx'), inputs: numbered('input_'), outputs: numbered('output_') };
  });
}
