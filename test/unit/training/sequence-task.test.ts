import { describe, expect, it } from 'vitest';
import { IGNORE_INDEX } from '../../../server/training/autodiff/losses.ts';
import { generateSequenceTask, SEPARATOR } from '../../../server/training/sequence-task.ts';

describe('sequence task: reverse', () => {
  const t = generateSequenceTask({ task: 'reverse', digits: 4, count: 500, seed: 3 });

  it('lays out question, separator and answer, and labels only the answer\'s next tokens', () => {
    expect(t.length).toBe(8);
    for (let r = 0; r < t.count; r++) {
      const tok = Array.from(t.tokens.subarray(r * 8, r * 8 + 8));
      const lab = Array.from(t.labels.subarray(r * 8, r * 8 + 8), Number);
      const q = tok.slice(0, 4);
      expect(tok[4]).toBe(SEPARATOR);
      // The record is the full sequence minus its last token; each answer position predicts the next.
      const answer = q.slice().reverse();
      expect(tok.slice(5)).toEqual(answer.slice(0, 3));
      expect(lab).toEqual([IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX, ...answer]);
    }
  });

  it('draws distinct sequences, the same for a seed', () => {
    const keys = new Set(Array.from({ length: t.count }, (_, r) => t.tokens.subarray(r * 8, r * 8 + 4).join(',')));
    expect(keys.size).toBe(t.count);
    expect(generateSequenceTask({ task: 'reverse', digits: 4, count: 500, seed: 3 }).tokens).toEqual(t.tokens);
    expect(generateSequenceTask({ task: 'reverse', digits: 4, count: 500, seed: 4 }).tokens).not.toEqual(t.tokens);
  });

  it('refuses what it cannot generate, precisely', () => {
    expect(() => generateSequenceTask({ task: 'reverse', digits: 2, count: 26 })).toThrow(/over a quarter of the 100/);
    expect(() => generateSequenceTask({ task: 'reverse', digits: 1, count: 1 })).toThrow(/digits must be an integer in 2\.\.15/);
    expect(() => generateSequenceTask({ task: 'sort' as 'reverse', count: 1 })).toThrow(/unknown sequence task "sort"; known: reverse/);
  });
});
