/**
 * Invite codes to private projects' groups (issue 15), as every side reads
 * them: the coordinator's schema, `tabgrid worker --join`, the contributor
 * page's ?join= and its paste field. No dependencies: the page loads it.
 */

/** `tgi_` and 32 base64url characters (192 random bits; the coordinator keeps only its SHA-256). */
export const INVITE_CODE = /^tgi_[A-Za-z0-9_-]{32}$/;
export const INVITE_CODE_PROBLEM = 'invite code is malformed: tgi_ followed by 32 letters, digits, - or _';

/** The invite code in what a volunteer was given: a bare code, or an invite link (`…/?join=CODE`); null when neither. */
export function inviteCodeOf(text: string): string | null {
  const t = text.trim();
  if (INVITE_CODE.test(t)) return t;
  try {
    const code = new URL(t).searchParams.get('join');
    return code && INVITE_CODE.test(code) ? code : null;
  } catch {
    return null;
  }
}

