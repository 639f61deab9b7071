/**
 * The one ONNX codec (shared/onnx/proto.ts over wire.ts), checked against an
 * independent decoder: onnx-proto (protobufjs, generated from onnx.proto).
 */
import onnxProto from 'onnx-proto';
import type { onnx } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import {
  decodeModelProto, decodeTensorProtoMessage, encodeModelProto, int64ToBigInt, type ModelProto, WireError,
} from '../../../shared/onnx/proto.ts';
import { WireWriter } from '../../../shared/onnx/wire.ts';
import { caseDirs, readShared } from './shared-data.ts';

const ref = onnxProto.onnx;

/** A protobufjs Long (or number) as a bigint, for comparing with our bigints. */
const refInt = (v: unknown): bigint => (v === null || v === undefined ? 0n : BigInt(String(v)));

function sameGraph(ours: ModelProto['graph'], theirs: onnx.IGraphProto, where: string): void {
  expect(ours!.node!.length, where).toBe(theirs.node!.length);
  ours!.node!.forEach((n, i) => {
    const t = theirs.node![i]!;
    expect([n.opType, n.domain ?? '', n.name ?? '', n.input, n.output], `${where} node ${i}`)
      .toEqual([t.opType, t.domain ?? '', t.name ?? '', t.input, t.output]);
    n.attribute!.forEach((a, k) => {
      const ta = t.attribute![k]!;
      expect([a.name, a.type ?? 0, a.f ?? 0, int64ToBigInt(a.i), (a.ints ?? []).map(int64ToBigInt), a.floats ?? []], `${where} node ${i} attr ${a.name}`)
        .toEqual([ta.name, ta.type ?? 0, ta.f ?? 0, refInt(ta.i), (ta.ints ?? []).map(refInt), ta.floats ?? []]);
      if (a.g) sameGraph(a.g, ta.g!, `${where} node ${i} ${a.name}`);
    });
  });
  expect(ours!.initializer!.map((t) => [t.name, t.dataType, (t.dims ?? []).map(int64ToBigInt), t.rawData?.byteLength ?? 0]), where)
    .toEqual(theirs.initializer!.map((t) => [t.name, t.dataType, (t.dims ?? []).map(refInt), t.rawData?.byteLength ?? 0]));
  const io = (vs: onnx.IValueInfoProto[] | ModelProto[] | undefined | null) => (vs as onnx.IValueInfoProto[]).map((v) => [
    v.name, v.type?.tensorType?.elemType ?? null,
    v.type?.tensorType?.shape?.dim?.map((d) => (d.dimParam ? d.dimParam : refInt(d.dimValue))) ?? null,
  ]);
  expect(io(ours!.input as never), where).toEqual(io(theirs.input));
  expect(io(ours!.output as never), where).toEqual(io(theirs.output));
}

describe('decodeModelProto', () => {
  it('reads every conformance and zoo model as onnx-proto does', () => {
    const files = [
      ...['light_squeezenet', 'light_shufflenet'].map((f) => ['light', `${f}.onnx`]),
      ...caseDirs('pytorch-converted').map((d) => ['pytorch-converted', d, 'model.onnx']),
      ...caseDirs('simple').map((d) => ['simple', d, 'model.onnx']),
    ];
    expect(files.length).toBeGreaterThan(60);
    for (const parts of files) {
      const bytes = readShared(...parts);
      const ours = decodeModelProto(bytes);
      const theirs = ref.ModelProto.decode(bytes);
      const where = parts.join('/');
      expect(int64ToBigInt(ours.irVersion), where).toBe(refInt(theirs.irVersion));
      expect(ours.opsetImport!.map((o) => [o.domain ?? '', int64ToBigInt(o.version)]), where)
        .toEqual(theirs.opsetImport.map((o) => [o.domain ?? '', refInt(o.version)]));
      sameGraph(ours.graph, theirs.graph!, where);
      // and what we write, onnx-proto reads back the same
      sameGraph(decodeModelProto(encodeModelProto(ours)).graph, ref.ModelProto.decode(encodeModelProto(ours)).graph!, `${where} re-encoded`);
    }
  });

  it('keeps int64 exact at both extremes, where a double would round', () => {
    const min = -(2n ** 63n);
    const max = 2n ** 63n - 1n;
    const m: ModelProto = {
      irVersion: 8,
      opsetImport: [{ version: 17 }],
      graph: {
        node: [{ opType: 'Slice', input: ['x'], output: ['y'], attribute: [{ name: 'ends', type: 7, ints: [max, min, 2n ** 53n + 1n] }] }],
        initializer: [{ name: 'w', dims: [1], dataType: 7, int64Data: [min] }],
        output: [{ name: 'y' }],
      },
    };
    const back = decodeModelProto(encodeModelProto(m));
    expect(back.graph!.node![0]!.attribute![0]!.ints).toEqual([max, min, 2n ** 53n + 1n]);
    expect(back.graph!.initializer![0]!.int64Data).toEqual([min]);
    // a Long, as protobufjs hands int64 over in Node, encodes the same
    const long = { low: 1, high: -0x80000000, unsigned: false };
    const viaLong = decodeModelProto(encodeModelProto({ ...m, irVersion: long }));
    expect(viaLong.irVersion).toBe(min + 1n);
  });

  it('reads repeated numbers packed (proto3 writers) and unpacked (ONNX\'s proto2 serializer) alike', () => {
    const unpacked = new WireWriter().tag(1, 0).varint(3).tag(1, 0).varint(4).tag(2, 0).varint(1).finish();
    const packedBody = new WireWriter().varint(3).varint(4).finish();
    const packed = new WireWriter().bytes(1, packedBody).tag(2, 0).varint(1).finish();
    expect(decodeTensorProtoMessage(unpacked).dims).toEqual([3n, 4n]);
    expect(decodeTensorProtoMessage(packed).dims).toEqual([3n, 4n]);
  });

  it('writes back fields it does not read, at every level, unchanged', () => {
    const m = decodeModelProto(readShared('pytorch-converted/test_Conv2d/model.onnx'));
    // field 25 of ModelProto (functions), 9 of NodeProto (metadata_props), 99 of a TensorProto: none in the tables
    const fn = new WireWriter().bytes(25, new WireWriter().string(1, 'my_function').finish()).finish();
    const meta = new WireWriter().bytes(9, new WireWriter().string(1, 'k').string(2, 'v').finish()).finish();
    const odd = new WireWriter().tag(99, 0).varint(7).finish();
    m.unknownFields = [fn];
    m.graph!.node![0]!.unknownFields = [meta];
    m.graph!.initializer![0]!.unknownFields = [odd];
    const bytes = encodeModelProto(m);
    const back = decodeModelProto(bytes);
    expect(back.unknownFields).toEqual([fn]);
    expect(back.graph!.node![0]!.unknownFields).toEqual([meta]);
    expect(back.graph!.initializer![0]!.unknownFields).toEqual([odd]);
    expect(ref.ModelProto.decode(bytes).functions[0]!.name).toBe('my_function');
    expect(encodeModelProto(back)).toEqual(bytes);
  });

  it('writes nested lengths right at every varint size boundary', () => {
    for (const size of [0, 1, 100, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152]) {
      const raw = new Uint8Array(size);
      for (let i = 0; i < size; i++) raw[i] = i * 7;
      const bytes = encodeModelProto({ irVersion: 8, graph: { name: 'g', initializer: [{ name: 'w', dims: [size], dataType: 2, rawData: raw }] } });
      const theirs = ref.ModelProto.decode(bytes);
      expect(theirs.graph!.name, `size ${size}`).toBe('g');
      expect(Buffer.from(theirs.graph!.initializer![0]!.rawData!).equals(Buffer.from(raw)), `size ${size}`).toBe(true);
      expect(Buffer.from(decodeModelProto(bytes).graph!.initializer![0]!.rawData!).equals(Buffer.from(raw)), `size ${size}`).toBe(true);
    }
  });

  it('encodes only what a protobufjs object sets, not the defaults its prototype carries', () => {
    const plain: onnx.IModelProto = {
      irVersion: 8, opsetImport: [{ domain: '', version: 17 }],
      graph: { node: [{ opType: 'Relu', input: ['x'], output: ['y'] }], output: [{ name: 'y', type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'N' }] } } } }] },
    };
    const made = ref.ModelProto.fromObject(plain as never);
    expect(encodeModelProto(made as ModelProto)).toEqual(encodeModelProto(plain as ModelProto));
    const dim = decodeModelProto(encodeModelProto(made as ModelProto)).graph!.output![0]!.type!.tensorType!.shape!.dim![0]!;
    expect(dim).toEqual({ dimParam: 'N' });
  });

  it('fails with a WireError at any cut, and refuses subgraphs nested past the limit without overflowing the stack', () => {
    const bytes = readShared('pytorch-converted/test_Conv2d/model.onnx');
    for (let cut = 1; cut < bytes.byteLength; cut += 7) {
      try {
        decodeModelProto(bytes.subarray(0, cut));
      } catch (e) {
        expect(e, `cut at ${cut}`).toBeInstanceOf(WireError);
      }
    }
    let g = new WireWriter().bytes(1, new WireWriter().string(4, 'Relu').finish()).finish();
    for (let i = 0; i < 200; i++) {
      const attr = new WireWriter().string(1, 'then_branch').tag(20, 0).varint(5).bytes(6, g).finish();
      g = new WireWriter().bytes(1, new WireWriter().string(4, 'If').bytes(5, attr).finish()).finish();
    }
    const deep = new WireWriter().tag(1, 0).varint(8).bytes(7, g).finish();
    expect(() => decodeModelProto(deep)).toThrow(/messages nested more than 64 deep/);
  });
});
