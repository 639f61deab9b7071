/**
 * A worker thread for work on an untrusted model (model checks, known-answer
 * runs), its heap capped so a hostile graph cannot exhaust the coordinator's
 * memory, and LimitedThread, which runs tasks on one such thread, one at a
 * time, each within a time limit (and, where asked, a limit on the
 * process's memory growth), replacing the thread when a task overruns.
 */
import { Worker } from 'node:worker_threads';

export interface LimitedWorker { worker: Worker; ready: Promise<void> }

/**
 * Starts the thread module `name` (beside this file) with `memoryMb` of old
 * generation. Compiled to JavaScript (as shipped), the module runs as it is;
 * from TypeScript sources (tests), model-check-boot.mjs registers tsx's
 * loader in the thread first. `ready` resolves on the thread's `{ ready: true }`
 * message. `gone` is called when the thread errors (one outside a task must not
 * go unhandled and take the coordinator down), fails to start, or exits.
 */
export function startLimitedWorker(name: string, memoryMb: number, gone: (worker: Worker) => void): LimitedWorker {
  const compiled = import.meta.url.endsWith('.js');
  const entry = new URL(compiled ? `./${name}.js` : `./${name}.ts`, import.meta.url);
  const worker = new Worker(compiled ? entry : new URL('./model-check-boot.mjs', import.meta.url), {
    workerData: { entry: entry.href },
    resourceLimits: { maxOldGenerationSizeMb: memoryMb, maxYoungGenerationSizeMb: 64 },
  });
  worker.unref();
  worker.on('error', () => gone(worker));
  const ready = new Promise<void>((resolve, reject) => {
    const onMessage = (m: { ready?: boolean }) => {
      if (!m.ready) return;
      worker.off('message', onMessage).off('error', reject);
      resolve();
    };
    worker.on('message', onMessage).once('error', reject);
  });
  ready.catch(() => gone(worker));
  worker.once('exit', () => gone(worker));
  return { worker, ready };
}

/** A thread's answer to one task: `{ id, ok: true, … }` or `{ id, ok: false, … }`. */
export interface ThreadReply { id: number; ok: boolean }

export interface LimitedThreadOptions<Reply extends ThreadReply> {
  /** The thread's module beside this file (it posts `{ ready: true }`, then answers each `{ …task, id }` with a Reply). */
  module: string;
  /** Longest one task may take, ms; then the thread is ended and replaced. */
  timeMs: number;
  /** The thread's V8 heap, MiB. */
  memoryMb: number;
  /** A warm thread is ended this long after its last task (onnxruntime's WebAssembly memory never shrinks). */
  idleMs: number;
  /** The message a task gets once the runner is closed. */
  closedMessage: string;
  /** The error a task gets when it runs past timeMs. */
  overTime: () => Error;
  /** The error a task gets when its thread exits under it. */
  exited: (code: number) => Error;
  /** The error a task gets when the thread answers that it failed. */
  failed: (reply: Extract<Reply, { ok: false }>) => Error;
  /**
   * Given, memory is bounded twice: a thread out of heap ends the task with
   * `error`, and so does the process's resident memory growing by more than
   * memoryMb while the task runs (onnxruntime-web's WebAssembly memory, which
   * V8's limits do not cover), polled every `watchEveryMs`.
   */
  overMemory?: { error: () => Error; watchEveryMs: number };
}

export class LimitedThread<Task extends object, Reply extends ThreadReply> {
  private running: LimitedWorker | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private idle: NodeJS.Timeout | null = null;
  private closedNow = false;

  constructor(private readonly o: LimitedThreadOptions<Reply>) {}

  get closed(): boolean {
    return this.closedNow;
  }

  /** Runs `task` after those queued before it; the thread's successful reply. */
  run(task: Task): Promise<Extract<Reply, { ok: true }>> {
    const turn = this.queue.then(() => this.runNow(task));
    this.queue = turn.catch(() => {});
    return turn;
  }

  async close(): Promise<void> {
    this.closedNow = true;
    await this.stop();
  }

  private async runNow(task: Task): Promise<Extract<Reply, { ok: true }>> {
    const o = this.o;
    if (this.closedNow) throw new Error(o.closedMessage);
    if (this.idle) clearTimeout(this.idle);
    const { worker, ready } = this.running ??= this.start();
    await ready;
    const id = this.nextId++;
    const baseline = process.memoryUsage.rss();
    try {
      return await new Promise<Extract<Reply, { ok: true }>>((resolve, reject) => {
        const over = (e: Error) => {
          cleanup();
          void this.stop();
          reject(e);
        };
        const timer = setTimeout(() => over(o.overTime()), o.timeMs);
        const memory = o.overMemory?.error();
        const watch = o.overMemory && setInterval(() => {
          if (process.memoryUsage.rss() - baseline > o.memoryMb * 1024 * 1024) over(memory!);
        }, o.overMemory.watchEveryMs);
        const onMessage = (m: Reply) => {
          if (m.id !== id) return;
          cleanup();
          if (m.ok) resolve(m as Extract<Reply, { ok: true }>);
          else reject(o.failed(m as Extract<Reply, { ok: false }>));
        };
        const onError = (e: Error & { code?: string }) => over(memory && e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? memory : e);
        const onExit = (code: number) => over(o.exited(code));
        const cleanup = () => {
          clearTimeout(timer);
          if (watch) clearInterval(watch);
          worker.off('message', onMessage).off('error', onError).off('exit', onExit);
        };
        worker.on('message', onMessage).on('error', onError).on('exit', onExit);
        worker.postMessage({ ...task, id });
      });
    } finally {
      if (this.running && !this.closedNow) this.idle = setTimeout(() => void this.stop(), o.idleMs).unref();
    }
  }

  private start(): LimitedWorker {
    return startLimitedWorker(this.o.module, this.o.memoryMb, (worker) => { if (this.running?.worker === worker) this.running = null; });
  }

  private async stop(): Promise<void> {
    if (this.idle) clearTimeout(this.idle);
    this.idle = null;
    const r = this.running;
    this.running = null;
    await r?.worker.terminate();
  }
}
