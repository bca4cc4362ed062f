/**
 * The admin API (SPEC "Admin API"): /healthz (the monitor's own health), /status (JSON) and
 * /metrics (Prometheus), which read the breaker, the loop, the last outcome and the metrics; the
 * live dashboard (`/`, dashboard.ts) and its event stream (`/events`, events.ts); and the two
 * token-guarded control endpoints (control.ts), the only ones that change anything. Every route
 * answers only the Host names host-check.ts allows.
 */
import http from 'node:http';
import os from 'node:os';
import type { CircuitBreaker, Clock, ConcurrencyLimiter, State } from '@circuit-breaker-demo/breaker';
import { CLIENT_LIMITS } from '../client-limits';
import { describeConfig, type Config } from '../config';
import type { LastOutcome } from '../last-outcome';
import type { Logger } from '../logger';
import type { LastProbe } from '../probe/loop';
import type { CallSource, CallTotals, Metrics } from '../metrics';
import { serverHandle, type ServerHandle } from '../server-handle';
import { concurrencyStatus, type ConcurrencyStatus } from './concurrency-status';
import { Control, CONTROL_PATHS } from './control';
import { Dashboard } from './dashboard';
import { EventStream, type EventsSettings } from './events';
import { HostCheck } from './host-check';
import { policyStatus, type PolicyStatus } from './policy-status';
import { routeSettings, type RouteSettings } from './route-settings';
import type { SlowdownSettings } from './token-slowdown';

/** What the admin API needs to know of the probe loop (ProbeLoop has it). */
export interface LoopView {
  readonly isRunning: boolean;
  /** clock time of the loop's last tick or probe end */
  readonly lastActivity: number;
  readonly lastProbe: LastProbe | undefined;
}

/** A route as the admin shows it (SPEC "Routes": /status has one entry per route). */
export interface AdminRoute {
  readonly name: string;
  readonly prefix: string;
  readonly upstream: string;
  readonly breaker: CircuitBreaker;
  readonly loop: LoopView;
  readonly lastOutcome: LastOutcome;
  /** PROBE_INTERVAL + REQUEST_TIMEOUT of this route, ms: how long its loop may be quiet */
  readonly quietLimitMs: number;
  /** the proxy's concurrency limit on this route (MAX_CONCURRENT_CALLS); none when off */
  readonly limiter?: ConcurrencyLimiter;
  /** the route's own thresholds and limit (a routes file may set them per route) */
  readonly settings: RouteSettings;
}

export interface AdminOptions {
  /** the first route's (the only one without a routes file): the top-level fields of /status, the event stream, control */
  readonly breaker: CircuitBreaker;
  readonly loop: LoopView;
  /** the last counted result of a probe or a proxied call */
  readonly lastOutcome: LastOutcome;
  readonly metrics: Metrics;
  readonly config: Config;
  readonly logger: Logger;
  /** the monotonic clock the breaker and the loop use */
  readonly clock: Clock;
  /** wall time in ms, to turn clock times into dates; Date.now by default */
  readonly wallClock?: () => number;
  /** slack on top of PROBE_INTERVAL + REQUEST_TIMEOUT before a quiet loop counts as stuck (default 1 s) */
  readonly healthMarginMs?: number;
  /** the event stream's limits and timers (events.ts has the defaults) */
  readonly events?: Partial<EventsSettings>;
  /** every route, the first being the one above; default: that one, named `default` */
  readonly routes?: readonly AdminRoute[];
  /** the wrong-token slow-down's limits (token-slowdown.ts has the defaults) */
  readonly tokenSlowdown?: Partial<SlowdownSettings>;
  /** the machine's host name, one of the Host names answered; os.hostname() by default */
  readonly hostname?: string;
}

/** The admin server, its event stream and its control endpoints (tests read their stats). */
export interface AdminHandle extends ServerHandle {
  readonly events: EventStream;
  readonly control: Control;
}

const READ_PATHS = ['/healthz', '/status', '/metrics', '/events'];

/** How one call ended, as /status shows it. */
interface CallView {
  /** ISO-8601 wall time */
  readonly at: string;
  readonly ok: boolean;
  /** the upstream's HTTP status; null when it did not answer */
  readonly status: number | null;
  readonly reason: string | null;
  readonly latencyMs: number;
}

/** One route's entry in /status: the top level's fields for this route, and its own settings. */
export interface RouteStatus extends PolicyStatus {
  readonly name: string;
  readonly prefix: string;
  readonly upstream: string;
  readonly state: State;
  readonly since: string;
  readonly secondsInState: number;
  readonly trialInSeconds: number | null;
  readonly counters: Status['counters'];
  readonly calls: CallTotals;
  readonly lastOutcome: Status['lastOutcome'];
  readonly lastProbe: Status['lastProbe'];
  /** MAX_CONCURRENT_CALLS: the limit in force and the calls holding a slot; null when off */
  readonly concurrency: ConcurrencyStatus;
  /** what the counters count against on this route, and its limit setting */
  readonly settings: RouteSettings;
}

export interface Status extends PolicyStatus {
  /** the overall picture: the worst state of any route, and the routes not closed */
  readonly overall: { readonly state: State; readonly routesNotClosed: readonly string[] };
  /** one entry per route, in the configuration's order */
  readonly routes: readonly RouteStatus[];
  readonly state: State;
  /** when the current state began, ISO-8601 wall time */
  readonly since: string;
  readonly secondsInState: number;
  /** while open: seconds until the trial; otherwise null */
  readonly trialInSeconds: number | null;
  readonly counters: {
    readonly consecutiveFailures: number;
    readonly consecutiveSuccesses: number;
    readonly trialsInFlight: number;
  };
  /** calls since start, by source and outcome */
  readonly calls: CallTotals;
  /**
   * The last result the breaker counted, from a probe or a proxied call, or null before the first.
   * A late result (its state had ended) changed nothing and is not shown here; `calls` counts it.
   */
  readonly lastOutcome: (CallView & { readonly source: CallSource }) | null;
  /** the last probe that ended, counted or late, or null before the first */
  readonly lastProbe: CallView | null;
  /** the first route's concurrency limit, as in its entry of `routes` */
  readonly concurrency: ConcurrencyStatus;
  readonly loop: { readonly running: boolean; readonly secondsSinceActivity: number };
  readonly config: Record<string, string | number | boolean>;
}

type Health = { readonly healthy: true; readonly secondsSinceActivity: number } | { readonly healthy: false; readonly reason: string };

const seconds = (ms: number): number => Math.round(ms) / 1000;

class AdminApi {
  private readonly wallClock: () => number;
  private readonly healthMarginMs: number;
  private readonly routes: readonly AdminRoute[];
  readonly events: EventStream;
  readonly control: Control;
  private readonly dashboard: Dashboard;
  private readonly hosts: HostCheck;

  constructor(private readonly options: AdminOptions) {
    this.wallClock = options.wallClock ?? Date.now;
    this.routes = options.routes ?? [
      {
        name: 'default',
        prefix: '/',
        upstream: options.config.upstream,
        breaker: options.breaker,
        loop: options.loop,
        lastOutcome: options.lastOutcome,
        quietLimitMs: options.config.probeIntervalMs + options.config.requestTimeoutMs,
        settings: routeSettings(options.config),
      },
    ];
    this.events = new EventStream({
      routes: this.routes.map(({ name, breaker, lastOutcome, limiter }) => ({
        name,
        breaker,
        lastOutcome,
        callTotals: () => options.metrics.callTotals(name),
        ...(limiter === undefined ? {} : { limiter }),
      })),
      status: () => this.status(),
      logger: options.logger,
      clock: options.clock,
      wallClock: this.wallClock,
      ...(options.events ? { settings: options.events } : {}),
    });
    this.control = new Control({
      routes: this.routes,
      logger: options.logger,
      token: options.config.adminToken,
      clock: options.clock,
      ...(options.tokenSlowdown ? { slowdown: options.tokenSlowdown } : {}),
    });
    this.hosts = new HostCheck({ allowed: options.config.adminAllowedHosts, hostname: options.hostname ?? os.hostname(), logger: options.logger, clock: options.clock });
    this.dashboard = new Dashboard();
    this.healthMarginMs = options.healthMarginMs ?? 1_000;
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (hostCount(req.rawHeaders) > 1) {
      json(res, 400, { error: 'more than one Host header (RFC 9112 section 3.2)' }, ['Connection', 'close']);
      return;
    }
    const addressed = this.hosts.admit(req, res);
    if (addressed === undefined) return;
    const { host, path } = addressed;
    const action = CONTROL_PATHS[path];
    if (action !== undefined) {
      this.control.handle(action, req, res, host);
      return;
    }
    if (!READ_PATHS.includes(path) && !this.dashboard.has(path)) {
      json(res, 404, { error: 'not found', paths: [...this.dashboard.paths, ...READ_PATHS, ...Object.keys(CONTROL_PATHS)] });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(res, 405, { error: 'method not allowed' }, ['Allow', 'GET, HEAD']);
      return;
    }
    if (this.dashboard.has(path)) {
      this.dashboard.handle(path, req, res);
    } else if (path === '/events') {
      this.events.handle(req, res);
    } else if (path === '/healthz') {
      const health = this.health();
      json(res, health.healthy ? 200 : 503, health.healthy ? { status: 'ok', ...health } : { status: 'unhealthy', ...health });
    } else if (path === '/status') {
      json(res, 200, this.status());
    } else {
      this.options.metrics.text().then(
        (text) => write(res, 200, this.options.metrics.contentType, Buffer.from(text)),
        (error: unknown) => {
          this.options.logger.error(`metrics collection failed: ${String(error)}`, { event: 'error' });
          json(res, 500, { error: 'metrics collection failed' });
        },
      );
    }
  }

  /** Alive: every route's loop runs and has ticked or finished a probe recently. */
  private health(): Health {
    const { clock } = this.options;
    const named = this.routes.length > 1;
    let quietest = 0;
    for (const { name, loop, quietLimitMs } of this.routes) {
      const which = named ? ` (route ${name})` : '';
      if (!loop.isRunning) return { healthy: false, reason: `probe loop stopped${which}` };
      // the longest quiet stretch of a live loop: a probe runs up to REQUEST_TIMEOUT, then the next
      // tick comes at most PROBE_INTERVAL after the last one began
      const staleAfterMs = quietLimitMs + this.healthMarginMs;
      const quietMs = clock.now() - loop.lastActivity;
      if (quietMs > staleAfterMs) {
        return { healthy: false, reason: `probe loop stuck${which}: no activity for ${seconds(quietMs)} s (limit ${seconds(staleAfterMs)} s)` };
      }
      quietest = Math.max(quietest, quietMs);
    }
    return { healthy: true, secondsSinceActivity: seconds(quietest) };
  }

  status(): Status {
    const { breaker, loop, lastOutcome, metrics, config, clock } = this.options;
    const snapshot = breaker.snapshot();
    const now = clock.now();
    const last = loop.lastProbe;
    const outcome = lastOutcome.value;
    const routes = this.routes.map((route) => this.routeStatus(route, now));
    const notClosed = routes.filter((route) => route.state !== 'closed');
    return {
      overall: { state: worstState(routes.map((route) => route.state)), routesNotClosed: notClosed.map((route) => route.name) },
      routes,
      state: snapshot.state,
      // the breaker keeps monotonic time; the date is now minus the time spent in the state
      since: new Date(this.wallClock() - (now - snapshot.since)).toISOString(),
      secondsInState: seconds(now - snapshot.since),
      trialInSeconds: snapshot.state === 'open' ? seconds(snapshot.msUntilTrial) : null,
      counters: {
        consecutiveFailures: snapshot.consecutiveFailures,
        consecutiveSuccesses: snapshot.consecutiveSuccesses,
        trialsInFlight: snapshot.trialsInFlight,
      },
      ...policyStatus(snapshot),
      calls: metrics.callTotals(),
      lastOutcome: outcomeView(outcome),
      lastProbe: probeView(last),
      concurrency: routes[0]!.concurrency,
      loop: { running: loop.isRunning, secondsSinceActivity: seconds(now - loop.lastActivity) },
      config: describeConfig(config),
    };
  }

  private routeStatus(route: AdminRoute, now: number): RouteStatus {
    const snapshot = route.breaker.snapshot();
    const outcome = route.lastOutcome.value;
    const last = route.loop.lastProbe;
    return {
      name: route.name,
      prefix: route.prefix,
      upstream: route.upstream,
      state: snapshot.state,
      since: new Date(this.wallClock() - (now - snapshot.since)).toISOString(),
      secondsInState: seconds(now - snapshot.since),
      trialInSeconds: snapshot.state === 'open' ? seconds(snapshot.msUntilTrial) : null,
      counters: {
        consecutiveFailures: snapshot.consecutiveFailures,
        consecutiveSuccesses: snapshot.consecutiveSuccesses,
        trialsInFlight: snapshot.trialsInFlight,
      },
      ...policyStatus(snapshot),
      calls: this.routes.length > 1 ? this.options.metrics.callTotals(route.name) : this.options.metrics.callTotals(),
      lastOutcome: outcomeView(outcome),
      lastProbe: probeView(last),
      concurrency: concurrencyStatus(route.limiter),
      settings: route.settings,
    };
  }
}

/** Worst first: a route held open by hand, then open, then trying, then closed. */
const SEVERITY: Readonly<Record<State, number>> = { isolated: 3, open: 2, half_open: 1, closed: 0 };

function worstState(states: readonly State[]): State {
  return states.reduce((worst, state) => (SEVERITY[state] > SEVERITY[worst] ? state : worst), 'closed' as State);
}

function outcomeView(outcome: LastOutcome['value']): Status['lastOutcome'] {
  return outcome === undefined
    ? null
    : {
        source: outcome.source,
        at: new Date(outcome.at).toISOString(),
        ok: outcome.ok,
        status: outcome.status ?? null,
        reason: outcome.reason ?? null,
        latencyMs: outcome.latencyMs,
      };
}

function probeView(last: LoopView['lastProbe']): Status['lastProbe'] {
  return last === undefined
    ? null
    : {
        at: last.at,
        ok: last.result.kind === 'success',
        status: last.result.status ?? null,
        reason: last.result.kind === 'failure' ? last.result.reason : null,
        latencyMs: last.result.latencyMs,
      };
}

function hostCount(raw: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') count += 1;
  return count;
}

function json(res: http.ServerResponse, status: number, body: unknown, extra: readonly string[] = []): void {
  write(res, status, 'application/json; charset=utf-8', Buffer.from(JSON.stringify(body)), extra);
}

function write(res: http.ServerResponse, status: number, type: string, body: Buffer, extra: readonly string[] = []): void {
  if (res.destroyed) return;
  res.writeHead(status, ['Content-Type', type, 'Cache-Control', 'no-store', 'Content-Length', String(body.length), ...extra]);
  res.end(body);
}

/** Builds the admin server; `listen` starts it (and the event stream's sampling), `close` stops both. */
export function createAdmin(options: AdminOptions): AdminHandle {
  const api = new AdminApi(options);
  const server = http.createServer(
    {
      headersTimeout: CLIENT_LIMITS.headersTimeoutMs,
      requestTimeout: CLIENT_LIMITS.clientRequestTimeoutMs,
      connectionsCheckingInterval: CLIENT_LIMITS.connectionsCheckingIntervalMs,
    },
    (req, res) => api.handle(req, res),
  );
  const handle = serverHandle(server, (error) => options.logger.error(`admin server error: ${String(error)}`, { event: 'error' }));
  return {
    events: api.events,
    control: api.control,
    listen: (port, host) =>
      handle.listen(port, host).then((bound) => {
        api.events.start();
        return bound;
      }),
    close: () => {
      api.events.stop();
      return handle.close();
    },
  };
}
