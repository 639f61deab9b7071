/**
 * How large a message a volunteer's connection may send: what the result of a
 * copy it holds can legitimately be, and nothing more. A connection that holds
 * no copy (a stranger, or a volunteer that only said hello, which anyone may)
 * keeps the small allowance, so it cannot make the coordinator buffer a
 * result-sized message. Pure arithmetic over plain data.
 */
import { DTYPE_INFO } from '../../../shared/tensor/dtypes.ts';
import type { OutputSpec } from '../jobs/types.ts';

/**
 * What a result's framing adds to its tensors' bytes: the socket.io header
 * naming the copy and each output's name, dtype and dims (the data travel as
 * binary attachments, byte for byte).
 */
export function resultFramingBytes(outputs: number): number {
  return 64 * 1024 + 1024 * outputs;
}

/**
 * The bytes of a well-formed result's tensors when the graph fixes every dim
 * (axis 0 of stacked outputs is the shard's records), or null when it leaves
 * one free. `free` names what a free dim is known to be anyway (a local-steps
 * job's losses: one per step).
 */
export function shapedResultBytes(outputs: readonly OutputSpec[], records: number, stacked: boolean, free: (o: OutputSpec, axis: number) => number | null = () => null): number | null {
  let total = 0;
  for (const o of outputs) {
    if (o.dims === null) return null;
    let n = DTYPE_INFO[o.dtype].bytes;
    for (let axis = 0; axis < o.dims.length; axis++) {
      const d = stacked && axis === 0 ? records : o.dims[axis] ?? free(o, axis);
      if (d === null || d === undefined) return null;
      n *= d;
    }
    total += n;
  }
  return total;
}

/**
 * The largest message the holder of one copy may send: its result (bounded by
 * the output shapes when they are fixed, and always by the coordinator's
 * result limit) plus framing.
 */
export function copyUploadBytes(shaped: number | null, maxResultBytes: number, outputs: number): number {
  return Math.min(shaped ?? maxResultBytes, maxResultBytes) + resultFramingBytes(outputs);
}

export interface ConnectionAllowance {
  /** The largest one message may be. */
  messageBytes: number;
  /** The most bytes the connection may have in flight (received, not yet answered) at once. */
  inFlightBytes: number;
  /** Copies it holds: 0 means the small allowance applies. */
  copies: number;
}

/**
 * A connection's allowance from the copies its volunteer holds (each as its
 * `copyUploadBytes`): one message may be as large as the largest result, and
 * the results of all of them may be in flight together; holding none, the
 * small allowance.
 */
export function connectionAllowance(copies: readonly number[], small: number): ConnectionAllowance {
  if (copies.length === 0) return { messageBytes: small, inFlightBytes: small, copies: 0 };
  return {
    messageBytes: Math.max(small, ...copies),
    inFlightBytes: small + copies.reduce((a, b) => a + b, 0),
    copies: copies.length,
  };
}
