/**
 * SHA-256 of a blob as lowercase hex. WebCrypto is native and fast on models of
 * hundreds of megabytes but exists only in secure contexts; a page served over
 * plain http from a LAN address falls back to the shared pure-JS implementation.
 */
import { sha256Hex as sha256HexJs } from '../../shared/hash.ts';

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  if (globalThis.crypto?.subtle) {
    const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
    let hex = '';
    for (const b of d) hex += b.toString(16).padStart(2, '0');
    return hex;
  }
  return sha256HexJs(bytes);
}
