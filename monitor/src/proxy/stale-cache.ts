/**
 * The stale-answer cache of PROXY_FALLBACK=stale (SPEC "Fallback: stale answers"): the last good
 * answer to each cacheable GET, kept so that while the circuit rejects (or the upstream fails) a
 * client gets it instead of an error. It is not an HTTP cache: nothing is served from it while the
 * upstream answers. Bounded in bytes (headers and bodies), least recently used evicted first.
 */

/** Stored per entry: the upstream's status, end-to-end headers (raw pairs) and whole body. */
export interface CachedAnswer {
  readonly status: number;
  readonly headers: readonly string[];
  readonly body: Buffer;
  /** wall-clock ms it was stored; `Age` counts from here */
  readonly storedAt: number;
  /** the upstream's own Age, in seconds, when it was stored */
  readonly ageAtStore: number;
  /** wall-clock ms after which it may no longer be served (from max-age + stale-if-error); Infinity without stale-if-error */
  readonly servableUntil: number;
  /** wall-clock ms before which a new answer for its key is not recorded: its max-age, and at least REFRESH_MS */
  readonly keepUntil: number;
  /** bytes counted against the bound: header names and values, and the body */
  readonly bytes: number;
}

export interface StaleCacheOptions {
  /** PROXY_CACHE_MAX_BYTES: headers and bodies of every entry, at most */
  readonly maxBytes: number;
  /** largest single entry; default a quarter of maxBytes, at most 1 MiB */
  readonly maxEntryBytes?: number;
  /** wall clock in ms (Age and stale-if-error are wall-clock notions); Date.now by default */
  readonly now?: () => number;
}

/** The request as the cache needs it: lower-cased header lookup. */
export interface CacheRequest {
  readonly method: string;
  readonly url: string;
  header(name: string): string | undefined;
}

/**
 * An entry younger than this (or than its max-age, when longer) is not replaced: a hot URL is
 * recorded once a second at most, not on every answer, so keeping it costs the proxy next to nothing.
 */
export const REFRESH_MS = 1_000;

/**
 * Memory counted per entry beyond its header and body bytes: the entry object, its key, the map
 * slot, the header array. Measured: 13,888 small entries (4 MiB counted at 64 B each) took 12.5 MB
 * more RSS than a monitor without a cache, garbage included; 512 B brings the bound near the truth.
 */
const ENTRY_OVERHEAD = 512;

/** Cache-Control directives of one header value: name -> value ('' when it has none). */
export function cacheControl(value: string | undefined): Map<string, string> {
  const directives = new Map<string, string>();
  if (value === undefined) return directives;
  for (const part of value.split(',')) {
    const [rawName, ...rest] = part.split('=');
    const name = rawName!.trim().toLowerCase();
    if (name) directives.set(name, rest.join('=').trim().replace(/^"(.*)"$/, '$1'));
  }
  return directives;
}

/** The value of a header in raw pairs (joined with ", " when repeated), or undefined. */
export function rawHeader(headers: readonly string[], name: string): string | undefined {
  let value: string | undefined;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() === name) value = value === undefined ? headers[i + 1]! : `${value}, ${headers[i + 1]!}`;
  }
  return value;
}

const seconds = (text: string | undefined): number | undefined => (text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined);

/** Why an answer is not stored, or undefined when it may be. */
export function notStorable(request: CacheRequest, status: number, headers: readonly string[]): string | undefined {
  if (request.method !== 'GET') return 'not a GET';
  if (status !== 200) return `status ${status}`;
  const control = cacheControl(rawHeader(headers, 'cache-control'));
  if (control.has('no-store')) return 'no-store';
  if (control.has('private')) return 'private';
  if (rawHeader(headers, 'set-cookie') !== undefined) return 'Set-Cookie';
  if (request.header('authorization') !== undefined && !control.has('public')) return 'Authorization without public';
  if ((rawHeader(headers, 'vary') ?? '').split(',').some((name) => name.trim() === '*')) return 'Vary: *';
  return undefined;
}

export class StaleCache {
  private readonly entries = new Map<string, CachedAnswer>();
  /** per URL: the request headers its answer varies on (lower case), from its last stored answer */
  private readonly varyByUrl = new Map<string, readonly string[]>();
  private total = 0;
  readonly maxBytes: number;
  readonly maxEntryBytes: number;
  private readonly now: () => number;

  constructor(options: StaleCacheOptions) {
    this.maxBytes = options.maxBytes;
    this.maxEntryBytes = Math.min(options.maxEntryBytes ?? Math.min(1024 * 1024, Math.floor(options.maxBytes / 4)), options.maxBytes);
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** bytes counted against maxBytes */
  get bytes(): number {
    return this.total;
  }

  /**
   * Starts recording an answer if it may be stored: returns the recorder to feed the body to, or
   * undefined (then nothing is copied). A body over the entry limit abandons the recording.
   */
  record(request: CacheRequest, status: number, headers: readonly string[]): Recorder | undefined {
    if (this.maxBytes === 0) return undefined;
    const vary = this.varyByUrl.get(request.url);
    if (vary !== undefined && (this.entries.get(keyOf(request, vary))?.keepUntil ?? 0) > this.now()) return undefined;
    if (notStorable(request, status, headers) !== undefined) return undefined;
    const length = seconds(rawHeader(headers, 'content-length'));
    const headerBytes = headers.reduce((sum, text) => sum + Buffer.byteLength(text), 0);
    if (length !== undefined && length + headerBytes + ENTRY_OVERHEAD > this.maxEntryBytes) return undefined;
    return new Recorder(this, request, status, headers, headerBytes, length);
  }

  /** The answer to serve instead of an error, or undefined (none, or past its stale-if-error). */
  lookup(request: CacheRequest): CachedAnswer | undefined {
    if (request.method !== 'GET' && request.method !== 'HEAD') return undefined;
    const vary = this.varyByUrl.get(request.url);
    if (vary === undefined) return undefined;
    const key = keyOf(request, vary);
    const entry = this.entries.get(key);
    if (entry === undefined) return undefined;
    if (this.now() > entry.servableUntil) {
      this.remove(key);
      return undefined;
    }
    // most recently used goes last: eviction takes from the front
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry;
  }

  /** Age to send with an entry, in whole seconds. */
  ageOf(entry: CachedAnswer): number {
    return entry.ageAtStore + Math.max(0, Math.floor((this.now() - entry.storedAt) / 1000));
  }

  /** Called by a Recorder with a complete answer. */
  store(request: CacheRequest, status: number, headers: readonly string[], body: Buffer, headerBytes: number): void {
    const bytes = headerBytes + body.length + ENTRY_OVERHEAD;
    if (bytes > this.maxEntryBytes) return;
    const varyHeader = rawHeader(headers, 'vary');
    const vary = varyHeader === undefined ? [] : varyHeader.split(',').map((name) => name.trim().toLowerCase()).filter(Boolean).sort();
    // a new Vary for this URL makes the old variants unreachable: drop them
    const previous = this.varyByUrl.get(request.url);
    if (previous !== undefined && previous.join(',') !== vary.join(',')) {
      for (const key of [...this.entries.keys()]) if (urlOf(key) === request.url) this.remove(key);
    }
    this.varyByUrl.set(request.url, vary);
    const key = keyOf(request, vary);
    this.remove(key);
    const now = this.now();
    const control = cacheControl(rawHeader(headers, 'cache-control'));
    const staleIfError = seconds(control.get('stale-if-error'));
    const fresh = seconds(control.get('s-maxage')) ?? seconds(control.get('max-age')) ?? 0;
    const ageAtStore = seconds(rawHeader(headers, 'age')) ?? 0;
    const servableUntil = staleIfError === undefined ? Infinity : now + (Math.max(0, fresh - ageAtStore) + staleIfError) * 1000;
    const keepUntil = now + Math.max(REFRESH_MS, (fresh - ageAtStore) * 1000);
    this.entries.set(key, { status, headers, body, storedAt: now, ageAtStore, servableUntil, keepUntil, bytes });
    this.total += bytes;
    for (const [oldest, entry] of this.entries) {
      if (this.total <= this.maxBytes) break;
      this.entries.delete(oldest);
      this.total -= entry.bytes;
    }
  }

  private remove(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined) return;
    this.entries.delete(key);
    this.total -= entry.bytes;
  }
}

/** Collects one answer's body as it streams to the client; only a complete body is stored. */
export class Recorder {
  private readonly chunks: Buffer[] = [];
  private received = 0;
  private abandoned = false;

  constructor(
    private readonly cache: StaleCache,
    private readonly request: CacheRequest,
    private readonly status: number,
    private readonly headers: readonly string[],
    private readonly headerBytes: number,
    private readonly expected: number | undefined,
  ) {}

  /** A body chunk, as it was written to the client (kept by reference, not copied). */
  write(chunk: Buffer): void {
    if (this.abandoned) return;
    this.received += chunk.length;
    if (this.received + this.headerBytes > this.cache.maxEntryBytes) {
      this.abandon();
      return;
    }
    this.chunks.push(chunk);
  }

  /** The body ended: stored if it is whole (as long as its Content-Length said, when it said one). */
  end(): void {
    if (this.abandoned) return;
    this.abandoned = true;
    if (this.expected !== undefined && this.received !== this.expected) return;
    this.cache.store(this.request, this.status, this.headers, Buffer.concat(this.chunks, this.received), this.headerBytes);
    this.chunks.length = 0;
  }

  /** The answer broke off or the client left: nothing is stored. */
  abandon(): void {
    this.abandoned = true;
    this.chunks.length = 0;
  }
}

function keyOf(request: CacheRequest, vary: readonly string[]): string {
  let key = request.url;
  for (const name of vary) key += `\n${name}=${request.header(name) ?? ''}`;
  return key;
}

function urlOf(key: string): string {
  const end = key.indexOf('\n');
  return end < 0 ? key : key.slice(0, end);
}

/** The name this cache gives itself in Cache-Status (RFC 9211). */
export const CACHE_NAME = 'circuit-breaker-monitor';

/**
 * The headers a served fallback goes out with: the stored end-to-end ones, `Age` set to the
 * entry's age, and `Cache-Status` saying it is a stale hit served as a fallback, and why
 * (`circuit-open`, `upstream-error`...).
 */
export function fallbackHeaders(entry: CachedAnswer, age: number, why: string): string[] {
  const headers: string[] = [];
  for (let i = 0; i < entry.headers.length; i += 2) {
    const lower = entry.headers[i]!.toLowerCase();
    if (lower !== 'age' && lower !== 'cache-status') headers.push(entry.headers[i]!, entry.headers[i + 1]!);
  }
  headers.push('Age', String(age), 'Cache-Status', `${CACHE_NAME}; hit; detail="fallback: ${why}"`);
  return headers;
}
