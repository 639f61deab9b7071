/**
 * Numeric classes come from a volunteer's own claim (backend, GPU vendor and
 * architecture, runtime version), so a class no one else has is free to
 * invent: a pair claiming one would share every copy of a homogeneous job's
 * shards only with each other. Two rules keep such a class from isolating a
 * homogeneous job's shards, both checked where a copy is claimed
 * (scheduler/claim.ts) and where a waiting job is explained (why-waiting.ts):
 *
 * - A class is honoured for homogeneous redundancy only once enough distinct
 *   address groups announce it (`classQuorum`; the stores count the
 *   volunteers table, so every coordinator on one database sees one census
 *   and it outlives restarts). Until then its hosts take no homogeneous copies.
 * - While a trusted host that may compute the job can be had, an untrusted
 *   host takes a homogeneous copy only if a trusted host of its own class can
 *   be had: its copy is then checked by one (replication.ts keeps the
 *   shard's other copy for a trusted host, and homogeneous redundancy lets
 *   only its own class take it). Otherwise its copy could be checked by no
 *   one: the shard would wait for ever, or two untrusted hosts of one made-up
 *   class would check each other. Honest hosts of a class without a trusted
 *   host earn trust on other jobs and come in once one of them has it.
 *
 * A copy whose class fails these rules now (issued before, or its class lost
 * its trusted host since) does not bind the shard's class: other classes may
 * take the shard's next copies, so it can still complete.
 */
import type { TrustPolicy } from './policy.ts';

/** Distinct address groups seen announcing each numeric class. */
export type ClassCensus = ReadonlyMap<string, number>;

export function classHonoured(cls: string, census: ClassCensus, policy: Pick<TrustPolicy, 'classQuorum'>): boolean {
  return (census.get(cls) ?? 0) >= policy.classQuorum;
}

/** The census of these hosts: per class, its distinct address groups (what the stores count in their volunteers table). */
export function censusOf(hosts: Iterable<{ numericClass: string; address: string }>): Map<string, number> {
  const groups = new Map<string, Set<string>>();
  for (const h of hosts) {
    let set = groups.get(h.numericClass);
    if (!set) groups.set(h.numericClass, set = new Set());
    set.add(h.address);
  }
  return new Map([...groups].map(([cls, set]) => [cls, set.size]));
}

export type ClassRefusal = 'class not honoured' | 'no trusted host in class';

export interface HomogeneousClasses {
  census: ClassCensus;
  /** Numeric classes of the trusted hosts that can be had now and may compute the job. */
  trustedClasses: readonly string[];
  policy: Pick<TrustPolicy, 'classQuorum'>;
}

/** Why a host of class `cls` may not hold a copy of a homogeneous job's shard now, or null when it may. */
export function homogeneousClassProblem(cls: string, hostTrusted: boolean, c: HomogeneousClasses): ClassRefusal | null {
  if (!classHonoured(cls, c.census, c.policy)) return 'class not honoured';
  if (!hostTrusted && c.trustedClasses.length > 0 && !c.trustedClasses.includes(cls)) return 'no trusted host in class';
  return null;
}
