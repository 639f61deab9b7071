/**
 * What a simulated volunteer does with a copy: how long it takes and what it
 * answers. Honest volunteers compute (the shard's true value, within the
 * job's tolerance); cheaters follow one of the strategies of issue 13. A
 * strategy sees only what a real volunteer could learn: its own copies and
 * their outcomes (judgement news), and, for colluders, what friends learn
 * by comparing input bytes (which copies of one shard the group holds).
 */
export const STRATEGIES = [
  'random-wrong', 'plausible-noise', 'lazy-replay', 'fast-colluders', 'careful-colluders', 'sybils', 'forged-class', 'on-off', 'on-off-patient',
] as const;
export type Strategy = (typeof STRATEGIES)[number];

export const STRATEGY_NOTES: Record<Strategy, string> = {
  'random-wrong': 'answers at once with a random value',
  'plausible-noise': 'answers in half the time with the true value off by 1-3 % (outside tolerance)',
  'lazy-replay': 'answers at once with one of its own earlier results',
  'fast-colluders': 'answer at once, all with the same wrong value per shard, friends asking in tandem',
  'careful-colluders': 'compute honestly; lie (same value) only when the group holds as many copies of a shard as the job has replicas',
  'sybils': 'fast colluders that drop a caught identity and rejoin as a fresh one (new wallet, new /24)',
  'forged-class': 'fast colluders announcing an invented numeric class, on a homogeneous job',
  'on-off': 'compute honestly until they have seen 15 valid outcomes in a row, then lie (same value, at once) until caught',
  'on-off-patient': 'as on-off, but each lie is uploaded only after the time an honest computation would take (no faster than their own checked results)',
};

/** Colluding strategies: their members agree on one wrong value per shard and ask for work in tandem. */
export const COLLUDING: ReadonlySet<Strategy> = new Set(['fast-colluders', 'careful-colluders', 'sybils', 'forged-class', 'on-off', 'on-off-patient']);

/** Valid outcomes in a row an on-off attacker waits for before it lies (beyond the default trust threshold of 10). */
export const ON_OFF_AFTER = 15;

/** The wrong value colluders agree on for a shard: far outside any tolerance. */
export const agreedLie = (truth: number): number => truth + 1000;

export interface Answer {
  value: number;
  lie: boolean;
  /** Simulated milliseconds from assignment to upload. */
  ms: number;
}

/** What a volunteer's strategy needs to know to answer one copy. */
export interface AnswerContext {
  truth: number;
  /** This volunteer's honest computing time for a copy, ms. */
  computeMs: number;
  /** A fast cheater's turnaround (request, upload), ms. */
  fastMs: number;
  /** Uniform in [0, 1): the world's seeded draws. */
  draw: () => number;
  /** Its own earlier results (lazy-replay). */
  history: readonly number[];
  /** Valid outcomes in a row it has seen (on-off). */
  validRun: number;
  /** Careful colluders: whether the group lies on this shard (asked when the copy is uploaded). */
  groupLies: () => boolean;
}

/** Honest numerics: the true value within a small fraction of the default tolerance (rtol 1e-3). */
const honest = (c: AnswerContext): Answer => ({ value: c.truth * (1 + (c.draw() - 0.5) * 1e-5), lie: false, ms: c.computeMs });

export function answer(strategy: Strategy | 'honest', c: AnswerContext): Answer {
  switch (strategy) {
    case 'honest':
      return honest(c);
    case 'random-wrong':
      return { value: c.truth + 1 + c.draw() * 1e6, lie: true, ms: c.fastMs };
    case 'plausible-noise':
      return { value: c.truth * (1 + (c.draw() < 0.5 ? -1 : 1) * (0.01 + 0.02 * c.draw())), lie: true, ms: c.computeMs / 2 };
    case 'lazy-replay':
      // Until it has something to replay it must compute once.
      return c.history.length ? { value: c.history[Math.floor(c.draw() * c.history.length)]!, lie: true, ms: c.fastMs } : honest(c);
    case 'fast-colluders':
    case 'sybils':
    case 'forged-class':
      return { value: agreedLie(c.truth), lie: true, ms: c.fastMs };
    case 'careful-colluders':
      // Called at upload time: the group has seen by then which copies of the shard it holds.
      return c.groupLies() ? { value: agreedLie(c.truth), lie: true, ms: c.computeMs } : honest(c);
    case 'on-off':
      return c.validRun >= ON_OFF_AFTER ? { value: agreedLie(c.truth), lie: true, ms: c.fastMs } : honest(c);
    case 'on-off-patient':
      return c.validRun >= ON_OFF_AFTER ? { value: agreedLie(c.truth), lie: true, ms: c.computeMs } : honest(c);
  }
}
