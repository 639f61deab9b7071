/**
 * The frame's check of what the host page's loader sends: exact shapes
 * (strict objects, bounded numbers and strings), after the sender's window
 * and origin were checked. Anything else is dropped.
 */
import * as v from 'valibot';
import type { HostMessage } from '../messages.ts';
import { TAG, VERSION } from '../messages.ts';

const envelope = { tag: v.literal(TAG), v: v.literal(VERSION) };
const wallet = v.pipe(v.string(), v.maxLength(64), v.regex(/^0x[0-9a-fA-F]{40}$/));

export const HostMessageSchema = v.variant('type', [
  v.strictObject({
    ...envelope,
    type: v.literal('start'),
    intensity: v.pipe(v.number(), v.finite()),
    siteWallet: v.optional(wallet),
    visitorWallet: v.optional(wallet),
  }),
  v.strictObject({ ...envelope, type: v.literal('stop') }),
  v.strictObject({ ...envelope, type: v.literal('pause'), reason: v.nullable(v.pipe(v.string(), v.maxLength(200))) }),
]) satisfies v.GenericSchema<unknown, HostMessage>;

export function parseHostMessage(x: unknown): HostMessage | null {
  const r = v.safeParse(HostMessageSchema, x);
  return r.success ? r.output : null;
}
