/**
 * `--trust-proxy` and `--address-groups` as pure functions: which X-Forwarded-For
 * hop is the client under each trust, what the flags accept, and that HTTP
 * (Fastify's request.ip) sees the same client the socket handshake does.
 */
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import {
  addressGroup, clientAddressUnder, fastifyProxyTrust, parseAddressGroups, parseProxyTrust,
} from '../../../server/core/trust/address.ts';

describe('--trust-proxy', () => {
  it('parses: bare flag (or 1/true from the environment) is one hop, a value is a list, loopback expands', () => {
    expect(parseProxyTrust(undefined)).toBe(false);
    expect(parseProxyTrust(true)).toBe('one-hop');
    expect(parseProxyTrust('true')).toBe('one-hop');
    expect(parseProxyTrust('1')).toBe('one-hop');
    expect(parseProxyTrust('10.0.0.0/8, 192.0.2.1,2001:db8::/32')).toEqual(['10.0.0.0/8', '192.0.2.1', '2001:db8::/32']);
    expect(parseProxyTrust('loopback')).toEqual(['127.0.0.0/8', '::1/128']);
  });

  it('refuses bad entries by name', () => {
    expect(() => parseProxyTrust('10.0.0.0/8,proxy.example.org')).toThrow(/got "proxy\.example\.org"/);
    expect(() => parseProxyTrust('10.0.0.0/33')).toThrow(/got "10\.0\.0\.0\/33"/);
    expect(() => parseProxyTrust(' , ')).toThrow(/takes addresses or CIDR ranges/);
  });

  it('without trust, X-Forwarded-For is ignored whatever it says', () => {
    expect(clientAddressUnder(false, '203.0.113.9', '1.2.3.4')).toBe('203.0.113.9');
    expect(clientAddressUnder(false, '::ffff:203.0.113.9', undefined)).toBe('203.0.113.9');
  });

  it('with a list, walks from the right past trusted proxies only: forged chains never choose the address', () => {
    const trust = parseProxyTrust('127.0.0.1,198.51.100.0/24');
    if (!Array.isArray(trust)) throw new Error('a list');
    // nginx (127.0.0.1, trusted) appended the client it saw (127.0.99.1); the rest the client wrote.
    expect(clientAddressUnder(trust, '127.0.0.1', '203.0.113.9, 198.51.100.7, 127.0.99.1')).toBe('127.0.99.1');
    // The client came through a trusted CDN hop (198.51.100.7), which appended the client it saw.
    expect(clientAddressUnder(trust, '127.0.0.1', '6.6.6.6, 203.0.113.9, 198.51.100.7')).toBe('203.0.113.9');
    // A client connecting directly (not a trusted peer) cannot use X-Forwarded-For at all.
    expect(clientAddressUnder(trust, '203.0.113.50', '198.51.100.7, 127.0.0.1')).toBe('203.0.113.50');
    // Every hop trusted: the leftmost that is still a trusted proxy, never a client-written one beyond it.
    expect(clientAddressUnder(trust, '127.0.0.1', '198.51.100.9')).toBe('198.51.100.9');
    // A malformed hop ends the walk at the last good address (a trusted proxy), not past it.
    expect(clientAddressUnder(trust, '127.0.0.1', '6.6.6.6, garbage, 198.51.100.7')).toBe('198.51.100.7');
    // IPv6 and IPv4-mapped peers.
    expect(clientAddressUnder(['::1/128'], '::1', '2001:db8::1, 2001:db8::7')).toBe('2001:db8::7');
    expect(clientAddressUnder(['127.0.0.1'], '::ffff:127.0.0.1', '203.0.113.9')).toBe('203.0.113.9');
  });

  it('one hop: the last entry, whatever the client wrote before it', () => {
    expect(clientAddressUnder('one-hop', '10.0.0.2', '6.6.6.6, 203.0.113.9')).toBe('203.0.113.9');
    expect(clientAddressUnder('one-hop', '10.0.0.2', undefined)).toBe('10.0.0.2');
  });

  it('HTTP request.ip (Fastify, proxy-addr) follows the same trust as the socket handshake', async () => {
    const cases: [ReturnType<typeof parseProxyTrust>, string, string | undefined][] = [
      [false, '127.0.0.1', '6.6.6.6'],
      ['one-hop', '127.0.0.1', '6.6.6.6, 203.0.113.9'],
      [['127.0.0.1', '198.51.100.0/24'], '127.0.0.1', '203.0.113.9, 198.51.100.7, 127.0.99.1'],
      [['127.0.0.1', '198.51.100.0/24'], '127.0.0.1', '6.6.6.6, 203.0.113.9, 198.51.100.7'],
      [['127.0.0.1'], '203.0.113.50', '198.51.100.7'],
    ];
    for (const [trust, peer, xff] of cases) {
      const app = Fastify({ trustProxy: fastifyProxyTrust(trust) });
      app.get('/ip', async (req) => ({ ip: req.ip }));
      const r = await app.inject({ method: 'GET', url: '/ip', remoteAddress: peer, headers: xff ? { 'x-forwarded-for': xff } : {} });
      expect(r.json().ip, `${JSON.stringify(trust)} ${peer} ${xff}`).toBe(clientAddressUnder(trust, peer, xff));
      await app.close();
    }
  });
});

describe('--address-groups', () => {
  it('parses v4/N and v6/M, a family not named keeping its default', () => {
    expect(parseAddressGroups('v4/24,v6/64')).toEqual({ v4Prefix: 24, v6Prefix: 64 });
    expect(parseAddressGroups('v4/32')).toEqual({ v4Prefix: 32, v6Prefix: 64 });
    expect(parseAddressGroups(' v6/48 ')).toEqual({ v4Prefix: 24, v6Prefix: 48 });
  });

  it('refuses anything else by name', () => {
    expect(() => parseAddressGroups('v4/33')).toThrow(/got "v4\/33"/);
    expect(() => parseAddressGroups('v6/0')).toThrow(/got "v6\/0"/);
    expect(() => parseAddressGroups('24')).toThrow(/got "24"/);
    expect(() => parseAddressGroups('')).toThrow(/like v4\/24,v6\/64/);
  });

  it('groups by the configured prefixes, and a group stays itself when grouped again (copies record groups)', () => {
    const rules = parseAddressGroups('v4/16,v6/48');
    expect(addressGroup('203.0.113.7', rules)).toBe('203.0.0.0/16');
    expect(addressGroup('203.0.200.1', rules)).toBe(addressGroup('203.0.113.7', rules));
    expect(addressGroup('2001:db8:1:2::1', rules)).toBe('2001:db8:1::/48');
    for (const g of ['203.0.0.0/16', '2001:db8:1::/48', '127.0.0.0/24']) expect(addressGroup(g)).toBe(g);
  });
});
