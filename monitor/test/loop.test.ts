import { CircuitBreaker, type BreakerOptions, type Clock } from '@circuit-breaker-demo/breaker';
import { LastOutcome } from '../src/last-outcome';
import { ProbeLoop, type LoopOptions } from '../src/probe/loop';
import type { Probe, ProbeResult } from '../src/probe/probe';
import { logTransition } from '../src/transition-log';
import { RecordingLogger } from './support/recording-logger';

/** Jest's fake timers drive both the loop's timers and this clock: no real sleeps. */
const clock: Clock = { now: () => jest.now() };

const refused: ProbeResult = { kind: 'failure', reason: 'ECONNREFUSED', latencyMs: 1 };
const ok200: ProbeResult = { kind: 'success', status: 200, latencyMs: 1 };

/** A probe that answers after `durationMs` with whatever `next()` says, and remembers when it was called. */
class ScriptedProbe {
  readonly calls: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  aborted = 0;
  constructor(
    public next: () => ProbeResult,
    public durationMs = 1,
  ) {}

  readonly probe: Probe = (signal) => {
    this.calls.push(clock.now());
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.inFlight -= 1;
        resolve(this.next());
      }, this.durationMs);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        this.inFlight -= 1;
        this.aborted += 1;
        resolve({ kind: 'aborted', latencyMs: 0 });
      });
    });
  };
}

/** A call from elsewhere (the proxy) that fails: with ERROR_THRESHOLD=1 it opens the circuit. */
function failFromOutside(breaker: CircuitBreaker): void {
  const admission = breaker.tryAcquire();
  if (!admission.admitted) throw new Error('expected a ticket');
  breaker.record(admission.ticket, { ok: false, reason: 'HTTP 502' });
}

function setup(probe: ScriptedProbe, overrides: Partial<BreakerOptions & LoopOptions> = {}) {
  const settings = { errorThreshold: 3, successThreshold: 3, openWindowMs: 10_000, halfOpenMaxCalls: 1, probeIntervalMs: 3_000, ...overrides };
  const logger = new RecordingLogger();
  const breaker = new CircuitBreaker({ ...settings, clock });
  breaker.onTransition((transition) => logTransition(logger, transition));
  const loop = new ProbeLoop({ breaker, probe: probe.probe, logger, clock }, settings);
  return { breaker, loop, logger };
}

beforeEach(() => jest.useFakeTimers({ now: 0 }));
afterEach(() => jest.useRealTimers());

it('probes at once, then every PROBE_INTERVAL while closed', async () => {
  const probe = new ScriptedProbe(() => ok200);
  const { loop } = setup(probe);
  loop.start();
  await jest.advanceTimersByTimeAsync(9_500);
  expect(probe.calls).toEqual([0, 3_000, 6_000, 9_000]);
  await loop.stop();
});

it('trips after ERROR_THRESHOLD failed probes and logs each failure and the transition', async () => {
  const probe = new ScriptedProbe(() => refused);
  const { loop, breaker, logger } = setup(probe);
  loop.start();
  await jest.advanceTimersByTimeAsync(6_500);
  expect(breaker.state).toBe('open');
  expect(logger.messages()).toEqual([
    'warn probe failed: ECONNREFUSED in 1 ms (1/3 consecutive failures)',
    'warn probe failed: ECONNREFUSED in 1 ms (2/3 consecutive failures)',
    'warn probe failed: ECONNREFUSED in 1 ms (3/3 consecutive failures)',
    'warn Circuit changed from closed to open (3 consecutive failures, last: ECONNREFUSED; trial in 10 s)',
  ]);
  expect(logger.lines[3]?.fields).toMatchObject({ event: 'transition', from: 'closed', to: 'open', failures: 3, reason: 'ECONNREFUSED' });
  await loop.stop();
});

it('makes no call while open and logs one skipped line per interval with the seconds left', async () => {
  const probe = new ScriptedProbe(() => refused);
  const { loop, logger } = setup(probe);
  loop.start();
  await jest.advanceTimersByTimeAsync(6_001); // opens at 6001
  const callsWhenOpened = probe.calls.length;
  await jest.advanceTimersByTimeAsync(9_900);
  expect(probe.calls).toHaveLength(callsWhenOpened);
  const skips = logger.lines.filter((line) => line.fields.event === 'skip');
  expect(skips.map((line) => line.msg)).toEqual([
    'probe skipped: circuit open, trial in 7 s',
    'probe skipped: circuit open, trial in 4 s',
    'probe skipped: circuit open, trial in 1 s',
  ]);
  expect(skips[0]).toMatchObject({ level: 'info', fields: { state: 'open', retryInSeconds: 7 } });
  await loop.stop();
});

it('sends the trial when TIME_WINDOW ends, not at the next interval tick', async () => {
  const probe = new ScriptedProbe(() => refused);
  const { loop, logger } = setup(probe);
  loop.start();
  await jest.advanceTimersByTimeAsync(16_100);
  // opened at 6001; interval ticks would fall at 9000, 12000, 15000, 18000
  const trialAt = probe.calls[3] ?? Number.NaN;
  expect(trialAt).toBeGreaterThanOrEqual(16_001);
  expect(trialAt).toBeLessThanOrEqual(16_051);
  expect(logger.messages()).toContain('info Circuit changed from open to half_open (open window ended; sending trial calls)');
  await loop.stop();
});

it('closes after SUCCESS_THRESHOLD successful trials', async () => {
  const probe = new ScriptedProbe(() => refused);
  const { loop, breaker, logger } = setup(probe);
  loop.start();
  await jest.advanceTimersByTimeAsync(16_000);
  probe.next = () => ok200;
  await jest.advanceTimersByTimeAsync(100);
  expect(breaker.state).toBe('half_open');
  await jest.advanceTimersByTimeAsync(6_000);
  expect(breaker.state).toBe('closed');
  expect(logger.messages().slice(-4)).toEqual([
    'info probe ok: HTTP 200 in 1 ms (trial 1/3)',
    'info probe ok: HTTP 200 in 1 ms (trial 2/3)',
    'info probe ok: HTTP 200 in 1 ms (trial 3/3)',
    'info Circuit changed from half_open to closed (3 consecutive trial successes)',
  ]);
  await loop.stop();
});

it('spaces trials by PROBE_INTERVAL on a clock that moves during a tick, as a real one does', async () => {
  let reads = 0;
  const creeping: Clock = { now: () => jest.now() + (reads += 1) * 0.001 };
  const probe = new ScriptedProbe(() => refused);
  const logger = new RecordingLogger();
  const settings = { errorThreshold: 3, successThreshold: 3, openWindowMs: 10_000, halfOpenMaxCalls: 1, probeIntervalMs: 3_000 };
  const breaker = new CircuitBreaker({ ...settings, clock: creeping });
  const loop = new ProbeLoop({ breaker, probe: probe.probe, logger, clock: creeping }, settings);
  loop.start();
  await jest.advanceTimersByTimeAsync(16_000);
  probe.next = () => ok200;
  await jest.advanceTimersByTimeAsync(7_000);
  const trials = probe.calls.slice(3);
  expect(trials).toHaveLength(3);
  const gaps = trials.slice(1).map((at, i) => Math.round((at - trials[i]!) / 10) * 10);
  expect(gaps).toEqual([3_000, 3_000]);
  await loop.stop();
});

it('reopens for a fresh window when the trial fails', async () => {
  const probe = new ScriptedProbe(() => refused);
  const { loop, breaker, logger } = setup(probe);
  loop.start();
  await jest.advanceTimersByTimeAsync(16_100);
  expect(breaker.state).toBe('open');
  expect(logger.messages().slice(-2)).toEqual([
    'warn probe failed: ECONNREFUSED in 1 ms (trial failed)',
    'warn Circuit changed from half_open to open (trial failed: ECONNREFUSED; trial in 10 s)',
  ]);
  const reopenedAt = probe.calls[3]! + 1;
  await jest.advanceTimersByTimeAsync(reopenedAt + 10_000 - jest.now() - 1);
  expect(probe.calls).toHaveLength(4);
  await jest.advanceTimersByTimeAsync(50);
  expect(probe.calls).toHaveLength(5);
  await loop.stop();
});

it('never has two probes in flight, even when a probe outlasts the interval', async () => {
  const probe = new ScriptedProbe(() => ok200, 4_500);
  const { loop } = setup(probe, { probeIntervalMs: 1_000 });
  loop.start();
  await jest.advanceTimersByTimeAsync(20_000);
  expect(probe.maxInFlight).toBe(1);
  // the next probe starts as soon as the slow one ends (setTimeout(0) is 1 ms)
  const gaps = probe.calls.slice(1).map((at, i) => at - probe.calls[i]!);
  expect(gaps).toEqual([4_501, 4_501, 4_501, 4_501]);
  await loop.stop();
});

it('wakes for the window end when something else opened the circuit meanwhile', async () => {
  const probe = new ScriptedProbe(() => ok200);
  const { loop, breaker } = setup(probe, { probeIntervalMs: 30_000, openWindowMs: 1_000, errorThreshold: 1 });
  loop.start();
  await jest.advanceTimersByTimeAsync(100);
  // a proxied call fails and trips the breaker while the loop waits out its interval
  failFromOutside(breaker);
  await jest.advanceTimersByTimeAsync(1_050);
  expect(probe.calls).toEqual([0, expect.any(Number)]);
  expect(probe.calls[1]).toBeGreaterThanOrEqual(1_100);
  expect(probe.calls[1]).toBeLessThanOrEqual(1_150);
  await loop.stop();
});

it('sends the trial at once when the window ended while a late probe was in flight', async () => {
  const probe = new ScriptedProbe(() => ok200, 3_000);
  const { loop, breaker } = setup(probe, { probeIntervalMs: 5_000, openWindowMs: 1_000, errorThreshold: 1 });
  loop.start();
  await jest.advanceTimersByTimeAsync(100);
  failFromOutside(breaker);
  // the window ends at 1100 while the first probe (0 -> 3000) is still in flight
  await jest.advanceTimersByTimeAsync(3_000);
  expect(probe.calls).toEqual([0, 3_001]);
  await loop.stop();
});

it('ignores a probe result that arrives after its state ended', async () => {
  const probe = new ScriptedProbe(() => ok200, 500);
  const { loop, breaker, logger } = setup(probe, { errorThreshold: 1 });
  loop.start();
  await jest.advanceTimersByTimeAsync(100);
  failFromOutside(breaker);
  await jest.advanceTimersByTimeAsync(500);
  expect(breaker.state).toBe('open');
  expect(logger.lines.at(-1)).toMatchObject({ msg: expect.stringMatching(/^probe result ignored: HTTP 200/), fields: { event: 'late' } });
  await loop.stop();
});

it('stop aborts the probe in flight and frees its trial slot', async () => {
  const probe = new ScriptedProbe(() => ok200, 60_000);
  const { loop, breaker } = setup(probe);
  loop.start();
  await jest.advanceTimersByTimeAsync(10);
  await loop.stop();
  expect(probe.aborted).toBe(1);
  await jest.advanceTimersByTimeAsync(100_000);
  expect(probe.calls).toHaveLength(1);
  expect(breaker.snapshot()).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
});

it('reports every probe to its observer: success, failure, skipped while open, late and aborted', async () => {
  const seen: string[] = [];
  const observer = {
    callEnded: (source: string, outcome: string, seconds?: number) => seen.push(`${source} ${outcome} ${seconds ?? '-'}`),
    callRejected: (source: string, state: string) => seen.push(`${source} rejected ${state}`),
  };
  const probe = new ScriptedProbe(() => ok200);
  const logger = new RecordingLogger();
  const breaker = new CircuitBreaker({ errorThreshold: 1, successThreshold: 1, openWindowMs: 5_000, halfOpenMaxCalls: 1, clock });
  const loop = new ProbeLoop({ breaker, probe: probe.probe, logger, clock, observer }, { probeIntervalMs: 3_000, errorThreshold: 1, successThreshold: 1 });
  loop.start();
  await jest.advanceTimersByTimeAsync(10); // probe 1: success
  probe.next = () => refused;
  await jest.advanceTimersByTimeAsync(3_000); // probe 2: failure, opens until 8001
  await jest.advanceTimersByTimeAsync(3_000); // tick at 6000: skipped while open
  probe.durationMs = 10_000;
  await jest.advanceTimersByTimeAsync(2_100); // trial at 8001, in flight
  const admission = breaker.tryAcquire();
  expect(admission.admitted).toBe(false); // the loop holds the only trial slot
  await loop.stop(); // aborts it
  expect(seen).toEqual(['probe success 0.001', 'probe failure 0.001', 'probe rejected open', 'probe aborted -']);
});

it('reports a probe that ended after its state as late', async () => {
  const seen: string[] = [];
  const observer = { callEnded: (_s: string, outcome: string) => seen.push(outcome), callRejected: () => undefined };
  const probe = new ScriptedProbe(() => ok200, 500);
  const logger = new RecordingLogger();
  const breaker = new CircuitBreaker({ errorThreshold: 1, successThreshold: 1, openWindowMs: 5_000, halfOpenMaxCalls: 1, clock });
  const loop = new ProbeLoop({ breaker, probe: probe.probe, logger, clock, observer }, { probeIntervalMs: 3_000, errorThreshold: 1, successThreshold: 1 });
  loop.start();
  await jest.advanceTimersByTimeAsync(100);
  failFromOutside(breaker);
  await jest.advanceTimersByTimeAsync(500);
  expect(seen).toEqual(['late']);
  await loop.stop();
});

it('keeps the last probe for /status', async () => {
  const probe = new ScriptedProbe(() => refused);
  const { loop } = setup(probe);
  loop.start();
  await jest.advanceTimersByTimeAsync(10);
  expect(loop.lastProbe).toEqual({ at: new Date(1).toISOString(), result: refused });
  await loop.stop();
});

it('gives counted probe results to the last outcome, and not a late one', async () => {
  const lastOutcome = new LastOutcome(() => jest.now());
  const probe = new ScriptedProbe(() => ({ kind: 'failure', reason: 'HTTP 503', status: 503, latencyMs: 1 }), 500);
  const logger = new RecordingLogger();
  const breaker = new CircuitBreaker({ errorThreshold: 2, successThreshold: 1, openWindowMs: 5_000, halfOpenMaxCalls: 1, clock });
  const loop = new ProbeLoop({ breaker, probe: probe.probe, logger, clock, lastOutcome }, { probeIntervalMs: 3_000, errorThreshold: 2, successThreshold: 1 });
  loop.start();
  await jest.advanceTimersByTimeAsync(500);
  expect(lastOutcome.value).toEqual({ source: 'probe', ok: false, status: 503, reason: 'HTTP 503', latencyMs: 1, at: 500 });

  // the circuit opens while the next probe (3000 -> 3500) is in flight: its success is late
  probe.next = () => ok200;
  await jest.advanceTimersByTimeAsync(2_600);
  failFromOutside(breaker);
  expect(breaker.state).toBe('open');
  await jest.advanceTimersByTimeAsync(500);
  expect(loop.lastProbe?.result).toEqual(ok200);
  expect(lastOutcome.value).toMatchObject({ ok: false, at: 500 });
  await loop.stop();
});
