# Regenerates npy-fixtures.ts: python3 test/unit/shared/npy-fixtures.gen.py > test/unit/shared/npy-fixtures.ts
import numpy as np, io, base64, json
from numpy.lib import format as fmt

def save(arr, version=None):
    b = io.BytesIO()
    if version is None: np.save(b, arr)
    else: fmt.write_array(b, arr, version=version)
    return base64.b64encode(b.getvalue()).decode()

def vals(a):
    c = np.ascontiguousarray(a)
    flat = c.reshape(-1)
    if c.dtype.kind == 'f' and c.dtype.itemsize == 2:
        return [int(x) for x in flat.astype('<f2').view('<u2')]  # bits
    if c.dtype.kind in 'iu' and c.dtype.itemsize == 8:
        return [str(int(x)) for x in flat]
    if c.dtype.kind == 'b':
        return [int(x) for x in flat]
    return [float(x) if c.dtype.kind == 'f' else int(x) for x in flat]

cases = []
def add(name, arr, dtype, version=None, note=''):
    cases.append(dict(name=name, b64=save(arr, version), dtype=dtype, dims=list(arr.shape), values=vals(arr), descr=arr.dtype.str, fortran=bool(np.isfortran(arr) and arr.ndim > 1), version=list(version or (1,0))))

# np.save output for every dtype tabgrid carries (C order, little-endian): encodeNpy must reproduce these bytes
add('float32', np.array([[0, 1.5, -2.25], [3e38, -0.0, 1e-30]], dtype='<f4'), 'float32')
add('float16', np.array([1.0, -2.5, 65504, 6e-8], dtype='<f2'), 'float16')
add('float64', np.array([np.pi, -1e300, 5e-324], dtype='<f8'), 'float64')
add('int8', np.array([-128, 0, 127], dtype='i1'), 'int8')
add('int16', np.array([[-32768, 1], [2, 32767]], dtype='<i2'), 'int16')
add('int32', np.array([-2**31, 7, 2**31 - 1], dtype='<i4'), 'int32')
add('int64', np.array([-2**63, 2**53 + 1, 2**63 - 1], dtype='<i8'), 'int64')
add('uint8', np.array([0, 200, 255], dtype='u1'), 'uint8')
add('uint16', np.array([0, 65535], dtype='<u2'), 'uint16')
add('uint32', np.array([0, 2**32 - 1, 123456789], dtype='<u4'), 'uint32')
add('uint64', np.array([0, 2**64 - 1], dtype='<u8'), 'uint64')
add('bool', np.array([[True, False], [False, True]]), 'bool')
add('scalar', np.array(3.5, dtype='<f4'), 'float32')
add('empty', np.zeros((0, 3), dtype='<f4'), 'float32')
add('rank5', np.arange(32, dtype='<i2').reshape(1, 2, 2, 4, 2), 'int16')
# what encodeNpy never writes but decodeNpy must read
add('big-endian int32', np.array([1, -2, 70000], dtype='>i4'), 'int32')
add('big-endian float64 2-d', np.array([[1.25, -3], [1e10, 0.1]], dtype='>f8'), 'float64')
add('big-endian uint64', np.array([1, 2**64 - 2], dtype='>u8'), 'uint64')
add('big-endian float16', np.array([0.5, -65504], dtype='>f2'), 'float16')
add('fortran float64 3-d', np.asfortranarray(np.arange(24, dtype='<f8').reshape(2, 3, 4)), 'float64')
add('fortran big-endian int16 2-d', np.asfortranarray(np.array([[1, 2, 3], [4, 5, 6]], dtype='>i2')), 'int16')
add('fortran 1-d', np.asfortranarray(np.array([1, 2, 3], dtype='<i4')), 'int32')
add('version 2.0', np.array([[1, 2], [3, 2**40]], dtype='<i8'), 'int64', (2, 0))
add('version 3.0', np.array([7, 65000], dtype='<u2'), 'uint16', (3, 0))

print('// Generated with numpy ' + np.__version__ + ' (np.save / numpy.lib.format.write_array); values in C order,')
print('// int64/uint64 as decimal strings, float16 as its bit patterns.')
print('export interface NpyFixture { name: string; b64: string; dtype: string; dims: number[]; values: Array<number | string>; descr: string; fortran: boolean; version: number[] }')
print('export const NPY_FIXTURES: NpyFixture[] = [\n' + ''.join('  ' + json.dumps(c) + ',\n' for c in cases) + '];')
