/**
 * Where a shared survey lives in Redis. Every key of one survey carries the hash tag
 * `{<index prefix>:survey:<name>}`, so on a Redis Cluster they sit in one slot; BullMQ's keys
 * get a tag of their own (`{...:bull}`), as the index's queues do (workers/queues.ts).
 */
export const SURVEY_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

export class SurveyKeys {
  readonly tag: string;
  /** Hash: bits, partitions, targets seed, created. */
  readonly meta: string;
  /** Hash: partition -> its result (JSON, untrusted on read). */
  readonly results: string;
  /** Hash: partition -> how many times it was completed (1 unless its process died at the end). */
  readonly completions: string;
  /** List: "partition process" per start of a partition's crawl (a restart shows twice). */
  readonly attempts: string;
  /** Set: the partitions done; contacts forwarded to them after that are counted late. */
  readonly done: string;
  /** Hash: process id -> its status (JSON), refreshed every second while it works. */
  readonly processes: string;
  /** Set (NX) by the process that records the finished survey in the index's survey series. */
  readonly recorded: string;
  /** Contacts passed on to partitions already done. */
  readonly late: string;
  /** BullMQ's `prefix` option and the queue holding one job per partition. */
  readonly bullPrefix: string;
  readonly queueName = 'partitions';

  constructor(
    readonly indexPrefix: string,
    readonly name: string,
  ) {
    if (!SURVEY_NAME_PATTERN.test(name)) throw new RangeError(`a survey name is 1-64 letters, digits, '.', '_' or '-', got ${JSON.stringify(name)}`);
    this.tag = `{${indexPrefix}:survey:${name}}`;
    this.meta = `${this.tag}:meta`;
    this.results = `${this.tag}:results`;
    this.completions = `${this.tag}:completions`;
    this.done = `${this.tag}:done`;
    this.attempts = `${this.tag}:attempts`;
    this.processes = `${this.tag}:processes`;
    this.late = `${this.tag}:late`;
    this.recorded = `${this.tag}:recorded`;
    this.bullPrefix = `{${indexPrefix}:survey:${name}:bull}`;
  }

  /** List: contacts (26-byte compact node infos) other partitions passed on to partition p. */
  inbox(partition: number): string {
    return `${this.tag}:inbox:${partition}`;
  }
}
