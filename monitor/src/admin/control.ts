/**
 * `POST /breaker/isolate` and `POST /breaker/reset` on the admin port (SPEC "Admin API: control and
 * events"): hold the circuit open by hand, or close it with fresh counters. They need
 * `Authorization: Bearer $ADMIN_TOKEN`: without ADMIN_TOKEN they are off (403), a missing or wrong
 * token is 401, and a few of those from one address within a minute make it wait (429,
 * token-slowdown.ts). A call from a browser page of another origin is 403 whatever its token
 * (SPEC "Admin API: who may ask"). Every use, refused or not, is logged with the client's address;
 * the 429s are not, past the line that says the slow-down began, so a flood cannot flood the log.
 *
 * With several routes (SPEC "Routes") a call names its route, `?route=NAME`: without it 400, with
 * a name the file does not have 404, both naming the routes there are; the lines name the route.
 * With one route the parameter may be left out, and the answer and the lines are what they were.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { CircuitBreaker, Clock } from '@circuit-breaker-demo/breaker';
import { routeLogger, type Logger } from '../logger';
import { clientAddress } from './client-address';
import { TokenSlowdown, type SlowdownSettings } from './token-slowdown';

export type ControlAction = 'isolate' | 'reset';

export const CONTROL_PATHS: Readonly<Record<string, ControlAction>> = { '/breaker/isolate': 'isolate', '/breaker/reset': 'reset' };

/** A breaker control can act on: the route's name and its breaker. */
export interface ControlRoute {
  readonly name: string;
  readonly breaker: CircuitBreaker;
}

export interface ControlOptions {
  /** every route, in the configuration's order (at least one) */
  readonly routes: readonly ControlRoute[];
  readonly logger: Logger;
  /** ADMIN_TOKEN; undefined: control is off */
  readonly token: string | undefined;
  /** the admin's monotonic clock: the slow-down's minute */
  readonly clock: Clock;
  readonly slowdown?: Partial<SlowdownSettings>;
}

/** Equal-length digests, so the comparison takes the same time whatever the token given (length included). */
const digest = (text: string): Buffer => createHash('sha256').update(text).digest();

/**
 * The admin's own origin, from the Host it was asked under (checked already): `http`, since the
 * admin serves no TLS; lower case, without the default port, as browsers write `Origin`.
 */
const ownOrigin = (host: string): string => new URL(`http://${host}`).origin;

export class Control {
  private readonly expected: Buffer | undefined;
  readonly slowdown: TokenSlowdown;

  constructor(private readonly options: ControlOptions) {
    this.expected = options.token === undefined ? undefined : digest(options.token);
    this.slowdown = new TokenSlowdown(options.clock, options.slowdown);
  }

  /** Answers a request for `action` that came under `host` (the Host the admin answered). */
  handle(action: ControlAction, req: http.IncomingMessage, res: http.ServerResponse, host: string): void {
    // the body means nothing here; read it so the connection stays usable
    req.resume();
    if (req.method !== 'POST') {
      reply(res, 405, { error: 'method not allowed' }, { Allow: 'POST' });
      return;
    }
    const client = clientAddress(req);
    const { logger } = this.options;
    const refuse = (status: number, error: string, headers: http.OutgoingHttpHeaders = {}, more: object = {}): void => {
      logger.warn(`admin control refused: ${action} from ${client}: ${error}`, { event: 'control', action, client, status });
      reply(res, status, { error, ...more }, headers);
    };
    // browsers send Origin with every POST, same-origin too; other clients need not send one
    const origin = req.headers.origin;
    if (origin !== undefined && origin.toLowerCase() !== ownOrigin(host)) {
      refuse(403, `cross-origin call refused: Origin ${JSON.stringify(origin.slice(0, 100))} is not this monitor's (${ownOrigin(host)})`);
      return;
    }
    if (this.expected === undefined) {
      refuse(403, 'control is off: the monitor has no ADMIN_TOKEN');
      return;
    }
    const waitMs = this.slowdown.waitMs(client);
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      reply(res, 429, { error: `too many failed attempts from ${client}: try again in ${seconds} s` }, { 'Retry-After': String(seconds) });
      return;
    }
    const failed = (error: string, challenge: string): void => {
      refuse(401, error, { 'WWW-Authenticate': challenge });
      if (!this.slowdown.failed(client)) return;
      const { maxFailures, windowMs } = this.slowdown.settings;
      const seconds = Math.ceil(this.slowdown.waitMs(client) / 1000);
      logger.warn(`admin control slowed down: ${maxFailures} failed attempts from ${client} within ${windowMs / 1000} s: its calls get 429 for ${seconds} s`, {
        event: 'control',
        client,
        status: 429,
        failures: maxFailures,
        retryAfterSeconds: seconds,
      });
    };
    const given = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '')?.[1];
    if (given === undefined) {
      failed('missing bearer token: send Authorization: Bearer <ADMIN_TOKEN>', 'Bearer realm="monitor"');
      return;
    }
    if (!timingSafeEqual(digest(given), this.expected)) {
      failed('wrong token', 'Bearer realm="monitor", error="invalid_token"');
      return;
    }
    this.slowdown.succeeded(client);
    const chosen = this.chosenRoute(req.url ?? '/');
    if ('error' in chosen) {
      refuse(chosen.status, chosen.error, {}, { routes: this.options.routes.map((route) => route.name) });
      return;
    }
    const { breaker, name } = chosen.route;
    const named = this.options.routes.length > 1;
    const from = breaker.state;
    const changed = action === 'isolate' ? breaker.isolate() : breaker.reset();
    const state = breaker.state;
    routeLogger(logger, name, named).info(`admin control: ${action} from ${client}: ${changed ? `circuit ${from} -> ${state}` : `circuit already ${state}`}`, {
      event: 'control',
      action,
      client,
      from,
      to: state,
      changed,
    });
    reply(res, 200, { action, ...(named ? { route: name } : {}), changed, from, state });
  }

  /** The route `?route=` names; without it, the only one. */
  private chosenRoute(target: string): { readonly route: ControlRoute } | { readonly status: number; readonly error: string } {
    const { routes } = this.options;
    const names = routes.map((route) => route.name).join(', ');
    // the base only parses the origin-form; an absolute-form target keeps its own
    const given = new URL(target, 'http://admin').searchParams.getAll('route');
    if (given.length > 1) return { status: 400, error: `one route at a time: route is given ${given.length} times (routes: ${names})` };
    if (given.length === 0) {
      if (routes.length === 1) return { route: routes[0]! };
      return { status: 400, error: `this monitor has several routes: say which with ?route=NAME (routes: ${names})` };
    }
    const route = routes.find((each) => each.name === given[0]);
    if (route === undefined) return { status: 404, error: `no route named ${JSON.stringify(given[0]!.slice(0, 100))} (routes: ${names})` };
    return { route };
  }
}

function reply(res: http.ServerResponse, status: number, body: unknown, headers: http.OutgoingHttpHeaders = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}
