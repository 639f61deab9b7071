/**
 * The typed client as a submitter gets it: `import { TabgridClient } from
 * 'tabgrid/client'` in a plain Node program (the package's export, compiled
 * JavaScript, no TypeScript loader) runs a job end to end on a real
 * coordinator computed by a real `tabgrid worker --node`, and its outputs are
 * what onnxruntime computes directly.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy } from '../../shared/tensor/npy.ts';
import { tensorFromTyped, typedView } from '../../shared/tensor/tensor.ts';
import { CLI, REPO, spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { runDirect } from '../helpers/direct-run.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';

describe('tabgrid/client', () => {
  const cleanup: (() => unknown)[] = [];
  afterAll(async () => { for (const f of cleanup.reverse()) await f(); });

  it('runs a job end to end from a plain Node program', async () => {
    const c: SpawnedCoordinator = await spawnCoordinator();
    cleanup.push(() => c.stop());
    const worker = spawn(process.execPath, [CLI, 'worker', '--node', '1', '--server', c.url], { cwd: REPO, stdio: 'ignore' });
    cleanup.push(() => { worker.kill('SIGTERM'); });

    const dir = mkdtempSync(join(tmpdir(), 'tabgrid-client-'));
    const width = 8;
    const model = mlpModel({ width, layers: 2, seed: 11 });
    const x = tensorFromTyped('float32', [24, width], randomInput(24, width, 12));
    writeFileSync(join(dir, 'model.onnx'), model);
    writeFileSync(join(dir, 'x.npy'), encodeNpy(x));
    const run = spawnSync(process.execPath, [join(REPO, 'test/fixtures/client-user.mjs'), c.url, c.token, join(dir, 'model.onnx'), join(dir, 'x.npy'), join(dir, 'y.npy')], {
      cwd: REPO, encoding: 'utf8', timeout: 150_000, env: { ...process.env, NODE_OPTIONS: '' },
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const reply = JSON.parse(run.stdout) as { job: string; records: number; shards: { total: number; validated: number } };
    expect(reply).toMatchObject({ records: 24, shards: { total: 3, validated: 3 } });

    const got = decodeNpy(new Uint8Array(readFileSync(join(dir, 'y.npy'))));
    const [want] = await runDirect(model, { x });
    expect(got.dims).toEqual(want!.dims);
    const a = typedView(got as typeof got & { dtype: 'float32' });
    const b = typedView(want as typeof want & { dtype: 'float32' });
    for (let i = 0; i < b.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(1e-5 + 1e-3 * Math.abs(b[i]!));
  }, 180_000);

  it('type-checks a submitter\'s TypeScript against the built declarations (package.json types), as strict NodeNext code', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tabgrid-client-types-'));
    // The package as a dependency of the submitter's project.
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(REPO, join(dir, 'node_modules', 'tabgrid'), 'dir');
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
    writeFileSync(join(dir, 'use.ts'), [
      "import { TabgridClient, type JobStatus } from 'tabgrid/client';",
      "const api = new TabgridClient('http://127.0.0.1:8080', 'tg_x');",
      'export const status: Promise<JobStatus> = api.job(\'abcdefgh\');',
      'export const invites = api.invites(\'lab\').then((r) => r.invites.map((i) => i.revokedAt ?? i.createdAt));',
      '// @ts-expect-error a job id is a string: the declarations are real types, not any',
      'api.job(42);',
      '',
    ].join('\n'));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { noEmit: true, strict: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2023', 'dom'], types: [], skipLibCheck: false },
      files: ['use.ts'],
    }));
    const tsc = spawnSync(process.execPath, [join(REPO, 'node_modules/typescript/bin/tsc'), '-p', '.'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  }, 150_000);
});
