// The news desk decides what a volunteer hears on its next reply and what is pushed: busy volunteers must
// get every outcome on replies (no pushes), idle ones within NEWS_PUSH_AFTER_MS, and nothing twice.
import { describe, expect, it } from 'vitest';
import type { CopyOutcome } from '../../../shared/protocol/events.ts';
import { NEWS_PUSH_AFTER_MS, NewsDesk } from '../../../server/gateway/news.ts';

const outcome = (copyId: string, o: CopyOutcome['outcome'] = 'valid'): CopyOutcome => ({ copyId, jobId: 'j', outcome: o, credit: o === 'valid' ? 1 : 0 });

describe('NewsDesk', () => {
  it('hands a reply everything waiting for that volunteer, once, in order, with the latest balance', () => {
    const d = new NewsDesk();
    d.outcome('v1', outcome('c1'), 0);
    d.balance('v1', { account: 'a', balance: 1, pending: 1, payable: 0, debt: 0 }, 1);
    d.outcome('v1', outcome('c2', 'invalid'), 2);
    d.balance('v1', { account: 'a', balance: 2, pending: 1, payable: 1, debt: 0 }, 3);
    d.outcome('v2', outcome('c3'), 4);
    expect(d.take('v1')).toEqual({ outcomes: [outcome('c1'), outcome('c2', 'invalid')], balance: { account: 'a', balance: 2, pending: 1, payable: 1, debt: 0 } });
    expect(d.take('v1')).toBeUndefined();
    expect(d.take('v2')).toEqual({ outcomes: [outcome('c3')] });
  });

  it('pushes only news that waited NEWS_PUSH_AFTER_MS, counted from its oldest item', () => {
    const d = new NewsDesk();
    d.outcome('old', outcome('c1'), 0);
    d.outcome('old', outcome('c2'), NEWS_PUSH_AFTER_MS - 10);
    d.outcome('fresh', outcome('c3'), NEWS_PUSH_AFTER_MS - 5);
    expect(d.due(NEWS_PUSH_AFTER_MS - 1)).toEqual([]);
    expect(d.due(NEWS_PUSH_AFTER_MS)).toEqual([['old', { outcomes: [outcome('c1'), outcome('c2')] }]]);
    expect(d.due(NEWS_PUSH_AFTER_MS)).toEqual([]);
    // A reply came first: nothing left to push.
    expect(d.take('fresh')).toEqual({ outcomes: [outcome('c3')] });
    expect(d.due(10 * NEWS_PUSH_AFTER_MS)).toEqual([]);
  });
});
