/**
 * Idempotent job submission's decisions (server/core/jobs/submission.ts) and
 * the Idempotency-Key header's checks (shared/http/idempotency.ts), without a
 * coordinator.
 */
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { canonicalJson, repeatOutcome, requestFingerprint } from '../../../server/core/jobs/submission.ts';
import { idempotencyKeyOf, idempotencyKeyProblem, newIdempotencyKey } from '../../../shared/http/idempotency.ts';
import { JobRequestSchema } from '../../../shared/http/requests.ts';

describe('a submission\'s fingerprint', () => {
  it('is the same whatever the order of members, and differs with any value', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: null }, e: undefined })).toBe('{"a":{"c":null,"d":[1,{"x":1,"y":2}]},"b":1}');
    const a = { model: 'm', inputs: [{ blob: 'x', format: 'npy' }], replicas: 2 };
    const b = { replicas: 2, inputs: [{ format: 'npy', blob: 'x' }], model: 'm' };
    expect(requestFingerprint(a)).toBe(requestFingerprint(b));
    expect(requestFingerprint(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(requestFingerprint({ ...a, replicas: 3 })).not.toBe(requestFingerprint(a));
    // Array order is the request's meaning (inputs bind in order): it counts.
    expect(requestFingerprint({ x: [1, 2] })).not.toBe(requestFingerprint({ x: [2, 1] }));
  });

  it('is taken of the validated body: a default left out and a default spelled out are the same request', () => {
    const hash = 'a'.repeat(64);
    const bare = v.parse(JobRequestSchema, { model: hash, inputs: [] });
    const spelled = v.parse(JobRequestSchema, { kind: 'inference', model: hash, inputs: [] });
    expect(requestFingerprint(bare)).toBe(requestFingerprint(spelled));
  });
});

describe('a repeated key', () => {
  it('gets its job when the request is the same, and a refusal naming the job when it is not', () => {
    expect(repeatOutcome({ jobId: 'job-1', fingerprint: 'f' }, 'f', 'k')).toEqual({ replay: 'job-1' });
    expect(repeatOutcome({ jobId: 'job-1', fingerprint: 'f' }, 'g', 'k')).toEqual({
      refuse: 'Idempotency-Key "k" was used for job job-1, submitted with another request; a repeat must send the same body, and a new submission a new key',
    });
  });
});

describe('the Idempotency-Key header', () => {
  it('takes a key bare or in the draft\'s quoted form', () => {
    expect(idempotencyKeyOf('"8e03978e-40d5-43e8-bc93-6894a57f9324"')).toBe('8e03978e-40d5-43e8-bc93-6894a57f9324');
    expect(idempotencyKeyOf('run:42.a_b')).toBe('run:42.a_b');
    for (const ok of ['"8e03978e-40d5-43e8-bc93-6894a57f9324"', 'run:42.a_b', 'x', 'k'.repeat(255), `"${'k'.repeat(255)}"`]) expect(idempotencyKeyProblem(ok)).toBeNull();
  });

  it('says precisely what is wrong with a bad one', () => {
    expect(idempotencyKeyProblem('')).toBe('Idempotency-Key is empty: send 1 to 255 letters, digits, "-", "_", "." or ":" (a UUID fits)');
    expect(idempotencyKeyProblem('""')).toBe('Idempotency-Key is empty: send 1 to 255 letters, digits, "-", "_", "." or ":" (a UUID fits)');
    expect(idempotencyKeyProblem('k'.repeat(256))).toBe('Idempotency-Key is 256 characters long; at most 255 are taken');
    expect(idempotencyKeyProblem('a b')).toBe('Idempotency-Key may hold only letters, digits, "-", "_", "." and ":" (optionally in double quotes, once); it holds " "');
    // Two headers (Node joins them with ", "), a lone quote, and a non-ASCII letter.
    expect(idempotencyKeyProblem('"a", "b"')).toMatch(/it holds "\\""$/);
    expect(idempotencyKeyProblem('"abc')).toMatch(/it holds "\\""$/);
    expect(idempotencyKeyProblem('clé')).toMatch(/it holds "é"$/);
  });

  it('is made fresh for each submission', () => {
    const keys = new Set(Array.from({ length: 100 }, newIdempotencyKey));
    expect(keys.size).toBe(100);
    for (const k of keys) expect(idempotencyKeyProblem(k)).toBeNull();
  });
});
