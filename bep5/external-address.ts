import { type PeerAddress } from './compact.js';
import { normalizeHost } from './ip.js';

/**
 * Learns our external IP from the BEP 42 `ip` field of replies. One node's word is worth
 * nothing (it may lie to push us to a chosen ID), so a vote counts once per distinct voter
 * network (/24 for IPv4, /48 for IPv6), only the latest vote of each voter counts, and an
 * address wins only with `quorum` votes and a clear majority.
 */
export interface ExternalAddressOptions {
  /** Distinct voter networks that must agree. */
  quorum?: number;
  /** Voters remembered at most (memory bound); the oldest vote is forgotten first. */
  maxVoters?: number;
}

export const DEFAULT_ADDRESS_QUORUM = 5;

export class ExternalAddressVoter {
  private readonly votes = new Map<string, string>(); // voter network → claimed address
  private readonly quorum: number;
  private readonly maxVoters: number;

  constructor(options: ExternalAddressOptions = {}) {
    this.quorum = options.quorum ?? DEFAULT_ADDRESS_QUORUM;
    this.maxVoters = options.maxVoters ?? 256;
  }

  /** Records that `voter` says it sees us at `claimed`. */
  vote(voter: PeerAddress, claimed: PeerAddress): void {
    const host = normalizeHost(claimed.host);
    const network = voterNetwork(voter.host);
    if (host === undefined || network === undefined) return;
    this.votes.delete(network); // re-insert: Map order is then oldest-first
    this.votes.set(network, host);
    if (this.votes.size > this.maxVoters) this.votes.delete(this.votes.keys().next().value!);
  }

  /** The address a quorum agrees on, if any, with a strict majority of all current votes. */
  winner(): string | undefined {
    const tally = new Map<string, number>();
    for (const host of this.votes.values()) tally.set(host, (tally.get(host) ?? 0) + 1);
    for (const [host, count] of tally) {
      if (count >= this.quorum && count * 2 > this.votes.size) return host;
    }
    return undefined;
  }

  get voters(): number {
    return this.votes.size;
  }
}

function voterNetwork(host: string): string | undefined {
  const h = normalizeHost(host);
  if (h === undefined) return undefined;
  if (!h.includes(':')) return h.split('.').slice(0, 3).join('.');
  // IPv6: the first three 16-bit groups (/48); expand '::' enough to count groups.
  const [head = ''] = h.split('::');
  const groups = head.split(':').filter((g) => g.length > 0);
  while (groups.length < 3) groups.push('0');
  return groups.slice(0, 3).join(':');
}
