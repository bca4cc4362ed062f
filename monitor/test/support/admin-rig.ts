/**
 * A real admin server on loopback around a breaker with a fake clock, the real probe loop (its
 * timers run by hand), the metrics, and the event stream's interval timers run by hand too.
 */
import { CircuitBreaker, type ConcurrencyLimiter } from '@circuit-breaker-demo/breaker';
import { createAdmin, type AdminHandle, type AdminOptions, type AdminRoute } from '../../src/admin/admin';
import type { EventsSettings, IntervalTimers } from '../../src/admin/events';
import { routeSettings } from '../../src/admin/route-settings';
import { parseConfig, type Config } from '../../src/config';
import { LastOutcome } from '../../src/last-outcome';
import { routeLogger } from '../../src/logger';
import { Metrics } from '../../src/metrics';
import { policyOptions } from '../../src/policy-options';
import { ProbeLoop } from '../../src/probe/loop';
import type { Timers } from '../../src/timers';
import type { Probe, ProbeResult } from '../../src/probe/probe';
import { logTransition } from '../../src/transition-log';
import { FakeClock } from './fake-clock';
import { RecordingLogger } from './recording-logger';

/** 2023-11-14T22:13:20.000Z */
export const WALL_START = 1_700_000_000_000;

/** The loop's timeouts, run by hand: the next tick waits in `pending`. */
export class ManualTimers implements Timers {
  pending: (() => void) | undefined;
  setTimeout(callback: () => void): unknown {
    this.pending = callback;
    return callback;
  }
  clearTimeout(handle: unknown): void {
    if (this.pending === handle) this.pending = undefined;
  }
  /** Runs the waiting tick; the probe it starts settles a few microtasks later. */
  async tick(): Promise<void> {
    const callback = this.pending;
    this.pending = undefined;
    callback?.();
    for (let i = 0; i < 10; i += 1) await Promise.resolve();
  }
}

/** Interval timers run by hand: `run(ms)` fires every interval of that period once. */
export class ManualIntervals implements IntervalTimers {
  readonly active = new Map<object, { callback: () => void; ms: number }>();
  setInterval(callback: () => void, ms: number): unknown {
    const handle = {};
    this.active.set(handle, { callback, ms });
    return handle;
  }
  clearInterval(handle: unknown): void {
    this.active.delete(handle as object);
  }
  periods(): number[] {
    return [...this.active.values()].map((interval) => interval.ms).sort((a, b) => a - b);
  }
  run(ms: number): void {
    for (const interval of [...this.active.values()]) if (interval.ms === ms) interval.callback();
  }
}

/** One route of a rig with several: the first is the rig's `breaker`, `lastOutcome` and `loop`. */
export interface RigRoute {
  readonly name: string;
  readonly breaker: CircuitBreaker;
  readonly lastOutcome: LastOutcome;
}

export interface AdminRig {
  readonly clock: FakeClock;
  readonly breaker: CircuitBreaker;
  /** every route; one, `default`, unless `routes` named several */
  readonly routes: readonly RigRoute[];
  readonly metrics: Metrics;
  readonly lastOutcome: LastOutcome;
  readonly loop: ProbeLoop;
  readonly timers: ManualTimers;
  readonly intervals: ManualIntervals;
  readonly logger: RecordingLogger;
  readonly config: Config;
  readonly admin: AdminHandle;
  readonly port: number;
  /** what the next probes answer */
  probeAnswer: ProbeResult;
  /** wall time the admin API sees */
  wall: number;
  close(): Promise<void>;
}

/** The machine's host name as the rig's admin server sees it. */
export const RIG_HOSTNAME = 'monitor-test-host';

export async function adminRig(
  env: Record<string, string> = {},
  events: Partial<EventsSettings> = {},
  more: Pick<AdminOptions, 'tokenSlowdown'> & {
    readonly routes?: readonly string[];
    /** a concurrency limit (MAX_CONCURRENT_CALLS) per route name; the others have none */
    readonly limiters?: Readonly<Record<string, ConcurrencyLimiter>>;
  } = {},
): Promise<AdminRig> {
  const parsed = parseConfig({ HTTP_CLIENT: '127.0.0.1:9', PROBE_INTERVAL: '2', REQUEST_TIMEOUT: '2', TIME_WINDOW: '10', ...env });
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  const config = parsed.config;
  const clock = new FakeClock();
  const logger = new RecordingLogger();
  const state = { probeAnswer: { kind: 'success', status: 200, latencyMs: 3 } as ProbeResult, wall: WALL_START };
  const { routes: names = ['default'], limiters = {}, ...adminMore } = more;
  const routes: RigRoute[] = names.map((name) => {
    const routeBreaker = new CircuitBreaker({
      errorThreshold: config.errorThreshold,
      successThreshold: config.successThreshold,
      openWindowMs: config.timeWindowMs,
      halfOpenMaxCalls: config.halfOpenMaxCalls,
      clock,
      // the policies as main.ts sets them (none unless env turns them on)
      ...policyOptions(config),
    });
    // as main.ts does: every transition is a log line, naming the route when there are several
    const routeLog = routeLogger(logger, name, names.length > 1);
    routeBreaker.onTransition((transition) => logTransition(routeLog, transition));
    return { name, breaker: routeBreaker, lastOutcome: new LastOutcome(() => state.wall) };
  });
  const { breaker, lastOutcome } = routes[0]!;
  const metrics = names.length > 1 ? new Metrics(routes.map(({ name, breaker: each }) => ({ name, breaker: each }))) : new Metrics(breaker);
  const timers = new ManualTimers();
  const intervals = new ManualIntervals();
  const probe: Probe = () => Promise.resolve(state.probeAnswer);
  const loop = new ProbeLoop({ breaker, probe, logger, clock, timers, observer: metrics.route(names[0]!), lastOutcome }, config);
  // the other routes' loops are not run: they look alive
  const adminRoutes: AdminRoute[] = routes.map((route, i) => ({
    name: route.name,
    prefix: names.length > 1 ? `/${route.name}/` : '/',
    upstream: config.upstream,
    breaker: route.breaker,
    loop: i === 0 ? loop : { isRunning: true, lastActivity: clock.now(), lastProbe: undefined },
    lastOutcome: route.lastOutcome,
    quietLimitMs: config.probeIntervalMs + config.requestTimeoutMs,
    settings: routeSettings(config),
    ...(limiters[route.name] === undefined ? {} : { limiter: limiters[route.name] }),
  }));
  const admin = createAdmin({
    breaker,
    loop,
    lastOutcome,
    metrics,
    config,
    logger,
    clock,
    wallClock: () => state.wall,
    events: { timers: intervals, ...events },
    hostname: RIG_HOSTNAME,
    // one route without a limit: the admin builds its default route itself, as when no routes are given
    ...(names.length > 1 || Object.keys(limiters).length > 0 ? { routes: adminRoutes } : {}),
    ...adminMore,
  });
  const { port } = await admin.listen(0, '127.0.0.1');
  const close = async (): Promise<void> => {
    await loop.stop();
    await admin.close();
  };
  return Object.assign(state, { clock, breaker, routes, metrics, lastOutcome, loop, timers, intervals, logger, config, admin, port, close });
}

/** `failures` counted failures: opens a closed circuit at ERROR_THRESHOLD. */
export function trip(breaker: CircuitBreaker, failures: number, reason = 'test'): void {
  for (let i = 0; i < failures; i += 1) {
    const admission = breaker.tryAcquire();
    if (!admission.admitted) throw new Error('circuit already open');
    breaker.record(admission.ticket, { ok: false, reason });
  }
}
