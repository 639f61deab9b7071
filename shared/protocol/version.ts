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
 * 4: assignments and copy outcomes carry no shard id, only an opaque copy id
 *    (issue 13: nothing links two copies of one shard); hello may carry the
 *    operator token (the operator's own hosts, the root of trust).
 */
export const PROTOCOL_VERSION = 4;

/** The socket.io path, kept explicit so embeds and proxies can route it. */
export const SOCKET_PATH = '/socket.io';
