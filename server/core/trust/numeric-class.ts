/**
 * Numeric classes come from a volunteer's own claim (backend, GPU vendor and
 * architecture, runtime version), so a class no one else has is free to
 * invent: a pair claiming one would share every copy of a homogeneous job's
 * shards only with each other. A class is honoured for homogeneous
 * redundancy only once enough distinct hosts (in distinct address groups)
 * share it; until then its hosts take no homogeneous copies at all.
 */
import type { TrustPolicy } from './policy.ts';

/** Distinct address groups seen announcing each class. */
export type ClassCensus = ReadonlyMap<string, ReadonlySet<string>>;

export function classHonoured(cls: string, census: ClassCensus, policy: Pick<TrustPolicy, 'classQuorum'>): boolean {
  return (census.get(cls)?.size ?? 0) >= policy.classQuorum;
}

/** Adds a host's announcement to the census (a new map: callers keep the old one intact). */
export function withAnnouncement(census: ClassCensus, cls: string, addressGroup: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>([...census].map(([k, v]) => [k, new Set(v)]));
  const set = out.get(cls) ?? new Set<string>();
  set.add(addressGroup);
  out.set(cls, set);
  return out;
}
