/**
 * One measurement of the limiter micro-benchmark in a fresh process: one case.
 *
 *   node limiter-worker.js <case> <time|heap>
 *
 * Prints one JSON line: `{ cpuNsPerCall, nsPerCall, calls }` for time, `{ bytesPerCall, calls, gcDuring }`
 * for heap (run with --expose-gc and a young generation big enough that no GC runs while measuring).
 */
import { PerformanceObserver } from 'node:perf_hooks';
// the package as a user gets it: its public entry, resolved through node_modules to breaker/dist
import { AdaptiveLimiter, CircuitBreaker, FixedLimiter, type Outcome } from '@circuit-breaker-demo/breaker';

/**
 * `loop`: the same loop around a function that does nothing, the reference. `fixed`, `adaptive`:
 * tryAcquire + release(latency, 'success') per call, every call admitted (the adaptive limiter at
 * the usual latency, its default monotonic clock read in each release). `adaptive-given-end`: the
 * same, the caller passing the end time it read to measure the latency (the limiter's own cost,
 * without a clock read; an integer counter stands for the clock). `adaptive-refused`:
 * tryAcquire at the limit, refused. `core`: the breaker alone (tryAcquire + record);
 * `core+adaptive`: the breaker and the adaptive limiter together, as a proxy's hot path would run
 * them (given the end time, which a proxy reads anyway to measure the latency).
 */
export const CASES = ['loop', 'fixed', 'adaptive', 'adaptive-given-end', 'adaptive-refused', 'core', 'core+adaptive'] as const;
export type Case = (typeof CASES)[number];

const OK: Outcome = { ok: true };
const LATENCY_MS = 1.5;

/** One call of a case; returns 1 when it was admitted (summed, so the loop cannot be optimised away). */
function subject(name: Case): () => number {
  switch (name) {
    case 'loop':
      return () => 1;
    case 'fixed': {
      const limiter = new FixedLimiter({ limit: 10 });
      return () => {
        if (!limiter.tryAcquire()) return 0;
        limiter.release(LATENCY_MS, 'success');
        return 1;
      };
    }
    case 'adaptive': {
      const limiter = new AdaptiveLimiter();
      return () => {
        if (!limiter.tryAcquire()) return 0;
        limiter.release(LATENCY_MS, 'success');
        return 1;
      };
    }
    case 'adaptive-given-end': {
      const limiter = new AdaptiveLimiter();
      let now = 0;
      return () => {
        if (!limiter.tryAcquire()) return 0;
        limiter.release(LATENCY_MS, 'success', (now += 1));
        return 1;
      };
    }
    case 'adaptive-refused': {
      const limiter = new AdaptiveLimiter();
      while (limiter.tryAcquire());
      return () => (limiter.tryAcquire() ? 1 : 0);
    }
    case 'core': {
      const breaker = new CircuitBreaker();
      return () => {
        const admission = breaker.tryAcquire();
        if (!admission.admitted) return 0;
        breaker.record(admission.ticket, OK);
        return 1;
      };
    }
    case 'core+adaptive': {
      const breaker = new CircuitBreaker();
      const limiter = new AdaptiveLimiter();
      let now = 0;
      return () => {
        const admission = breaker.tryAcquire();
        if (!admission.admitted) return 0;
        if (!limiter.tryAcquire()) {
          breaker.release(admission.ticket);
          return 0;
        }
        limiter.release(LATENCY_MS, 'success', (now += 1));
        breaker.record(admission.ticket, OK);
        return 1;
      };
    }
  }
}

function drive(call: () => number, calls: number): number {
  let admitted = 0;
  for (let i = 0; i < calls; i++) admitted += call();
  return admitted;
}

function main(): void {
  const [name, measure] = process.argv.slice(2) as [Case, 'time' | 'heap'];
  if (!CASES.includes(name) || !['time', 'heap'].includes(measure)) throw new Error(`usage: limiter-worker <${CASES.join('|')}> <time|heap>`);
  const call = subject(name);
  const expected = name === 'adaptive-refused' ? 0 : 1;
  if (call() !== expected) throw new Error(`${name}: one call ${expected ? 'refused' : 'admitted'}, expected the opposite`);
  // ~100 ms of warm-up in doubling rounds (JIT, inline caches), then a run sized to ~200 ms
  let calls = 10_000;
  let nsPerCall = 0;
  const warm = performance.now();
  while (performance.now() - warm < 100) {
    const started = process.hrtime.bigint();
    drive(call, calls);
    nsPerCall = Number(process.hrtime.bigint() - started) / calls;
    calls = Math.min(calls * 2, 50_000_000);
  }
  if (measure === 'time') {
    const timed = Math.round(200e6 / Math.max(nsPerCall, 0.1));
    const cpu = process.cpuUsage();
    const started = process.hrtime.bigint();
    const admitted = drive(call, timed);
    const wallNs = Number(process.hrtime.bigint() - started);
    const used = process.cpuUsage(cpu);
    if (admitted !== expected * timed) throw new Error(`${name}: ${admitted} of ${timed} admitted`);
    process.stdout.write(`${JSON.stringify({ cpuNsPerCall: ((used.user + used.system) * 1000) / timed, nsPerCall: wallNs / timed, calls: timed })}\n`);
    return;
  }
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  let collections = 0;
  const observer = new PerformanceObserver((list) => (collections += list.getEntries().length));
  observer.observe({ entryTypes: ['gc'] });
  const heapCalls = 200_000;
  gc();
  gc();
  // gc() itself is reported to the observer a little later: count from here on
  setTimeout(() => {
    collections = 0;
    const before = process.memoryUsage().heapUsed;
    drive(call, heapCalls);
    const after = process.memoryUsage().heapUsed;
    setTimeout(() => {
      observer.disconnect();
      process.stdout.write(`${JSON.stringify({ bytesPerCall: (after - before) / heapCalls, calls: heapCalls, gcDuring: collections })}\n`);
    }, 100);
  }, 100);
}

if (require.main === module) {
  try {
    main();
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  }
}
