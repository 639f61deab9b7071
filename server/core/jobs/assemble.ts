/** Reassembles a job's outputs from its shards' canonical results, in shard order. */
import { concatRecords, type NamedTensor } from '../../../shared/tensor/tensor.ts';

export function assembleOutputs(outputNames: readonly string[], shardOutputs: readonly NamedTensor[][], stack: boolean): NamedTensor[] {
  if (shardOutputs.length === 0) throw new Error('no shard results to assemble');
  if (!stack) {
    if (shardOutputs.length !== 1) throw new Error(`an unsplit job has one shard, got ${shardOutputs.length}`);
    return shardOutputs[0]!;
  }
  return outputNames.map((name, i) => ({ name, ...concatRecords(shardOutputs.map((s) => s[i]!)) }));
}
