/**
 * Client addresses, as the distinct-copies rule sees them. Behind a reverse
 * proxy the client's address is the first X-Forwarded-For hop, read from the
 * right, that is not one of the proxies the operator trusts: everything left
 * of it was written by the client and proves nothing. Addresses are grouped
 * (IPv4 by /24, IPv6 by /64 by default), since one host commonly holds a
 * whole IPv6 /64 and cheap IPv4 addresses come in neighbouring blocks.
 */
import ipaddr from 'ipaddr.js';

export interface AddressRules {
  /** Trusted proxies: addresses or CIDR ranges. Empty: X-Forwarded-For is ignored. */
  trustedProxies: string[];
  v4Prefix: number;
  v6Prefix: number;
}

export const DEFAULT_ADDRESS_RULES: AddressRules = { trustedProxies: [], v4Prefix: 24, v6Prefix: 64 };

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/** Parses `--trust-proxy` values (comma-separated addresses or CIDRs); throws naming the bad entry. */
export function parseTrustedProxies(text: string): string[] {
  const out: string[] = [];
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (part === 'loopback') { out.push('127.0.0.0/8', '::1/128'); continue; }
    if (!ipaddr.isValid(part) && !isCidr(part)) throw new Error(`--trust-proxy takes addresses or CIDR ranges (or 'loopback'); got ${JSON.stringify(part)}`);
    out.push(part);
  }
  return out;
}

function isCidr(s: string): boolean {
  try { ipaddr.parseCIDR(s); return true; } catch { return false; }
}

function toRange(s: string): Range {
  if (s.includes('/')) return ipaddr.parseCIDR(s);
  const a = ipaddr.process(s);
  return [a, a.kind() === 'ipv4' ? 32 : 128];
}

function normal(a: string): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const t = a.trim().replace(/^\[(.*)\](:\d+)?$/, '$1');
  return ipaddr.isValid(t) ? ipaddr.process(t) : null;
}

function inAny(a: ipaddr.IPv4 | ipaddr.IPv6, ranges: Range[]): boolean {
  return ranges.some(([net, bits]) => net.kind() === a.kind() && a.match(net as never, bits));
}

/**
 * The client's address: the socket's peer unless it is a trusted proxy; then
 * X-Forwarded-For from the right, skipping trusted proxies. A malformed hop
 * stops the walk at the last address known good.
 */
export function clientAddress(peer: string, forwardedFor: string | undefined, trustedProxies: readonly string[]): string {
  const ranges = trustedProxies.map(toRange);
  let current = normal(peer);
  if (!current) return peer;
  if (!forwardedFor || ranges.length === 0) return current.toString();
  const hops = forwardedFor.split(',');
  for (let i = hops.length - 1; i >= 0 && inAny(current, ranges); i--) {
    const next = normal(hops[i]!);
    if (!next) break;
    current = next;
  }
  return current.toString();
}

/**
 * `--trust-proxy` as a switch: one proxy directly in front of the coordinator,
 * whatever its address. It appends the address it saw to X-Forwarded-For, so
 * the client is the last entry; anything left of it the client wrote itself.
 * No usable entry: the peer.
 */
export function addressBehindOneProxy(peer: string, forwardedFor: string | undefined): string {
  const last = forwardedFor?.split(',').at(-1);
  const a = last === undefined ? null : normal(last);
  return a ? a.toString() : (normal(peer)?.toString() ?? peer);
}

/**
 * The group an address counts as for distinct copies: its /24 (IPv4) or /64
 * (IPv6) network. Volunteers (and so their copies) are recorded under their
 * group (work-service hello), and a group given again is returned as it is,
 * so code that groups a recorded address again keeps the operator's prefixes.
 */
export function addressGroup(address: string, rules: Pick<AddressRules, 'v4Prefix' | 'v6Prefix'> = DEFAULT_ADDRESS_RULES): string {
  const a = normal(address);
  if (!a) return address;
  const bits = a.kind() === 'ipv4' ? rules.v4Prefix : rules.v6Prefix;
  const bytes = a.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - i * 8));
    bytes[i]! &= (0xff << (8 - keep)) & 0xff;
  }
  return `${ipaddr.fromByteArray(bytes).toString()}/${bits}`;
}

/** How far the coordinator trusts X-Forwarded-For (`--trust-proxy`). */
export type ProxyTrust =
  /** Not at all: the socket's peer is the client. */
  | false
  /** The bare flag: one proxy directly in front, whatever its address (its own appended entry is the client). */
  | 'one-hop'
  /** These proxies (addresses, CIDR ranges): the first hop from the right that is not one of them is the client. */
  | readonly string[];

/**
 * `--trust-proxy`'s value: the bare flag (commander's `true`; also `1`/`true`
 * from TABGRID_TRUST_PROXY) keeps its one-hop meaning, anything else is a list
 * of trusted proxies (parseTrustedProxies). Throws naming a bad entry.
 */
export function parseProxyTrust(value: string | boolean | undefined): ProxyTrust {
  if (value === undefined || value === false) return false;
  if (value === true || value === '1' || value === 'true') return 'one-hop';
  const list = parseTrustedProxies(value);
  if (list.length === 0) throw new Error('--trust-proxy takes addresses or CIDR ranges (or \'loopback\'), or no value for one proxy directly in front');
  return list;
}

/** The client's address as the coordinator records it, under the operator's proxy trust. */
export function clientAddressUnder(trust: ProxyTrust, peer: string, forwardedFor: string | undefined): string {
  if (trust === false) return normal(peer)?.toString() ?? peer;
  if (trust === 'one-hop') return addressBehindOneProxy(peer, forwardedFor);
  return clientAddress(peer, forwardedFor, trust);
}

/**
 * The same trust as Fastify's `trustProxy` (proxy-addr asks hop by hop from
 * the socket, hop 0 first), so HTTP's request.ip is the address sockets get.
 */
export function fastifyProxyTrust(trust: ProxyTrust): false | ((address: string, hop: number) => boolean) {
  if (trust === false) return false;
  if (trust === 'one-hop') return (_address, hop) => hop === 0;
  const ranges = trust.map(toRange);
  return (address) => {
    const a = normal(address);
    return a !== null && inAny(a, ranges);
  };
}

/**
 * `--address-groups`: `v4/N` and/or `v6/M`, comma-separated (`v4/24,v6/64`);
 * a family not named keeps its default. Throws naming the bad part.
 */
export function parseAddressGroups(text: string): Pick<AddressRules, 'v4Prefix' | 'v6Prefix'> {
  const out = { v4Prefix: DEFAULT_ADDRESS_RULES.v4Prefix, v6Prefix: DEFAULT_ADDRESS_RULES.v6Prefix };
  const parts = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length === 0) throw new Error('--address-groups takes v4/N and/or v6/M, like v4/24,v6/64');
  for (const p of parts) {
    const m = /^v([46])\/(\d{1,3})$/.exec(p);
    const bits = m ? Number(m[2]) : NaN;
    const max = m?.[1] === '4' ? 32 : 128;
    if (!m || bits < 1 || bits > max) throw new Error(`--address-groups takes v4/N (N in 1..32) and/or v6/M (M in 1..128), like v4/24,v6/64; got ${JSON.stringify(p)}`);
    if (m[1] === '4') out.v4Prefix = bits; else out.v6Prefix = bits;
  }
  return out;
}
