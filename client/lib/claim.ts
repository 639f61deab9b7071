/**
 * "Claim my credit to this wallet": the in-browser wallet signs the Sign-In
 * with Ethereum claim message by itself (EIP-191 personal_sign with its key,
 * which never leaves this browser), and the coordinator moves the credit of
 * this browser's `volunteer:<id>` to it (POST /api/v1/claims, with the
 * volunteer's secret: who did the work). Loaded only when the button is
 * pressed: viem's signing stays out of the first visit's bytes.
 */
import { privateKeyToAccount } from 'viem/accounts';
import { ApiError, TabgridClient } from '../../shared/http/client.ts';
import { claimMessage } from '../../shared/wallet-claim.ts';
import type { Credentials } from './credentials.ts';

export interface ClaimDone {
  wallet: string;
  /** Payable credit moved now (negative: a debt moved with the account). */
  movedPayable: number;
  /** Pending credit moved, each with its hold. */
  movedPending: number;
}

export async function signAndClaim(coordinator: string, creds: Credentials, wallet: { address: string; privateKey: string }): Promise<ClaimDone> {
  const signer = privateKeyToAccount(wallet.privateKey as `0x${string}`);
  const message = claimMessage({ account: `volunteer:${creds.volunteerId}`, wallet: signer.address, coordinatorUrl: coordinator, now: Date.now() });
  const signature = await signer.signMessage({ message });
  try {
    const r = await new TabgridClient(coordinator).claim({ volunteerId: creds.volunteerId, secret: creds.secret, message, signature });
    return { wallet: r.wallet, movedPayable: r.movedPayable, movedPending: r.movedPending };
  } catch (e) {
    // The coordinator's reason (wrong signer, expired, used nonce) is what the volunteer should read.
    throw new Error(e instanceof ApiError ? e.reason : (e as Error).message);
  }
}
