/**
 * Runs model checks (model-check-worker.ts) on a worker thread with a time
 * and a memory limit, one check at a time (LimitedThread, limited-worker.ts).
 *
 * A 141-byte model whose dead MatMul is fed by a 4096×4096 ConstantOfShape
 * kept onnxruntime-web's constant folding busy for 13 s, and a million-node
 * chain took minutes and gigabytes, when the check ran on the coordinator's
 * event loop. Here such a model costs at most the limits, is refused with a
 * message naming the limit it hit, and the thread is replaced.
 *
 * Memory is bounded twice: V8's heap by `resourceLimits` (parsing a huge graph
 * is JavaScript objects), and onnxruntime-web's WebAssembly memory, which V8's
 * limits do not cover, by watching the process's resident memory while a
 * check runs (the coordinator does little else that grows it meanwhile).
 */
import { ModelError, type ModelSignature } from '../../shared/onnx/model.ts';
import type { LossKind, TrainStep } from '../training/autodiff/index.ts';
import { LimitedThread } from './limited-worker.ts';

export interface ModelCheckLimits {
  /** Longest a model's check may take, ms. */
  timeMs: number;
  /** Most memory a check may take, MiB: the thread's heap, and the process's growth while it runs. */
  memoryMb: number;
}

export const DEFAULT_MODEL_CHECK_LIMITS: ModelCheckLimits = { timeMs: 20_000, memoryMb: 1024 };

/** One shard's batch dims (records first) of the data and the labels, as a training job would feed them. */
export interface ShardBatchDims {
  data: number[];
  labels: number[];
}

type CheckWork =
  | { op: 'inspect'; file: string; loadsAlready: boolean }
  | { op: 'estimate'; file: string; shapes: Record<string, number[]> }
  | { op: 'trainStep'; file: string; loss: LossKind; shard: ShardBatchDims };
export type CheckRequest = CheckWork & { id: number };

export type CheckReply =
  | { id: number; ok: true; signature: ModelSignature }
  | { id: number; ok: true; flops: { flops: number; unknownOps: string[] }; hazards: string[] }
  | ({ id: number; ok: true } & TrainStepCheck)
  | { id: number; ok: false; model: boolean; error: string };

export interface ModelEstimate {
  flops: { flops: number; unknownOps: string[] };
  hazards: string[];
}

/** A forward model's train step, built and measured on the thread. */
export interface TrainStepCheck {
  step: TrainStep;
  /** FLOPs of the step on one shard's batch; null when that batch does not fit the step (the caller says why). */
  shardFlops: number | null;
  /** The forward model's first output's last dim (its classes), when it is a number. */
  classes: number | null;
}

/** A check refused for exceeding a limit (a ModelError: the project is told). */
export class ModelLimitError extends ModelError {}

const WATCH_EVERY_MS = 25;
/** A warm thread is kept this long after its last check, then ended (onnxruntime's WebAssembly memory never shrinks). */
const IDLE_MS = 120_000;

export class ModelChecker {
  private readonly thread: LimitedThread<CheckWork, CheckReply>;

  constructor(readonly limits: ModelCheckLimits = DEFAULT_MODEL_CHECK_LIMITS) {
    const { timeMs, memoryMb } = limits;
    this.thread = new LimitedThread({
      module: 'model-check-worker', timeMs, memoryMb, idleMs: IDLE_MS,
      closedMessage: 'the model checker is closed',
      overTime: () => new ModelLimitError(`checking the model took longer than ${timeMs / 1000} s, this coordinator's time limit for a model check`),
      exited: (code) => new Error(`the model check thread exited (code ${code})`),
      failed: (m) => m.model ? new ModelError(m.error) : new Error(`model check failed: ${m.error}`),
      overMemory: {
        watchEveryMs: WATCH_EVERY_MS,
        error: () => new ModelLimitError(`checking the model needed more than ${memoryMb} MiB of memory, this coordinator's memory limit for a model check`),
      },
    });
  }

  /** Parses the model, checks its signature, and loads it in onnxruntime-web unless `loadsAlready`. */
  async inspect(file: string, o: { loadsAlready?: boolean } = {}): Promise<ModelSignature> {
    const r = await this.thread.run({ op: 'inspect', file, loadsAlready: o.loadsAlready ?? false });
    if (!('signature' in r)) throw new Error('model check thread answered an inspect with something else');
    return r.signature;
  }

  /** FLOPs of one run with these input shapes, and what WebGPU computes wrongly in it. */
  async estimate(file: string, shapes: Record<string, number[]>): Promise<ModelEstimate> {
    const r = await this.thread.run({ op: 'estimate', file, shapes });
    if (!('flops' in r)) throw new Error('model check thread answered an estimate with something else');
    return { flops: r.flops, hazards: r.hazards };
  }

  /**
   * Builds a forward model's train step (parsing, shape inference, autodiff) and
   * estimates its FLOPs on one shard's batch: a training submission's model costs
   * the coordinator no more than an inference model's check.
   */
  async trainStep(file: string, loss: LossKind, shard: ShardBatchDims): Promise<TrainStepCheck> {
    const r = await this.thread.run({ op: 'trainStep', file, loss, shard });
    if (!('step' in r)) throw new Error('model check thread answered a train step with something else');
    return { step: r.step, shardFlops: r.shardFlops, classes: r.classes };
  }

  close(): Promise<void> {
    return this.thread.close();
  }
}
