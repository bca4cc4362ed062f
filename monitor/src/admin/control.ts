/**
 * `POST /breaker/isolate` and `POST /breaker/reset` on the admin port (SPEC "Admin API: control and
 * events"): hold the circuit open by hand, or close it with fresh counters. They need
 * `Authorization: Bearer $ADMIN_TOKEN`: without ADMIN_TOKEN they are off (403), a missing or wrong
 * token is 401. Every use, refused or not, is logged with the client's address.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { CircuitBreaker } from '@circuit-breaker-demo/breaker';
import type { Logger } from '../logger';

export type ControlAction = 'isolate' | 'reset';

export const CONTROL_PATHS: Readonly<Record<string, ControlAction>> = { '/breaker/isolate': 'isolate', '/breaker/reset': 'reset' };

export interface ControlOptions {
  readonly breaker: CircuitBreaker;
  readonly logger: Logger;
  /** ADMIN_TOKEN; undefined: control is off */
  readonly token: string | undefined;
}

/** Equal-length digests, so the comparison takes the same time whatever the token given (length included). */
const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

export class Control {
  private readonly expected: Buffer | undefined;

  constructor(private readonly options: ControlOptions) {
    this.expected = options.token === undefined ? undefined : digest(options.token);
  }

  handle(action: ControlAction, req: http.IncomingMessage, res: http.ServerResponse): void {
    // the body means nothing here; read it so the connection stays usable
    req.resume();
    if (req.method !== 'POST') {
      reply(res, 405, { error: 'method not allowed' }, { Allow: 'POST' });
      return;
    }
    const client = clientAddress(req);
    const { logger, breaker } = this.options;
    const refuse = (status: number, error: string, headers: http.OutgoingHttpHeaders = {}): void => {
      logger.warn(`admin control refused: ${action} from ${client}: ${error}`, { event: 'control', action, client, status });
      reply(res, status, { error }, headers);
    };
    if (this.expected === undefined) {
      refuse(403, 'control is off: the monitor has no ADMIN_TOKEN');
      return;
    }
    const given = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
    if (given === undefined) {
      refuse(401, 'missing bearer token: send Authorization: Bearer <ADMIN_TOKEN>', { 'WWW-Authenticate': 'Bearer realm="monitor"' });
      return;
    }
    if (!timingSafeEqual(digest(given), this.expected)) {
      refuse(401, 'wrong token', { 'WWW-Authenticate': 'Bearer realm="monitor", error="invalid_token"' });
      return;
    }
    const from = breaker.state;
    const changed = action === 'isolate' ? breaker.isolate() : breaker.reset();
    const state = breaker.state;
    logger.info(`admin control: ${action} from ${client}: ${changed ? `circuit ${from} -> ${state}` : `circuit already ${state}`}`, {
      event: 'control',
      action,
      client,
      from,
      to: state,
      changed,
    });
    reply(res, 200, { action, changed, from, state });
  }
}

/** The peer's address (never a forwarded header, which anyone can write), IPv4 without the ::ffff: prefix. */
function clientAddress(req: http.IncomingMessage): string {
  const address = req.socket.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

function reply(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
