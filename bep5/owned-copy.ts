/**
 * A copy of `bytes` in memory of its own. `Buffer.from(bytes)` copies anything under 4 KiB into
 * Node's shared 8 KiB pool slab, so one small value kept for hours keeps its whole slab, and
 * every short-lived buffer that shared it, alive: about 3.8 KB held per 650-byte BEP 44 value
 * in bench/footprint.ts, 6× the value. Stores that keep bytes long after the datagram is gone
 * (items, swarm keys) copy with this instead.
 */
export function ownedCopy(bytes: Uint8Array): Buffer {
  const copy = Buffer.allocUnsafeSlow(bytes.length);
  copy.set(bytes);
  return copy;
}
