import { describe, expect, it } from 'vitest';
import { loadMnist, mnistSize, mnistTensors, MNIST_PIXELS } from '../../../server/training/mnist.ts';
import { accuracy } from '../../../server/training/local-train.ts';

describe('mnist loader', () => {
  it('reads the digits shipped in the mnist package, scaled 0..1 with int64 labels', () => {
    expect(mnistSize()).toBeGreaterThan(9000);
    const { train, test } = loadMnist({ train: 500, test: 100, seed: 3 });
    expect(train.images.length).toBe(500 * MNIST_PIXELS);
    expect(train.labels).toBeInstanceOf(BigInt64Array);
    expect(test.count).toBe(100);
    let min = Infinity, max = -Infinity;
    for (const v of train.images) { min = Math.min(min, v); max = Math.max(max, v); }
    expect(min).toBe(0);
    expect(max).toBeGreaterThan(0.9);
    expect(max).toBeLessThanOrEqual(1);
    const classes = new Set(Array.from(train.labels, Number));
    expect([...classes].sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // each image has some ink
    for (let i = 0; i < 500; i++) expect(train.images.subarray(i * 784, (i + 1) * 784).some((v) => v > 0.5)).toBe(true);
  });

  it('is deterministic per seed, and train/test never share a sample', () => {
    const a = loadMnist({ train: 50, test: 50, seed: 8 });
    const b = loadMnist({ train: 50, test: 50, seed: 8 });
    expect(a.train.images).toEqual(b.train.images);
    expect(loadMnist({ train: 50, test: 0, seed: 9 }).train.images).not.toEqual(a.train.images);
    const all = loadMnist({ train: mnistSize() - 10, test: 10, seed: 8 });
    expect(all.test.count).toBe(10);
    expect(() => loadMnist({ train: mnistSize(), test: 1 })).toThrow(/asked for/);
  });

  it('exposes tensors in flat and image layouts', () => {
    const { train } = loadMnist({ train: 4, test: 0 });
    expect(mnistTensors(train).images.dims).toEqual([4, 784]);
    expect(mnistTensors(train, 'image').images.dims).toEqual([4, 1, 28, 28]);
    expect(mnistTensors(train).labels).toMatchObject({ dtype: 'int64', dims: [4] });
  });
});

describe('accuracy', () => {
  it('counts argmax hits', () => {
    // rows: argmax 1 (hit), argmax 0 (hit), a tie resolves to the first class (miss for label 1)
    expect(accuracy(Float32Array.from([0, 1, 5, 2, 3, 3]), BigInt64Array.from([1n, 0n, 1n]), 2)).toBeCloseTo(2 / 3, 12);
  });
});
