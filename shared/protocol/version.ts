/**
 * Bumped on any incompatible change to the socket.io events or their payloads.
 * A volunteer speaking another version is refused at connect with a message
 * telling it which version the coordinator speaks.
 */
export const PROTOCOL_VERSION = 1;

/** The socket.io path, kept explicit so embeds and proxies can route it. */
export const SOCKET_PATH = '/socket.io';
