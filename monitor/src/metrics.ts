/**
 * Prometheus metrics (SPEC "Admin API"): they listen to the breaker's transitions and to the call
 * results the probe and the proxy report. The breaker itself knows nothing about them.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { CircuitBreaker, ConcurrencyLimiter, Rejection, State } from '@circuit-breaker-demo/breaker';
import { registerPolicyGauges } from './policy-metrics';

export type CallSource = 'probe' | 'proxy';

/**
 * How a call ended; each call is counted once.
 * - success, failure: counted by the breaker.
 * - late: ended after the state it started in had ended; the breaker ignored it.
 * - rejected: not admitted (open, or half_open with no free trial slot): 503 at once.
 * - busy (proxy): admitted, but every upstream connection was in use: 503 at once, the ticket
 *   given back, the upstream not touched.
 * - overloaded (proxy, MAX_CONCURRENT_CALLS): admitted by the breaker, but the route's concurrency
 *   limit was full: 503 at once, the ticket given back (no success, no failure), the upstream not touched.
 * - fallback (proxy, PROXY_FALLBACK=stale): a cached good answer went out instead of a rejection
 *   (still counted by state in the rejected calls) or of a 502/504 (still a failure to the breaker).
 * - aborted: admitted, then ended without an outcome: the client left; the proxy answered 408
 *   (body not received in time), 413 (chunked body over the size limit), 400 (a request Node's
 *   client would not send) or 504 (total time up before REQUEST_TIMEOUT ran out); or shutdown.
 * Requests refused before admission (not origin-form, CONNECT, Content-Length over the limit,
 * headers too slow) are not calls: not counted.
 */
export type CallOutcome = 'success' | 'failure' | 'late' | 'rejected' | 'busy' | 'overloaded' | 'aborted' | 'fallback';

/** What the proxy (or anything else that calls the upstream) reports its calls to. */
export interface CallObserver {
  /** `seconds`: time to the upstream's answer (or failure), for calls that got that far. */
  callEnded(source: CallSource, outcome: CallOutcome, seconds?: number): void;
  /** `outcome`: `fallback` when the rejected call was answered from the stale-answer cache */
  callRejected(source: CallSource, state: Rejection['state'], outcome?: 'rejected' | 'fallback'): void;
}

export type CallTotals = Record<CallSource, Record<CallOutcome, number>>;

export interface MetricsOptions {
  /** prom-client's process metrics (CPU, memory, event loop lag...); off keeps test registries small */
  readonly defaultMetrics?: boolean;
}

const STATES: readonly State[] = ['closed', 'open', 'half_open', 'isolated'];
const SOURCES: readonly CallSource[] = ['probe', 'proxy'];
const OUTCOMES: readonly CallOutcome[] = ['success', 'failure', 'late', 'rejected', 'busy', 'overloaded', 'aborted', 'fallback'];
/**
 * Why an admitted call was answered 503 without touching the upstream, and the outcome it counts
 * as: the route's concurrency limit was full, or every upstream connection was in use.
 */
const OVERLOAD_REASONS = { concurrency_limit: 'overloaded', connections: 'busy' } as const satisfies Record<string, CallOutcome>;
type OverloadReason = keyof typeof OVERLOAD_REASONS;
/** The only moves the breaker makes; each series exists from the start, so rate() works on its first change. */
const TRANSITIONS: readonly (readonly [State, State])[] = [
  ['closed', 'open'],
  ['open', 'half_open'],
  ['half_open', 'open'],
  ['half_open', 'closed'],
  // by hand: isolate() from any state, reset() back to closed
  ['closed', 'isolated'],
  ['open', 'isolated'],
  ['half_open', 'isolated'],
  ['isolated', 'closed'],
  ['open', 'closed'],
];
/** Seconds, from loopback (sub-millisecond) to a slow LAN upstream near REQUEST_TIMEOUT. */
export const LATENCY_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type Labels<K extends string> = Readonly<Record<K, string>>;

/** One frozen label object per series, built once: the hot path neither allocates nor builds keys. */
function labelTable<A extends string, B extends string, KA extends string, KB extends string>(
  route: string,
  keyA: KA,
  valuesA: readonly A[],
  keyB: KB,
  valuesB: readonly B[],
): Record<A, Record<B, Labels<'route' | KA | KB>>> {
  const table = {} as Record<A, Record<B, Labels<'route' | KA | KB>>>;
  for (const a of valuesA) {
    table[a] = {} as Record<B, Labels<'route' | KA | KB>>;
    for (const b of valuesB) {
      const labels = { route } as Record<'route' | KA | KB, string>;
      labels[keyA] = a;
      labels[keyB] = b;
      table[a][b] = Object.freeze(labels);
    }
  }
  return table;
}

/** A zeroed count per pair of label values. */
function counts<A extends string, B extends string>(valuesA: readonly A[], valuesB: readonly B[]): Record<A, Record<B, number>> {
  const table = {} as Record<A, Record<B, number>>;
  for (const a of valuesA) {
    table[a] = {} as Record<B, number>;
    for (const b of valuesB) table[a][b] = 0;
  }
  return table;
}

/** Adds to a counter what happened since the last scrape. */
function catchUp<A extends string, B extends string, K extends string>(
  counter: Counter<K>,
  labels: Record<A, Record<B, Labels<K>>>,
  current: Record<A, Record<B, number>>,
  reported: Record<A, Record<B, number>>,
): void {
  for (const a of Object.keys(current) as A[]) {
    for (const b of Object.keys(current[a]) as B[]) {
      const delta = current[a][b] - reported[a][b];
      if (delta > 0) counter.inc(labels[a][b], delta);
      reported[a][b] = current[a][b];
    }
  }
}

type RejectedState = Rejection['state'];
const REJECTED_STATES: readonly RejectedState[] = ['open', 'half_open', 'isolated'];

/** A route whose breaker the metrics show, under `route="<name>"`. */
export interface MetricsRoute {
  readonly name: string;
  readonly breaker: CircuitBreaker;
  /** the proxy's concurrency limit on this route (MAX_CONCURRENT_CALLS); none when off */
  readonly limiter?: ConcurrencyLimiter;
}

/** One route's series: its label objects, built once, and its counts on the hot path. */
class RouteSeries implements CallObserver {
  readonly callLabels: Record<CallSource, Record<CallOutcome, Labels<'route' | 'source' | 'outcome'>>>;
  readonly rejectedLabels: Record<CallSource, Record<RejectedState, Labels<'route' | 'source' | 'state'>>>;
  readonly sourceLabels: Record<CallSource, Labels<'route' | 'source'>>;
  readonly stateLabels: Record<State, Labels<'route' | 'state'>>;
  // Call counts are plain numbers on the hot path; the counters catch up with them at each scrape.
  readonly totals = counts(SOURCES, OUTCOMES);
  readonly totalsReported = counts(SOURCES, OUTCOMES);
  readonly rejections = counts(SOURCES, REJECTED_STATES);
  readonly rejectionsReported = counts(SOURCES, REJECTED_STATES);
  readonly routeLabels: Labels<'route'>;
  readonly overloadLabels: Record<OverloadReason, Labels<'route' | 'reason'>>;
  readonly overloadsReported: Record<OverloadReason, number> = { concurrency_limit: 0, connections: 0 };

  constructor(
    readonly name: string,
    readonly breaker: CircuitBreaker,
    readonly limiter: ConcurrencyLimiter | undefined,
    private readonly latency: Histogram<'route' | 'source'>,
  ) {
    this.routeLabels = Object.freeze({ route: name });
    this.overloadLabels = {
      concurrency_limit: Object.freeze({ route: name, reason: 'concurrency_limit' }),
      connections: Object.freeze({ route: name, reason: 'connections' }),
    };
    this.callLabels = labelTable(name, 'source', SOURCES, 'outcome', OUTCOMES);
    this.rejectedLabels = labelTable(name, 'source', SOURCES, 'state', REJECTED_STATES);
    this.sourceLabels = { probe: Object.freeze({ route: name, source: 'probe' }), proxy: Object.freeze({ route: name, source: 'proxy' }) };
    this.stateLabels = Object.fromEntries(STATES.map((state) => [state, Object.freeze({ route: name, state })])) as Record<State, Labels<'route' | 'state'>>;
  }

  callEnded(source: CallSource, outcome: CallOutcome, seconds?: number): void {
    this.totals[source][outcome] += 1;
    if (seconds !== undefined) this.latency.observe(this.sourceLabels[source], seconds);
  }

  callRejected(source: CallSource, state: RejectedState, outcome: 'rejected' | 'fallback' = 'rejected'): void {
    this.totals[source][outcome] += 1;
    this.rejections[source][state] += 1;
  }

  callTotals(): CallTotals {
    return { probe: { ...this.totals.probe }, proxy: { ...this.totals.proxy } };
  }
}

/**
 * Every route's series in one registry. The series count is bounded by the routes (from the
 * configuration), never by request paths. As a CallObserver it is the first route's (the only one
 * without a routes file), so single-route code and tests pass it as it is.
 */
export class Metrics implements CallObserver {
  /** A registry of its own, not prom-client's global one, so tests can build several. */
  readonly registry = new Registry();
  private readonly state: Gauge<'route' | 'state'>;
  private readonly transitions: Counter<'route' | 'from' | 'to'>;
  private readonly latency: Histogram<'route' | 'source'>;
  private readonly series: RouteSeries[];
  private readonly byName = new Map<string, RouteSeries>();
  private readonly unsubscribe: (() => void)[] = [];

  /** `routes`: a single breaker is the one route, `default`. */
  constructor(routes: CircuitBreaker | readonly MetricsRoute[], options: MetricsOptions = {}) {
    const list: readonly MetricsRoute[] = Array.isArray(routes) ? routes : [{ name: 'default', breaker: routes as CircuitBreaker }];
    if (list.length === 0) throw new Error('Metrics needs at least one route');
    const registers = [this.registry];
    this.state = new Gauge({
      name: 'circuit_breaker_state',
      help: 'Current breaker state of each route: 1 for the current state, 0 for the others',
      labelNames: ['route', 'state'],
      registers,
    });
    this.transitions = new Counter({
      name: 'circuit_breaker_transitions_total',
      help: 'State changes of each route\'s breaker, by from and to',
      labelNames: ['route', 'from', 'to'],
      registers,
    });
    const calls: Counter<'route' | 'source' | 'outcome'> = new Counter({
      name: 'circuit_breaker_calls_total',
      help:
        'Calls through each route\'s breaker by source (probe, proxy) and outcome: success, failure (counted by the breaker); ' +
        'late (ended after its state had ended; ignored); rejected (circuit open, or half_open with no free trial slot: 503); ' +
        'busy (proxy: every upstream connection in use: 503, upstream not touched); ' +
        'overloaded (proxy: the route\'s MAX_CONCURRENT_CALLS limit full: 503, upstream not touched); ' +
        'aborted (admitted, then ended without an outcome: client gone, 408 body not received in time, ' +
        '413 chunked body over the size limit, 400 request not forwardable, 504 total time up before REQUEST_TIMEOUT, or shutdown); ' +
        'fallback (proxy, PROXY_FALLBACK=stale: a cached good answer served instead of a rejection or of a 502/504)',
      labelNames: ['route', 'source', 'outcome'],
      registers,
      collect: (): void => {
        for (const route of this.series) catchUp(calls, route.callLabels, route.totals, route.totalsReported);
      },
    });
    const rejected: Counter<'route' | 'source' | 'state'> = new Counter({
      name: 'circuit_breaker_rejected_calls_total',
      help: 'Calls answered without touching the upstream because the circuit was open or had no free trial slot',
      labelNames: ['route', 'source', 'state'],
      registers,
      collect: (): void => {
        for (const route of this.series) catchUp(rejected, route.rejectedLabels, route.rejections, route.rejectionsReported);
      },
    });
    // counted on the hot path as the outcomes they are; told by reason at each scrape
    const overloads: Counter<'route' | 'reason'> = new Counter({
      name: 'circuit_breaker_overload_rejections_total',
      help:
        'Proxied calls the breaker admitted but the proxy answered 503 at once without touching the upstream, by reason: ' +
        'concurrency_limit (the route\'s MAX_CONCURRENT_CALLS limit was full; outcome overloaded), ' +
        'connections (every upstream connection was in use; outcome busy)',
      labelNames: ['route', 'reason'],
      registers,
      collect: (): void => {
        for (const route of this.series) {
          for (const reason of Object.keys(OVERLOAD_REASONS) as OverloadReason[]) {
            const total = route.totals.proxy[OVERLOAD_REASONS[reason]];
            const delta = total - route.overloadsReported[reason];
            if (delta > 0) overloads.inc(route.overloadLabels[reason], delta);
            route.overloadsReported[reason] = total;
          }
        }
      },
    });
    this.latency = new Histogram({
      name: 'circuit_breaker_call_duration_seconds',
      help: 'Time from sending a call to the upstream answer headers (or its failure), in seconds; proxied calls count from when the whole request body was forwarded',
      labelNames: ['route', 'source'],
      buckets: [...LATENCY_BUCKETS],
      registers,
    });
    this.series = list.map(({ name, breaker, limiter }) => new RouteSeries(name, breaker, limiter, this.latency));
    registerPolicyGauges(this.registry, this.series);
    this.registerLimitGauges(registers);
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });

    // every series exists from the start, at 0, so rate() and alerts work on the first change
    for (const route of this.series) {
      this.byName.set(route.name, route);
      for (const source of SOURCES) {
        this.latency.zero(route.sourceLabels[source]);
        for (const outcome of OUTCOMES) calls.inc(route.callLabels[source][outcome], 0);
        for (const state of REJECTED_STATES) rejected.inc(route.rejectedLabels[source][state], 0);
      }
      for (const reason of Object.keys(OVERLOAD_REASONS) as OverloadReason[]) overloads.inc(route.overloadLabels[reason], 0);
      for (const [from, to] of TRANSITIONS) this.transitions.inc({ route: route.name, from, to }, 0);
      this.showState(route, route.breaker.state);
      this.unsubscribe.push(
        route.breaker.onTransition((transition) => {
          this.transitions.inc({ route: route.name, from: transition.from, to: transition.to });
          this.showState(route, transition.to);
        }),
      );
    }
  }

  /** The observer of one route's calls. */
  route(name: string): CallObserver & { callTotals(): CallTotals } {
    const route = this.byName.get(name);
    if (route === undefined) throw new Error(`no route named ${JSON.stringify(name)} in the metrics`);
    return route;
  }

  callEnded(source: CallSource, outcome: CallOutcome, seconds?: number): void {
    this.series[0]!.callEnded(source, outcome, seconds);
  }

  callRejected(source: CallSource, state: RejectedState, outcome: 'rejected' | 'fallback' = 'rejected'): void {
    this.series[0]!.callRejected(source, state, outcome);
  }

  /** Call counts by source and outcome, of one route (the first by default), for /status. */
  callTotals(route?: string): CallTotals {
    return (route === undefined ? this.series[0]! : this.route(route)).callTotals();
  }

  /** Prometheus text exposition of every metric in this registry. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Stops listening to the breakers. */
  close(): void {
    for (const stop of this.unsubscribe.splice(0)) stop();
  }

  /**
   * The concurrency limit in force and the calls holding a slot, read from each route's limiter at
   * each scrape. Only routes with a limit have these series (a route with MAX_CONCURRENT_CALLS=off
   * has no limit to show), and without any, neither metric exists: one series per route at most.
   */
  private registerLimitGauges(registers: Registry[]): void {
    const limited = this.series.filter((route) => route.limiter !== undefined);
    if (limited.length === 0) return;
    const limit: Gauge<'route'> = new Gauge({
      name: 'circuit_breaker_concurrency_limit',
      help: 'Calls the proxy lets be in flight at once to the route\'s upstream (MAX_CONCURRENT_CALLS: fixed, or the adaptive limit now)',
      labelNames: ['route'],
      registers,
      collect: (): void => {
        for (const route of limited) limit.set(route.routeLabels, route.limiter!.limit);
      },
    });
    const inFlight: Gauge<'route'> = new Gauge({
      name: 'circuit_breaker_concurrency_in_flight',
      help: 'Proxied calls holding a slot of the route\'s concurrency limit: sent to the upstream and not yet ended there (probes and trials not counted)',
      labelNames: ['route'],
      registers,
      collect: (): void => {
        for (const route of limited) inFlight.set(route.routeLabels, route.limiter!.inFlight);
      },
    });
  }

  private showState(route: RouteSeries, current: State): void {
    for (const state of STATES) this.state.set(route.stateLabels[state], state === current ? 1 : 0);
  }
}

export function createMetrics(routes: CircuitBreaker | readonly MetricsRoute[], options: MetricsOptions = {}): Metrics {
  return new Metrics(routes, options);
}
