// Formatting numbers and times for people.

const integer = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
const compact = new Intl.NumberFormat('en', { notation: 'compact', maximumFractionDigits: 1 });

/** 12,345 */
export function formatInt(n) {
  return Number.isFinite(n) ? integer.format(n) : '–';
}

/** 12.3 (rates) */
export function formatRate(n) {
  return Number.isFinite(n) ? oneDecimal.format(n) : '–';
}

/** 12.3K (inside small heat map cells) */
export function formatCompact(n) {
  return Number.isFinite(n) ? compact.format(n) : '–';
}

/** 42% */
export function formatPercent(part, whole) {
  return whole > 0 ? `${oneDecimal.format((100 * part) / whole)}%` : '–';
}

/** 2026-11-24 08:16:54 UTC */
export function formatTime(ms) {
  if (!Number.isFinite(ms) || ms <= 0) return '–';
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** "12 s ago", "3 min ago", "5 h ago", "2 d ago" (relative to `now`). */
export function formatAgo(ms, now = Date.now()) {
  if (!Number.isFinite(ms) || ms <= 0) return '–';
  const s = Math.max(0, Math.round((now - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1.4 GiB */
export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return '–';
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? integer.format(n) : oneDecimal.format(n)} ${units[i]}`;
}
