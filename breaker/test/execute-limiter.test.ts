import { CircuitBreaker, CircuitOpenError, ConcurrencyLimitError, execute, FixedLimiter, TimeoutError, tryExecute, wrap, type CallEnd } from '../src';
import { FakeClock } from './support/fake-clock';

/** A fixed limiter that remembers every release: its latency on the fake clock and how the call ended. */
class RecordingLimiter extends FixedLimiter {
  readonly releases: [number, CallEnd][] = [];
  override release(latencyMs: number, end: CallEnd): void {
    super.release(latencyMs, end);
    this.releases.push([latencyMs, end]);
  }
}

function setup(limit = 2, errorThreshold = 2) {
  const clock = new FakeClock();
  const breaker = new CircuitBreaker({ errorThreshold, successThreshold: 1, openWindowMs: 10_000, clock });
  const limiter = new RecordingLimiter({ limit, clock });
  const events: string[] = [];
  breaker.on('success', () => events.push('success'));
  breaker.on('failure', (e) => events.push(`failure ${e.reason}`));
  breaker.on('rejected', (r) => events.push(`rejected ${r.state}`));
  return { clock, breaker, limiter, events };
}

/** A promise and the functions that settle it, for calls that end when the test says so. */
function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

afterEach(() => jest.useRealTimers());

describe('execute with a limiter', () => {
  it('over the limit: rejects at once with a ConcurrencyLimitError, without calling fn or counting anything', async () => {
    const { breaker, limiter, events } = setup(1);
    const first = deferred<string>();
    const running = execute(breaker, () => first.promise, { limiter });
    const fn = jest.fn(async () => 'never');
    const error = await execute(breaker, fn, { limiter }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConcurrencyLimitError);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'ConcurrencyLimitError', limit: 1, inFlight: 1 });
    expect((error as Error).message).toBe('concurrency limit reached: 1 calls in flight, limit 1; call not made');
    expect(fn).not.toHaveBeenCalled();
    expect(events).toEqual([]);
    first.resolve('ok');
    await expect(running).resolves.toBe('ok');
    await expect(execute(breaker, async () => 'next', { limiter })).resolves.toBe('next');
  });

  it('a call the circuit rejects never takes a slot', async () => {
    const { breaker, limiter } = setup();
    breaker.isolate();
    const acquire = jest.spyOn(limiter, 'tryAcquire');
    await expect(execute(breaker, async () => 1, { limiter })).rejects.toBeInstanceOf(CircuitOpenError);
    expect(acquire).not.toHaveBeenCalled();
    expect(limiter.inFlight).toBe(0);
  });

  it('a half_open trial the limiter refuses gives its trial slot back', async () => {
    const { breaker, limiter, clock } = setup(1);
    for (let i = 0; i < 2; i++) await execute(breaker, () => Promise.reject(new Error('down'))).catch(() => undefined);
    clock.advance(10_000);
    expect(limiter.tryAcquire()).toBe(true); // someone else holds the only slot
    await expect(execute(breaker, async () => 'trial', { limiter })).rejects.toBeInstanceOf(ConcurrencyLimitError);
    expect(breaker.snapshot()).toMatchObject({ state: 'half_open', trialsInFlight: 0 });
    limiter.release(0, 'dropped');
    await expect(execute(breaker, async () => 'trial', { limiter })).resolves.toBe('trial');
    expect(breaker.state).toBe('closed');
  });

  it('gives the slot back with the latency on the limiter clock: success, a thrown failure, a failing result, an error let through', async () => {
    const { breaker, limiter, clock } = setup(2, 5);
    const after = <T>(ms: number, settle: () => Promise<T>) => async () => {
      clock.advance(ms);
      return settle();
    };
    await execute(breaker, after(30, async () => 'ok'), { limiter });
    await execute(breaker, after(5, () => Promise.reject(new Error('refused'))), { limiter }).catch(() => undefined);
    await execute(breaker, after(7, async () => 503), { limiter, resultFailure: (status) => (status >= 500 ? `HTTP ${status}` : undefined) });
    await execute(breaker, after(9, () => Promise.reject(new Error('404'))), { limiter, isFailure: () => false }).catch(() => undefined);
    expect(limiter.releases).toEqual([
      [30, 'success'],
      [5, 'failure'],
      [7, 'failure'],
      [9, 'dropped'],
    ]);
    expect(limiter.inFlight).toBe(0);
  });

  it('a timeout: the caller gets the TimeoutError at once, the slot is freed as a timeout only when fn has honoured the abort', async () => {
    jest.useFakeTimers();
    const { breaker, limiter, clock, events } = setup();
    let aborted: (() => void) | undefined;
    const call = execute(
      breaker,
      (signal) =>
        new Promise<never>((_, reject) => {
          aborted = () => reject(signal.reason);
          signal.addEventListener('abort', () => setTimeout(() => aborted?.(), 20));
        }),
      { limiter, timeoutMs: 100 },
    ).catch((e: unknown) => e);
    clock.advance(100);
    await jest.advanceTimersByTimeAsync(100);
    expect(await call).toBeInstanceOf(TimeoutError);
    expect(events).toEqual(['failure timeout after 100 ms']);
    expect(limiter.inFlight).toBe(1);
    clock.advance(20);
    await jest.advanceTimersByTimeAsync(20);
    expect(limiter.releases).toEqual([[120, 'timeout']]);
  });

  it("the caller's cancellation frees the slot as dropped when fn ends", async () => {
    const { breaker, limiter } = setup();
    const controller = new AbortController();
    const call = execute(breaker, (signal) => new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason))), {
      limiter,
      signal: controller.signal,
    }).catch((e: unknown) => e);
    controller.abort(new Error('client went away'));
    await call;
    await Promise.resolve();
    expect(limiter.releases).toEqual([[0, 'dropped']]);
  });

  it('a function that throws synchronously frees its slot as a failure', async () => {
    const { breaker, limiter } = setup();
    await execute(
      breaker,
      () => {
        throw new Error('boom');
      },
      { limiter, timeoutMs: 50 },
    ).catch(() => undefined);
    expect(limiter.releases).toEqual([[0, 'failure']]);
  });

  it('the fallback answers for a call the limiter refuses', async () => {
    const { breaker, limiter } = setup(1);
    const first = deferred<string>();
    const running = execute(breaker, () => first.promise, { limiter });
    const answer = await execute(breaker, async () => 'fresh', { limiter, fallback: (error) => (error instanceof ConcurrencyLimitError ? 'busy, try later' : 'other') });
    expect(answer).toBe('busy, try later');
    first.resolve('done');
    await expect(running).resolves.toBe('done');
  });

  it('wrap passes the limiter on', async () => {
    const { breaker, limiter } = setup(1);
    const first = deferred<number>();
    const guarded = wrap(breaker, (n: number) => (n === 1 ? first.promise : Promise.resolve(n)), { limiter });
    const running = guarded(1);
    await expect(guarded(2)).rejects.toBeInstanceOf(ConcurrencyLimitError);
    first.resolve(1);
    await running;
    await expect(guarded(3)).resolves.toBe(3);
  });
});

describe('tryExecute with a limiter', () => {
  it("over the limit: resolves to kind 'overloaded' with the limit and the calls in flight, no error made", async () => {
    const { breaker, limiter } = setup(1);
    const first = deferred<string>();
    const running = tryExecute(breaker, () => first.promise, { limiter });
    await expect(tryExecute(breaker, async () => 'x', { limiter })).resolves.toEqual({ kind: 'overloaded', limit: 1, inFlight: 1 });
    first.resolve('ok');
    await expect(running).resolves.toEqual({ kind: 'value', value: 'ok' });
    expect(limiter.releases).toEqual([[0, 'success']]);
  });

  it('frees the slot on every ending', async () => {
    const { breaker, limiter } = setup();
    await tryExecute(breaker, () => Promise.reject(new Error('refused')), { limiter });
    await tryExecute(breaker, () => Promise.reject(new Error('ignored')), { limiter, isFailure: () => false });
    await tryExecute(breaker, async () => 1, { limiter, timeoutMs: 1_000 });
    expect(limiter.releases.map(([, end]) => end)).toEqual(['failure', 'dropped', 'success']);
    expect(limiter.inFlight).toBe(0);
  });
});
