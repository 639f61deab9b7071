/**
 * Bad input from projects and volunteers: each gets a precise refusal, is
 * logged, changes no state it should not, earns nothing, and the coordinator
 * keeps serving.
 */
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodeCapabilities } from '../../cli/commands/worker-node.ts';
import type { Assignment, ClientToServerEvents, Reply, ServerToClientEvents, WireTensor } from '../../shared/protocol/events.ts';
import { PROTOCOL_VERSION, SOCKET_PATH } from '../../shared/protocol/version.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import { floatTensor, mlpModel, randomInput, softmaxModel } from '../helpers/onnx-builder.ts';
import { perDescribe } from '../helpers/per-test.ts';
import { buildMlp } from '../../server/training/models.ts';
import { serializeModel } from '../../shared/onnx/model.ts';
import onnxProto from 'onnx-proto';

type S = Socket<ServerToClientEvents, ClientToServerEvents>;

function connect(url: string, auth: Record<string, unknown> = { protocol: PROTOCOL_VERSION }): Promise<S> {
  return new Promise((resolve, reject) => {
    const s: S = io(url, { path: SOCKET_PATH, auth, transports: ['websocket'], reconnection: false });
    s.on('connect', () => resolve(s));
    s.on('connect_error', (e) => { s.close(); reject(e); });
  });
}

function call<R>(s: S, event: string, payload: unknown): Promise<Reply<R>> {
  return (s as unknown as { timeout(ms: number): { emitWithAck(e: string, p: unknown): Promise<Reply<R>> } }).timeout(10_000).emitWithAck(event, payload);
}

const hello = { backend: 'wasm', capabilities: nodeCapabilities() };

describe('bad input', () => {
  const shared = perDescribe(['--max-upload-mb', '1', '--max-result-mb', '0.05']);
  let modelHash: string;
  let inputHash: string;
  const sockets: S[] = [];

  beforeAll(async () => {
    const { c } = shared;
    modelHash = await c.api.uploadBlob(mlpModel({ width: 16, layers: 1 }));
    inputHash = await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [8, 16], randomInput(8, 16)) }]));
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
  });

  async function http(method: string, path: string, body?: unknown, token: string | null = shared.c.token, raw?: Uint8Array) {
    const res = await fetch(`${shared.c.url}${path}`, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(raw ? { 'content-type': 'application/octet-stream' } : body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: raw ? (raw as unknown as BodyInit) : body !== undefined ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: await res.json().catch(() => null) as { error?: string } | null };
  }

  const jobCount = async () => ((await http('GET', '/api/v1/jobs')).body as unknown as { jobs: unknown[] }).jobs.length;

  describe('HTTP', () => {
    it('refuses a missing or wrong token', async () => {
      expect(await http('GET', '/api/v1/jobs', undefined, null)).toMatchObject({ status: 401, body: { error: expect.stringMatching(/missing API token/) } });
      expect(await http('GET', '/api/v1/jobs', undefined, 'tg_forged')).toMatchObject({ status: 401, body: { error: 'invalid API token' } });
    });

    it('refuses malformed and truncated models without creating a job', async () => {
      const { c } = shared;
      const before = await jobCount();
      const model = mlpModel({ width: 16, layers: 1 });
      const truncated = await c.api.uploadBlob(model.subarray(0, Math.floor(model.byteLength / 2)));
      let r = await http('POST', '/api/v1/jobs', { model: truncated, inputs: [{ blob: inputHash, format: 'tensors' }] });
      expect(r.status).toBe(400);
      expect(r.body!.error).toMatch(/^model: (truncated|not an ONNX model|onnxruntime-web cannot load)/);
      const garbage = await c.api.uploadBlob(new TextEncoder().encode('this is not a model at all'));
      r = await http('POST', '/api/v1/jobs', { model: garbage, inputs: [{ blob: inputHash, format: 'tensors' }] });
      expect(r.status).toBe(400);
      expect(r.body!.error).toMatch(/^model: /);
      expect(await jobCount()).toBe(before);
    });

    it('refuses inputs whose names, dtypes or shapes do not fit the graph', async () => {
      const { c } = shared;
      const before = await jobCount();
      const wrongName = await http('POST', '/api/v1/jobs', { model: modelHash, inputs: [{ name: 'images', blob: inputHash, format: 'tensors' }] });
      expect(wrongName).toMatchObject({ status: 400, body: { error: 'input "images" is not an input of the model (its inputs: x)' } });
      const ints = await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('int32', [8, 16], new Int32Array(128)) }]));
      expect((await http('POST', '/api/v1/jobs', { model: modelHash, inputs: [{ blob: ints, format: 'tensors' }] })).body!.error)
        .toBe('input "x" must be float32, got int32[8,16]');
      const narrow = await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [8, 15], new Float32Array(120)) }]));
      expect((await http('POST', '/api/v1/jobs', { model: modelHash, inputs: [{ blob: narrow, format: 'tensors' }] })).body!.error)
        .toMatch(/input "x" dim 1 must be 16, got float32\[8,15\]/);
      const notNpy = await c.api.uploadBlob(new Uint8Array([1, 2, 3]));
      expect((await http('POST', '/api/v1/jobs', { model: modelHash, inputs: [{ blob: notNpy, format: 'npy' }] })).body!.error).toMatch(/^input 0: /);
      const missing = await http('POST', '/api/v1/jobs', { model: modelHash, inputs: [] });
      expect(missing.body!.error).toBe('missing input "x"');
      const badField = await http('POST', '/api/v1/jobs', { model: modelHash, inputs: [{ blob: inputHash, format: 'tensors' }], shardSize: -4 });
      expect(badField.status).toBe(400);
      expect(badField.body!.error).toMatch(/shardSize: must be >= 1/);
      const unknownBlob = await http('POST', '/api/v1/jobs', { model: 'a'.repeat(64), inputs: [] });
      expect(unknownBlob.body!.error).toMatch(/model blob a{64} was not uploaded/);
      expect(await jobCount()).toBe(before);
    });

    it('refuses uploads that do not hash to their id, and ones over the limit', async () => {
      const { c } = shared;
      const r = await http('PUT', `/api/v1/blobs/${'0'.repeat(64)}`, undefined, c.token, new Uint8Array([1, 2, 3]));
      expect(r).toMatchObject({ status: 400, body: { error: expect.stringMatching(/^body hashes to [0-9a-f]{64}, not 0{64}/) } });
      const big = new Uint8Array(2 * 1024 * 1024);
      const r2 = await http('PUT', `/api/v1/blobs/${'1'.repeat(64)}`, undefined, c.token, big);
      expect(r2.status).toBe(413);
      expect(r2.body!.error).toMatch(/upload limit of 1048576 bytes/);
    });

    it('does not reveal other projects\' jobs or private blobs', async () => {
      const { c } = shared;
      expect((await http('GET', '/api/v1/jobs/AAAAAAAAAAAAAAAAAAAAAA')).status).toBe(404);
      expect((await fetch(`${c.url}/blobs/${inputHash}`)).status).toBe(404);
    });
  });

  describe('training jobs', () => {
    const mlp = () => buildMlp({ sizes: [8, 6, 3], seed: 1 });
    const tensors = async (dtype: 'float32' | 'int64', dims: number[], values: Float32Array | BigInt64Array) =>
      ({ blob: await shared.c.api.uploadBlob(encodeTensors([{ name: 't', ...tensorFromTyped(dtype, dims, values) }])), format: 'tensors' as const });
    const train = async (body: Record<string, unknown>) => http('POST', '/api/v1/jobs', { kind: 'train', loss: 'cross-entropy', ...body });

    it('keeps a job whose model WebGPU computes wrongly off WebGPU volunteers; refuses it on WebGPU alone', async () => {
      const { c } = shared;
      // squeezenet's head: an opset-9 Softmax over [N,10,1,1] from axis 1, which onnxruntime-web's WebGPU kernel gets wrong.
      const model = await c.api.uploadBlob(softmaxModel({ opset: 9, dims: ['N', 10, 1, 1] }));
      const x = await c.api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [4, 10, 1, 1], randomInput(4, 10)) }]));
      const before = await jobCount();
      const refused = await http('POST', '/api/v1/jobs', { model, inputs: [{ blob: x, format: 'tensors' }], backends: ['webgpu'] });
      expect(refused.status).toBe(400);
      expect(refused.body!.error).toMatch(/^this model cannot run on WebGPU, the only backend asked for: Softmax "sm" \(opset 9\) normalises a rank-4 input \[4,10,1,1\] from axis 1 on/);
      expect(await jobCount()).toBe(before);
      expect((await http('POST', '/api/v1/jobs', { model, inputs: [{ blob: x, format: 'tensors' }], backends: ['cuda'] })).body!.error).toMatch(/backends are webgpu and wasm/);

      const job = await c.api.createJob({ model, inputs: [{ blob: x, format: 'tensors' }] });
      expect(job.backends).toEqual(['wasm']);
      expect(job.backendNotes![0]).toMatch(/^not on WebGPU: Softmax "sm"/);
      // A WebGPU volunteer is offered nothing of it; a WASM one gets it.
      const gpu = await connect(c.url);
      const cpu = await connect(c.url);
      sockets.push(gpu, cpu);
      expect(await call(gpu, 'hello', { backend: 'webgpu', capabilities: { ...nodeCapabilities(), backends: ['webgpu', 'wasm'] } })).toMatchObject({ ok: true });
      expect(await call(cpu, 'hello', hello)).toMatchObject({ ok: true });
      const offered = await call<{ assignment: Assignment | null }>(gpu, 'work:request', {});
      expect(offered.ok && offered.assignment?.jobId).not.toBe(job.id);
      const got = await call<{ assignment: Assignment | null }>(cpu, 'work:request', {});
      expect(got.ok && got.assignment?.jobId).toBe(job.id);
      await expect.poll(() => c.logs.some((l) => l.msg === 'job kept off WebGPU: its model is computed wrongly there' && l.job === job.id)).toBe(true);
      // Out of the way of the tests below, which expect their own job to be the one handed out.
      expect((await http('DELETE', `/api/v1/jobs/${job.id}`)).status).toBe(200);
    });

    it('refuses a model with an unsupported op, naming the op and where it is', async () => {
      const { c } = shared;
      const before = await jobCount();
      const model = onnxProto.onnx.ModelProto.fromObject({
        irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
        graph: {
          name: 'sin', input: [{ name: 'x', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 8 }] } } } }],
          output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }, { dimValue: 3 }] } } } }],
          initializer: [floatTensor('w', [8, 3], new Float32Array(24).fill(0.1))],
          node: [{ opType: 'Sin', input: ['x'], output: ['s'], name: 'the_sine' }, { opType: 'MatMul', input: ['s', 'w'], output: ['y'], name: 'mm' }],
        },
      } as never);
      const r = await train({
        model: await c.api.uploadBlob(serializeModel(model)),
        data: await tensors('float32', [4, 8], new Float32Array(32)), labels: await tensors('int64', [4], new BigInt64Array(4)),
      });
      expect(r.status).toBe(400);
      expect(r.body!.error).toMatch(/^model: .*Sin.*the_sine/);
      expect(await jobCount()).toBe(before);
    });

    it('refuses labels that do not match the data, and a loss that does not fit the output', async () => {
      const { c } = shared;
      const before = await jobCount();
      const model = await c.api.uploadBlob(mlp());
      const data = await tensors('float32', [10, 8], new Float32Array(80));
      let r = await train({ model, data, labels: await tensors('int64', [9], new BigInt64Array(9)) });
      expect(r).toMatchObject({ status: 400, body: { error: 'labels do not match the data: int64[9] labels for float32[10,8] data (axis 0 must agree)' } });
      r = await train({ model, data, labels: await tensors('int64', [10], new BigInt64Array(10).fill(7n)) });
      expect(r.body!.error).toBe('labels must be class indices in 0..2 for a model with 3 outputs; label 0 is 7');
      r = await train({ model, data, labels: await tensors('float32', [10], new Float32Array(10)) });
      expect(r.status).toBe(400);
      expect(r.body!.error).toMatch(/labels/);
      r = await train({ model, data, loss: 'mse', labels: await tensors('float32', [10, 5], new Float32Array(50)) });
      expect(r.status).toBe(400);
      expect(r.body!.error).toMatch(/labels dim 1 is 5, expected 3/);
      r = await train({ model, data: await tensors('float32', [10, 7], new Float32Array(70)), labels: await tensors('int64', [10], new BigInt64Array(10)) });
      expect(r.status).toBe(400);
      expect(r.body!.error).toMatch(/data dim 1 is 7, expected 8/);
      r = await train({ model, data, labels: await tensors('int64', [10], new BigInt64Array(10)), aggregate: 'krum' });
      expect(r.body!.error).toMatch(/aggregate must be mean, trimmed-mean or median/);
      expect(await jobCount()).toBe(before);
    });
  });

  describe('socket.io', () => {
    it('refuses an unknown protocol version and forged credentials at connect', async () => {
      const { c } = shared;
      await expect(connect(c.url, { protocol: 99 })).rejects.toThrow(`unsupported protocol version 99; this coordinator speaks version ${PROTOCOL_VERSION}`);
      await expect(connect(c.url, { protocol: PROTOCOL_VERSION, volunteerId: 'AAAAAAAAAAAAAAAAAAAAAA', secret: 'B'.repeat(32) })).rejects.toThrow('unknown volunteer id or wrong secret');
      await expect(connect(c.url, {})).rejects.toThrow(/protocol/);
    });

    it('validates every event and tells the sender what is wrong', async () => {
      const { c } = shared;
      const s = await connect(c.url);
      sockets.push(s);
      expect(await call(s, 'work:request', {})).toEqual({ ok: false, code: 'bad_request', error: 'say hello before work:request' });
      expect(await call(s, 'hello', { ...hello, wallet: '0x123' })).toMatchObject({ ok: false, error: expect.stringMatching(/^wallet: /) });
      expect(await call(s, 'hello', { ...hello, backend: 'cuda' })).toMatchObject({ ok: false, error: expect.stringMatching(/backend must be webgpu or wasm/) });
      expect(await call(s, 'hello', { ...hello, backend: 'webgpu' })).toMatchObject({ ok: false, error: expect.stringMatching(/did not pass this device's self-test/) });
      expect(await call(s, 'no-such-event', {})).toEqual({ ok: false, code: 'bad_request', error: 'unknown event "no-such-event"' });
      expect(await call(s, 'hello', hello)).toMatchObject({ ok: true });
      expect(await call(s, 'work:ack', { copyId: '../../etc' })).toMatchObject({ ok: false, error: expect.stringMatching(/copyId is not a valid id/) });
    });

    it('refuses forged copy ids, results for copies of others, wrong shapes, JSON numbers and oversized payloads, without touching state', async () => {
      const { c } = shared;
      const job = await c.api.createJob({ model: modelHash, inputs: [{ blob: inputHash, format: 'tensors' }], shardSize: 4 });
      const a = await connect(c.url);
      const b = await connect(c.url);
      sockets.push(a, b);
      await call(a, 'hello', hello);
      await call(b, 'hello', hello);
      const got = await call<{ assignment: Assignment }>(a, 'work:request', {});
      expect(got.ok).toBe(true);
      const asg = (got as { assignment: Assignment }).assignment;
      expect(asg.jobId).toBe(job.id);
      expect(await call(a, 'work:ack', { copyId: asg.copyId })).toMatchObject({ ok: true });
      const good: WireTensor[] = [{ name: 'y', dtype: 'float32', dims: [4, 16], data: new Uint8Array(4 * 16 * 4) }];

      expect(await call(a, 'work:result', { copyId: 'AAAAAAAAAAAAAAAAAAAAAA', outputs: good, computeMs: 1 }))
        .toEqual({ ok: false, code: 'not_assigned', error: 'copy AAAAAAAAAAAAAAAAAAAAAA is not assigned to you' });
      expect(await call(b, 'work:result', { copyId: asg.copyId, outputs: good, computeMs: 1 }))
        .toEqual({ ok: false, code: 'not_assigned', error: `copy ${asg.copyId} is not assigned to you` });
      expect(await call(a, 'work:result', { copyId: asg.copyId, outputs: [{ ...good[0]!, dims: [3, 16], data: new Uint8Array(3 * 16 * 4) }], computeMs: 1 }))
        .toEqual({ ok: false, code: 'bad_result', error: 'output "y" must have 4 records on axis 0, got float32[3,16]' });
      expect(await call(a, 'work:result', { copyId: asg.copyId, outputs: [{ ...good[0]!, dtype: 'int32' }], computeMs: 1 }))
        .toMatchObject({ ok: false, code: 'bad_result', error: 'output "y" must be float32, got int32[4,16]' });
      expect(await call(a, 'work:result', { copyId: asg.copyId, outputs: [{ ...good[0]!, data: Array.from({ length: 256 }, () => 0) }], computeMs: 1 }))
        .toMatchObject({ ok: false, code: 'bad_request', error: expect.stringMatching(/data must be binary/) });
      expect(await call(a, 'work:result', { copyId: asg.copyId, outputs: [{ ...good[0]!, data: new Uint8Array(10) }], computeMs: 1 }))
        .toMatchObject({ ok: false, error: expect.stringMatching(/data holds 10 bytes but float32\[4,16\] needs 256/) });
      // Over the result limit, but within what the copy's holder may send at once (its result and framing):
      // a precise refusal. A message larger still is refused at its frame header (upload-budget.test.ts).
      const huge = [{ name: 'y', dtype: 'float32', dims: [4, 3584], data: new Uint8Array(4 * 3584 * 4) }];
      expect(await call(a, 'work:result', { copyId: asg.copyId, outputs: huge, computeMs: 1 }))
        .toMatchObject({ ok: false, code: 'bad_result', error: expect.stringMatching(/exceeds this coordinator's limit of 52429 bytes/) });
      expect(await call(a, 'work:result', { copyId: asg.copyId, outputs: good, computeMs: NaN }))
        .toMatchObject({ ok: false, code: 'bad_request' });

      // Nothing above changed the copy: still running, still a's, no credit anywhere.
      const status = await c.api.job(job.id);
      expect(status.copies).toMatchObject({ valid: 0, invalid: 0, pending: 1 });
      expect(status.credit).toBe(0);
      // The genuine upload still works, and a repeat is an idempotent duplicate.
      expect(await call(a, 'work:result', { copyId: asg.copyId, outputs: good, computeMs: 1 })).toEqual({ ok: true, status: 'accepted' });
      expect(await call(a, 'work:result', { copyId: asg.copyId, outputs: good, computeMs: 1 })).toEqual({ ok: true, status: 'duplicate' });
      // The coordinator's log reaches this process through a pipe: the last lines may still be on their way.
      await expect.poll(() => c.logs.filter((l) => l.msg === 'refused').length).toBeGreaterThan(5);
    });

    it('keeps serving after all of it', async () => {
      const { c } = shared;
      const r = await fetch(`${c.url}/healthz`);
      expect(await r.json()).toEqual({ ok: true, store: 'sqlite' });
      expect(c.proc.exitCode).toBeNull();
    });
  });
});
