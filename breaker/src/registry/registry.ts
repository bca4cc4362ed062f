/**
 * A registry of breakers by key (a host, a tenant, a route): one breaker per key, made on first use
 * from a template and the key's overrides, with a bound on the keys kept.
 *
 * It stays as pure as the breaker: no timers (none per key, none at all), no I/O; every breaker
 * reads the registry's one clock. Only idle `closed` breakers are ever evicted: a flood of new keys
 * cannot make it forget an open, half_open or isolated one.
 */
import {
  CircuitBreaker,
  type BreakerEventName,
  type BreakerEvents,
  type BreakerSnapshot,
  type CallEvent,
  type FailureEvent,
  type LateEvent,
  type Rejection,
  type Transition,
} from '../breaker';
import { monotonicClock, type Clock } from '../clock';
import { Listeners } from '../listeners';
import { mergeSettings, type BreakerOverrides, type BreakerSettings } from './overrides';
import { RecencyList, type RecencyLinks } from './recency';

/** The options of a BreakerRegistry; every one has a default. */
export interface RegistryOptions {
  /** the settings every breaker starts from; default: the breaker's defaults */
  readonly template?: BreakerSettings;
  /**
   * settings for some keys, over the template field by field (see mergeSettings): by key, or a
   * function of the key (undefined: the template alone). A record is checked when the registry is
   * made; a function's answer when its key is first used.
   */
  readonly overrides?: Readonly<Record<string, BreakerOverrides>> | ((key: string) => BreakerOverrides | undefined);
  /** the most breakers kept at once (integer >= 1); default 1000 */
  readonly maxKeys?: number;
  /** one monotonic clock in ms for every breaker; default `performance.now()` */
  readonly clock?: Clock;
}

/** The defaults of the registry's options. */
export const REGISTRY_DEFAULTS = { maxKeys: 1_000 } as const;

/** A breaker's event with the key of the breaker it came from. */
export type Keyed<T> = { readonly key: string } & T;

/**
 * get(key) found every slot held by a breaker it may not evict (open, half_open, isolated, or
 * closed with a call in flight): the breaker it returned for `key` is not kept.
 */
export interface OverflowEvent {
  readonly key: string;
  /** clock time, ms */
  readonly at: number;
}

/** What a registry tells its listeners: every event of the breakers it keeps, with their key, and its own overflow. */
export interface RegistryEvents {
  readonly transition: Keyed<Transition>;
  readonly success: Keyed<CallEvent>;
  readonly failure: Keyed<FailureEvent>;
  readonly rejected: Keyed<Rejection>;
  readonly late: Keyed<LateEvent>;
  readonly overflow: OverflowEvent;
}

/** The events a registry emits: `on(name, listener)` takes one of them. */
export type RegistryEventName = keyof RegistryEvents;
/** A listener of one registry event. */
export type RegistryListener<E extends RegistryEventName> = (event: RegistryEvents[E]) => void;

/** The registry as it is now: its bound, its counters and a snapshot of every breaker kept. */
export interface RegistrySnapshot {
  /** the most breakers kept at once */
  readonly maxKeys: number;
  /** breakers kept now */
  readonly size: number;
  /** idle closed breakers forgotten to make room, since the registry was made */
  readonly evictions: number;
  /** get() calls that found no room and returned a breaker not kept, since the registry was made */
  readonly overflows: number;
  /** every breaker kept: open, half_open and isolated ones first, then closed ones from the least recently used */
  readonly breakers: readonly Keyed<BreakerSnapshot>[];
}

/** Breaker events the registry passes on with their key; it listens to transitions itself, always. */
type Forwarded = Exclude<BreakerEventName, 'transition'>;
const FORWARDED: ReadonlySet<string> = new Set<Forwarded>(['success', 'failure', 'rejected', 'late']);

/** A kept breaker. It is in the recency list while closed, and only then. */
interface Entry extends RecencyLinks<Entry> {
  readonly key: string;
  readonly breaker: CircuitBreaker;
  /** stops the registry's listeners on the breaker, by event */
  readonly detach: { [E in BreakerEventName]?: () => void };
}

/**
 * One breaker per key (a host, a tenant, a route), made on first `get(key)` from the template and the
 * key's overrides; at most `maxKeys` kept, idle closed ones forgotten first.
 */
export class BreakerRegistry {
  /** the most breakers kept at once */
  readonly maxKeys: number;
  private readonly clock: Clock;
  private readonly template: BreakerSettings;
  /** the template with a record's overrides over it, by key, merged and checked once */
  private readonly merged = new Map<string, BreakerSettings>();
  private readonly overridesOf: ((key: string) => BreakerOverrides | undefined) | undefined;
  private readonly entries = new Map<string, Entry>();
  /** the closed breakers, least recently used first: the order of eviction */
  private readonly closed = new RecencyList<Entry>();
  private readonly listeners: { readonly [E in RegistryEventName]: Listeners<RegistryEvents[E]> } = {
    transition: new Listeners(),
    success: new Listeners(),
    failure: new Listeners(),
    rejected: new Listeners(),
    late: new Listeners(),
    overflow: new Listeners(),
  };
  /** the events passed on from every kept breaker: the ones someone listens to */
  private readonly forwarding = new Set<Forwarded>();
  private evictions = 0;
  private overflows = 0;

  /** Throws a RangeError for a bad maxKeys, template or record of overrides (naming the key). */
  constructor(options: RegistryOptions = {}) {
    const maxKeys = options.maxKeys ?? REGISTRY_DEFAULTS.maxKeys;
    if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new RangeError(`maxKeys must be an integer >= 1, got ${maxKeys}`);
    this.maxKeys = maxKeys;
    this.clock = options.clock ?? monotonicClock;
    this.template = { ...options.template };
    this.build('the template', this.template);
    const overrides = options.overrides;
    if (typeof overrides === 'function') {
      this.overridesOf = overrides;
    } else if (overrides !== undefined) {
      for (const [key, given] of Object.entries(overrides)) {
        const settings = this.settingsFor(key, given);
        this.build(`key "${key}"`, settings);
        this.merged.set(key, settings);
      }
    }
  }

  /** breakers kept now (at most maxKeys) */
  get size(): number {
    return this.entries.size;
  }

  /**
   * The key's breaker; on first use, a new one from the template and the key's overrides. O(1).
   * When maxKeys breakers are kept already, it forgets the least recently used idle closed one
   * (no call in flight); when none is idle, the breaker it returns is not kept (see OverflowEvent):
   * calls to that key then pass through a fresh breaker each time until a slot frees, and every
   * tripped breaker is kept. Throws a RangeError for a function's bad overrides for `key`.
   */
  get(key: string): CircuitBreaker {
    const entry = this.entries.get(key);
    if (entry === undefined) return this.create(key);
    if (entry.listed) this.closed.touch(entry);
    return entry.breaker;
  }

  /** Whether the key's breaker is kept now. */
  has(key: string): boolean {
    return this.entries.has(key);
  }

  /**
   * Forgets the key's breaker, whatever its state: the way to let go of a key that is gone for
   * good (a tripped breaker is never evicted). False when it was not kept.
   */
  delete(key: string): boolean {
    const entry = this.entries.get(key);
    if (entry === undefined) return false;
    this.forget(entry);
    return true;
  }

  /**
   * Listens to one kind of event from every breaker kept, now and later, with its key (and to
   * overflow); returns the function that stops listening. An evicted breaker's events stop with it.
   */
  on<E extends RegistryEventName>(event: E, listener: RegistryListener<E>): () => void {
    const listeners = this.listenersOf(event);
    const stop = listeners.add(listener);
    if (isForwarded(event) && !this.forwarding.has(event)) {
      this.forwarding.add(event);
      for (const entry of this.entries.values()) this.forward(entry, event);
    }
    return () => {
      stop();
      if (!isForwarded(event) || listeners.size > 0 || !this.forwarding.has(event)) return;
      // nobody listens any more: the breakers stop making these events
      this.forwarding.delete(event);
      for (const entry of this.entries.values()) {
        entry.detach[event]?.();
        delete entry.detach[event];
      }
    };
  }

  /** The registry and every breaker it keeps, as they are now. */
  snapshot(): RegistrySnapshot {
    const held = [...this.entries.values()].filter((entry) => !entry.listed);
    const kept = [...held, ...this.closed.fromOldest()];
    return {
      maxKeys: this.maxKeys,
      size: this.entries.size,
      evictions: this.evictions,
      overflows: this.overflows,
      breakers: kept.map((entry) => ({ key: entry.key, ...entry.breaker.snapshot() })),
    };
  }

  private create(key: string): CircuitBreaker {
    const settings = this.merged.get(key) ?? (this.overridesOf === undefined ? this.template : this.settingsFor(key, this.overridesOf(key)));
    // made before any room is made: bad overrides throw without evicting anyone
    const breaker = this.build(`key "${key}"`, settings);
    if (this.entries.size >= this.maxKeys && !this.evictOne()) {
      this.overflows += 1;
      if (this.listeners.overflow.size > 0) this.listeners.overflow.emit({ key, at: this.clock.now() });
      return breaker;
    }
    const entry: Entry = { key, breaker, detach: {}, older: undefined, newer: undefined, listed: false };
    entry.detach.transition = breaker.onTransition((transition) => this.moved(entry, transition));
    for (const event of this.forwarding) this.forward(entry, event);
    this.entries.set(key, entry);
    this.closed.touch(entry);
    return breaker;
  }

  /**
   * Forgets the least recently used idle breaker: closed, with no call in flight. A closed breaker
   * with a call in flight is in use: it becomes the most recently used, so a search looks at each
   * busy one at most once, and is O(1) unless most closed breakers are busy. False when none is
   * idle (every breaker kept is tripped or busy).
   */
  private evictOne(): boolean {
    for (let left = this.closed.size; left > 0; left -= 1) {
      const oldest = this.closed.oldest as Entry;
      if (oldest.breaker.callsInFlight === 0) {
        this.forget(oldest);
        this.evictions += 1;
        return true;
      }
      this.closed.touch(oldest);
    }
    return false;
  }

  /** Drops an entry and detaches every listener the registry put on its breaker (no leak, no event from it under its key). */
  private forget(entry: Entry): void {
    this.entries.delete(entry.key);
    this.closed.remove(entry);
    for (const detach of Object.values(entry.detach)) detach();
  }

  /** A kept breaker changed state: closed ones are in the recency list (a closing is a use), tripped ones out of reach of eviction. */
  private moved(entry: Entry, transition: Transition): void {
    if (transition.to === 'closed') this.closed.touch(entry);
    else this.closed.remove(entry);
    if (this.listeners.transition.size > 0) this.listeners.transition.emit({ key: entry.key, ...transition });
  }

  private forward<E extends Forwarded>(entry: Entry, event: E): void {
    const listeners = this.listeners[event] as unknown as Listeners<Keyed<BreakerEvents[E]>>;
    entry.detach[event] = entry.breaker.on(event, (payload) => listeners.emit({ key: entry.key, ...payload }));
  }

  private listenersOf<E extends RegistryEventName>(event: E): Listeners<RegistryEvents[E]> {
    const listeners = Object.hasOwn(this.listeners, event) ? (this.listeners[event] as Listeners<RegistryEvents[E]>) : undefined;
    if (listeners === undefined) throw new TypeError(`unknown registry event: ${String(event)}`);
    return listeners;
  }

  /** The template with the key's overrides; a RangeError naming the key when they do not merge. */
  private settingsFor(key: string, overrides: BreakerOverrides | undefined): BreakerSettings {
    try {
      return mergeSettings(this.template, overrides);
    } catch (error) {
      throw named(`key "${key}"`, error);
    }
  }

  /** A breaker on the registry's clock; its RangeError says whose settings were bad. */
  private build(whose: string, settings: BreakerSettings): CircuitBreaker {
    try {
      return new CircuitBreaker({ ...settings, clock: this.clock });
    } catch (error) {
      throw named(whose, error);
    }
  }
}

function isForwarded(event: RegistryEventName): event is Forwarded {
  return FORWARDED.has(event);
}

/** A RangeError that says whose settings it is about; any other error as it was. */
function named(whose: string, error: unknown): unknown {
  return error instanceof RangeError ? new RangeError(`breaker settings for ${whose}: ${error.message}`, { cause: error }) : error;
}
