/**
 * Payouts over HTTP. Closing an epoch is the operator's (the coordinator's
 * own project token, the one in `<data>/token`); epochs, roots and proofs
 * are public, as a Merkle distributor's are: a volunteer fetches its proof
 * with nothing but its address.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isWallet, toChecksumAddress } from '../../shared/wallet.ts';
import * as v from 'valibot';
import { validate } from '../../shared/protocol/schemas.ts';
import { ClaimError } from '../services/credit-service.ts';
import { JobError } from '../services/job-service.ts';
import type { ApiDeps } from './api.ts';

const ClaimSchema = v.strictObject({
  volunteerId: v.pipe(v.string(), v.minLength(6), v.maxLength(64)),
  secret: v.pipe(v.string(), v.minLength(1), v.maxLength(256)),
  message: v.pipe(v.string(), v.minLength(1), v.maxLength(4096)),
  signature: v.pipe(v.string(), v.maxLength(200)),
});

export function registerCreditApi(app: FastifyInstance, d: ApiDeps, auth: (req: FastifyRequest) => Promise<void>): void {
  app.post('/api/v1/payouts', { onRequest: auth }, async (req, reply) => {
    if (req.project!.id !== d.operatorProjectId) throw new JobError('forbidden', 'only the coordinator\'s operator (the token in its data directory) may close a payout epoch');
    const epoch = await d.credit.closePayout();
    if (!epoch) return reply.status(200).send({ epoch: null, reason: 'no wallet has payable credit (credit is payable once its hold has passed; volunteer:<id> accounts must first be claimed to a wallet)' });
    return reply.status(201).send({ epoch: await d.credit.epochWithProofs(epoch.id) });
  });

  // A wallet takes the credit of a volunteer:<id> account: the volunteer's secret and the wallet's SIWE signature.
  app.post('/api/v1/claims', async (req, reply) => {
    const body = validate(ClaimSchema, req.body, 'wallet claim');
    // The domain the message must name: this coordinator as its users reach it.
    const domain = d.publicUrl ? new URL(d.publicUrl).host : (req.headers.host ?? '');
    try {
      return reply.status(200).send(await d.credit.claim({ ...body, domain }));
    } catch (e) {
      if (e instanceof ClaimError) throw new JobError(e.code, e.message);
      throw e;
    }
  });

  app.get('/api/v1/payouts', async () => ({ epochs: await d.credit.epochs() }));

  app.get('/api/v1/payouts/:id', async (req) => {
    const e = await d.credit.epochWithProofs((req.params as { id: string }).id);
    if (!e) throw new JobError('not_found', 'no such payout epoch');
    return e;
  });

  app.get('/api/v1/accounts/:account/payouts', async (req) => {
    const { account } = req.params as { account: string };
    if (!isWallet(account)) throw new JobError('bad_request', 'payouts go to wallets only: give an address (0x + 40 hex)');
    const wallet = toChecksumAddress(account);
    return { account: wallet, payouts: await d.credit.proofsOf(wallet) };
  });
}
