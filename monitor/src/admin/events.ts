/**
 * `GET /events` on the admin port (SPEC "Admin API: control and events"): Server-Sent Events. On
 * connect a snapshot (what /status shows, plus the recent transitions, probes and call counts);
 * then every transition, every probe result one by one, the calls of each second by source and
 * outcome (a flood of proxied calls is one event a second, whatever its size), and a heartbeat
 * comment every 15 s. A route with a concurrency limit (MAX_CONCURRENT_CALLS) also gets its limit
 * and its calls in flight, read by the same once-a-second timer and sent when either changed.
 *
 * Every route has its own recent events (SPEC "Routes"): the snapshot's `routes` gives each its
 * /status entry and its `recent`, and every live event names its `route`. The snapshot's top-level
 * fields stay those of the first route (the only one without a routes file), as /status's do.
 *
 * It never slows a call: the breaker's and the calls' listeners only note what happened, and the
 * writing happens on the next turn of the event loop. Writing never waits either: a client whose
 * unsent bytes pass a bound is dropped (the browser reconnects and gets a fresh snapshot), and the
 * number of clients is capped.
 */
import type http from 'node:http';
import type { CircuitBreaker, Clock, ConcurrencyLimiter, Transition } from '@circuit-breaker-demo/breaker';
import type { LastOutcome, RecordedOutcome } from '../last-outcome';
import type { Logger } from '../logger';
import { transitionMessage } from '../transition-log';
import { concurrencyStatus } from './concurrency-status';

/** The interval timers the stream uses; injected so tests can run heartbeats and samples by hand. */
export interface IntervalTimers {
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

const realTimers: IntervalTimers = {
  // unref: an idle stream must not keep the process alive
  setInterval: (callback, ms) => setInterval(callback, ms).unref(),
  clearInterval: (handle) => clearInterval(handle as NodeJS.Timeout),
};

export interface EventsSettings {
  /** clients connected at once, at most; one more gets 503 */
  readonly maxClients: number;
  /** unsent bytes a client may hold on the server; past it the client is dropped */
  readonly maxBufferedBytes: number;
  readonly heartbeatMs: number;
  /** how often the calls of the last period are counted and sent */
  readonly sampleMs: number;
  /** the `retry:` field: how long a browser waits before it reconnects */
  readonly retryMs: number;
  /** how many of each kind the snapshot replays */
  readonly recentTransitions: number;
  readonly recentProbes: number;
  readonly recentCalls: number;
  /** a route's changes of its limit or calls in flight */
  readonly recentConcurrency: number;
  readonly timers: IntervalTimers;
}

export const EVENTS_DEFAULTS: EventsSettings = {
  maxClients: 64,
  maxBufferedBytes: 256 * 1024,
  heartbeatMs: 15_000,
  sampleMs: 1_000,
  retryMs: 1_000,
  // at PROBE_INTERVAL=2 s: 10 minutes of probes; calls: the last 300 seconds that had any
  recentTransitions: 100,
  recentProbes: 300,
  recentCalls: 300,
  // at most one a second: 5 minutes or more
  recentConcurrency: 300,
  timers: realTimers,
};

/** One route the stream follows. */
export interface EventsRoute {
  readonly name: string;
  readonly breaker: CircuitBreaker;
  readonly lastOutcome: LastOutcome;
  /** the route's call counts since start by source and outcome (the metrics' CallTotals) */
  readonly callTotals: () => Totals;
  /** the proxy's concurrency limit on the route; none when MAX_CONCURRENT_CALLS is off there */
  readonly limiter?: ConcurrencyLimiter;
}

export interface EventsOptions {
  /** every route, in the configuration's order (at least one) */
  readonly routes: readonly EventsRoute[];
  /** what /status shows now: its `routes` has an entry per route, by name */
  readonly status: () => object;
  readonly logger: Logger;
  /** the breaker's monotonic clock, to turn transition times into dates */
  readonly clock: Clock;
  readonly wallClock: () => number;
  readonly settings?: Partial<EventsSettings>;
}

/** A transition as the stream sends it: the cause's kind and fields flattened, times as dates. */
export interface TransitionEntry {
  readonly at: string;
  readonly from: string;
  readonly to: string;
  readonly cause: string;
  readonly message: string;
  readonly openForMs?: number;
  readonly [detail: string]: unknown;
}

export interface ProbeEntry {
  readonly at: string;
  readonly ok: boolean;
  readonly status: number | null;
  readonly reason: string | null;
  readonly latencyMs: number;
}

/** What ended in one sample period, by source and outcome; outcomes with no call are left out. */
export interface CallsEntry {
  readonly at: string;
  readonly seconds: number;
  readonly [source: string]: unknown;
}

/** A route's concurrency limit and calls in flight when the sampler read them (a change since the last). */
export interface ConcurrencyEntry {
  readonly at: string;
  readonly limit: number;
  readonly inFlight: number;
}

export interface EventsStats {
  readonly clients: number;
  /** unsent bytes held for all clients together */
  readonly bufferedBytes: number;
  /** clients dropped because they could not keep up, since start */
  readonly dropped: number;
}

/** A bounded list: the oldest entry goes when a new one comes past the limit. */
class Recent<T> {
  private items: T[] = [];
  constructor(private readonly limit: number) {}
  push(item: T): void {
    this.items.push(item);
    if (this.items.length > this.limit) this.items.splice(0, this.items.length - this.limit);
  }
  get list(): readonly T[] {
    return this.items;
  }
}

/** Counts by source and outcome; any names, so a new outcome shows without a change here. */
type Totals = Readonly<Record<string, Readonly<Record<string, number>>>>;

/** A route's recent events, as the snapshot replays them. */
interface RecentEvents {
  readonly transitions: readonly TransitionEntry[];
  readonly probes: readonly ProbeEntry[];
  readonly calls: readonly CallsEntry[];
  /** only for a route with a concurrency limit */
  readonly concurrency?: readonly ConcurrencyEntry[];
}

/** What the stream keeps of one route. */
class RouteFeed {
  readonly transitions: Recent<TransitionEntry>;
  readonly probes: Recent<ProbeEntry>;
  readonly calls: Recent<CallsEntry>;
  readonly concurrency: Recent<ConcurrencyEntry>;
  lastTotals: Totals | undefined;
  /** the last limit and calls in flight read; undefined before the first read */
  lastConcurrency: ConcurrencyEntry | undefined;

  constructor(
    readonly route: EventsRoute,
    settings: EventsSettings,
  ) {
    this.transitions = new Recent(settings.recentTransitions);
    this.probes = new Recent(settings.recentProbes);
    this.calls = new Recent(settings.recentCalls);
    this.concurrency = new Recent(settings.recentConcurrency);
  }

  get recent(): RecentEvents {
    const recent = { transitions: this.transitions.list, probes: this.probes.list, calls: this.calls.list };
    return this.route.limiter === undefined ? recent : { ...recent, concurrency: this.concurrency.list };
  }
}

const frame = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

export class EventStream {
  private readonly settings: EventsSettings;
  /** each client, with the bytes of its snapshot: it may hold those on top of maxBufferedBytes */
  private readonly clients = new Map<http.ServerResponse, number>();
  private readonly feeds: readonly RouteFeed[];
  /** messages waiting for the next turn of the event loop; built then, so they carry the state after the call */
  private pending: (() => string)[] = [];
  private flushScheduled = false;
  private heartbeat: unknown;
  private sampler: unknown;
  private droppedClients = 0;
  private readonly unsubscribe: (() => void)[];
  /** about when the monitor started: the page's timeline knows nothing before it */
  private readonly startedAt: string;

  constructor(private readonly options: EventsOptions) {
    this.settings = { ...EVENTS_DEFAULTS, ...options.settings };
    this.feeds = options.routes.map((route) => new RouteFeed(route, this.settings));
    this.startedAt = new Date(options.wallClock()).toISOString();
    this.unsubscribe = this.feeds.flatMap((feed) => [
      feed.route.breaker.onTransition((transition) => this.onTransition(feed, transition)),
      feed.route.lastOutcome.onRecord((outcome) => this.onOutcome(feed, outcome)),
    ]);
  }

  /** Starts counting the calls of each period (the server listens). */
  start(): void {
    if (this.sampler !== undefined) return;
    for (const feed of this.feeds) {
      feed.lastTotals = feed.route.callTotals();
      // the first reading: where the page's chart of the limit begins
      this.sampleConcurrency(feed);
    }
    this.sampler = this.settings.timers.setInterval(() => this.sample(), this.settings.sampleMs);
  }

  /** Stops the timers, the listeners and every client: each stream is ended properly, so browsers just reconnect. */
  stop(): void {
    if (this.sampler !== undefined) this.settings.timers.clearInterval(this.sampler);
    this.sampler = undefined;
    for (const stop of this.unsubscribe) stop();
    for (const res of this.clients.keys()) res.end();
    this.clients.clear();
    this.stopHeartbeat();
  }

  get stats(): EventsStats {
    let bufferedBytes = 0;
    for (const res of this.clients.keys()) bufferedBytes += res.writableLength;
    return { clients: this.clients.size, bufferedBytes, dropped: this.droppedClients };
  }

  /** Answers GET /events (the method is checked by the caller). */
  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.clients.size >= this.settings.maxClients) {
      const body = JSON.stringify({ error: 'too many event clients', maxClients: this.settings.maxClients });
      res.writeHead(503, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Retry-After': '5', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      // a reverse proxy in front (nginx) must pass each event on at once
      'X-Accel-Buffering': 'no',
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const snapshot = `retry: ${this.settings.retryMs}\n\n${frame('snapshot', this.snapshot())}`;
    // a snapshot of many routes may pass the bound by itself: it is bounded by the routes file and
    // the recent lists, and a client is dropped for what it fails to read on top of it
    this.clients.set(res, Buffer.byteLength(snapshot));
    res.on('close', () => this.remove(res));
    this.send(res, snapshot);
    if (this.heartbeat === undefined) {
      this.heartbeat = this.settings.timers.setInterval(() => this.broadcast(`: heartbeat ${new Date(this.options.wallClock()).toISOString()}\n\n`), this.settings.heartbeatMs);
    }
  }

  private snapshot(): object {
    const status = this.options.status() as { readonly routes?: readonly { readonly name?: unknown }[] };
    return {
      ...status,
      serverTime: new Date(this.options.wallClock()).toISOString(),
      monitorStartedAt: this.startedAt,
      recent: this.feeds[0]!.recent,
      routes: this.feeds.map((feed) => ({ ...(status.routes?.find((entry) => entry.name === feed.route.name) ?? { name: feed.route.name }), recent: feed.recent })),
    };
  }

  private onTransition(feed: RouteFeed, transition: Transition): void {
    const { kind, ...detail } = transition.cause;
    const { options } = this;
    const entry: TransitionEntry = {
      ...detail,
      at: new Date(options.wallClock() - (options.clock.now() - transition.at)).toISOString(),
      from: transition.from,
      to: transition.to,
      cause: kind,
      message: transitionMessage(transition),
      ...(transition.openForMs === undefined ? {} : { openForMs: transition.openForMs }),
    };
    feed.transitions.push(entry);
    this.queue(() => frame('transition', { ...entry, route: feed.route.name, status: options.status() }));
  }

  private onOutcome(feed: RouteFeed, outcome: RecordedOutcome): void {
    if (outcome.source !== 'probe') return;
    const entry: ProbeEntry = {
      at: new Date(outcome.at).toISOString(),
      ok: outcome.ok,
      status: outcome.status ?? null,
      reason: outcome.reason ?? null,
      latencyMs: outcome.latencyMs,
    };
    feed.probes.push(entry);
    this.queue(() => {
      const { state, consecutiveFailures, consecutiveSuccesses, trialsInFlight } = feed.route.breaker.snapshot();
      return frame('probe', { ...entry, route: feed.route.name, state, counters: { consecutiveFailures, consecutiveSuccesses, trialsInFlight } });
    });
  }

  private sample(): void {
    for (const feed of this.feeds) {
      this.sampleRoute(feed);
      this.sampleConcurrency(feed);
    }
  }

  /** Reads a limited route's limit and calls in flight; keeps and sends them when either changed. */
  private sampleConcurrency(feed: RouteFeed): void {
    const status = concurrencyStatus(feed.route.limiter);
    if (status === null) return;
    const { mode, limit, inFlight } = status;
    const last = feed.lastConcurrency;
    if (last !== undefined && last.limit === limit && last.inFlight === inFlight) return;
    const entry: ConcurrencyEntry = { at: new Date(this.options.wallClock()).toISOString(), limit, inFlight };
    feed.lastConcurrency = entry;
    feed.concurrency.push(entry);
    this.queue(() => frame('concurrency', { ...entry, route: feed.route.name, mode }));
  }

  /** Counts what ended on one route since the last sample; sends it when anything did. */
  private sampleRoute(feed: RouteFeed): void {
    const totals = feed.route.callTotals();
    const before = feed.lastTotals;
    feed.lastTotals = totals;
    if (before === undefined) return;
    const entry: Record<string, unknown> = { at: new Date(this.options.wallClock()).toISOString(), seconds: this.settings.sampleMs / 1000 };
    let any = false;
    for (const [source, outcomes] of Object.entries(totals)) {
      const changed: Record<string, number> = {};
      for (const [outcome, count] of Object.entries(outcomes)) {
        const delta = count - (before[source]?.[outcome] ?? 0);
        if (delta > 0) changed[outcome] = delta;
      }
      if (Object.keys(changed).length > 0) {
        entry[source] = changed;
        any = true;
      }
    }
    if (!any) return;
    const calls = entry as CallsEntry;
    feed.calls.push(calls);
    this.queue(() => frame('calls', { ...calls, route: feed.route.name }));
  }

  private queue(message: () => string): void {
    if (this.clients.size === 0) return;
    this.pending.push(message);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    const pending = this.pending;
    this.pending = [];
    for (const message of pending) this.broadcast(message());
  }

  /** One string for every client: built once, however many listen. */
  private broadcast(text: string): void {
    for (const res of this.clients.keys()) this.send(res, text);
  }

  private send(res: http.ServerResponse, text: string): void {
    if (res.destroyed) return;
    res.write(text);
    if (res.writableLength > this.settings.maxBufferedBytes + (this.clients.get(res) ?? 0)) {
      this.droppedClients += 1;
      const address = res.socket?.remoteAddress ?? 'unknown';
      this.options.logger.warn(`events client ${address} dropped: ${res.writableLength} bytes unsent (limit ${this.settings.maxBufferedBytes})`, {
        event: 'events',
        client: address,
        unsentBytes: res.writableLength,
      });
      this.remove(res);
      res.destroy();
    }
  }

  private remove(res: http.ServerResponse): void {
    this.clients.delete(res);
    if (this.clients.size === 0) this.stopHeartbeat();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== undefined) this.settings.timers.clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }
}
