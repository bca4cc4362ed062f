/** The policies through execute, tryExecute and wrap: the breaker times the calls and takes a failure's Retry-After. */
import { CircuitBreaker, CircuitOpenError, execute, tryExecute, wrap, type Transition } from '../src';
import { FakeClock } from './support/fake-clock';

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterSeconds?: number,
  ) {
    super(`HTTP ${status}`);
  }
}

const retryAfterMs = (failure: unknown) =>
  failure instanceof HttpError && failure.retryAfterSeconds !== undefined ? failure.retryAfterSeconds * 1000 : undefined;

function setup(options: ConstructorParameters<typeof CircuitBreaker>[0] = {}) {
  const clock = new FakeClock();
  const breaker = new CircuitBreaker({ errorThreshold: 1, openWindowMs: 1_000, successThreshold: 1, clock, ...options });
  const transitions: Transition[] = [];
  breaker.onTransition((t) => transitions.push(t));
  return { clock, breaker, transitions };
}

it('execute: a call slower than slowCallThresholdMs, timed on the breaker clock, opens the circuit with the slow reason; the caller still gets its value', async () => {
  const { clock, breaker, transitions } = setup({ slowCallThresholdMs: 500 });
  const value = await execute(breaker, async () => {
    clock.advance(800);
    return 'late but fine';
  });
  expect(value).toBe('late but fine');
  expect(transitions[0]?.cause).toEqual({ kind: 'failures', failures: 1, lastReason: 'slow: 800 ms' });
});

it("execute: an error's Retry-After (the retryAfterMs option) sets the window, and CircuitOpenError tells the real time left", async () => {
  const { clock, breaker, transitions } = setup();
  await expect(execute(breaker, () => Promise.reject(new HttpError(503, 5)), { retryAfterMs })).rejects.toThrow('HTTP 503');
  expect(transitions[0]).toMatchObject({ openForMs: 5_000, retryAfterMs: 5_000 });
  clock.advance(1_200);
  const rejected = await execute(breaker, () => 'not called').catch((error: unknown) => error);
  expect(rejected).toBeInstanceOf(CircuitOpenError);
  expect(rejected).toMatchObject({ state: 'open', retryAfterMs: 3_800, message: 'circuit open: call not made; trial in 3800 ms' });
});

it('tryExecute: a value flagged by resultFailure carries its Retry-After too', async () => {
  const { breaker, transitions } = setup();
  const answer = { status: 429, retryAfterSeconds: 3 };
  const result = await tryExecute(breaker, () => answer, {
    resultFailure: (value) => (value.status >= 400 ? `HTTP ${value.status}` : undefined),
    retryAfterMs: (value) => (value as typeof answer).retryAfterSeconds * 1000,
  });
  expect(result).toEqual({ kind: 'value', value: answer });
  expect(transitions[0]).toMatchObject({ cause: { lastReason: 'HTTP 429' }, openForMs: 3_000 });
  expect(await tryExecute(breaker, () => 'not called')).toEqual({ kind: 'rejected', state: 'open', retryAfterMs: 3_000 });
});

it('wrap: backoff shows in the rejections: retryAfterMs is the time left of the grown window', async () => {
  const { clock, breaker } = setup({ maxOpenWindowMs: 4_000, jitter: 0 });
  const guarded = wrap(breaker, (n: number) => (n < 0 ? Promise.reject(new Error('down')) : Promise.resolve(n)));
  await expect(guarded(-1)).rejects.toThrow('down'); // open, 1 s
  clock.advance(1_000);
  await expect(guarded(-1)).rejects.toThrow('down'); // trial failed: 2 s
  await expect(guarded(1)).rejects.toMatchObject({ state: 'open', retryAfterMs: 2_000 });
  clock.advance(2_000);
  await expect(guarded(1)).resolves.toBe(1);
});

it('isolated: CircuitOpenError has no retryAfterMs and says why', async () => {
  const { breaker } = setup();
  breaker.isolate();
  await expect(execute(breaker, () => 1)).rejects.toMatchObject({
    state: 'isolated',
    retryAfterMs: undefined,
    message: 'circuit isolated: call not made; no trial until reset()',
  });
});
