export type RedisConnectErrorCode =
  | 'ERR_REDIS_SERVER_NOT_INSTALLED'
  | 'ERR_REDIS_UNREACHABLE'
  | 'ERR_REDIS_AUTH_REQUIRED'
  | 'ERR_REDIS_BAD_URL'
  | 'ERR_REDIS_EMBEDDED_BUSY'
  | 'ERR_REDIS_EMBEDDED_START';

/** Connecting failed for a reason the user can act on; `message` is one line. */
export class RedisConnectError extends Error {
  override readonly name: string = 'RedisConnectError';
  constructor(
    readonly code: RedisConnectErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export const REDIS_NOT_INSTALLED_MESSAGE = 'redis-server is not installed: run "sudo apt-get install redis-server" or set REDIS_URL';

export class RedisServerNotInstalledError extends RedisConnectError {
  override readonly name = 'RedisServerNotInstalledError';
  constructor() {
    super('ERR_REDIS_SERVER_NOT_INSTALLED', REDIS_NOT_INSTALLED_MESSAGE);
  }
}
