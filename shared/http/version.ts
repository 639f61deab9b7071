/**
 * The HTTP API's version is its path prefix. Within a version, replies only
 * gain fields and requests only gain optional ones; anything else is a new
 * version (`/api/v2`), served beside the old one while clients move.
 */
export const API_VERSION = 1;
export const API_BASE = `/api/v${API_VERSION}`;
