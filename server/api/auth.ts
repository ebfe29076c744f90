import { createHash, timingSafeEqual } from 'node:crypto';
import { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { parseIp, sourceKey, unmapIp } from '../../bep5/ip.js';
import {
  API_KEY_MAX_LENGTH,
  AUTH_BLOCK_MS,
  AUTH_COOKIE_LOGIN_PATH,
  AUTH_COOKIE_MAX_AGE_SECONDS,
  AUTH_COOKIE_NAME,
  AUTH_FAILURE_WINDOW_MS,
  AUTH_MAX_FAILURES,
  AUTH_MAX_TRACKED_SOURCES,
} from './constants.js';
import { ApiError } from './errors.js';

/**
 * The API key every request must carry once the server has one (createApiServer's `apiKey`;
 * `dhtscope run` gives one whenever the API leaves loopback). One onRequest hook on the root
 * instance, added before any route, so every route is covered: the API, the dashboard and its
 * assets, /metrics, unknown paths, and whatever an extension adds later.
 *
 * A request is judged by the first credential it carries, in this order:
 *
 *   Authorization: Bearer <key>     scripts, Prometheus (`authorization` in a scrape config)
 *   ?apikey=<key>                   Torznab's convention (Prowlarr, Sonarr…)
 *   Cookie: dhtscope_apikey=<key>   a browser, after opening `/?apikey=<key>` once
 *
 * Opening the dashboard's page with `?apikey=` answers 303 to the same URL without it, with
 * the key in an HttpOnly, SameSite=Strict cookie: the key leaves the address bar, and the
 * page's scripts, which never see it, authenticate by cookie. A wrong cookie is cleared, so a
 * tab left open after the key changed stops counting as a guesser.
 *
 * Wrong keys are counted per address (IPv4, or IPv6 /64); past AUTH_MAX_FAILURES within a
 * window, the address gets 429 with Retry-After, before its key is even compared. A request
 * without any credential is answered 401 without counting: it guesses nothing.
 */

export interface ApiAuthOptions {
  key: string;
  now: () => number;
}

/** Why `key` cannot be an API key, or undefined when it can. */
export function apiKeyProblem(key: string): string | undefined {
  if (key.length === 0) return 'it is empty';
  if (key.length > API_KEY_MAX_LENGTH) return `it is longer than ${API_KEY_MAX_LENGTH} characters`;
  // It travels in a header, a URL and a cookie: visible ASCII is safe in all three.
  if (!/^[\x21-\x7e]+$/.test(key)) return 'it holds characters other than visible ASCII (spaces, control characters or non-ASCII)';
  return undefined;
}

export function registerApiAuth(app: FastifyInstance, options: ApiAuthOptions): void {
  const problem = apiKeyProblem(options.key);
  if (problem !== undefined) throw new RangeError(`unusable API key: ${problem}`);
  const expected = digest(options.key);
  const cookieValue = encodeURIComponent(options.key);
  const failures = new FailedAttempts(options.now);

  app.addHook('onRequest', async (req, reply) => {
    const source = sourceOf(req.ip);
    const waitMs = failures.blockedFor(source);
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      reply.header('retry-after', String(seconds));
      throw new ApiError('ERR_TOO_MANY_AUTH_FAILURES', `too many wrong API keys from this address; try again in ${seconds} s`);
    }
    const credential = credentialOf(req);
    if (credential === null) {
      reply.header('www-authenticate', 'Bearer realm="dhtscope"');
      throw new ApiError(
        'ERR_UNAUTHORIZED',
        `this server requires an API key: send "Authorization: Bearer <key>" or ?apikey=<key> (in a browser, open ${AUTH_COOKIE_LOGIN_PATH}?apikey=<key> once); dhtscope run says at start which file holds it`,
      );
    }
    // Equal-length digests: the comparison takes the same time whatever the candidate's length or content.
    if (!timingSafeEqual(digest(credential.value), expected)) {
      failures.fail(source);
      reply.header('www-authenticate', 'Bearer realm="dhtscope", error="invalid_token"');
      if (credential.from === 'cookie') reply.header('set-cookie', cookie(req, '', 0));
      throw new ApiError('ERR_UNAUTHORIZED', `wrong API key (from the ${credential.from === 'header' ? 'Authorization header' : credential.from === 'query' ? 'apikey parameter' : 'cookie'})`);
    }
    if (credential.from === 'query' && (req.method === 'GET' || req.method === 'HEAD') && pathOf(req.url) === AUTH_COOKIE_LOGIN_PATH) {
      reply.header('set-cookie', cookie(req, cookieValue, AUTH_COOKIE_MAX_AGE_SECONDS)).header('cache-control', 'no-store');
      return reply.redirect(withoutApiKey(req.url), 303);
    }
    return undefined;
  });
}

type Credential = { from: 'header' | 'query' | 'cookie'; value: string };

function credentialOf(req: FastifyRequest): Credential | null {
  const authorization = req.headers.authorization;
  if (authorization !== undefined) {
    const m = /^Bearer[ \t]+(.*)$/i.exec(authorization.trim());
    // Another scheme (Basic…) carries no key of ours: judged as a wrong one, not as none.
    return { from: 'header', value: m === null ? '' : m[1]!.trim() };
  }
  const apikey = (req.query as Record<string, unknown> | undefined)?.['apikey'];
  // Repeated (an array): no one value is the key.
  if (apikey !== undefined) return { from: 'query', value: typeof apikey === 'string' ? apikey : '' };
  const fromCookie = cookieOf(req.headers.cookie);
  if (fromCookie !== undefined) return { from: 'cookie', value: fromCookie };
  return null;
}

function cookieOf(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).trim() !== AUTH_COOKIE_NAME) continue;
    try {
      return decodeURIComponent(part.slice(eq + 1).trim());
    } catch {
      return '';
    }
  }
  return undefined;
}

function cookie(req: FastifyRequest, value: string, maxAgeSeconds: number): string {
  // Secure only over TLS: a browser drops a Secure cookie set over plain HTTP.
  const secure = req.protocol === 'https' ? '; Secure' : '';
  return `${AUTH_COOKIE_NAME}=${value}; Path=/; Max-Age=${maxAgeSeconds}; HttpOnly; SameSite=Strict${secure}`;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

/** `url` (a path and query) without its apikey parameters, the other parameters kept in order. */
export function withoutApiKey(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const kept = url
    .slice(q + 1)
    .split('&')
    .filter((pair) => pair !== '' && pair.split('=', 1)[0] !== 'apikey');
  return kept.length === 0 ? url.slice(0, q) : `${url.slice(0, q)}?${kept.join('&')}`;
}

/** An IPv4 address, or the /64 of an IPv6 one (what one host gets for free); the text itself when it is not an IP. */
function sourceOf(ip: string): string {
  const bytes = parseIp(ip);
  return bytes === undefined ? ip : sourceKey(unmapIp(bytes));
}

interface Failures {
  count: number;
  /** When the window of `count` began. */
  since: number;
  /** Answered 429 until then. */
  blockedUntil: number;
}

/**
 * Wrong keys per source, in a map of at most `maxSources` entries. The map's order is the
 * order of last failure (an entry is moved to the end at each), so the one forgotten when it
 * is full is the source that has not failed for the longest time.
 */
export class FailedAttempts {
  private readonly sources = new Map<string, Failures>();

  constructor(
    private readonly now: () => number,
    private readonly limits = { maxFailures: AUTH_MAX_FAILURES, windowMs: AUTH_FAILURE_WINDOW_MS, blockMs: AUTH_BLOCK_MS, maxSources: AUTH_MAX_TRACKED_SOURCES },
  ) {}

  /** Sources remembered now. */
  get size(): number {
    return this.sources.size;
  }

  /** How long `source` is still refused, in ms; 0 when it is not. */
  blockedFor(source: string): number {
    const entry = this.sources.get(source);
    if (entry === undefined) return 0;
    const now = this.now();
    if (entry.blockedUntil > now) return entry.blockedUntil - now;
    if (now - entry.since >= this.limits.windowMs) this.sources.delete(source);
    return 0;
  }

  fail(source: string): void {
    const now = this.now();
    const previous = this.sources.get(source);
    this.sources.delete(source);
    const entry: Failures = previous !== undefined && now - previous.since < this.limits.windowMs ? previous : { count: 0, since: now, blockedUntil: 0 };
    entry.count++;
    if (entry.count >= this.limits.maxFailures) {
      entry.blockedUntil = now + this.limits.blockMs;
      // A new window once the block ends: the next failures start from zero.
      entry.count = 0;
      entry.since = entry.blockedUntil;
    }
    this.sources.set(source, entry);
    if (this.sources.size > this.limits.maxSources) this.sources.delete(this.sources.keys().next().value!);
  }
}
