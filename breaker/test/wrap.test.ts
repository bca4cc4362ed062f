import { CircuitBreaker, CircuitOpenError, guarded, TimeoutError, wrap } from '../src';
import { FakeClock } from './support/fake-clock';

const breakerFor = () => new CircuitBreaker({ errorThreshold: 1, openWindowMs: 10_000, clock: new FakeClock() });

afterEach(() => jest.useRealTimers());

describe('wrap', () => {
  it('passes the arguments and this through, and resolves with the result', async () => {
    const breaker = breakerFor();
    const account = {
      owner: 'ada',
      greet(greeting: string, times: number): string {
        return `${greeting} ${this.owner} x${times}`;
      },
    };
    const greet = wrap(breaker, account.greet);
    await expect(greet.call(account, 'hello', 2)).resolves.toBe('hello ada x2');
    const guardedAccount = { ...account, greet };
    await expect(guardedAccount.greet('hi', 1)).resolves.toBe('hi ada x1');
  });

  it('counts failures and rejects with CircuitOpenError once open, without calling fn', async () => {
    const breaker = breakerFor();
    const fn = jest.fn(async (id: number) => {
      throw new Error(`no user ${id}`);
    });
    const getUser = wrap(breaker, fn);
    await expect(getUser(1)).rejects.toThrow('no user 1');
    await expect(getUser(2)).rejects.toBeInstanceOf(CircuitOpenError);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('applies its options to every call: timeout and fallback', async () => {
    jest.useFakeTimers();
    const breaker = breakerFor();
    const hang = wrap(breaker, (_id: string) => new Promise<string>(() => undefined), {
      timeoutMs: 30,
      fallback: (error) => (error instanceof TimeoutError ? 'timed out' : 'circuit open'),
    });
    const first = hang('a');
    await jest.advanceTimersByTimeAsync(30);
    await expect(first).resolves.toBe('timed out');
    await expect(hang('b')).resolves.toBe('circuit open');
  });
});

describe('@guarded (standard decorator)', () => {
  const shared = breakerFor();

  class Inventory {
    calls = 0;
    constructor(readonly name: string) {}

    @guarded(shared)
    async count(sku: string): Promise<number> {
      this.calls += 1;
      if (sku === 'broken') throw new Error(`${this.name}: ${sku}`);
      return sku.length;
    }
  }

  it('keeps this and the arguments, and guards every instance with the breaker', async () => {
    const store = new Inventory('store');
    await expect(store.count('abc')).resolves.toBe(3);
    expect(store.calls).toBe(1);
    await expect(store.count('broken')).rejects.toThrow('store: broken');
    // the shared breaker is now open, for every instance
    const other = new Inventory('other');
    await expect(other.count('abc')).rejects.toBeInstanceOf(CircuitOpenError);
    expect(other.calls).toBe(0);
  });

  it('can pick a breaker per instance, and take a fallback of the method result type', async () => {
    class Client {
      readonly breaker = breakerFor();
      @guarded((self: Client) => self.breaker, { fallback: () => 'cached' })
      async fetch(path: string): Promise<string> {
        throw new Error(`down: ${path}`);
      }
    }
    const a = new Client();
    const b = new Client();
    await expect(a.fetch('/x')).resolves.toBe('cached');
    expect(a.breaker.state).toBe('open');
    expect(b.breaker.state).toBe('closed');
  });
});
