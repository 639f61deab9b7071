/**
 * The protobuf wire format, read and written by hand: the one codec under
 * every ONNX message tabgrid reads or writes (models, TensorProtos, the
 * self-test model). Hand-written rather than protobufjs because protobufjs
 * turns int64 into `Long` objects in Node but into lossy doubles in a browser
 * bundle, and reports truncation as a bare RangeError; here int64 is always a
 * bigint and every failure says what and where.
 */

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

/** Malformed bytes: `why` says what, `at` where (offset in the whole buffer). */
export class WireError extends Error {
  override name = 'WireError';
  constructor(readonly why: string, readonly at: number, readonly length: number, readonly truncated: boolean) {
    super(`${why} (at byte ${at} of ${length})`);
  }
}

/**
 * A cursor over protobuf bytes whose every read is bounds-checked. A nested
 * message is read by a reader over the same buffer with a narrower end, so
 * error offsets are always offsets into the whole file.
 */
export class WireReader {
  pos: number;
  private viewCache: DataView | null = null;

  constructor(readonly buf: Uint8Array, start = 0, readonly end = buf.byteLength) {
    this.pos = start;
  }

  /** A reader of the nested message in [start, end) of the same buffer. */
  sub(start: number, end: number): WireReader {
    const r = new WireReader(this.buf, start, end);
    r.viewCache = this.viewCache;
    return r;
  }

  private get view(): DataView {
    return (this.viewCache ??= new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength));
  }

  get done(): boolean { return this.pos >= this.end; }

  fail(why: string, at = this.pos, truncated = false): never {
    throw new WireError(why, at, this.buf.byteLength, truncated);
  }

  /** Reads a varint as unsigned 64-bit halves; protobuf varints are at most 10 bytes. */
  private varintParts(): [lo: number, hi: number] {
    const start = this.pos;
    let lo = 0;
    let hi = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) this.fail('truncated varint', start, true);
      const b = this.buf[this.pos++]!;
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) { lo |= (b & 0x0f) << 28; hi |= (b & 0x7f) >>> 4; }
      else hi |= (b & 0x7f) << (7 * i - 32);
      if ((b & 0x80) === 0) return [lo >>> 0, hi >>> 0];
    }
    return this.fail('varint longer than 10 bytes', start);
  }

  /** The varint's 64 bits, unsigned. */
  varint64(): bigint {
    const [lo, hi] = this.varintParts();
    return (BigInt(hi) << 32n) | BigInt(lo);
  }

  /** int32/enum fields: negative values arrive sign-extended to 64 bits; the low 32 bits are the value. */
  varint32(): number {
    return this.varintParts()[0] | 0;
  }

  /** A length or field tag: must fit a JS number. */
  varintSize(): number {
    const [lo, hi] = this.varintParts();
    if (hi > 0x1fffff) this.fail('varint too large');
    return hi * 2 ** 32 + lo;
  }

  /** `n` bytes as a view into the buffer (no copy). */
  bytes(n: number, field: string): Uint8Array {
    const left = this.end - this.pos;
    if (n > left) this.fail(`truncated: ${field} declares ${n} bytes but only ${left} remain`, this.pos, true);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }

  /** A length-delimited field's extent: [start, end) in the buffer, skipped over. */
  span(field: string): [start: number, end: number] {
    const n = this.varintSize();
    const start = this.pos;
    this.bytes(n, field);
    return [start, this.pos];
  }

  lengthDelimited(field: string): Uint8Array {
    return this.bytes(this.varintSize(), field);
  }

  float32(field: string): number {
    const at = this.pos;
    this.bytes(4, field);
    return this.view.getFloat32(at, true);
  }

  float64(field: string): number {
    const at = this.pos;
    this.bytes(8, field);
    return this.view.getFloat64(at, true);
  }

  skip(wireType: number, field: number): void {
    switch (wireType) {
      case WIRE_VARINT: this.varintParts(); break;
      case WIRE_I64: this.bytes(8, `field ${field}`); break;
      case WIRE_LEN: this.lengthDelimited(`field ${field}`); break;
      case WIRE_I32: this.bytes(4, `field ${field}`); break;
      default: this.fail(`invalid wire type ${wireType} for field ${field}`);
    }
  }
}

const utf8 = new TextEncoder();

/** Appends protobuf fields to a growing byte buffer. */
export class WireWriter {
  private buf = new Uint8Array(256);
  private len = 0;

  private room(n: number): void {
    if (this.len + n <= this.buf.byteLength) return;
    let size = this.buf.byteLength * 2;
    while (size < this.len + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private byte(b: number): void {
    this.room(1);
    this.buf[this.len++] = b;
  }

  /** Any integer as a varint of its 64-bit two's complement (negative int32/int64 take 10 bytes, as protobuf says). */
  varint(v: number | bigint): this {
    if (typeof v === 'number' && v >= 0 && v < 2 ** 31) {
      let x = v;
      while (x >= 0x80) { this.byte((x & 0x7f) | 0x80); x >>>= 7; }
      this.byte(x);
      return this;
    }
    let x = BigInt.asUintN(64, BigInt(v));
    while (x >= 0x80n) { this.byte(Number(x & 0x7fn) | 0x80); x >>= 7n; }
    this.byte(Number(x));
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.varint(field * 8 + wireType);
  }

  raw(b: Uint8Array): this {
    this.room(b.byteLength);
    this.buf.set(b, this.len);
    this.len += b.byteLength;
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    return this.tag(field, WIRE_LEN).varint(b.byteLength).raw(b);
  }

  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  /**
   * A length-delimited field whose body `write` appends: the length is
   * reserved at its largest and the body moved back once its size is known,
   * so nested messages need no buffers of their own.
   */
  message(field: number, write: () => void): this {
    this.tag(field, WIRE_LEN);
    const lenAt = this.len;
    this.room(5);
    this.len += 5;
    const start = this.len;
    write();
    const size = this.len - start;
    if (size >= 2 ** 35) throw new RangeError(`a ${size}-byte message is too large to write`);
    let n = 1;
    while (size >= 2 ** (7 * n)) n++;
    if (n < 5) {
      this.buf.copyWithin(lenAt + n, start, this.len);
      this.len -= 5 - n;
    }
    let x = size;
    for (let i = 0; i < n; i++) {
      this.buf[lenAt + i] = (i < n - 1 ? 0x80 : 0) | (x % 128);
      x = Math.floor(x / 128);
    }
    return this;
  }

  float32(field: number, f: number): this {
    this.tag(field, WIRE_I32);
    this.room(4);
    new DataView(this.buf.buffer).setFloat32(this.len, f, true);
    this.len += 4;
    return this;
  }

  float64(field: number, f: number): this {
    this.tag(field, WIRE_I64);
    this.room(8);
    new DataView(this.buf.buffer).setFloat64(this.len, f, true);
    this.len += 8;
    return this;
  }

  /** The bytes written so far, as an exactly-sized plain Uint8Array. */
  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}
