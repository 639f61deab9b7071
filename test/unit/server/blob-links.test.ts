// Signed, expiring blob links (server/blobs/blob-links.ts): what holds and what does not, without a server.
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BlobLinks, LINK_TTL_MS, linkExpiry, linkHolds, signLink } from '../../../server/blobs/blob-links.ts';

const KEY = new Uint8Array(32).fill(7);
const H = 'a'.repeat(64);
const NOW = 1_700_000_123_456;

describe('blob links', () => {
  it('hold for their hash until they expire, rounded up to the hour', () => {
    const until = linkExpiry(NOW);
    expect(until % 3_600_000).toBe(0);
    expect(until - NOW).toBeGreaterThanOrEqual(LINK_TTL_MS);
    expect(until - NOW).toBeLessThan(LINK_TTL_MS + 3_600_000);
    const sig = signLink(KEY, H, until);
    expect(linkHolds(KEY, H, String(until), sig, NOW)).toBe(true);
    expect(linkHolds(KEY, H, String(until), sig, until - 1)).toBe(true);
    expect(linkHolds(KEY, H, String(until), sig, until)).toBe(false);
  });

  it('do not hold for another hash, a pushed-back expiry, another key, or malformed parts', () => {
    const until = linkExpiry(NOW);
    const sig = signLink(KEY, H, until);
    expect(linkHolds(KEY, 'b'.repeat(64), String(until), sig, NOW)).toBe(false);
    expect(linkHolds(KEY, H, String(until + 3_600_000), sig, NOW)).toBe(false);
    // Even correctly signed, a link may not last longer than this coordinator would sign now.
    const far = until + 10 * 3_600_000;
    expect(linkHolds(KEY, H, String(far), signLink(KEY, H, far), NOW)).toBe(false);
    expect(linkHolds(new Uint8Array(32).fill(8), H, String(until), sig, NOW)).toBe(false);
    for (const [u, s] of [[undefined, sig], [String(until), undefined], ['12e3', sig], [String(until), sig + 'x'], [[String(until)], sig]] as const) {
      expect(linkHolds(KEY, H, u, s, NOW)).toBe(false);
    }
  });

  it('keep their key beside the blobs, 0600, shared by every BlobLinks on that directory', () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'tabgrid-links-')), 'blobs');
    const a = new BlobLinks(dir);
    const url = a.url(H, NOW);
    expect(url).toMatch(new RegExp(`^/blobs/${H}\\?until=\\d+&sig=[A-Za-z0-9_-]+$`));
    expect((statSync(join(dir, '.link-key')).mode & 0o777).toString(8)).toBe('600');
    const q = Object.fromEntries(new URL(url, 'http://x').searchParams);
    // Another coordinator on the same blob directory checks it alike.
    expect(new BlobLinks(dir).holds(H, q, NOW)).toBe(true);
    expect(new BlobLinks(join(dir, '..', 'other')).holds(H, q, NOW)).toBe(false);
  });

  it('capabilities (private projects\' blobs) name one copy and one blob; a hash link is no capability, nor the reverse', () => {
    const links = new BlobLinks(mkdtempSync(join(tmpdir(), 'tabgrid-caps-')));
    const cap = new URL(links.capabilityUrl(H, 'copyAAAAAA', NOW), 'http://x');
    const q = Object.fromEntries(cap.searchParams);
    expect(cap.pathname).toBe(`/blobs/${H}`);
    expect(links.capabilityCopy(H, q, NOW)).toBe('copyAAAAAA');
    expect(links.capabilityCopy('b'.repeat(64), q, NOW)).toBeNull();
    expect(links.capabilityCopy(H, { ...q, copy: 'copyBBBBBB' }, NOW)).toBeNull();
    expect(links.capabilityCopy(H, { ...q, until: String(Number(q.until) + 3_600_000) }, NOW)).toBeNull();
    expect(links.capabilityCopy(H, q, Number(q.until))).toBeNull();
    expect(links.capabilityCopy(H, { ...q, copy: '../etc' }, NOW)).toBeNull();
    // Neither signature stands for the other.
    expect(links.holds(H, q, NOW)).toBe(false);
    const link = Object.fromEntries(new URL(links.url(H, NOW), 'http://x').searchParams);
    expect(links.capabilityCopy(H, { ...link, copy: 'copyAAAAAA' }, NOW)).toBeNull();
  });
});
