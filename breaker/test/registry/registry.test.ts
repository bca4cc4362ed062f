import { BreakerRegistry, REGISTRY_DEFAULTS, type CircuitBreaker, type RegistryEvents, type RegistryOptions } from '../../src';
import { acquire, call } from '../support/calls';
import { FakeClock } from '../support/fake-clock';

const fail = { ok: false, reason: 'ECONNREFUSED' } as const;
const ok = { ok: true } as const;
const template = { errorThreshold: 3, successThreshold: 1, openWindowMs: 10_000 };

function setup(options: Omit<RegistryOptions, 'clock'> = {}) {
  const clock = new FakeClock();
  const registry = new BreakerRegistry({ template, ...options, clock });
  return { clock, registry };
}

/** How many failures in a row open it (it is left open). */
function failuresToOpen(breaker: CircuitBreaker): number {
  let failures = 0;
  while (breaker.state === 'closed') {
    call(breaker, fail);
    failures += 1;
  }
  return failures;
}

const keys = (registry: BreakerRegistry) => registry.snapshot().breakers.map((breaker) => breaker.key);

describe('get', () => {
  it('makes a breaker from the template on first use, and gives the same one after', () => {
    const { registry } = setup();
    const first = registry.get('api.example.com');
    expect(registry.get('api.example.com')).toBe(first);
    expect(registry.get('cdn.example.com')).not.toBe(first);
    expect(registry.size).toBe(2);
    expect(failuresToOpen(first)).toBe(3);
    expect(first.snapshot().openWindowMs).toBe(10_000);
  });

  it('a record of overrides is merged over the template field by field', () => {
    const { registry } = setup({ overrides: { slow: { errorThreshold: 5 }, brief: { openWindowMs: 500 } } });
    expect(failuresToOpen(registry.get('slow'))).toBe(5);
    expect(registry.get('slow').snapshot().openWindowMs).toBe(10_000);
    expect(failuresToOpen(registry.get('brief'))).toBe(3);
    expect(registry.get('brief').snapshot().openWindowMs).toBe(500);
    expect(failuresToOpen(registry.get('other'))).toBe(3);
  });

  it('a record is looked up by its own keys only (not the prototype\'s)', () => {
    const { registry } = setup({ overrides: { toString: { errorThreshold: 2 } } });
    expect(failuresToOpen(registry.get('toString'))).toBe(2);
    expect(failuresToOpen(registry.get('constructor'))).toBe(3);
    expect(failuresToOpen(registry.get('__proto__'))).toBe(3);
  });

  it('a function of the key gives the overrides; undefined means the template alone', () => {
    const asked: string[] = [];
    const { registry } = setup({
      overrides: (key) => {
        asked.push(key);
        return key.endsWith('.internal') ? { errorThreshold: 1 } : undefined;
      },
    });
    expect(failuresToOpen(registry.get('db.internal'))).toBe(1);
    expect(failuresToOpen(registry.get('api.example.com'))).toBe(3);
    registry.get('db.internal');
    expect(asked).toEqual(['db.internal', 'api.example.com']);
  });

  it('merges a nested sliding window field by field', () => {
    const { registry } = setup({
      template: { ...template, errorThreshold: 100, failureRateThreshold: 100, minimumCalls: 1, slidingWindow: { calls: 10 } },
      overrides: { short: { slidingWindow: { calls: 2 } }, timed: { slidingWindow: { timeMs: 1_000 } } },
    });
    for (const key of ['short', 'timed', 'plain']) for (let i = 0; i < 5; i += 1) call(registry.get(key), ok);
    expect(registry.get('short').snapshot().window).toEqual({ calls: 2, failures: 0 });
    expect(registry.get('plain').snapshot().window).toEqual({ calls: 5, failures: 0 });
    expect(registry.get('timed').snapshot().window).toEqual({ calls: 5, failures: 0 });
  });

  it('gives every breaker the one clock of the registry, never the template\'s', () => {
    const stray = new FakeClock(0);
    const { registry, clock } = setup({ template: { ...template, clock: stray } as typeof template });
    const breaker = registry.get('a');
    failuresToOpen(breaker);
    stray.advance(1_000_000);
    expect(breaker.state).toBe('open');
    clock.advance(10_000);
    expect(breaker.state).toBe('half_open');
  });

  it('uses no timer, for any number of keys', () => {
    jest.useFakeTimers();
    try {
      const registry = new BreakerRegistry({ maxKeys: 100 });
      for (let i = 0; i < 1_000; i += 1) failuresToOpen(registry.get(`key-${i}`));
      expect(jest.getTimerCount()).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });
});

describe('bad settings', () => {
  it.each([0, 1.5, -1, Number.NaN])('refuses maxKeys %p', (maxKeys) => {
    expect(() => new BreakerRegistry({ maxKeys })).toThrow(/maxKeys must be an integer >= 1/);
  });

  it('refuses a bad template or a bad record of overrides when it is made, naming the key', () => {
    expect(() => new BreakerRegistry({ template: { errorThreshold: 0 } })).toThrow('breaker settings for the template: errorThreshold must be an integer >= 1, got 0');
    expect(() => new BreakerRegistry({ overrides: { 'api.example.com': { openWindowMs: -1 } } })).toThrow(
      'breaker settings for key "api.example.com": openWindowMs must be a finite number > 0, got -1',
    );
    expect(() => new BreakerRegistry({ overrides: { timed: { slidingWindow: { buckets: 4 } } } })).toThrow(/key "timed": slidingWindow.buckets/);
  });

  it('a function\'s bad overrides throw from get, naming the key, and make no room', () => {
    const { registry } = setup({ maxKeys: 2, overrides: (key) => (key === 'bad' ? { halfOpenMaxCalls: 0 } : undefined) });
    registry.get('a');
    registry.get('b');
    expect(() => registry.get('bad')).toThrow(RangeError);
    expect(() => registry.get('bad')).toThrow('breaker settings for key "bad": halfOpenMaxCalls must be an integer >= 1, got 0');
    expect(keys(registry)).toEqual(['a', 'b']);
    expect(registry.snapshot()).toMatchObject({ evictions: 0, overflows: 0 });
  });

  it('keeps 1000 keys by default', () => {
    expect(REGISTRY_DEFAULTS.maxKeys).toBe(1_000);
    expect(new BreakerRegistry().maxKeys).toBe(1_000);
  });
});

describe('eviction', () => {
  it('forgets the least recently used idle closed breaker to make room', () => {
    const { registry } = setup({ maxKeys: 3 });
    const a = registry.get('a');
    registry.get('b');
    registry.get('c');
    expect(registry.get('a')).toBe(a);
    registry.get('d');
    expect(keys(registry)).toEqual(['c', 'a', 'd']);
    expect(registry.has('b')).toBe(false);
    expect(registry.snapshot().evictions).toBe(1);
    registry.get('e');
    expect(keys(registry)).toEqual(['a', 'd', 'e']);
  });

  it('never evicts an open, half_open or isolated breaker: a flood of new keys leaves them as they were', () => {
    const { registry, clock } = setup({ maxKeys: 4 });
    const open = registry.get('open');
    failuresToOpen(open);
    const halfOpen = registry.get('half_open');
    failuresToOpen(halfOpen);
    clock.advance(5_000);
    failuresToOpen(open); // already open: stays open, its window runs from 1 000
    clock.advance(5_000);
    expect(halfOpen.state).toBe('half_open');
    failuresToOpen(registry.get('other'));
    const isolated = registry.get('isolated');
    isolated.isolate();
    registry.get('other').reset();
    for (let i = 0; i < 1_000; i += 1) registry.get(`new-${i}`);
    expect(registry.get('half_open')).toBe(halfOpen);
    expect(registry.get('isolated')).toBe(isolated);
    expect(registry.get('isolated').state).toBe('isolated');
    expect(registry.size).toBe(4);
    expect(keys(registry).slice(0, 3).sort()).toEqual(['half_open', 'isolated', 'open']);
  });

  it('never evicts a closed breaker with a call in flight; once the call ends it may go', () => {
    const { registry } = setup({ maxKeys: 2 });
    const breaker = registry.get('busy');
    const inFlight = acquire(breaker);
    registry.get('idle');
    registry.get('new');
    expect(keys(registry)).toEqual(['busy', 'new']);
    breaker.record(inFlight, ok);
    registry.get('idle');
    expect(keys(registry)).toEqual(['new', 'idle']);
  });

  it('a closed breaker counts as used when it closes again', () => {
    const { registry, clock } = setup({ maxKeys: 3 });
    const recovered = registry.get('recovered');
    failuresToOpen(recovered);
    registry.get('b');
    registry.get('c');
    clock.advance(10_000);
    call(recovered, ok);
    expect(recovered.state).toBe('closed');
    expect(keys(registry)).toEqual(['b', 'c', 'recovered']);
    registry.get('d');
    expect(keys(registry)).toEqual(['c', 'recovered', 'd']);
  });
});

describe('when every slot holds a tripped or busy breaker', () => {
  function full() {
    const { registry, clock } = setup({ maxKeys: 3 });
    const overflows: RegistryEvents['overflow'][] = [];
    registry.on('overflow', (event) => overflows.push(event));
    failuresToOpen(registry.get('open'));
    registry.get('isolated').isolate();
    const inFlight = acquire(registry.get('busy'));
    return { registry, clock, overflows, inFlight };
  }

  it('get returns a fresh breaker from the key\'s settings that is not kept, and says so', () => {
    const { registry, clock, overflows } = full();
    clock.advance(250);
    const unkept = registry.get('new');
    expect(unkept.state).toBe('closed');
    expect(failuresToOpen(unkept)).toBe(3);
    expect(registry.has('new')).toBe(false);
    expect(registry.get('new')).not.toBe(unkept);
    expect(overflows).toEqual([
      { key: 'new', at: 1_250 },
      { key: 'new', at: 1_250 },
    ]);
    expect(registry.snapshot()).toMatchObject({ size: 3, maxKeys: 3, evictions: 0, overflows: 2 });
    expect(keys(registry).sort()).toEqual(['busy', 'isolated', 'open']);
  });

  it('its events are not reported under the key: it is not one of the registry\'s', () => {
    const { registry } = full();
    const seen: string[] = [];
    registry.on('transition', ({ key }) => seen.push(key));
    registry.on('failure', ({ key }) => seen.push(key));
    failuresToOpen(registry.get('new'));
    expect(seen).toEqual([]);
  });

  it('keeps a new key again as soon as a slot frees: a call ends, or a tripped breaker closes (a use)', () => {
    const { registry, inFlight } = full();
    registry.get('busy').release(inFlight);
    const kept = registry.get('new');
    expect(registry.has('new')).toBe(true);
    expect(registry.get('new')).toBe(kept);
    expect(registry.has('busy')).toBe(false);
    registry.get('isolated').reset();
    registry.get('newer');
    expect(keys(registry)).toEqual(['open', 'isolated', 'newer']);
  });
});

describe('events', () => {
  it('carry the key of the breaker they come from', () => {
    const { registry, clock } = setup();
    const seen: unknown[] = [];
    for (const name of ['transition', 'success', 'failure', 'rejected', 'late'] as const) registry.on(name, (event) => seen.push({ [name]: event }));
    const a = registry.get('a');
    const b = registry.get('b');
    call(b, ok);
    const late = acquire(a);
    failuresToOpen(a);
    a.tryAcquire();
    a.record(late, ok);
    clock.advance(10_000);
    expect(seen).toEqual([
      { success: { key: 'b', at: 1_000, trial: false } },
      { failure: { key: 'a', at: 1_000, trial: false, reason: 'ECONNREFUSED' } },
      { failure: { key: 'a', at: 1_000, trial: false, reason: 'ECONNREFUSED' } },
      { failure: { key: 'a', at: 1_000, trial: false, reason: 'ECONNREFUSED' } },
      { transition: { key: 'a', from: 'closed', to: 'open', at: 1_000, cause: { kind: 'failures', failures: 3, lastReason: 'ECONNREFUSED' }, openForMs: 10_000 } },
      { rejected: { key: 'a', admitted: false, state: 'open', retryAfterMs: 10_000 } },
      { late: { key: 'a', at: 1_000, outcome: ok } },
    ]);
  });

  it('reach breakers made before the listener, and stop when it unsubscribes', () => {
    const { registry } = setup();
    const early = registry.get('early');
    const seen: string[] = [];
    const stop = registry.on('success', ({ key }) => seen.push(key));
    call(early, ok);
    call(registry.get('late'), ok);
    stop();
    stop();
    call(early, ok);
    call(registry.get('late'), ok);
    expect(seen).toEqual(['early', 'late']);
  });

  it('an evicted breaker is detached: its events no longer reach the registry\'s listeners', () => {
    const { registry } = setup({ maxKeys: 1 });
    const seen: string[] = [];
    registry.on('transition', ({ key, to }) => seen.push(`${key} ${to}`));
    registry.on('failure', ({ key }) => seen.push(`${key} failure`));
    const evicted = registry.get('a');
    registry.get('b');
    expect(registry.has('a')).toBe(false);
    failuresToOpen(evicted);
    expect(seen).toEqual([]);
    const again = registry.get('a');
    expect(again).not.toBe(evicted);
    expect(again.state).toBe('closed');
    call(again, fail);
    expect(seen).toEqual(['a failure']);
  });

  it('refuse an unknown event name', () => {
    const { registry } = setup();
    expect(() => registry.on('opened' as never, () => undefined)).toThrow('unknown registry event: opened');
  });
});

describe('delete and snapshot', () => {
  it('delete forgets a breaker in any state and detaches it; false for a key not kept', () => {
    const { registry } = setup();
    const seen: string[] = [];
    registry.on('transition', ({ key }) => seen.push(key));
    const gone = registry.get('gone');
    failuresToOpen(gone);
    expect(registry.delete('gone')).toBe(true);
    expect(registry.delete('gone')).toBe(false);
    gone.reset();
    expect(seen).toEqual(['gone']);
    expect(registry.get('gone').state).toBe('closed');
  });

  it('snapshot: every breaker kept with its key, the tripped first, then closed ones from the least recently used', () => {
    const { registry } = setup({ maxKeys: 10 });
    registry.get('a');
    registry.get('b');
    failuresToOpen(registry.get('c'));
    registry.get('a');
    const snapshot = registry.snapshot();
    expect(snapshot).toMatchObject({ maxKeys: 10, size: 3, evictions: 0, overflows: 0 });
    expect(snapshot.breakers.map(({ key, state }) => `${key} ${state}`)).toEqual(['c open', 'b closed', 'a closed']);
    expect(snapshot.breakers[0]).toEqual({ key: 'c', ...registry.get('c').snapshot() });
  });
});
