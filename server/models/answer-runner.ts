/**
 * Runs the coordinator's own computations of shards (answer-worker.ts) on
 * one worker thread, with bounded CPU: one shard at a time, at most
 * `queueCap` waiting (more are refused at once, not queued), and a time
 * limit per shard after which the thread is ended and replaced. Volunteers
 * do the grid's work; this only buys known answers for spot checks.
 */
import type { Assignment } from '../../shared/protocol/events.ts';
import type { AnswerReply, AnswerRequest } from './answer-worker.ts';
import { type LimitedWorker, startLimitedWorker } from './limited-worker.ts';

export interface AnswerLimits {
  /** Longest one shard may take, ms. */
  timeMs: number;
  /** Shards waiting behind the one running; more are refused. */
  queueCap: number;
  /** The thread's V8 heap, MiB. */
  memoryMb: number;
}

export const DEFAULT_ANSWER_LIMITS: AnswerLimits = { timeMs: 30_000, queueCap: 4, memoryMb: 512 };

export class AnswerBusy extends Error {}

/** A warm thread is ended this long after its last shard (onnxruntime's WebAssembly memory never shrinks). */
const IDLE_MS = 60_000;

export class AnswerRunner {
  private worker: LimitedWorker | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  private nextId = 1;
  private idle: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(readonly limits: AnswerLimits = DEFAULT_ANSWER_LIMITS) {}

  /** Shards queued or running. */
  get load(): number {
    return this.waiting;
  }

  /** The encoded outputs (tensor codec) of one assignment; AnswerBusy when the queue is full. */
  compute(assignment: Assignment, blobPaths: Record<string, string>): Promise<{ encoded: Uint8Array; computeMs: number }> {
    if (this.closed) return Promise.reject(new Error('the answer runner is closed'));
    if (this.waiting > this.limits.queueCap) return Promise.reject(new AnswerBusy(`the coordinator is already computing ${this.waiting} shards`));
    this.waiting++;
    const turn = this.queue.then(() => this.runNow({ assignment, blobPaths }));
    this.queue = turn.catch(() => {});
    return turn.finally(() => this.waiting--);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.stop();
  }

  private async runNow(req: Omit<AnswerRequest, 'id'>): Promise<{ encoded: Uint8Array; computeMs: number }> {
    if (this.closed) throw new Error('the answer runner is closed');
    if (this.idle) clearTimeout(this.idle);
    const { worker: w, ready } = this.worker ??= this.start();
    await ready;
    const id = this.nextId++;
    try {
      return await new Promise((resolve, reject) => {
        const over = (e: Error) => {
          cleanup();
          void this.stop();
          reject(e);
        };
        const timer = setTimeout(() => over(new Error(`computing the shard took longer than ${this.limits.timeMs / 1000} s, the coordinator's limit for its own computations`)), this.limits.timeMs);
        const onMessage = (m: AnswerReply) => {
          if (m.id !== id) return;
          cleanup();
          if (m.ok) resolve({ encoded: m.encoded, computeMs: m.computeMs });
          else reject(new Error(m.error));
        };
        const onError = (e: Error) => over(e);
        const onExit = (code: number) => over(new Error(`the answer thread exited (code ${code})`));
        const cleanup = () => {
          clearTimeout(timer);
          w.off('message', onMessage).off('error', onError).off('exit', onExit);
        };
        w.on('message', onMessage).on('error', onError).on('exit', onExit);
        w.postMessage({ ...req, id } satisfies AnswerRequest);
      });
    } finally {
      if (this.worker && !this.closed) this.idle = setTimeout(() => void this.stop(), IDLE_MS).unref();
    }
  }

  private start(): LimitedWorker {
    return startLimitedWorker('answer-worker', this.limits.memoryMb, (worker) => { if (this.worker?.worker === worker) this.worker = null; });
  }

  private async stop(): Promise<void> {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    const r = this.worker;
    this.worker = null;
    await r?.worker.terminate();
  }
}
