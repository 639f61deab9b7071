/**
 * Payouts over HTTP. Closing an epoch is the operator's (the operator
 * token, `<data>/operator-token`); epochs, roots and proofs
 * are public, as a Merkle distributor's are: a volunteer fetches its proof
 * with nothing but its address.
 */
import { ROUTES } from '../../shared/http/routes.ts';
import { toChecksumAddress } from '../../shared/wallet.ts';
import { ClaimError } from '../services/credit-service.ts';
import { JobError } from '../services/job-service.ts';
import type { ApiDeps } from './api.ts';
import type { routeServer } from './serve-route.ts';

export function registerCreditApi(serve: ReturnType<typeof routeServer>, d: ApiDeps): void {
  // The route's auth is the operator token (<data>/operator-token).
  serve(ROUTES.closePayout, async ({ reply }) => {
    const epoch = await d.credit.closePayout();
    if (!epoch) return reply.status(200).send({ epoch: null, reason: 'no wallet has payable credit (credit is payable once its hold has passed; volunteer:<id> accounts must first be claimed to a wallet)' });
    return reply.status(201).send({ epoch: await d.credit.epochWithProofs(epoch.id) });
  });

  // A wallet takes the credit of a volunteer:<id> account: the volunteer's secret and the wallet's SIWE signature.
  serve(ROUTES.claim, async ({ req, body }) => {
    // The domain the message must name: this coordinator as its users reach it.
    const domain = d.publicUrl ? new URL(d.publicUrl).host : (req.headers.host ?? '');
    try {
      return await d.credit.claim({ ...body, domain });
    } catch (e) {
      if (e instanceof ClaimError) throw new JobError(e.code, e.message);
      throw e;
    }
  });

  serve(ROUTES.payouts, async () => ({ epochs: await d.credit.epochs() }));

  serve(ROUTES.payout, async ({ params: { id } }) => {
    const e = await d.credit.epochWithProofs(id);
    if (!e) throw new JobError('not_found', 'no such payout epoch');
    return e;
  });

  serve(ROUTES.walletPayouts, async ({ params }) => {
    const wallet = toChecksumAddress(params.account);
    return { account: wallet, payouts: await d.credit.proofsOf(wallet) };
  });
}
