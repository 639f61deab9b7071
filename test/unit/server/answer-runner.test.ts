/**
 * The coordinator's own computation of a shard (known answers for spot
 * checks): on its worker thread, with the executor `tabgrid worker --node`
 * runs, it gives the bytes an honest volunteer gives; a full queue refuses.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Assignment } from '../../../shared/protocol/events.ts';
import { encodeTensors } from '../../../shared/tensor/codec.ts';
import { ShardExecutor } from '../../../shared/worker-core/executor.ts';
import { AnswerBusy, AnswerRunner } from '../../../server/models/answer-runner.ts';
import { ort } from '../../../server/models/ort-node.ts';
import { sha256 } from '../../../server/blobs/blob-store.ts';
import { mlpModel, randomInput } from '../../helpers/onnx-builder.ts';

const dir = mkdtempSync(join(tmpdir(), 'tabgrid-answers-'));
const model = mlpModel({ width: 16, layers: 3, seed: 5 });
const hash = sha256(model);
writeFileSync(join(dir, hash), model);
const x = randomInput(6, 16, 3);

const assignment = (copyId: string): Assignment => ({
  copyId, jobId: 'j', projectId: 'p', kind: 'inference',
  model: { hash, url: '/unused', bytes: model.byteLength }, feedBlobs: [],
  inputs: [{ name: 'x', dtype: 'float32', dims: [6, 16], data: new Uint8Array(x.buffer.slice(0)) }],
  batchedInputs: ['x'], runUnit: 4, outputs: ['y'], ackWithinMs: 1000, leaseMs: 1000,
});

describe('AnswerRunner', () => {
  const runner = new AnswerRunner({ timeMs: 60_000, queueCap: 1, memoryMb: 256 });
  afterAll(() => runner.close());

  it("computes a shard on its thread exactly as a --node volunteer's executor does", async () => {
    const got = await runner.compute(assignment('a'), { [hash]: join(dir, hash) });
    const volunteer = new ShardExecutor({ ort, backend: 'wasm', loadBlob: async () => model });
    const want = encodeTensors((await volunteer.run(assignment('b'))).outputs);
    await volunteer.dispose();
    expect(Buffer.from(got.encoded).equals(Buffer.from(want))).toBe(true);
  });

  it('refuses at once beyond its queue cap, and says why a shard cannot be computed', async () => {
    const paths = { [hash]: join(dir, hash) };
    const first = runner.compute(assignment('1'), paths);
    const second = runner.compute(assignment('2'), paths);
    await expect(runner.compute(assignment('3'), paths)).rejects.toBeInstanceOf(AnswerBusy);
    await Promise.all([first, second]);
    const missing = { ...assignment('4'), model: { hash: 'f'.repeat(64), url: '/unused', bytes: 1 } };
    await expect(runner.compute(missing, paths)).rejects.toThrow(`no local path for blob ${'f'.repeat(64)}`);
    // The runner still works after a refusal and a failure.
    expect((await runner.compute(assignment('5'), paths)).encoded.byteLength).toBeGreaterThan(0);
  });
});
