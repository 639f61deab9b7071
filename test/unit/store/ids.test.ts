import { describe, expect, it } from 'vitest';
import { ID_PATTERN } from '../../../shared/protocol/schemas.ts';
import { newId } from '../../../server/store/ids.ts';

describe('newId', () => {
  it('is 22 URL-safe characters that the protocol accepts as an id', () => {
    for (let i = 0; i < 100; i++) {
      const id = newId();
      expect(id).toHaveLength(22);
      expect(id).toMatch(ID_PATTERN);
    }
  });

  it('sorts as text in the order of its timestamp (new B-tree keys land beside the last ones)', () => {
    const times = [0, 1, 255, 256, 65_535, 1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000, 2 ** 47 - 1];
    const ids = times.map((t) => newId(t));
    expect([...ids].sort()).toEqual(ids);
    // Plain JS string comparison is what SQLite's BINARY collation and PostgreSQL's "C" order do for ASCII.
    for (let i = 1; i < ids.length; i++) expect(ids[i - 1]! < ids[i]!).toBe(true);
  });

  it('never starts with "-", so it reads as an argument, not an option, on a command line', () => {
    for (const t of [0, 1_700_000_000_000, Date.now(), 2 ** 47 - 1]) expect(newId(t)[0]).not.toBe('-');
    expect(newId()[0]).toBe('V');
  });

  it('carries 80 random bits: ids made in the same millisecond differ and do not count up', () => {
    const ids = Array.from({ length: 1000 }, () => newId(1_700_000_000_000));
    expect(new Set(ids).size).toBe(1000);
    const tails = ids.map((id) => id.slice(9));
    // A counter would make neighbours sorted; random tails are sorted about half the time.
    const ascending = tails.slice(1).filter((t, i) => t > tails[i]!).length;
    expect(ascending).toBeGreaterThan(350);
    expect(ascending).toBeLessThan(650);
  });
});
