/** The k IDs closest to target by XOR distance, closest first: ground truth for lookups. */
export function trueClosest(ids: readonly Buffer[], target: Buffer, k: number): Buffer[] {
  const distance = (id: Buffer): Buffer => Buffer.from(id.map((b, i) => b ^ target[i]!));
  return [...ids].sort((a, b) => Buffer.compare(distance(a), distance(b))).slice(0, k);
}
