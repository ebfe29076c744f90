import { MAX_QUERY_CHARS, MAX_QUERY_TOKENS } from '../../indexer/metadata-constants.js';
import { tokenize } from '../../indexer/search-tokens.js';
import { type SearchQuery } from '../api/params.js';
import { TORZNAB_DEFAULT_LIMIT, TORZNAB_MAX_LIMIT } from './constants.js';

/**
 * The request parameters of `/torznab/api`, checked as Torznab clients expect: an error is a
 * Newznab error code (TorznabError) answered as `<error code description/>`, not a JSON 400.
 * Parameters this endpoint does not use (`apikey`, `extended`, `imdbid`, `tvdbid`, `rid`...)
 * are ignored, since every client sends some of them.
 */

/** The Newznab error codes this endpoint answers with (100-199, authentication, are auth.ts's). */
export const TORZNAB_ERRORS = {
  incorrectCredentials: 100,
  missingParameter: 200,
  incorrectParameter: 201,
  noSuchFunction: 202,
  functionNotAvailable: 203,
  requestLimitReached: 500,
  unknown: 900,
} as const;

export class TorznabError extends Error {
  override readonly name = 'TorznabError';
  constructor(
    readonly code: number,
    readonly description: string,
  ) {
    super(description);
  }
}

const incorrect = (message: string): TorznabError => new TorznabError(TORZNAB_ERRORS.incorrectParameter, `Incorrect parameter: ${message}`);

export type SearchFunction = 'search' | 'tvsearch' | 'movie';

export interface TorznabSearch {
  fn: SearchFunction;
  /** null without words (the most recent torrents); `tokens` is empty when `q` has no searchable word (no results). */
  query: SearchQuery | null;
  limit: number;
  offset: number;
  /** The asked categories (parents or subcategories), null for all. */
  categories: ReadonlySet<number> | null;
  /** What an episode's name must contain (`season`, `ep` of tvsearch), null for any name. */
  episode: RegExp | null;
}

export type TorznabRequest = { fn: 'caps' } | TorznabSearch;

/** Functions of the Newznab API that this index has no data for: 203 instead of 202. */
const NOT_AVAILABLE = new Set(['music', 'book', 'details', 'get', 'comments', 'register']);

type Query = Record<string, unknown>;

/** The single value of a parameter, undefined when absent or empty. */
function single(query: Query, name: string): string | undefined {
  const v = query[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v === 'string') return v;
  throw incorrect(`${name} must be given once`);
}

function count(query: Query, name: string, fallback: number, min: number): number {
  const text = single(query, name);
  if (text === undefined) return fallback;
  if (!/^\d{1,9}$/.test(text) || Number(text) < min) throw incorrect(`${name} must be an integer of at least ${min}`);
  return Number(text);
}

function categories(value: unknown): ReadonlySet<number> | null {
  const parts = (Array.isArray(value) ? value : value === undefined ? [] : [value]).flatMap((v) => String(v).split(','));
  const ids = new Set<number>();
  for (const part of parts.map((p) => p.trim()).filter((p) => p !== '')) {
    if (!/^\d{1,9}$/.test(part)) throw incorrect('cat must be a comma-separated list of category ids');
    ids.add(Number(part));
  }
  return ids.size === 0 ? null : ids;
}

function searchQuery(query: Query): SearchQuery | null {
  const q = single(query, 'q');
  if (q === undefined || q.trim() === '') return null;
  if ([...q].length > MAX_QUERY_CHARS) throw incorrect(`q must be at most ${MAX_QUERY_CHARS} characters`);
  const tokens = tokenize(q);
  if (tokens.length > MAX_QUERY_TOKENS) throw incorrect(`q has ${tokens.length} words, at most ${MAX_QUERY_TOKENS} are searched together`);
  return { q, tokens };
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/**
 * What names an episode search narrows to, case-insensitive, a letter or digit never directly
 * before: `season` 2 with `ep` 3 → S02E03 (also S2E3, S02.E03, S02E03E04, not S02E030);
 * `season` 2 alone → S02 (S02E05, S02 packs) or "Season 2"; a daily show's `season` 2024 with
 * `ep` 03/15 (Sonarr's form) → 2024.03.15, 2024-03-15, 2024 03 15.
 */
function episodeFilter(query: Query, fn: SearchFunction): RegExp | null {
  const season = single(query, 'season');
  const ep = single(query, 'ep');
  if (fn !== 'tvsearch' || (season === undefined && ep === undefined)) return null;
  if (season === undefined) throw incorrect('ep needs season');
  if (!/^\d{1,4}$/.test(season)) throw incorrect('season must be a number');
  const s = Number(season);
  if (ep === undefined) return new RegExp(`(?<![a-z0-9])(?:s0*${s}|seasons?[ ._-]*0*${s})(?![0-9])`, 'i');
  if (/^\d{1,4}$/.test(ep)) return new RegExp(`(?<![a-z0-9])s0*${s}[ ._-]?e0*${Number(ep)}(?![0-9])`, 'i');
  const daily = /^(\d{1,2})\/(\d{1,2})$/.exec(ep);
  if (daily !== null && season.length === 4) return new RegExp(`(?<![0-9])${season}[ ._-]?${pad2(Number(daily[1]))}[ ._-]?${pad2(Number(daily[2]))}(?![0-9])`);
  throw incorrect('ep must be a number, or MM/DD with a year as season');
}

export function parseTorznabRequest(query: Query): TorznabRequest {
  const t = single(query, 't')?.toLowerCase();
  if (t === undefined) throw new TorznabError(TORZNAB_ERRORS.missingParameter, 'Missing parameter: t');
  if (t === 'caps') return { fn: 'caps' };
  if (t !== 'search' && t !== 'tvsearch' && t !== 'movie') {
    if (NOT_AVAILABLE.has(t)) throw new TorznabError(TORZNAB_ERRORS.functionNotAvailable, `Function not available: ${t}`);
    throw new TorznabError(TORZNAB_ERRORS.noSuchFunction, 'No such function: t must be caps, search, tvsearch or movie');
  }
  return {
    fn: t,
    query: searchQuery(query),
    limit: Math.min(count(query, 'limit', TORZNAB_DEFAULT_LIMIT, 1), TORZNAB_MAX_LIMIT),
    offset: count(query, 'offset', 0, 0),
    categories: categories(query['cat']),
    episode: episodeFilter(query, t),
  };
}
