/**
 * The CLI as shipped runs compiled JavaScript: from a copy of the package with
 * only its production dependencies (no tsx, no TypeScript sources beside it),
 * `serve`, `worker --node` and `infer` finish a job, and the only modules any of
 * them loads (model check thread included) are JavaScript.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy } from '../../shared/tensor/npy.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { REPO, spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { productionInstall } from '../helpers/production-install.ts';

const run = promisify(execFile);
const RECORDER = join(REPO, 'test/helpers/load-recorder.mjs');

describe('the shipped CLI', () => {
  const pkg = productionInstall();
  const cli = join(pkg, 'bin/tabgrid.js');
  const work = mkdtempSync(join(tmpdir(), 'tabgrid-shipped-'));
  const loads = join(work, 'loads.txt');
  const env = { TABGRID_LOADS_FILE: loads };
  let c: SpawnedCoordinator | undefined;
  let worker: ReturnType<typeof execFile> | undefined;

  afterAll(async () => {
    worker?.kill('SIGTERM');
    await c?.stop();
    rmSync(pkg, { recursive: true, force: true });
  });

  it('has no tsx to fall back on', () => {
    expect(() => createRequire(join(pkg, 'package.json')).resolve('tsx')).toThrow(/Cannot find module/);
    expect(existsSync(join(pkg, 'server'))).toBe(false);
  });

  it('serves, computes and submits a job with JavaScript modules only', async () => {
    c = await spawnCoordinator({ cli, nodeArgs: ['--import', RECORDER], env });
    worker = execFile(process.execPath, ['--import', RECORDER, cli, 'worker', '--node', '2', '--server', c.url],
      { cwd: work, env: { ...process.env, ...env } });
    writeFileSync(join(work, 'm.onnx'), mlpModel({ width: 8, layers: 1, seed: 3 }));
    writeFileSync(join(work, 'x.npy'), encodeNpy(tensorFromTyped('float32', [8, 8], randomInput(8, 8, 3))));
    const out = join(work, 'out');
    await run(process.execPath, ['--import', RECORDER, cli, 'infer', '--server', c.url, '--model', join(work, 'm.onnx'),
      '--input', join(work, 'x.npy'), '--shard-size', '4', '--format', 'npy', '--out', out, '--quiet'],
    { cwd: work, env: { ...process.env, ...env, TABGRID_TOKEN: c.token }, timeout: 50_000 });
    expect(decodeNpy(new Uint8Array(readFileSync(join(out, 'output_0.npy')))).dims).toEqual([8, 8]);

    const urls = readFileSync(loads, 'utf8').trim().split('\n');
    const ours = urls.filter((u) => u.startsWith(`file://${pkg}/`)).map((u) => u.slice(`file://${pkg}/`.length));
    // Each entry point, and the model check thread, ran from the compiled build.
    expect(ours).toEqual(expect.arrayContaining(['bin/tabgrid.js', 'dist/node/cli/main.js', 'dist/node/server/app.js',
      'dist/node/cli/commands/worker-node.js', 'dist/node/cli/commands/infer.js', 'dist/node/server/models/model-check-worker.js']));
    expect(urls.filter((u) => /\.[mc]?ts$/.test(u) || u.includes('/node_modules/tsx/'))).toEqual([]);
    expect(ours.filter((u) => !u.startsWith('dist/node/') && u !== 'bin/tabgrid.js')).toEqual([]);
  });
});
