/**
 * Runs the coordinator's own computations of shards (answer-worker.ts) on
 * one worker thread, with bounded CPU: one shard at a time, at most
 * `queueCap` waiting (more are refused at once, not queued), and a time
 * limit per shard after which the thread is ended and replaced. Volunteers
 * do the grid's work; this only buys known answers for spot checks, and
 * settles reviews (services/reviews.ts), only while it is idle.
 */
import type { Assignment } from '../../shared/protocol/events.ts';
import type { AnswerReply, AnswerRequest } from './answer-worker.ts';
import { LimitedThread } from './limited-worker.ts';

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
  private readonly thread: LimitedThread<Omit<AnswerRequest, 'id'>, AnswerReply>;
  private waiting = 0;

  constructor(readonly limits: AnswerLimits = DEFAULT_ANSWER_LIMITS) {
    this.thread = new LimitedThread({
      module: 'answer-worker', timeMs: limits.timeMs, memoryMb: limits.memoryMb, idleMs: IDLE_MS,
      closedMessage: 'the answer runner is closed',
      overTime: () => new Error(`computing the shard took longer than ${limits.timeMs / 1000} s, the coordinator's limit for its own computations`),
      exited: (code) => new Error(`the answer thread exited (code ${code})`),
      failed: (m) => new Error(m.error),
    });
  }

  /** Closed (the coordinator is shutting down): it computes nothing more. */
  get closed(): boolean {
    return this.thread.closed;
  }

  /** Shards queued or running. */
  get load(): number {
    return this.waiting;
  }

  /** The encoded outputs (tensor codec) of one assignment; AnswerBusy when the queue is full. */
  compute(assignment: Assignment, blobPaths: Record<string, string>): Promise<{ encoded: Uint8Array; computeMs: number }> {
    if (this.thread.closed) return Promise.reject(new Error('the answer runner is closed'));
    if (this.waiting > this.limits.queueCap) return Promise.reject(new AnswerBusy(`the coordinator is already computing ${this.waiting} shards`));
    this.waiting++;
    return this.thread.run({ assignment, blobPaths })
      .then((m) => ({ encoded: m.encoded, computeMs: m.computeMs }))
      .finally(() => this.waiting--);
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}
