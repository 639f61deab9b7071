/**
 * Which wallet a volunteer counts as, for the distinct-copies rule, and which
 * wallet its credit goes to. They differ for an embed of a project that
 * credits a registered site wallet: every visitor of the site is credited to
 * that one wallet, so were it their identity, the wallet rule would bar every
 * visitor but the first from each shard and a job at replicas >= 2 would
 * never finish. A wallet the coordinator assigns says nothing about who
 * computed, so those visitors carry no wallet identity: the volunteer and
 * address rules still keep two copies of a shard from one visitor or one
 * network, and the visitor cannot pick a wallet to dodge them.
 */
export interface EmbedCredit {
  creditTo: 'site' | 'visitor';
  siteWallet?: string | null;
}

export interface VolunteerWallets {
  /** Compared by the distinct-copies wallet rule (VolunteerIdentity.wallet). */
  wallet: string | null;
  /** Credited for the volunteer's work; null: the volunteer's own account. */
  credit: string | null;
}

/** `named`: the wallet the volunteer (or its page) named; `embed`: the embedded project's credit rule, null outside an embed. */
export function volunteerWallets(named: string | null, embed: EmbedCredit | null): VolunteerWallets {
  if (embed?.creditTo === 'site' && embed.siteWallet) return { wallet: null, credit: embed.siteWallet };
  return { wallet: named, credit: named };
}
