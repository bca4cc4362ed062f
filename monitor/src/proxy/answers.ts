/** The proxy's own answers: small JSON bodies, built once where they can be. */
import type http from 'node:http';

/** A complete small JSON answer, built once. */
export interface Canned {
  readonly status: number;
  readonly headers: string[];
  readonly body: Buffer;
}

export function canned(status: number, body: object, extra: readonly string[] = []): Canned {
  const bytes = Buffer.from(JSON.stringify(body));
  return {
    status,
    headers: ['Content-Type', 'application/json; charset=utf-8', 'Cache-Control', 'no-store', ...extra, 'Content-Length', String(bytes.length)],
    body: bytes,
  };
}

export function send(res: http.ServerResponse, answer: Canned): void {
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

export const NOT_ORIGIN_FORM = canned(400, { error: 'only origin-form request targets (/path) are accepted: this is not an open proxy' });
export const CANNOT_FORWARD = canned(400, { error: 'request cannot be forwarded' });
export const TWO_HOSTS = canned(400, { error: 'more than one Host header (RFC 9112 section 3.2)' }, ['Connection', 'close']);
/** MAX_CONCURRENT_CALLS: the route's limit on calls in flight is full (SPEC "Concurrency limit"). */
export const OVERLOADED = canned(503, { error: 'overloaded', reason: 'too many calls in flight to the upstream' }, ['Retry-After', '1']);
export const CLIENT_TOO_SLOW = canned(408, { error: 'request body not received in time' }, ['Connection', 'close']);

/** Written to the raw socket: Node hands a CONNECT over before any response object exists. */
export const CONNECT_REFUSED = (() => {
  const body = JSON.stringify({ error: 'CONNECT is not allowed: this is not an open proxy' });
  return (
    'HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n' +
    `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
})();

/** The 503 of a circuit that rejects; an isolated one names no time to come back. */
export function isolatedRejection(): Canned {
  return canned(503, { error: 'circuit isolated', state: 'isolated' });
}

export function rejection(state: 'open' | 'half_open', retryAfterSeconds: number): Canned {
  return canned(503, { error: 'circuit open', state, retryAfterSeconds }, ['Retry-After', String(retryAfterSeconds)]);
}
