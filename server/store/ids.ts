import { randomBytes } from 'node:crypto';

/** 16 random bytes, base64url: unguessable, so ids cannot be forged by enumeration. */
export function newId(): string {
  return randomBytes(16).toString('base64url');
}

export function newSecret(): string {
  return randomBytes(24).toString('base64url');
}
