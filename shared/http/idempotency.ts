/**
 * The Idempotency-Key request header of a job submission
 * (draft-ietf-httpapi-idempotency-key-header): the client makes one key per
 * submission and may send that POST again when its reply was lost; the
 * coordinator keeps the key with the job it made and answers a repeat with
 * that job, never a second one. The draft writes the value as a
 * structured-field String ("..." in double quotes); a bare key is taken too.
 */
import * as v from 'valibot';

/** The header as Node's HTTP server names it (lower case). */
export const IDEMPOTENCY_HEADER = 'idempotency-key';
/** Longest key taken (a UUID is 36 characters). */
export const MAX_IDEMPOTENCY_KEY = 255;
const KEY_CHARS = /^[A-Za-z0-9_.:-]*$/;

/** The key a header value carries: without the double quotes of the draft's String form. */
export function idempotencyKeyOf(header: string): string {
  return header.length >= 2 && header.startsWith('"') && header.endsWith('"') ? header.slice(1, -1) : header;
}

/** What is wrong with an Idempotency-Key header value, or null when it is a key. */
export function idempotencyKeyProblem(header: string): string | null {
  const key = idempotencyKeyOf(header);
  if (key.length === 0) return 'Idempotency-Key is empty: send 1 to 255 letters, digits, "-", "_", "." or ":" (a UUID fits)';
  if (key.length > MAX_IDEMPOTENCY_KEY) return `Idempotency-Key is ${key.length} characters long; at most ${MAX_IDEMPOTENCY_KEY} are taken`;
  if (!KEY_CHARS.test(key)) {
    const bad = [...key].find((ch) => !KEY_CHARS.test(ch))!;
    return `Idempotency-Key may hold only letters, digits, "-", "_", "." and ":" (optionally in double quotes, once); it holds ${JSON.stringify(bad)}`;
  }
  return null;
}

export const IdempotencyKeySchema = v.pipe(
  v.string(),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const problem = idempotencyKeyProblem(dataset.value);
    if (problem) addIssue({ message: problem });
  }),
  v.description(
    'Makes the submission safe to send again (draft-ietf-httpapi-idempotency-key-header): 1 to 255 letters, digits, '
    + '"-", "_", "." or ":", bare or in double quotes, one per submission. A repeat with the same key and body answers '
    + 'with the job the first one made (201, the same reply); the same key with another body is refused (422 '
    + 'idempotency_key_reused) and changes nothing. A key is kept with its job, per project, as long as the job is.',
  ),
);

/** A fresh key for one submission: 128 random bits (Web Crypto, so browsers on plain http have it too). */
export function newIdempotencyKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
