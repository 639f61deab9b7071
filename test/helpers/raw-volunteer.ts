/**
 * A raw volunteer for trust tests: a raw socket.io client (raw-client.ts)
 * that computes every copy it is given with the real executor (the one
 * `tabgrid worker --node` runs), honestly until told to lie, one copy per
 * step (or the parts of one), so a test fixes the order of requests by
 * construction. It keeps what the coordinator said of its copies.
 */
import { blobLoader } from '../../cli/commands/worker-node.ts';
import type { Assignment, CopyOutcome, VolunteerNews, WireTensor, WorkReply } from '../../shared/protocol/events.ts';
import { typedView } from '../../shared/tensor/tensor.ts';
import { ShardExecutor } from '../../shared/worker-core/executor.ts';
import { ort } from '../../server/models/ort-node.ts';
import { call, connect, hello, nextCopy, ok, type RawSocket } from './raw-client.ts';

/** Every float32 output doubled plus one: a plausible, well-formed lie. */
export function lie(outs: WireTensor[]): WireTensor[] {
  return outs.map((o) => {
    const v = Float32Array.from(typedView(o as WireTensor & { dtype: 'float32' }), (x) => x * 2 + 1);
    return { ...o, data: new Uint8Array(v.buffer) };
  });
}

/**
 * A raw volunteer that computes every copy it is given with the real
 * executor, honestly until `lying` is set; one copy per `step()`, or the
 * parts of one (`take`, `compute`, `submit`) for a volunteer with a plan.
 */
export class RawVolunteer {
  lying = false;
  readonly given: Assignment[] = [];
  /** What the coordinator said of its copies (judgement news, on replies and pushed). */
  readonly outcomes: CopyOutcome[] = [];
  volunteerId = '';
  account = '';
  private readonly executor: ShardExecutor;

  private constructor(readonly socket: RawSocket, url: string) {
    this.executor = new ShardExecutor({ ort, backend: 'wasm', loadBlob: blobLoader(url) });
    socket.on('news', (n) => this.heard(n));
  }

  private heard(n: VolunteerNews | undefined): void {
    if (n) this.outcomes.push(...n.outcomes);
  }

  secret = '';

  /** `as`: a returning volunteer's id and secret (its identity, reputation and credit are kept); `extra`: hello fields (an operator token). */
  static async connect(url: string, as?: { volunteerId: string; secret: string }, extra: object = {}): Promise<RawVolunteer> {
    const socket = await connect(url, as ? { auth: as } : {});
    const v = new RawVolunteer(socket, url);
    const said = await hello(socket, extra);
    v.volunteerId = said.volunteerId;
    v.account = said.account;
    v.secret = said.secret ?? as?.secret ?? '';
    return v;
  }

  /** Asks for one copy; computes it (and lies on it when lying) and uploads the result. Null: none given. */
  async step(): Promise<{ copy: Assignment; status: string } | null> {
    const r = await ok(call<WorkReply>(this.socket, 'work:request', {}));
    this.heard(r.news);
    if (!r.assignment) return null;
    const a = r.assignment;
    this.given.push(a);
    const out = await this.compute(a);
    return { copy: a, status: await this.submit(a, this.lying ? lie(out) : out) };
  }

  /** Asks until a copy comes (nothing computed yet): the next copy the coordinator gives this volunteer. */
  async take(): Promise<Assignment> {
    const a = await nextCopy(this.socket);
    this.given.push(a);
    return a;
  }

  /** The copy's outputs, computed honestly with the real executor. */
  async compute(a: Assignment): Promise<WireTensor[]> {
    return (await this.executor.run(a)).outputs;
  }

  /** Uploads a result; its status, or the refusal's code (a copy can be refused by the time it is uploaded: its job completed). */
  async submit(a: Assignment, outputs: WireTensor[]): Promise<string> {
    const res = await call<{ status: string; news?: VolunteerNews }>(this.socket, 'work:result', { copyId: a.copyId, outputs, computeMs: 1 });
    if (res.ok) this.heard(res.news);
    return res.ok ? res.status : `refused: ${res.code}`;
  }

  /** Reports the copy failed (it errors; a result may still come for it later, late). */
  async fail(a: Assignment): Promise<void> {
    await ok(call(this.socket, 'work:fail', { copyId: a.copyId, error: 'out of memory' }));
  }

  /** Acknowledges the copy: it is held for the job's lease, not its ack window. */
  async ack(a: Assignment): Promise<void> {
    await ok(call(this.socket, 'work:ack', { copyId: a.copyId }));
  }

  async close(): Promise<void> {
    this.socket.close();
    await this.executor.dispose();
  }

  /**
   * Steps until `logged` (a coordinator log line awaited) has come, at most 200 steps, resting 100 ms after
   * a request that got no copy; then that line.
   */
  async stepUntil<T>(logged: Promise<T>): Promise<T> {
    let seen = false;
    void logged.then(() => { seen = true; }, () => { seen = true; });
    for (let i = 0; i < 200 && !seen; i++) {
      if (!(await this.step())) await new Promise((r) => setTimeout(r, 100));
    }
    return logged;
  }
}
