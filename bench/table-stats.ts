/** Quantiles and Markdown table cells for benchmark reports. */

export function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}
export const median = (xs: number[]): number => quantile(xs, 0.5);
export const p95 = (xs: number[]): number => quantile(xs, 0.95);
export const f1 = (n: number): string => (Number.isNaN(n) ? '-' : n.toFixed(1));
export const f0 = (n: number): string => n.toFixed(0);
export const row = (cells: string[]): string => `| ${cells.join(' | ')} |`;
