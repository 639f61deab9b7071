/** Reading `--input [NAME=]FILE` arguments and writing outputs in the chosen format. */
import { readFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface InputArg {
  name?: string;
  file: string;
  format: 'npy' | 'pb';
}

export function parseInputArg(arg: string): InputArg {
  const eq = arg.indexOf('=');
  // A Windows-style or relative path may contain '=' only after a name part.
  const name = eq > 0 ? arg.slice(0, eq) : undefined;
  const file = eq > 0 ? arg.slice(eq + 1) : arg;
  const format = file.endsWith('.npy') ? 'npy' : file.endsWith('.pb') ? 'pb' : null;
  if (!format) throw new Error(`input ${arg}: give a .npy or .pb (ONNX TensorProto) file`);
  return { name, file, format };
}

export async function readInput(a: InputArg): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(a.file));
  } catch (e) {
    throw new Error(`cannot read input ${a.file}: ${(e as Error).message}`);
  }
}

export async function writeOutputs(dir: string, files: { index: number; bytes: Uint8Array }[], format: 'pb' | 'npy'): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const written: string[] = [];
  for (const f of files) {
    const path = join(dir, `output_${f.index}.${format}`);
    await writeFile(path, f.bytes);
    written.push(path);
  }
  return written;
}
