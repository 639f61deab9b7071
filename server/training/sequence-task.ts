/**
 * Seeded synthetic sequence tasks for the causal transformer (transformer.ts):
 * the model reads a question and then predicts the answer one token at a time.
 *
 * `reverse`: `digits` random digits, a separator, then the same digits
 * reversed. A record is the token sequence minus its last token (length
 * T = 2·digits); its labels are the next tokens at the answer's positions and
 * IGNORE_INDEX on the question's, so the loss and the held-out score look at
 * the answer only. Scoring is teacher-forced: the forward model sees the
 * whole record at once and each answer position's argmax must be the right
 * digit; a record counts only if every answer digit is right (exact match;
 * chance 10^-digits).
 *
 * Sequences are distinct (drawn without repetition), so a held-out record
 * never repeats one trained on, whichever records the job holds out.
 */
import { IGNORE_INDEX } from './autodiff/losses.ts';
import { createRng } from './rng.ts';

export const SEQUENCE_TASKS = ['reverse'] as const;
export type SequenceTaskName = (typeof SEQUENCE_TASKS)[number];

/** Digits 0..9, then the separator. */
export const SEPARATOR = 10;
export const SEQUENCE_VOCAB = 11;

export interface SequenceTaskOptions {
  task: SequenceTaskName;
  /** Digits in a question; default 6. */
  digits?: number;
  /** Records to generate. */
  count: number;
  seed?: number;
}

export interface SequenceData {
  task: SequenceTaskName;
  digits: number;
  count: number;
  /** T: tokens per record. */
  length: number;
  vocab: number;
  /** [count, T] token ids as float32 (the model casts them to int64). */
  tokens: Float32Array;
  /** [count, T] next-token ids at answer positions, IGNORE_INDEX elsewhere. */
  labels: BigInt64Array;
}

export function generateSequenceTask(o: SequenceTaskOptions): SequenceData {
  const digits = o.digits ?? 6;
  if (!(Number.isInteger(digits) && digits >= 2 && digits <= 15)) throw new Error(`digits must be an integer in 2..15, got ${digits}`);
  if (!(Number.isInteger(o.count) && o.count >= 1)) throw new Error(`count must be a positive integer, got ${o.count}`);
  // Leave room: drawing most of a small space without repetition would take long and leave little unseen.
  if (o.count > 10 ** digits / 4) throw new Error(`${o.count} distinct ${digits}-digit sequences is over a quarter of the ${10 ** digits} there are; ask for more digits`);
  if (!(SEQUENCE_TASKS as readonly string[]).includes(o.task)) throw new Error(`unknown sequence task ${JSON.stringify(o.task)}; known: ${SEQUENCE_TASKS.join(', ')}`);
  const rng = createRng(o.seed ?? 0);
  const T = 2 * digits;
  const tokens = new Float32Array(o.count * T);
  const labels = new BigInt64Array(o.count * T).fill(BigInt(IGNORE_INDEX));
  const seen = new Set<string>();
  const q = new Array<number>(digits);
  for (let r = 0; r < o.count;) {
    for (let i = 0; i < digits; i++) q[i] = rng.int(10);
    const key = q.join('');
    if (seen.has(key)) continue;
    seen.add(key);
    // The full sequence: question, separator, answer (the question reversed).
    const full = [...q, SEPARATOR, ...q.slice().reverse()];
    const base = r * T;
    for (let t = 0; t < T; t++) tokens[base + t] = full[t]!;
    // Position t predicts full[t + 1]; the answer starts after the separator (position `digits`).
    for (let t = digits; t < T; t++) labels[base + t] = BigInt(full[t + 1]!);
    r++;
  }
  return { task: o.task, digits, count: o.count, length: T, vocab: SEQUENCE_VOCAB, tokens, labels };
}
