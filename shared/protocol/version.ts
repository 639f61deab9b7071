/**
 * Bumped on any incompatible change to the socket.io events or their payloads.
 * A volunteer speaking another version is refused at connect with a message
 * telling it which version the coordinator speaks.
 *
 * 2: copy outcomes and balances reach a volunteer as `news`, on the replies to
 *    its requests and results or pushed when no reply carried them in time
 *    (was: one `copy:outcome` push per copy, `credit:balance` twice a second).
 */
export const PROTOCOL_VERSION = 2;

/** The socket.io path, kept explicit so embeds and proxies can route it. */
export const SOCKET_PATH = '/socket.io';
