/**
 * Where an embed's consent must come from, decided by the compute frame (on
 * the coordinator's origin) from the project's public embed rules and the
 * embedding page's origin as the browser reports it (`ancestorOrigins`, or a
 * message's `origin`), never as the page claims it.
 *
 * - `page`: the project lists this origin in `allowedOrigins`. Its owner vouches
 *   for those sites, so the consent card the page's loader draws is enough.
 * - `frame`: the project lists no origins (the default: any site may embed it)
 *   or its rules could not be read. Any page can frame the compute page and
 *   skip the loader's card, so the visitor confirms inside the frame itself,
 *   where the page cannot script, with a click on a confirmation the browser
 *   reports fully visible (confirm.ts).
 * - refused: the project lists origins and this is not one of them.
 */
export type ConsentPlace = { at: 'page' } | { at: 'frame' } | { at: 'refused'; reason: string };

export function consentPlace(allowedOrigins: readonly string[] | null, hostOrigin: string): ConsentPlace {
  if (!allowedOrigins || allowedOrigins.length === 0) return { at: 'frame' };
  if (allowedOrigins.includes(hostOrigin)) return { at: 'page' };
  return { at: 'refused', reason: `${hostOrigin} is not allowed to embed this tabgrid project` };
}
