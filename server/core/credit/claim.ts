/**
 * Whether a signed Sign-In with Ethereum message lets a wallet take the
 * credit of a `volunteer:<id>` account. Pure (no store, no clock of its
 * own): the caller has already proven it holds the volunteer's secret, and
 * records the nonce so a message works once.
 */
import { getAddress } from 'viem';
import { recoverMessageAddress } from 'viem';
import { parseSiweMessage, validateSiweMessage } from 'viem/siwe';
import { CLAIM_VALID_MS, claimStatement } from '../../../shared/wallet-claim.ts';

export type ClaimCheck = { ok: true; wallet: string; nonce: string } | { ok: false; reason: string };

/** A signer's clock may run a little ahead of the coordinator's. */
const SKEW_MS = 60_000;

export async function checkClaim(c: { message: string; signature: string; account: string; domain: string; now: number }): Promise<ClaimCheck> {
  const m = parseSiweMessage(c.message);
  if (!m.address || !m.nonce || !m.domain || !m.issuedAt || !m.expirationTime) {
    return { ok: false, reason: 'not a Sign-In with Ethereum message with an address, domain, nonce, issued-at and expiration time' };
  }
  if (m.statement !== claimStatement(c.account)) return { ok: false, reason: `the message must say exactly: ${claimStatement(c.account)}` };
  if (m.domain !== c.domain) return { ok: false, reason: `the message is for ${m.domain}, not this coordinator (${c.domain})` };
  if (m.chainId !== 1 || m.version !== '1') return { ok: false, reason: 'the message must be SIWE version 1 on chain id 1' };
  const time = new Date(c.now);
  if (!validateSiweMessage({ message: m, domain: c.domain, time })) return { ok: false, reason: 'the message has expired or is not valid yet' };
  const issued = m.issuedAt.getTime();
  if (issued > c.now + SKEW_MS || m.expirationTime.getTime() - issued > CLAIM_VALID_MS + SKEW_MS) {
    return { ok: false, reason: `a claim message is valid for at most ${CLAIM_VALID_MS / 60_000} minutes from when it was issued` };
  }
  if (!/^0x[0-9a-fA-F]{130}$/.test(c.signature)) return { ok: false, reason: 'signature must be 65 bytes of hex (0x + 130 hex digits)' };
  let signer: string;
  try {
    signer = await recoverMessageAddress({ message: c.message, signature: c.signature as `0x${string}` });
  } catch {
    return { ok: false, reason: 'the signature cannot be recovered' };
  }
  const wallet = getAddress(m.address);
  if (getAddress(signer) !== wallet) return { ok: false, reason: `the message was signed by ${getAddress(signer)}, not by ${wallet}` };
  return { ok: true, wallet, nonce: m.nonce };
}
