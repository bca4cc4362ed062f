/**
 * A concurrency limit: a hung service ties up a few calls instead of every call sent while they
 * hang. First a fixed limit with `execute`; then the adaptive limit on its own, as a proxy's hot
 * path uses it (tryAcquire before the call, release after it), with a clock moved by hand so the
 * run shows in a moment what takes seconds on a real route.
 *
 *   npx ts-node breaker/examples/limiter.ts
 */
import { AdaptiveLimiter, CircuitBreaker, ConcurrencyLimitError, execute, FixedLimiter, type CallEnd } from '@circuit-breaker-demo/breaker';

let called = 0;

/** A service that hangs until the call is aborted, as fetch does with its signal. */
function hangingService(signal: AbortSignal): Promise<string> {
  called += 1;
  return new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason)));
}

async function fixedLimit(): Promise<void> {
  const breaker = new CircuitBreaker({ errorThreshold: 10 });
  const limiter = new FixedLimiter({ limit: 2 });
  const calls = Array.from({ length: 5 }, (_, i) =>
    execute(breaker, hangingService, { limiter, timeoutMs: 50 }).catch((error: unknown) =>
      error instanceof ConcurrencyLimitError ? `call ${i + 1}: refused at once (${error.inFlight} in flight, limit ${error.limit})` : `call ${i + 1}: ${(error as Error).message}`,
    ),
  );
  for (const outcome of await Promise.all(calls)) console.log(outcome);
  console.log(`the service was called ${called} times; in flight now: ${limiter.inFlight}`);
}

function adaptiveLimit(): void {
  let now = 0;
  const limiter = new AdaptiveLimiter({ clock: { now: () => now } });
  /** `rounds` round trips in which as many calls as the limit allows start together and end after `latencyMs`. */
  const run = (rounds: number, latencyMs: number, end: CallEnd = 'success'): void => {
    for (let round = 0; round < rounds; round++) {
      let started = 0;
      while (limiter.tryAcquire()) started += 1;
      now += latencyMs;
      for (let i = 0; i < started; i++) limiter.release(latencyMs, end);
    }
  };
  const show = (what: string) => console.log(`${what.padEnd(40)} limit ${limiter.limit}`);
  show('adaptive, before any call:');
  run(5, 20);
  show('busy at 20 ms, 5 round trips:');
  run(4, 400, 'timeout');
  show('then every call times out, 4 times:');
  run(6, 20);
  show('the upstream heals, 6 round trips:');
}

async function main(): Promise<void> {
  await fixedLimit();
  adaptiveLimit();
}

void main();

/* prints:
call 1: timeout after 50 ms
call 2: timeout after 50 ms
call 3: refused at once (2 in flight, limit 2)
call 4: refused at once (2 in flight, limit 2)
call 5: refused at once (2 in flight, limit 2)
the service was called 2 times; in flight now: 0
adaptive, before any call:               limit 10
busy at 20 ms, 5 round trips:            limit 27
then every call times out, 4 times:      limit 4
the upstream heals, 6 round trips:       limit 23
*/
