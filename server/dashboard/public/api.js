// The dhtscope HTTP API, as the dashboard calls it (same origin; every error body is
// { error: { code, message }, statusCode }).

export class ApiRequestError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiRequestError';
    /** HTTP status; 0 when the server could not be reached. */
    this.status = status;
    /** The API's stable error code (ERR_…), ERR_NETWORK or ERR_HTTP. */
    this.code = code;
  }
}

/** GET `path` as JSON; rejects with an ApiRequestError for a network failure or an error status. */
export async function getJson(path) {
  let res;
  try {
    res = await fetch(path, { headers: { accept: 'application/json' }, cache: 'no-store' });
  } catch {
    throw new ApiRequestError(0, 'ERR_NETWORK', 'the dhtscope server cannot be reached');
  }
  const body = await res.json().catch(() => null);
  if (!res.ok) {
    const error = body !== null && typeof body === 'object' ? body.error : undefined;
    throw new ApiRequestError(res.status, typeof error?.code === 'string' ? error.code : 'ERR_HTTP', typeof error?.message === 'string' ? error.message : `HTTP ${res.status}`);
  }
  return body;
}
