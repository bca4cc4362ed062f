/**
 * A real admin server on loopback around a breaker with a fake clock, the real probe loop (its
 * timers run by hand), the metrics, and the event stream's interval timers run by hand too.
 */
import { CircuitBreaker } from '@circuit-breaker-demo/breaker';
import { createAdmin, type AdminHandle, type AdminOptions } from '../../src/admin/admin';
import type { EventsSettings, IntervalTimers } from '../../src/admin/events';
import { parseConfig, type Config } from '../../src/config';
import { LastOutcome } from '../../src/last-outcome';
import { Metrics } from '../../src/metrics';
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

export interface AdminRig {
  readonly clock: FakeClock;
  readonly breaker: CircuitBreaker;
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
  more: Pick<AdminOptions, 'tokenSlowdown'> = {},
): Promise<AdminRig> {
  const parsed = parseConfig({ HTTP_CLIENT: '127.0.0.1:9', PROBE_INTERVAL: '2', REQUEST_TIMEOUT: '2', TIME_WINDOW: '10', ...env });
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  const config = parsed.config;
  const clock = new FakeClock();
  const breaker = new CircuitBreaker({
    errorThreshold: config.errorThreshold,
    successThreshold: config.successThreshold,
    openWindowMs: config.timeWindowMs,
    halfOpenMaxCalls: config.halfOpenMaxCalls,
    clock,
  });
  const logger = new RecordingLogger();
  // as main.ts does: every transition is a log line
  breaker.onTransition((transition) => logTransition(logger, transition));
  const metrics = new Metrics(breaker);
  const timers = new ManualTimers();
  const intervals = new ManualIntervals();
  const state = { probeAnswer: { kind: 'success', status: 200, latencyMs: 3 } as ProbeResult, wall: WALL_START };
  const probe: Probe = () => Promise.resolve(state.probeAnswer);
  const lastOutcome = new LastOutcome(() => state.wall);
  const loop = new ProbeLoop({ breaker, probe, logger, clock, timers, observer: metrics, lastOutcome }, config);
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
    ...more,
  });
  const { port } = await admin.listen(0, '127.0.0.1');
  const close = async (): Promise<void> => {
    await loop.stop();
    await admin.close();
  };
  return Object.assign(state, { clock, breaker, metrics, lastOutcome, loop, timers, intervals, logger, config, admin, port, close });
}

/** `failures` counted failures: opens a closed circuit at ERROR_THRESHOLD. */
export function trip(breaker: CircuitBreaker, failures: number, reason = 'test'): void {
  for (let i = 0; i < failures; i += 1) {
    const admission = breaker.tryAcquire();
    if (!admission.admitted) throw new Error('circuit already open');
    breaker.record(admission.ticket, { ok: false, reason });
  }
}
