/**
 * Bumped on any incompatible change to the socket.io events or their payloads.
 * A volunteer speaking another version is refused at connect with a message
 * telling it which version the coordinator speaks.
 *
 * 2: copy outcomes and balances reach a volunteer as `news`, on the replies to
 *    its requests and results or pushed when no reply carried them in time
 *    (was: one `copy:outcome` push per copy, `credit:balance` twice a second).
 * 3: a local-steps copy names its weights by version (`weights`: full weights or deltas from a version the
 *    volunteer holds) instead of a full-weights feed blob.
 */
export const PROTOCOL_VERSION = 3;

/** The socket.io path, kept explicit so embeds and proxies can route it. */
export const SOCKET_PATH = '/socket.io';
