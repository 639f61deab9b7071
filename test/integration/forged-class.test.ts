/**
 * A forged numeric class against real processes: two raw socket.io clients
 * that announce a runtime version no one else has (the class is the
 * volunteer's own claim: `wasm/ort-<its ortVersion>`) and answer every copy
 * they get at once with the same wrong output, on a homogeneous job, beside
 * four honest `tabgrid worker --node` volunteers (two run by the operator).
 *
 * Homogeneous redundancy keeps a shard's copies in one class, so whatever
 * copy the forgers take can be checked only within their made-up class:
 * before the class rules (core/trust/numeric-class.ts) a forger's copy was
 * kept for a trusted host of its class, none ever came, and the job never
 * completed. Now a class counts only once three address groups announce it
 * (the store's census), and an untrusted host takes a homogeneous copy only
 * beside a trusted host of its class: the forgers get no copy, the job
 * completes with honest results only, and a job only they could serve says
 * why it waits.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeCapabilities } from '../../cli/commands/worker-node.ts';
import type { Assignment } from '../../shared/protocol/events.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped, typedView } from '../../shared/tensor/tensor.ts';
import { decodeTensorProto } from '../../shared/tensor/tensorproto.ts';
import { CLI, REPO, spawnCoordinator, type SpawnedCoordinator } from '../helpers/coordinator.ts';
import { runDirect } from '../helpers/direct-run.ts';
import { mlpModel, randomInput } from '../helpers/onnx-builder.ts';
import { call, connect, hello, type RawSocket } from '../helpers/raw-client.ts';
import { waitForJob } from '../helpers/wait.ts';

const WIDTH = 8;
const SHARDS = 8;
const SHARD_SIZE = 4;
const FORGED_ORT = '9.99.0-forged';

interface Forger {
  account: string;
  /** Copies it was given. */
  given: number;
  stop(): void;
}

/** A forger: announces the made-up class, asks for work without pause and answers each copy at once with the agreed lie. */
async function startForger(url: string, localAddress: string): Promise<Forger> {
  const socket = await connect(url, { localAddress });
  const h = await hello(socket, { capabilities: { ...nodeCapabilities(), ortVersion: FORGED_ORT } });
  expect(h.numericClass).toBe(`wasm/ort-${FORGED_ORT}`);
  let stopped = false;
  const f: Forger = { account: h.account, given: 0, stop: () => { stopped = true; socket.close(); } };
  void (async () => {
    while (!stopped) {
      const r = await call<{ assignment: Assignment | null }>(socket, 'work:request', {}).catch(() => null);
      const a = r?.ok ? r.assignment : null;
      if (!a) { await new Promise((res) => setTimeout(res, 20)); continue; }
      f.given++;
      const rows = a.inputs.find((t) => t.name === 'x')!.dims[0]!;
      const outputs = a.outputs.map((name) => ({ name, dtype: 'float32', dims: [rows, WIDTH], data: new Uint8Array(new Float32Array(rows * WIDTH).fill(0.25).buffer) }));
      await call(socket, 'work:result', { copyId: a.copyId, outputs, computeMs: 1 }).catch(() => null);
    }
  })();
  return f;
}

describe('a forged numeric class on a homogeneous job', () => {
  let c: SpawnedCoordinator | undefined;
  const workers: ChildProcess[] = [];
  const forgers: Forger[] = [];
  const sockets: RawSocket[] = [];
  afterAll(async () => {
    for (const f of forgers) f.stop();
    for (const s of sockets) s.close();
    for (const w of workers) w.kill('SIGTERM');
    await c?.stop();
  });

  it('gets the forgers no copy: the job completes with honest results only, and a job only they could serve says why it waits', async () => {
    // --distinct-copies none: the four honest volunteers share 127.0.0.1, as two `worker --node 2` processes do.
    c = await spawnCoordinator({ args: ['--distinct-copies', 'none'] });
    const model = mlpModel({ width: WIDTH, layers: 2, seed: 17 });
    const modelBlob = await c.api.uploadBlob(model);
    const submit = async (records: number, seed: number) => {
      const x = tensorFromTyped('float32', [records, WIDTH], randomInput(records, WIDTH, seed));
      const job = await c!.api.createJob({
        model: modelBlob, inputs: [{ blob: await c!.api.uploadBlob(encodeTensors([{ name: 'x', ...x }])), format: 'tensors' }],
        shardSize: SHARD_SIZE, replicas: 2, homogeneous: true,
      });
      return { id: job.id, x };
    };

    // Honest WASM is announced from three address groups (the workers' 127.0.0.0/24 and two hosts that only say hello);
    // the forged class from two.
    for (const a of ['127.0.1.1', '127.0.2.1']) {
      const s = await connect(c.url, { localAddress: a });
      sockets.push(s);
      await hello(s);
    }
    forgers.push(await startForger(c.url, '127.0.3.1'), await startForger(c.url, '127.0.4.1'));

    // The forgers are connected and asking before the job exists: they are first in line for every copy.
    const first = await submit(SHARDS * SHARD_SIZE, 17);
    const operatorToken = readFileSync(join(c.dataDir, 'operator-token'), 'utf8').trim();
    workers.push(spawn(process.execPath, [CLI, 'worker', '--node', '2', '--server', c.url], { cwd: REPO, stdio: 'ignore' }));
    workers.push(spawn(process.execPath, [CLI, 'worker', '--node', '2', '--server', c.url, '--operator-token', operatorToken], { cwd: REPO, stdio: 'ignore' }));
    const done = await waitForJob(c.api, first.id, 180_000);
    expect(done.state).toBe('completed');
    const got = typedView(decodeTensorProto(await c.api.output(first.id, 0)) as never) as Float32Array;
    const want = typedView((await runDirect(model, { x: first.x }))[0]! as never) as Float32Array;
    expect(got.length).toBe(want.length);
    expect([...got].every((v, i) => Math.abs(v - want[i]!) <= 1e-5 + 1e-3 * Math.abs(want[i]!))).toBe(true);
    expect(forgers.map((f) => f.given)).toEqual([0, 0]);
    for (const f of forgers) expect((await c.api.account(f.account)).entries).toEqual([]);

    // With only the forgers left, a homogeneous job waits, and says why (the census is the store's: the honest
    // hosts' announcements still count, the forged class still does not).
    for (const w of workers) w.kill('SIGTERM');
    for (const s of sockets) s.close();
    await expect.poll(() => c!.logs.filter((l) => l.msg === 'volunteer disconnected').length, { timeout: 30_000 }).toBe(6);
    const second = await submit(SHARD_SIZE, 18);
    // A GET that meets a keep-alive socket the coordinator just closed is asked again at the next poll.
    await expect.poll(async () => (await c!.api.job(second.id).catch(() => null))?.waiting?.message ?? '', { timeout: 60_000 })
      .toContain('2 compute in a numeric class fewer than 3 address groups announce');
    expect(forgers.map((f) => f.given)).toEqual([0, 0]);
  }, 300_000);
});
