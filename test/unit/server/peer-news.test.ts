import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { type PeerNews, PeerNewsSchema, PeerRelay } from '../../../server/gateway/cluster.ts';

describe('news between coordinators', () => {
  const news: PeerNews = {
    from: '0b6f3c1e-54f1-4a7e-9a43-3b0f0d8e2f11',
    swarm: { volunteers: { wasm: 3, webgpu: 1 }, shardsPerMin: 42, flopsPerMin: 1.5e12 },
    outcomes: [['VP7M3cLZGvawr_upHC365k', { copyId: 'VP7M3f7o2tDcUxnOfAhmiF', jobId: 'VP7M3cLZGvawr_upHC365k', outcome: 'invalid', reason: 'disagrees with the quorum', credit: 0 }]],
    credited: ['volunteer:VP7M348TjzmKf2CIfDQYg-'],
    projects: ['VP7M3Zye2-JlKDlF0e9e6k'],
    trusted: ['wasm/ort-1.22.0'],
  };

  it('accepts what a coordinator sends', () => {
    expect(v.parse(PeerNewsSchema, news)).toEqual(news);
  });

  it('takes news from a coordinator that tells no trusted classes (an older version) as telling none', () => {
    const { trusted: _, ...old } = news;
    expect(v.parse(PeerNewsSchema, old)).toEqual({ ...old, trusted: [] });
  });

  it('refuses what no coordinator sends', () => {
    const bad = [
      { ...news, outcomes: [['v', { ...news.outcomes[0]![1], outcome: 'splendid' }]] },
      { ...news, outcomes: [['v', { ...news.outcomes[0]![1], credit: '1' }]] },
      { ...news, credited: [42] },
      { outcomes: [], credited: [] },
      { ...news, projects: ['x'.repeat(201)] },
      { ...news, swarm: { ...news.swarm, shardsPerMin: -1 } },
      { ...news, swarm: { ...news.swarm, volunteers: { wasm: Number.NaN } } },
      { ...news, from: undefined },
      { ...news, trusted: [7] },
      { ...news, trusted: ['x'.repeat(201)] },
    ];
    for (const b of bad) expect(v.safeParse(PeerNewsSchema, b).success).toBe(false);
  });

  it('the relay sends what it gathered once, then starts afresh', () => {
    const sent: PeerNews[] = [];
    const relay = new PeerRelay((n) => sent.push(n));
    const [volunteerId, outcome] = news.outcomes[0]!;
    relay.outcome(volunteerId, outcome);
    relay.credit('volunteer:a');
    relay.credit('volunteer:a');
    relay.project('p1');
    relay.flush(news.swarm, news.trusted);
    relay.flush(news.swarm);
    expect(sent).toEqual([
      { from: relay.from, swarm: news.swarm, outcomes: [[volunteerId, outcome]], credited: ['volunteer:a'], projects: ['p1'], trusted: news.trusted },
      { from: relay.from, swarm: news.swarm, outcomes: [], credited: [], projects: [], trusted: [] },
    ]);
    for (const n of sent) expect(v.safeParse(PeerNewsSchema, n).success).toBe(true);
  });
});
