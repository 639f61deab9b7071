import { describe, expect, it } from 'vitest';
import { UploadLedger } from '../../../server/core/limits/upload-budget.ts';

const limits = { globalBytes: 1000, perSocketBytes: 600, unhelloedBytes: 100 };

describe('upload ledger', () => {
  it('holds a connection that has not said hello to its small allowance, and a refusal changes nothing', () => {
    const l = new UploadLedger(limits);
    expect(l.charge('a', 60, false)).toEqual({ ok: true });
    const r = l.charge('a', 41, false);
    expect(r).toEqual({ ok: false, reason: '101 bytes sent before hello exceed the allowance of 100 bytes for a connection that has not said hello' });
    expect(l.heldBy('a')).toBe(60);
    expect(l.inFlight).toBe(60);
    // After hello the larger allowance applies.
    expect(l.charge('a', 500, true)).toEqual({ ok: true });
    expect(l.charge('a', 41, true).ok).toBe(false);
  });

  it('refuses bytes that would push all connections over the global budget, and never records more', () => {
    const l = new UploadLedger(limits);
    expect(l.charge('a', 600, true).ok).toBe(true);
    expect(l.charge('b', 400, true).ok).toBe(true);
    const r = l.charge('c', 1, true);
    expect(r).toEqual({ ok: false, reason: "the coordinator's budget of 1000 bytes of uploads in flight is spent; try again later" });
    expect(l.inFlight).toBe(1000);
    expect(l.highWater).toBe(1000);
    // Once an event is answered its bytes are free for others.
    l.release('a', 600);
    expect(l.inFlight).toBe(400);
    expect(l.charge('c', 500, true).ok).toBe(true);
    expect(l.highWater).toBe(1000);
  });

  it('releases no more than a connection holds, and everything when it closes', () => {
    const l = new UploadLedger(limits);
    l.charge('a', 300, true);
    l.charge('b', 200, true);
    l.release('a', 10_000);
    expect(l.heldBy('a')).toBe(0);
    expect(l.inFlight).toBe(200);
    l.drop('b');
    l.drop('b');
    expect(l.inFlight).toBe(0);
  });
});
