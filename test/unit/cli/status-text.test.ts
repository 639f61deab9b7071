/** `tabgrid status`'s words for how a training job trains and in what formats its numbers travel. */
import { describe, expect, it } from 'vitest';
import { modeText } from '../../../cli/status-text.ts';

describe('modeText', () => {
  it('names each way weights go down', () => {
    expect(modeText({ localSteps: 1, updateFormat: 'fp32', weightsFormat: 'fp32' })).toBe('synchronous rounds (fp32 gradients up, fp32 weights down)');
    // fp32 changes make no deltas: full weights every round, in the weights format.
    expect(modeText({ localSteps: 8, updateFormat: 'fp32', weightsFormat: 'fp16' })).toBe('local steps 8, changes up in fp32, full weights down in fp16 every round');
    expect(modeText({ localSteps: 8, updateFormat: 'int8', weightsFormat: 'fp32' }))
      .toBe('local steps 8, changes up in int8, weights down as int8 deltas, full weights in fp32 to a volunteer with no usable version');
    // A compressed update format at one local step is local-steps training too (train-service.ts).
    expect(modeText({ localSteps: 1, updateFormat: 'fp16', weightsFormat: 'fp16' }))
      .toBe('local steps 1, changes up in fp16, weights down as fp16 deltas, full weights in fp16 to a volunteer with no usable version');
  });
});
