/**
 * One measurement of part 1 in a fresh process: one library, one path, one mode.
 *
 *   node breaker-worker.js <library> <path> <mode> <time|heap>
 *
 * Prints one JSON line: `{ nsPerCall, cpuNsPerCall, calls }` for time, `{ bytesPerCall, calls, gcDuring }` for
 * heap (run with --expose-gc and a young generation big enough that no GC runs while measuring).
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { circuitBreaker, CircuitState, ConsecutiveBreaker, handleAll, SamplingBreaker, type IBreaker } from 'cockatiel';
import Opossum from 'opossum';
// the package as a user gets it: its public entry, resolved through node_modules to breaker/dist
import { CircuitBreaker, CircuitOpenError, execute, tryExecute, type Outcome, type SlidingWindowOptions, type Ticket, type TransitionCause } from '@circuit-breaker-demo/breaker';

/**
 * Our cases first: the package's execute (rejects while open, like opossum and cockatiel),
 * tryExecute (resolves to a result: no error per rejection), and the core alone. Then the
 * failure-rate policy (issue 11): the same execute and tryExecute around a breaker with a count
 * window (`ours-count-*`) or a time window (`ours-time-*`), built by `rateBreaker` beside
 * `consecutiveBreaker` below, against cockatiel's SamplingBreaker (`cockatiel-sampling`) and
 * opossum's defaults (a rate over a rolling 10 s window).
 */
export const LIBRARIES = [
  'bare',
  'ours-execute',
  'ours-try',
  'ours-core',
  'ours-count-execute',
  'ours-count-try',
  'ours-time-execute',
  'ours-time-try',
  'opossum-default',
  'opossum-tuned',
  'opossum-lean',
  'cockatiel',
  'cockatiel-sampling',
] as const;
export const PATHS = ['success', 'failure', 'open'] as const;
export const MODES = ['sequential', 'concurrent'] as const;
export type Library = (typeof LIBRARIES)[number];
export type CallPath = (typeof PATHS)[number];
export type Mode = (typeof MODES)[number];

export interface TimeSample {
  /** wall-clock time per call */
  readonly nsPerCall: number;
  /**
   * this process's CPU time (user + system, every thread) per call: on a shared machine it leaves
   * out the time the scheduler gave other processes, which wall-clock time counts
   */
  readonly cpuNsPerCall: number;
  readonly calls: number;
}
export interface HeapSample {
  readonly bytesPerCall: number;
  readonly calls: number;
  /** garbage collections seen while measuring: must be 0 for the figure to mean anything */
  readonly gcDuring: number;
}

/** Calls in flight at once in the concurrent mode. */
export const IN_FLIGHT = 1000;

type Run = () => Promise<unknown>;
/** What is measured: an async call (every library) or a synchronous one (ours-core); `check` names the state. */
type Subject = { readonly check: () => string } & ({ readonly run: Run } | { readonly sync: () => void });
/** Makes `calls` calls, sequentially or IN_FLIGHT at a time. */
type Driver = (calls: number) => Promise<void>;

const HOUR_MS = 3_600_000;
/** A threshold no run reaches: the failure path must stay closed. */
const NEVER = Number.MAX_SAFE_INTEGER;
/** Thresholds used where the circuit is meant to open (or never sees a failure). */
const TRIP_AFTER = 3;
const VALUE = { answer: 42 };
// created once: the benchmark measures the breakers, not Error construction in the protected call
const ERROR = new Error('upstream failed');
const succeed = (): Promise<typeof VALUE> => Promise.resolve(VALUE);
const fail = (): Promise<never> => Promise.reject(ERROR);
const noop = (): undefined => undefined;

const OK: Outcome = { ok: true };

/** Our breaker with the consecutive-failures policy, as a path needs it (the failure path never trips). */
function consecutiveBreaker(path: CallPath): CircuitBreaker {
  return new CircuitBreaker({ errorThreshold: path === 'failure' ? NEVER : TRIP_AFTER, successThreshold: 1, openWindowMs: HOUR_MS, halfOpenMaxCalls: 1 });
}

/** The rate breakers' settings: 50% failures, over at least 100 calls; a time window of 60 s. */
const RATE_PERCENT = 50;
const RATE_MINIMUM_CALLS = 100;
const RATE_WINDOW_MS = 60_000;
const WINDOWS = {
  count: { calls: 100 },
  // resilience4j's time-based window, with the package's default 10 buckets of 6 s
  time: { timeMs: RATE_WINDOW_MS },
} as const satisfies Record<string, SlidingWindowOptions>;

/**
 * Our breaker with the failure-rate policy over a window, and only that: the consecutive trip is
 * out of reach, so the open path is opened by the rate. On the failure path every call fails and
 * is counted in the window, and the minimum of calls is out of reach, so the rate never trips: the
 * window does all its work, only the last comparison is skipped. opossum (volumeThreshold) and
 * cockatiel's SamplingBreaker (minimumRps) are kept closed the same way.
 */
function rateBreaker(window: keyof typeof WINDOWS, path: CallPath): CircuitBreaker {
  return new CircuitBreaker({
    errorThreshold: NEVER,
    successThreshold: 1,
    openWindowMs: HOUR_MS,
    halfOpenMaxCalls: 1,
    failureRateThreshold: RATE_PERCENT,
    slidingWindow: WINDOWS[window],
    minimumCalls: path === 'failure' ? NEVER : RATE_MINIMUM_CALLS,
  });
}

/** Each of our cases: the breaker it runs through, and which of the package's two ways runs the call. */
const OURS_CASES = {
  'ours-execute': { api: 'execute', breaker: consecutiveBreaker },
  'ours-try': { api: 'try', breaker: consecutiveBreaker },
  'ours-count-execute': { api: 'execute', breaker: (path: CallPath) => rateBreaker('count', path) },
  'ours-count-try': { api: 'try', breaker: (path: CallPath) => rateBreaker('count', path) },
  'ours-time-execute': { api: 'execute', breaker: (path: CallPath) => rateBreaker('time', path) },
  'ours-time-try': { api: 'try', breaker: (path: CallPath) => rateBreaker('time', path) },
} as const satisfies Record<string, { api: 'execute' | 'try'; breaker: (path: CallPath) => CircuitBreaker }>;
type OursCase = keyof typeof OURS_CASES;
type Api = (typeof OURS_CASES)[OursCase]['api'];

/** Opens an execute-run breaker with failures; checks the policy under test is the one that opened it. */
async function trip(breaker: CircuitBreaker, call: () => Promise<unknown>, cause: TransitionCause['kind'], library: Library): Promise<void> {
  let opened: TransitionCause['kind'] | undefined;
  const stop = breaker.onTransition((transition) => {
    if (transition.to === 'open') opened = transition.cause.kind;
  });
  // bounded: a breaker still closed after ten times the calls it needs fails the run below
  for (let i = 0; i < 10 * RATE_MINIMUM_CALLS && breaker.state === 'closed'; i++) await call().catch(noop);
  stop();
  if (opened !== cause) throw new Error(`${library} open: opened by ${opened ?? 'nothing'}, expected ${cause}`);
}

/** cockatiel's policy around one of its breakers, in the state a path needs. */
async function cockatielCase(breaker: IBreaker, path: CallPath, action: () => Promise<unknown>, library: Library): Promise<Subject> {
  const policy = circuitBreaker(handleAll, { halfOpenAfter: HOUR_MS, breaker });
  // a bounded trip: a breaker that does not open here fails the run
  for (let i = 0; path === 'open' && i < 10 * RATE_MINIMUM_CALLS && policy.state !== CircuitState.Open; i++) await policy.execute(fail).catch(noop);
  if (path === 'open' && policy.state !== CircuitState.Open) throw new Error(`${library} open: still not open after ${10 * RATE_MINIMUM_CALLS} failures`);
  return {
    run: path === 'success' ? () => policy.execute(action) : () => policy.execute(action).catch(noop),
    check: () => ['closed', 'open', 'half_open', 'isolated'][policy.state] ?? String(policy.state),
  };
}

/** What one call of ours must end with on a path, checked once before measuring: a run that measured something else fails. */
async function expectEnding(library: OursCase, api: Api, path: CallPath, call: () => Promise<unknown>): Promise<void> {
  let ending: string;
  try {
    const result = await call();
    ending = api === 'try' ? `resolved ${(result as { kind: string }).kind}` : result === VALUE ? 'resolved the value' : 'resolved something else';
  } catch (error) {
    ending = error === ERROR ? 'rejected with the call\'s error' : error instanceof CircuitOpenError ? 'rejected with a CircuitOpenError' : `rejected with ${String(error)}`;
  }
  const expected = {
    execute: { success: 'resolved the value', failure: 'rejected with the call\'s error', open: 'rejected with a CircuitOpenError' },
    try: { success: 'resolved value', failure: 'resolved error', open: 'resolved rejected' },
  }[api][path];
  if (ending !== expected) throw new Error(`${library} ${path}: one call ${ending}, expected ${expected}`);
}

/**
 * Builds the call to measure, with the library already in the state the path needs. `ours-core` is
 * the state machine alone, synchronous (tryAcquire + record, no promise): it splits our figure
 * into the breaker's own cost and the cost of execute around it.
 */
async function setup(library: Library, path: CallPath): Promise<Subject> {
  const action = path === 'success' ? succeed : fail;
  switch (library) {
    case 'bare':
      // the open path's reference is a bare await of a resolved promise
      return { run: path === 'failure' ? () => fail().catch(noop) : succeed, check: () => 'no breaker' };
    case 'ours-execute':
    case 'ours-try':
    case 'ours-count-execute':
    case 'ours-count-try':
    case 'ours-time-execute':
    case 'ours-time-try': {
      const { api, breaker: build } = OURS_CASES[library];
      const breaker = build(path);
      const run = api === 'execute' ? execute : tryExecute;
      if (path === 'open') await trip(breaker, () => run(breaker, fail), build === consecutiveBreaker ? 'failures' : 'failure_rate', library);
      const call = () => run(breaker, action);
      await expectEnding(library, api, path, call);
      // like opossum's and cockatiel's, execute's failure and open paths reject: the caller catches
      return { run: api === 'try' || path === 'success' ? call : () => call().catch(noop), check: () => breaker.state };
    }
    case 'ours-core': {
      const breaker = consecutiveBreaker(path);
      const failed: Outcome = { ok: false, reason: ERROR.message };
      const outcome = path === 'success' ? OK : failed;
      const sync = (): void => {
        const admission = breaker.tryAcquire();
        if (admission.admitted) breaker.record(admission.ticket, outcome);
      };
      if (path === 'open') for (let i = 0; i < TRIP_AFTER; i++) breaker.record((breaker.tryAcquire() as { ticket: Ticket }).ticket, failed);
      return { sync, check: () => breaker.state };
    }
    case 'opossum-default':
    case 'opossum-tuned':
    case 'opossum-lean': {
      const options: Opossum.Options = {
        ...(library === 'opossum-tuned' ? { timeout: false as const } : {}),
        // the knob behind opossum's failure cost: every failure sorts the window's latencies
        ...(library === 'opossum-lean' ? { timeout: false as const, rollingPercentilesEnabled: false } : {}),
        ...(path === 'failure' ? { volumeThreshold: NEVER } : {}),
        ...(path === 'open' ? { resetTimeout: HOUR_MS } : {}),
      };
      const breaker = new Opossum(action, options);
      if (path === 'open') while (!breaker.opened) await breaker.fire().catch(noop);
      return {
        run: path === 'success' ? () => breaker.fire() : () => breaker.fire().catch(noop),
        check: () => (breaker.opened ? 'open' : breaker.halfOpen ? 'half_open' : 'closed'),
      };
    }
    case 'cockatiel':
      return cockatielCase(new ConsecutiveBreaker(path === 'failure' ? NEVER : TRIP_AFTER), path, action, library);
    case 'cockatiel-sampling':
      // minimumRps x duration is the calls it needs before the rate can trip: 100 in 60 s, like our minimumCalls
      return cockatielCase(
        new SamplingBreaker({ threshold: RATE_PERCENT / 100, duration: RATE_WINDOW_MS, minimumRps: path === 'failure' ? NEVER : RATE_MINIMUM_CALLS / (RATE_WINDOW_MS / 1000) }),
        path,
        action,
        library,
      );
  }
}

function driver(subject: Subject, mode: Mode): Driver {
  if ('sync' in subject) {
    const { sync } = subject;
    return async (calls) => {
      for (let i = 0; i < calls; i++) sync();
    };
  }
  const { run } = subject;
  if (mode === 'sequential') {
    return async (calls) => {
      for (let i = 0; i < calls; i++) await run();
    };
  }
  const inFlight = new Array<Promise<unknown>>(IN_FLIGHT);
  return async (calls) => {
    for (let done = 0; done < calls; done += IN_FLIGHT) {
      for (let i = 0; i < IN_FLIGHT; i++) inFlight[i] = run();
      await Promise.all(inFlight);
    }
  };
}

const roundUp = (calls: number) => Math.max(IN_FLIGHT, Math.ceil(calls / IN_FLIGHT) * IN_FLIGHT);

/** Runs for ~100 ms in doubling rounds (JIT, inline caches, pools); returns the last round's ns per call. */
async function warmUp(drive: Driver): Promise<number> {
  let calls = IN_FLIGHT;
  let nsPerCall = 0;
  const warmStart = performance.now();
  while (performance.now() - warmStart < 100) {
    const started = process.hrtime.bigint();
    await drive(calls);
    nsPerCall = Number(process.hrtime.bigint() - started) / calls;
    calls = Math.min(calls * 2, 1_000_000);
  }
  return nsPerCall;
}

/** Times one run sized to take ~200 ms after the warm-up. */
async function measureTime(drive: Driver): Promise<TimeSample> {
  const calls = roundUp(Math.min(5_000_000, 200e6 / (await warmUp(drive))));
  const cpuBefore = process.cpuUsage();
  const started = process.hrtime.bigint();
  await drive(calls);
  const wallNs = Number(process.hrtime.bigint() - started);
  const cpu = process.cpuUsage(cpuBefore);
  return { nsPerCall: wallNs / calls, cpuNsPerCall: ((cpu.user + cpu.system) * 1000) / calls, calls };
}

/**
 * heapUsed after N calls minus before, with a full GC before and none during: bytes allocated
 * per call, garbage included. N is at most 10,000 and sized to ~200 ms; when a GC still runs
 * during the calls, N shrinks, and a figure measured with a GC in between is a lower bound.
 */
async function measureHeap(drive: Driver): Promise<HeapSample> {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  const gcTimes: number[] = [];
  const observer = new PerformanceObserver((list) => gcTimes.push(...list.getEntries().map((entry) => entry.startTime)));
  observer.observe({ entryTypes: ['gc'] });
  let calls = roundUp(Math.min(10_000, 200e6 / (await warmUp(drive))));
  for (;;) {
    gc();
    gc();
    const from = performance.now();
    const before = process.memoryUsage().heapUsed;
    await drive(calls);
    const after = process.memoryUsage().heapUsed;
    const to = performance.now();
    // gc entries are delivered some time after the collection, not on the next turn
    await new Promise((resolve) => setTimeout(resolve, 100));
    const gcDuring = gcTimes.filter((time) => time >= from && time <= to).length;
    if (gcDuring === 0 || calls <= IN_FLIGHT) {
      observer.disconnect();
      return { bytesPerCall: (after - before) / calls, calls, gcDuring };
    }
    calls = roundUp(calls / 4);
  }
}

async function main(): Promise<void> {
  const [library, path, mode, measure] = process.argv.slice(2) as [Library, CallPath, Mode, 'time' | 'heap'];
  if (!LIBRARIES.includes(library) || !PATHS.includes(path) || !MODES.includes(mode) || !['time', 'heap'].includes(measure)) {
    throw new Error(`usage: breaker-worker <${LIBRARIES.join('|')}> <${PATHS.join('|')}> <${MODES.join('|')}> <time|heap>`);
  }
  if (library === 'ours-core' && mode === 'concurrent') throw new Error('ours-core is synchronous: sequential only');
  const subject = await setup(library, path);
  const { check } = subject;
  const expected = path === 'open' ? 'open' : library === 'bare' ? 'no breaker' : 'closed';
  if (library !== 'bare' && check() !== expected) throw new Error(`${library} ${path}: state ${check()} before measuring, expected ${expected}`);
  const drive = driver(subject, mode);
  const sample = measure === 'time' ? await measureTime(drive) : await measureHeap(drive);
  if (library !== 'bare' && check() !== expected) throw new Error(`${library} ${path}: state ${check()} after measuring, expected ${expected}`);
  process.stdout.write(`${JSON.stringify(sample)}\n`);
  // opossum's timers (rolling buckets, reset) would keep the process alive
  process.exit(0);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
