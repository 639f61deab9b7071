/** MNIST training jobs for tests: digits from the `mnist` package, uploaded as tensor blobs. */
import type { ApiClient } from '../../cli/api-client.ts';
import { loadMnist } from '../../server/training/mnist.ts';
import { buildCnn, buildMlp } from '../../server/training/models.ts';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';

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
