/**
 * The message a wallet signs to take the credit of a `volunteer:<id>`
 * account: Sign-In with Ethereum (EIP-4361), signed with EIP-191
 * personal_sign. Its statement names the account, so a signature moves that
 * account's credit and no other; its nonce is single use; it expires.
 */
import { createSiweMessage, generateSiweNonce } from 'viem/siwe';

/** How long a signed claim message may be used. */
export const CLAIM_VALID_MS = 10 * 60_000;

export function claimStatement(account: string): string {
  return `Move the tabgrid credit of ${account} to this wallet.`;
}

export function claimMessage(o: { account: string; wallet: string; coordinatorUrl: string; now: number; nonce?: string }): string {
  const url = new URL(o.coordinatorUrl);
  return createSiweMessage({
    domain: url.host,
    address: o.wallet as `0x${string}`,
    statement: claimStatement(o.account),
    uri: url.origin,
    version: '1',
    chainId: 1,
    nonce: o.nonce ?? generateSiweNonce(),
    issuedAt: new Date(o.now),
    expirationTime: new Date(o.now + CLAIM_VALID_MS),
  });
}
