import { describe, expect, it } from 'vitest';
import { UploadLedger } from '../../../server/core/limits/upload-budget.ts';

const limits = { globalBytes: 1000, smallBytes: 100 };

describe('upload ledger', () => {
  it('holds a connection that holds no copy to the small allowance, and a refusal changes nothing', () => {
    const l = new UploadLedger(limits);
    expect(l.charge('a', 60)).toEqual({ ok: true });
    const r = l.charge('a', 41);
    expect(r).toEqual({ ok: false, reason: '101 bytes in flight on this connection exceed the allowance of 100 bytes for a connection that holds no copy' });
    expect(l.heldBy('a')).toBe(60);
    expect(l.inFlight).toBe(60);
    // Holding a copy, its result's allowance applies; holding none again, the small one.
    l.allow('a', 600, 'the results of the 1 copy it holds');
    expect(l.charge('a', 500)).toEqual({ ok: true });
    expect(l.charge('a', 41)).toEqual({ ok: false, reason: '601 bytes in flight on this connection exceed its allowance of 600 bytes (the results of the 1 copy it holds)' });
    l.release('a', 560);
    l.allow('a', null);
    expect(l.allowanceOf('a')).toBe(100);
    expect(l.charge('a', 101).ok).toBe(false);
  });

  it('refuses bytes that would push all connections over the global budget, and never records more', () => {
    const l = new UploadLedger(limits);
    l.allow('a', 600, 'x');
    l.allow('b', 600, 'x');
    l.allow('c', 600, 'x');
    expect(l.charge('a', 600).ok).toBe(true);
    expect(l.charge('b', 400).ok).toBe(true);
    const r = l.charge('c', 1);
    expect(r).toEqual({ ok: false, reason: "the coordinator's budget of 1000 bytes of uploads in flight is spent; try again later" });
    expect(l.inFlight).toBe(1000);
    expect(l.highWater).toBe(1000);
    // Once an event is answered its bytes are free for others.
    l.release('a', 600);
    expect(l.inFlight).toBe(400);
    expect(l.charge('c', 500).ok).toBe(true);
    expect(l.highWater).toBe(1000);
  });

  it('releases no more than a connection holds, and everything (its allowance too) when it closes', () => {
    const l = new UploadLedger(limits);
    l.allow('b', 600, 'x');
    l.charge('a', 30);
    l.charge('b', 200);
    l.release('a', 10_000);
    expect(l.heldBy('a')).toBe(0);
    expect(l.inFlight).toBe(200);
    l.drop('b');
    l.drop('b');
    expect(l.inFlight).toBe(0);
    expect(l.allowanceOf('b')).toBe(100);
  });

  it('keeps bytes held when the allowance was lowered covered until released: a result still being answered does not crowd out a heartbeat', () => {
    const l = new UploadLedger(limits);
    l.allow('a', 600, 'the results of the 1 copy it holds');
    expect(l.charge('a', 550).ok).toBe(true);
    // Its handler ends: the copy is no longer held, but the reply (and the release) comes after.
    l.allow('a', null);
    expect(l.charge('a', 60)).toEqual({ ok: true });
    // Only the small allowance is new room: what was held stays counted, nothing beyond it is admitted.
    expect(l.charge('a', 41)).toEqual({ ok: false, reason: '101 bytes in flight on this connection exceed the allowance of 100 bytes for a connection that holds no copy' });
    expect(l.heldBy('a')).toBe(610);
    expect(l.inFlight).toBe(610);
    // The result answered: its bytes go, and with them the cover.
    l.release('a', 550);
    expect(l.charge('a', 41).ok).toBe(false);
    l.release('a', 60);
    expect(l.charge('a', 100).ok).toBe(true);
    // Raised again, bytes held count against the new allowance as before.
    l.allow('a', 600, 'x');
    expect(l.charge('a', 501).ok).toBe(false);
  });
});
