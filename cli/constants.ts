/**
 * Defaults of the command line that are not an option's default (those are in each command's
 * help), with the reason for each value.
 */

/**
 * How long a command (query, migrate, workers) waits for a Redis given by URL before saying it
 * cannot reach it. A local or LAN Redis is ready in milliseconds, so after 3 s nothing is there
 * (or a firewall drops the packets); ioredis keeps retrying meanwhile, so a Redis that is just
 * starting still gets in. redis/connection.ts's own default (10 s) suits services.
 */
export const CLI_REDIS_CONNECT_TIMEOUT_MS = 3_000;

/**
 * ioredis's `disconnectTimeout` for the CLI's clients (default 2 s). After a failed connect,
 * ioredis still waits this long for the already closed socket to "close" again, keeping the
 * process alive for nothing before the error exits; a Redis that answers QUIT closes the socket
 * in milliseconds, so half a second cuts nothing short.
 */
export const CLI_REDIS_DISCONNECT_TIMEOUT_MS = 500;

/** What to do when Redis cannot be reached, appended to the one-line error. */
export const REDIS_UNREACHABLE_HINT =
  'start Redis there, or give another --redis-url (without --redis-url and $REDIS_URL, dhtscope uses 127.0.0.1:6379 or starts its own redis-server)';

/** What to do when no bootstrap node answered, appended to the one-line error. */
export const NO_BOOTSTRAP_ANSWER_HINT = 'check the address and that outgoing UDP is not blocked, or try other --bootstrap nodes';
