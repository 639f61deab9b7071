/** MNIST training jobs for tests: digits from the `mnist` package, uploaded as tensor blobs. */
import type { ApiClient } from '../../cli/api-client.ts';
import type { TrainJobRequest } from '../../shared/http/client.ts';
import { epochOrder, holdOut, splitRange } from '../../server/core/training/schedule.ts';
import { loadMnist } from '../../server/training/mnist.ts';
import { buildCnn, buildMlp } from '../../server/training/models.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { gatherRecords, type Tensor, tensorFromTyped } from '../../shared/tensor/tensor.ts';

export interface MnistUpload {
  model: string;
  data: { blob: string; format: 'tensors' };
  labels: { blob: string; format: 'tensors' };
  images: Float32Array;
  classes: BigInt64Array;
}

/** `count` digits as one data set; the job holds out its own eval fraction. */
export async function uploadMnist(api: ApiClient, o: { count: number; cnn?: boolean; seed?: number }): Promise<MnistUpload> {
  const { train } = loadMnist({ train: o.count, test: 0, seed: o.seed ?? 1 });
  const dims = o.cnn ? [o.count, 1, 28, 28] : [o.count, 784];
  const model = o.cnn ? buildCnn({ seed: 1 }) : buildMlp({ seed: 1 });
  return {
    model: await api.uploadBlob(model),
    data: { blob: await api.uploadBlob(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', dims, train.images) }])), format: 'tensors' },
    labels: { blob: await api.uploadBlob(encodeTensors([{ name: 'y', ...tensorFromTyped('int64', [o.count], train.labels) }])), format: 'tensors' },
    images: train.images,
    classes: train.labels,
  };
}

/** A cross-entropy training job on the uploaded digits, the rest of the request (optimizer, batch, seed...) from `o`. */
export function mnistTrainJob(up: MnistUpload, o: Omit<TrainJobRequest, 'kind' | 'model' | 'data' | 'labels' | 'loss'>): TrainJobRequest {
  return { kind: 'train', model: up.model, data: up.data, labels: up.labels, loss: 'cross-entropy', ...o };
}

/**
 * The records of round 0's first shard in a job with no held-out split, as the
 * coordinator gathers them: the epoch-0 order over the training records, the
 * round's first `roundRecords` split into `shardsPerRound`.
 */
export function firstShardRecords(o: { records: number; seed: number; roundRecords: number; shardsPerRound: number }): number[] {
  const train = holdOut(o.records, 0, o.seed).train;
  const shard = splitRange(0, o.roundRecords, o.shardsPerRound)[0]!;
  return Array.from(epochOrder(o.seed, 0, train.length).subarray(shard.start, shard.end), (r) => train[r]!);
}

/** The uploaded digits `rows`, in that order, as an image tensor [n, 784] and a label tensor [n]. */
export function mnistRecords(up: MnistUpload, rows: ArrayLike<number>): { images: Tensor; labels: Tensor } {
  return {
    images: gatherRecords(tensorFromTyped('float32', [up.classes.length, 784], up.images), rows),
    labels: gatherRecords(tensorFromTyped('int64', [up.classes.length], up.classes), rows),
  };
}
