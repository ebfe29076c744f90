/** Distinct `v` values kept (index 0 is "none"); more are not told apart. */
export const MAX_VERSIONS = 4_096;

/**
 * The distinct client versions (`v`, hex) a crawl has seen, numbered from 1 (0 = none), at most
 * MAX_VERSIONS so hostile values cannot grow it. Shared by the crawls of one process's survey
 * partitions, so what one learned per version (crawler/client-bep51.ts) holds in the others.
 */
export class ClientVersions {
  readonly list: string[] = [''];
  private readonly index = new Map<string, number>();

  /** The number of this `v` (its first 8 bytes), or 0 once MAX_VERSIONS are taken. */
  intern(v: Buffer): number {
    const hex = v.subarray(0, 8).toString('hex');
    let n = this.index.get(hex);
    if (n === undefined) {
      if (this.list.length >= MAX_VERSIONS) return 0;
      n = this.list.length;
      this.list.push(hex);
      this.index.set(hex, n);
    }
    return n;
  }
}
