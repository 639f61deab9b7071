/**
 * Element types tabgrid moves between coordinator and volunteers: exactly the
 * ones onnxruntime-web can feed to or read from a session (strings excluded).
 */
export const DTYPES = [
  'float32', 'float16', 'float64',
  'int8', 'int16', 'int32', 'int64',
  'uint8', 'uint16', 'uint32', 'uint64',
  'bool',
] as const;

export type DType = (typeof DTYPES)[number];

interface DTypeInfo {
  readonly bytes: number;
  /** onnx.TensorProto.DataType enum value */
  readonly onnx: number;
  /** numpy's dtype.str for little-endian storage */
  readonly npy: string;
  readonly float: boolean;
}

export const DTYPE_INFO: Readonly<Record<DType, DTypeInfo>> = {
  float32: { bytes: 4, onnx: 1, npy: '<f4', float: true },
  uint8: { bytes: 1, onnx: 2, npy: '|u1', float: false },
  int8: { bytes: 1, onnx: 3, npy: '|i1', float: false },
  uint16: { bytes: 2, onnx: 4, npy: '<u2', float: false },
  int16: { bytes: 2, onnx: 5, npy: '<i2', float: false },
  int32: { bytes: 4, onnx: 6, npy: '<i4', float: false },
  int64: { bytes: 8, onnx: 7, npy: '<i8', float: false },
  bool: { bytes: 1, onnx: 9, npy: '|b1', float: false },
  float16: { bytes: 2, onnx: 10, npy: '<f2', float: true },
  float64: { bytes: 8, onnx: 11, npy: '<f8', float: true },
  uint32: { bytes: 4, onnx: 12, npy: '<u4', float: false },
  uint64: { bytes: 8, onnx: 13, npy: '<u8', float: false },
};

const BY_ONNX = new Map<number, DType>(DTYPES.map((d) => [DTYPE_INFO[d].onnx, d]));

export function isDType(x: unknown): x is DType {
  return typeof x === 'string' && (DTYPES as readonly string[]).includes(x);
}

export function bytesPerElement(dtype: DType): number {
  return DTYPE_INFO[dtype].bytes;
}

export function isFloat(dtype: DType): boolean {
  return DTYPE_INFO[dtype].float;
}

/** Maps an ONNX TensorProto.DataType to a dtype, or null when tabgrid cannot carry it (string, complex, bfloat16...). */
export function dtypeFromOnnx(code: number): DType | null {
  return BY_ONNX.get(code) ?? null;
}

export function onnxDataType(dtype: DType): number {
  return DTYPE_INFO[dtype].onnx;
}
