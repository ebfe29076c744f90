/**
 * What the crawl has learned, per client version, about BEP 51 support. Many clients never
 * answer sample_infohashes (bittorrent-dht, jech/dht, aria2 stay silent; rtorrent says 204).
 * Once enough nodes of one version (the `v` value, or none) have shown that, the crawler asks
 * nodes of that version find_node first and saves the packet a sample would cost. The key is
 * the crawler's version index (NodeIndex.version: 0 = no `v`), so the state is two counters
 * per distinct version, in typed arrays.
 */
export class ClientBep51Stats {
  private readonly supported: Uint32Array;
  private readonly unsupported: Uint32Array;

  /**
   * @param versions how many version indexes there can be (NodeIndex keeps at most 4,096)
   * @param unsupportedAfter nodes of one version that must lack BEP 51, with none that has it,
   *   before that version is taken as never supporting it
   */
  constructor(
    versions: number,
    private readonly unsupportedAfter: number,
  ) {
    this.supported = new Uint32Array(versions);
    this.unsupported = new Uint32Array(versions);
  }

  record(version: number, supports: boolean): void {
    if (version < 0 || version >= this.supported.length) return;
    if (supports) this.supported[version]!++;
    else this.unsupported[version]!++;
  }

  /** True once this version has `unsupportedAfter` nodes without BEP 51 and none with it. */
  neverSupports(version: number): boolean {
    if (version < 0 || version >= this.supported.length) return false;
    return this.supported[version] === 0 && this.unsupported[version]! >= this.unsupportedAfter;
  }

  /** Per version index with any observation: [version index, with BEP 51, without]. */
  entries(): Array<[version: number, supported: number, unsupported: number]> {
    const out: Array<[number, number, number]> = [];
    for (let v = 0; v < this.supported.length; v++) {
      if (this.supported[v]! + this.unsupported[v]! > 0) out.push([v, this.supported[v]!, this.unsupported[v]!]);
    }
    return out;
  }
}
