/** Errors of crawler/, each with a stable `code`, as everywhere in dhtscope. */

/** The testnet could not be planned or started (bad options, a node that would not bind). */
export class TestnetError extends Error {
  override readonly name = 'TestnetError';
  readonly code = 'ERR_TESTNET';
}

/** A foreign DHT process (bittorrent-dht, libtorrent) failed to start or answer its host. */
export class ForeignHostError extends Error {
  override readonly name = 'ForeignHostError';
  readonly code = 'ERR_FOREIGN_HOST';
}
