import fs from 'node:fs';
import path from 'node:path';

/**
 * The ONNX conformance data lives in the shared/ folder beside the repository
 * (../shared from the repo root). Its absence is a broken checkout, not a
 * reason to skip: fail loudly.
 */
export const SHARED_DIR = path.resolve(process.cwd(), '../shared');
export const ONNX_TESTS = path.join(SHARED_DIR, 'onnx-tests');

export function onnxTestsDir(): string {
  if (!fs.existsSync(ONNX_TESTS)) {
    throw new Error(`../shared/onnx-tests is missing (looked for ${ONNX_TESTS}); these tests need the ONNX conformance data beside the repo`);
  }
  return ONNX_TESTS;
}

export function readShared(...parts: string[]): Uint8Array {
  const file = path.join(onnxTestsDir(), ...parts);
  const buf = fs.readFileSync(file);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Every `input_*.pb` / `output_*.pb` under the given case folders (relative to onnx-tests). */
export function protobufFiles(...suites: string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (/^(input|output)_\d+\.pb$/.test(e.name)) out.push(p);
    }
  };
  for (const s of suites) walk(path.join(onnxTestsDir(), s));
  return out.sort();
}

export function caseDirs(suite: string): string[] {
  const dir = path.join(onnxTestsDir(), suite);
  return fs.readdirSync(dir).filter((d) => fs.existsSync(path.join(dir, d, 'model.onnx'))).sort();
}
