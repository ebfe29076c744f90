import { ClientBep51Stats } from './client-bep51.js';
import { CRAWL_CLIENT_NO_BEP51_AFTER, CRAWL_FIRST_CONTACT_LEARNING, CRAWL_RETRY_LEARNING, CRAWL_RETRY_MIN_YIELD } from './constants.js';
import { ClientVersions, MAX_VERSIONS } from './client-versions.js';
import { RttTracker } from './rtt-tracker.js';
import { ScrapeProbeBudget } from './scrape-probes.js';

/**
 * What a crawl learns as it goes and acts on: the share of first contacts that turn out to be
 * BEP 51 nodes (find_node or sample first), whether second tries of silent first contacts
 * find anyone, which client versions lack BEP 51, and how long answers take. One per crawl; a process crawling many
 * partitions of a shared survey passes one to all of them, so each partition does not pay
 * for the lesson again (200 first contacts, 100 second tries).
 */
export class CrawlLearning {
  readonly versions = new ClientVersions();
  readonly clients = new ClientBep51Stats(MAX_VERSIONS, CRAWL_CLIENT_NO_BEP51_AFTER);
  /** Round-trip times, for the timeout (3 x p95). */
  readonly rtt = new RttTracker();
  /** How many BEP 33 census probes this sweep may still send (crawler/scrape-probes.ts). */
  readonly scrapeProbes = new ScrapeProbeBudget();
  /** Nodes visited at least once, and of them those found to answer sample_infohashes: what a first contact is likely to be. */
  nodesVisited = 0;
  bep51Found = 0;
  /** Second tries of first contacts that were silent to find_node, and how many of them answered: is the network losing packets? */
  firstContactRetries = 0;
  firstContactRetriesAnswered = 0;

  /**
   * Whether a node never heard from gets find_node first. A first contact costs, by what it turns
   * out to be: sample first, 1 packet for a BEP 51 node, 2 for any other live node (the silent
   * or refused sample, then find_node) and 2 for a dead one; find_node first, 2, 1 and 1 (a
   * find_node every BEP 5 node answers, so one timeout is a verdict). With a share p of first
   * contacts live with BEP 51, sample first costs 2 - p and find_node first 1 + p: find_node first
   * wins while p < 1/2, as on the real DHT, where most contacts handed out are dead or lack BEP 51.
   * p is learned from this crawl (after CRAWL_FIRST_CONTACT_LEARNING visits; samples until then).
   */
  findNodeFirst(): boolean {
    return this.nodesVisited >= CRAWL_FIRST_CONTACT_LEARNING && this.bep51Found < this.nodesVisited / 2;
  }

  /**
   * Whether a first contact silent to find_node gets a second try. A second try costs a packet
   * for every dead contact handed out (half of them on the DHT) and pays only where packets get
   * lost: retry while retries still find live nodes (CRAWL_RETRY_MIN_YIELD of them, judged after
   * CRAWL_RETRY_LEARNING), stop on a network where they find none.
   */
  firstContactRetryPays(): boolean {
    return this.firstContactRetries < CRAWL_RETRY_LEARNING || this.firstContactRetriesAnswered >= CRAWL_RETRY_MIN_YIELD * this.firstContactRetries;
  }
}
