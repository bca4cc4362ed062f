import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CircuitBreaker, CircuitOpenError, execute, TimeoutError, tryExecute, type BreakerOptions } from '../src';
import { FakeClock } from './support/fake-clock';
import { deferred } from './support/deferred';

function setup(options: BreakerOptions = {}) {
  const clock = new FakeClock();
  const breaker = new CircuitBreaker({ errorThreshold: 2, successThreshold: 1, openWindowMs: 10_000, ...options, clock });
  const events: string[] = [];
  breaker.on('success', () => events.push('success'));
  breaker.on('failure', (e) => events.push(`failure ${e.reason}`));
  breaker.on('late', (e) => events.push(`late ${e.outcome.ok ? 'ok' : e.outcome.reason}`));
  breaker.on('transition', (t) => events.push(`${t.from}->${t.to}`));
  return { clock, breaker, events };
}

const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });

async function openIt(breaker: CircuitBreaker): Promise<void> {
  while (breaker.state === 'closed') await execute(breaker, () => Promise.reject(refused)).catch(() => undefined);
}

afterEach(() => jest.useRealTimers());

describe('execute', () => {
  it('resolves with the value of an admitted call and counts a success', async () => {
    const { breaker, events } = setup();
    await expect(execute(breaker, async () => 'pong')).resolves.toBe('pong');
    expect(events).toEqual(['success']);
  });

  it('rejects with the call error and counts a failure, with its code as the reason', async () => {
    const { breaker, events } = setup();
    await expect(execute(breaker, () => Promise.reject(refused))).rejects.toBe(refused);
    expect(events).toEqual(['failure ECONNREFUSED']);
    expect(breaker.snapshot().consecutiveFailures).toBe(1);
  });

  it('while open, rejects at once with a CircuitOpenError and does not call fn', async () => {
    const { breaker, clock } = setup();
    await openIt(breaker);
    clock.advance(4_000);
    const fn = jest.fn(async () => 'never');
    const error = await execute(breaker, fn).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({ name: 'CircuitOpenError', state: 'open', retryAfterMs: 6_000 });
    expect(fn).not.toHaveBeenCalled();
  });

  it('while half_open with every trial slot taken, rejects with the state half_open', async () => {
    const { breaker, clock } = setup();
    await openIt(breaker);
    clock.advance(10_000);
    const trial = deferred<string>();
    const first = execute(breaker, () => trial.promise);
    await expect(execute(breaker, async () => 'second')).rejects.toMatchObject({ state: 'half_open', retryAfterMs: 0 });
    trial.resolve('first');
    await expect(first).resolves.toBe('first');
    expect(breaker.state).toBe('closed');
  });

  it('while isolated, the error says no trial comes before reset', async () => {
    const { breaker } = setup();
    breaker.isolate();
    const error = await execute(breaker, async () => 1).catch((e: unknown) => e);
    expect(error).toMatchObject({ state: 'isolated', retryAfterMs: undefined });
    expect((error as Error).message).toMatch(/reset\(\)/);
  });

  it('a function that throws synchronously counts as a failure', async () => {
    const { breaker, events } = setup();
    const boom = new Error('boom');
    await expect(
      execute(breaker, () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(events).toEqual(['failure boom']);
  });

  it('a function that returns a plain value (no promise) resolves with it', async () => {
    const { breaker, events } = setup();
    await expect(execute(breaker, () => 42)).resolves.toBe(42);
    expect(events).toEqual(['success']);
  });

  it('passes fn a signal that never aborts when nothing can end the call', async () => {
    const { breaker } = setup();
    const signal = await execute(breaker, (s) => s);
    expect(signal).toBeInstanceOf(AbortSignal);
    expect(signal.aborted).toBe(false);
  });

  describe('timeoutMs', () => {
    it('aborts the call through its signal, counts a TimeoutError and rejects with it', async () => {
      jest.useFakeTimers();
      const { breaker, events } = setup();
      let seen: AbortSignal | undefined;
      const call = execute(
        breaker,
        (signal) => {
          seen = signal;
          return new Promise<never>(() => undefined);
        },
        { timeoutMs: 50 },
      );
      const outcome = call.catch((e: unknown) => e);
      await jest.advanceTimersByTimeAsync(49);
      expect(seen?.aborted).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      const error = await outcome;
      expect(error).toBeInstanceOf(TimeoutError);
      expect(error).toMatchObject({ name: 'TimeoutError', timeoutMs: 50, message: 'timeout after 50 ms' });
      expect(seen?.aborted).toBe(true);
      expect(seen?.reason).toBe(error);
      expect(events).toEqual(['failure timeout after 50 ms']);
    });

    it('a result that comes after the timeout changes nothing', async () => {
      jest.useFakeTimers();
      const { breaker, events } = setup();
      const slow = deferred<string>();
      const call = execute(breaker, () => slow.promise, { timeoutMs: 50 }).catch((e: unknown) => e);
      await jest.advanceTimersByTimeAsync(50);
      slow.resolve('too late');
      expect(await call).toBeInstanceOf(TimeoutError);
      await Promise.resolve();
      expect(events).toEqual(['failure timeout after 50 ms']);
      expect(breaker.snapshot().consecutiveFailures).toBe(1);
    });

    it('a call that ends in time clears its timer', async () => {
      jest.useFakeTimers();
      const { breaker } = setup();
      await expect(execute(breaker, async () => 'quick', { timeoutMs: 50 })).resolves.toBe('quick');
      expect(jest.getTimerCount()).toBe(0);
    });

    it('really closes the socket of an HTTP call to a loopback server that never answers', async () => {
      const closed = deferred<void>();
      const server = http.createServer(() => undefined);
      server.on('connection', (socket) => socket.on('close', () => closed.resolve()));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      try {
        const { breaker } = setup();
        const get = (signal: AbortSignal) =>
          new Promise<number>((resolve, reject) => {
            http.get({ host: '127.0.0.1', port, path: '/', signal }, (res) => resolve(res.statusCode ?? 0)).on('error', reject);
          });
        await expect(execute(breaker, get, { timeoutMs: 100 })).rejects.toBeInstanceOf(TimeoutError);
        // bounded, so a call that is not aborted fails the test instead of hanging it
        await Promise.race([closed.promise, new Promise((_, reject) => setTimeout(() => reject(new Error('socket still open after 2 s')), 2_000).unref())]);
        expect(breaker.snapshot().consecutiveFailures).toBe(1);
      } finally {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
    });
  });

  describe('isFailure', () => {
    it('lets an error it does not count reach the caller, uncounted', async () => {
      const { breaker, events } = setup();
      const notFound = Object.assign(new Error('not found'), { status: 404 });
      const options = { isFailure: (error: unknown) => (error as { status?: number }).status !== 404 };
      await expect(execute(breaker, () => Promise.reject(notFound), options)).rejects.toBe(notFound);
      await expect(execute(breaker, () => Promise.reject(notFound), options)).rejects.toBe(notFound);
      expect(events).toEqual([]);
      expect(breaker.state).toBe('closed');
    });

    it('frees the trial slot of an uncounted error', async () => {
      const { breaker, clock } = setup();
      await openIt(breaker);
      clock.advance(10_000);
      await expect(execute(breaker, () => Promise.reject(new Error('ignored')), { isFailure: () => false })).rejects.toThrow('ignored');
      expect(breaker.snapshot()).toMatchObject({ state: 'half_open', trialsInFlight: 0 });
      await expect(execute(breaker, async () => 'trial')).resolves.toBe('trial');
      expect(breaker.state).toBe('closed');
    });
  });

  it('resultFailure counts a value as a failure and still returns it', async () => {
    const { breaker, events } = setup();
    const answer = { status: 503 };
    const options = { resultFailure: (r: { status: number }) => (r.status >= 500 ? `HTTP ${r.status}` : undefined) };
    await expect(execute(breaker, async () => answer, options)).resolves.toBe(answer);
    expect(events).toEqual(['failure HTTP 503']);
  });

  describe('fallback', () => {
    it('answers instead of the rejection, given the CircuitOpenError', async () => {
      const { breaker } = setup();
      await openIt(breaker);
      const fallback = jest.fn((_error: unknown) => 'cached');
      await expect(execute(breaker, async () => 'fresh', { fallback })).resolves.toBe('cached');
      expect(fallback.mock.calls[0]?.[0]).toBeInstanceOf(CircuitOpenError);
    });

    it('answers instead of a counted failure, given its error, and the failure still counts', async () => {
      const { breaker, events } = setup();
      await expect(execute(breaker, () => Promise.reject(refused), { fallback: (e) => `fallback for ${(e as Error).message}` })).resolves.toBe(
        'fallback for connect ECONNREFUSED 127.0.0.1:1',
      );
      expect(events).toEqual(['failure ECONNREFUSED']);
    });

    it('answers instead of a timeout', async () => {
      jest.useFakeTimers();
      const { breaker } = setup();
      const call = execute(breaker, () => new Promise<string>(() => undefined), { timeoutMs: 10, fallback: (e) => (e instanceof TimeoutError ? 'slow' : 'other') });
      await jest.advanceTimersByTimeAsync(10);
      await expect(call).resolves.toBe('slow');
    });

    it('does not answer for an error isFailure lets through', async () => {
      const { breaker } = setup();
      const fallback = jest.fn(() => 'fallback');
      await expect(execute(breaker, () => Promise.reject(new Error('mine')), { isFailure: () => false, fallback })).rejects.toThrow('mine');
      expect(fallback).not.toHaveBeenCalled();
    });
  });

  describe('late results', () => {
    it('a success that arrives after the circuit opened reaches the caller but does not close it', async () => {
      const { breaker, events } = setup();
      const slow = deferred<string>();
      const call = execute(breaker, () => slow.promise);
      await openIt(breaker);
      slow.resolve('late value');
      await expect(call).resolves.toBe('late value');
      expect(breaker.state).toBe('open');
      expect(events.at(-1)).toBe('late ok');
    });

    it('a failure that arrives after the circuit reset does not count in the new state', async () => {
      const { breaker, events } = setup();
      const slow = deferred<string>();
      const call = execute(breaker, () => slow.promise);
      breaker.isolate();
      breaker.reset();
      slow.reject(refused);
      await expect(call).rejects.toBe(refused);
      expect(breaker.snapshot().consecutiveFailures).toBe(0);
      expect(events).toEqual(['closed->isolated', 'isolated->closed', 'late ECONNREFUSED']);
    });
  });

  describe("the caller's signal", () => {
    it('aborting it aborts the call, counts nothing and rejects with its reason', async () => {
      const { breaker, events, clock } = setup();
      await openIt(breaker);
      clock.advance(10_000);
      const controller = new AbortController();
      let seen: AbortSignal | undefined;
      const call = execute(
        breaker,
        (signal) => {
          seen = signal;
          return new Promise<never>(() => undefined);
        },
        { signal: controller.signal },
      );
      const reason = new Error('user left');
      controller.abort(reason);
      await expect(call).rejects.toBe(reason);
      expect(seen?.aborted).toBe(true);
      expect(events.filter((e) => !e.includes('->') && !e.startsWith('failure ECONN'))).toEqual([]);
      // the trial slot is free again
      expect(breaker.snapshot()).toMatchObject({ state: 'half_open', trialsInFlight: 0 });
    });

    it('an already aborted signal rejects without asking the breaker', async () => {
      const { breaker } = setup({ halfOpenMaxCalls: 1 });
      const fn = jest.fn(async () => 1);
      const controller = new AbortController();
      controller.abort(new Error('gone'));
      await expect(execute(breaker, fn, { signal: controller.signal })).rejects.toThrow('gone');
      expect(fn).not.toHaveBeenCalled();
    });
  });
});

describe('tryExecute (no error object per rejection)', () => {
  it('resolves to the value, the error or the rejection', async () => {
    const { breaker } = setup();
    await expect(tryExecute(breaker, async () => 'pong')).resolves.toEqual({ kind: 'value', value: 'pong' });
    await expect(tryExecute(breaker, () => Promise.reject(refused))).resolves.toEqual({ kind: 'error', error: refused });
    await openIt(breaker);
    const fn = jest.fn(async () => 'never');
    await expect(tryExecute(breaker, fn)).resolves.toEqual({ kind: 'rejected', state: 'open', retryAfterMs: 10_000 });
    expect(fn).not.toHaveBeenCalled();
  });

  it('times out like execute', async () => {
    jest.useFakeTimers();
    const { breaker, events } = setup();
    const call = tryExecute(breaker, () => new Promise<never>(() => undefined), { timeoutMs: 20 });
    await jest.advanceTimersByTimeAsync(20);
    const result = await call;
    expect(result.kind === 'error' && result.error).toBeInstanceOf(TimeoutError);
    expect(events).toEqual(['failure timeout after 20 ms']);
  });
});
