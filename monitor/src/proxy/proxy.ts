/**
 * The guarded reverse proxy (SPEC "Guarded reverse proxy"): forwards origin-form requests to the
 * upstream through the breaker the probes use, and answers 503 at once, without touching the
 * network, while the circuit rejects calls.
 *
 * The client side is node:http's server; the upstream side is undici's Pool (the Node project's own
 * HTTP/1.1 client, the one under `fetch`), driven through its lowest layer, `dispatch` with a
 * handler: no stream objects per answer, and the answer's bytes go straight to the client's
 * response. The hot path stays lean: a call's state lives on subclasses of the request and response
 * objects and on its handler, listeners are module-level functions that reach that state through
 * `this` (no closures per request), and the small JSON answers are prebuilt.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { CallEnd, CircuitBreaker, ConcurrencyLimiter, Ticket } from '@circuit-breaker-demo/breaker';
import { CLIENT_LIMITS } from '../client-limits';
import type { LastOutcome } from '../last-outcome';
import { routeLogger, type Logger } from '../logger';
import type { CallObserver } from '../metrics';
import { classifyStatus, networkReason } from '../probe/probe';
import { asksToWait, parseRetryAfter } from '../retry-after';
import { serverHandle, type ServerHandle } from '../server-handle';
import { Pool } from './undici-pool';
import { CANNOT_FORWARD, canned, CLIENT_TOO_SLOW, CONNECT_REFUSED, isolatedRejection, NOT_ORIGIN_FORM, OVERLOADED, rejection, send, TWO_HOSTS, type Canned } from './answers';
import { REQUEST_HEADER_ROLES, responseHeaders, withoutNominated } from './headers';
import { fallbackHeaders, type CacheRequest, type CachedAnswer, type Recorder, type StaleCache } from './stale-cache';

/** One route of the proxy: its breaker, its upstream and the settings of its calls. */
export interface ProxyRoute {
  readonly breaker: CircuitBreaker;
  /** call results go here (the metrics); none by default */
  readonly observer?: CallObserver;
  /** given every call result the breaker counts (for /status); none by default */
  readonly lastOutcome?: LastOutcome;
  /** upstream base URL, possibly with a path prefix: `http://nginx:80`, `https://api.example/v1` */
  readonly upstream: string;
  /**
   * REQUEST_TIMEOUT, in ms: the upstream must send its answer headers within this time of having
   * the whole request (the client's body all forwarded), or the call ends with 504 and a failure.
   * A slow client's upload is not upstream time. An upstream that stops reading a body holds the
   * client up instead: that call ends by the client time below, without an outcome.
   */
  readonly requestTimeoutMs: number;
  /** ACCEPT_CLIENT_ERRORS: 4xx answers count as successes */
  readonly acceptClientErrors: boolean;
  /**
   * PROXY_FALLBACK=stale: the cache of last good answers. While the circuit rejects, or when the
   * upstream fails (502/504), a GET or HEAD that has an entry gets it instead of the error. None by default.
   */
  readonly fallbackCache?: StaleCache;
  /**
   * MAX_CONCURRENT_CALLS (SPEC "Concurrency limit"): a call the breaker admits takes a slot before
   * it is sent, or is answered 503 `overloaded` at once; the slot is freed when its exchange with
   * the upstream has really ended (not when the client gave up). Trials are outside it. None: no limit.
   */
  readonly limiter?: ConcurrencyLimiter;
}

/** A route of a proxy with several (SPEC "Routes"): the longest matching prefix picks it. */
export interface NamedProxyRoute extends ProxyRoute {
  readonly name: string;
  /** starts with /; matched as plain text against the request target, longest first */
  readonly prefix: string;
}

/** What every route of the proxy shares: the client side's limits, and each route's connection bound. */
export interface ProxyLimits {
  readonly logger: Logger;
  /**
   * Largest request body forwarded, in bytes. A larger Content-Length gets 413 before any call
   * starts; a chunked body that grows past it gets 413, its upstream call cut, and no outcome.
   */
  readonly maxBodyBytes?: number;
  /** a client must send its request headers within this time, in ms, or get 408 before any call starts */
  readonly headersTimeoutMs?: number;
  /**
   * A client must send its whole request, headers and body, within this time of its first byte, in
   * ms, or get 408 (Node's, checked every connectionsCheckingIntervalMs); its upstream call is cut
   * and counts nothing, however long REQUEST_TIMEOUT is.
   */
  readonly clientRequestTimeoutMs?: number;
  /**
   * Hard cap on an admitted exchange, from admission to the response's last byte, in ms. Up before
   * the upstream answered: 504 without an outcome (408 if the body was still coming); after: the
   * connection is cut, and an answer whose body had not all come in counts nothing. Default: 60 s, or the client
   * time above plus REQUEST_TIMEOUT when that is longer, so the cap does not pre-empt the upstream timeout.
   */
  readonly totalTimeoutMs?: number;
  /** how often Node enforces the two client timeouts above, in ms */
  readonly connectionsCheckingIntervalMs?: number;
  /**
   * Connections to the upstream, at most (one exchange at a time on each: no pipelining). A call
   * that finds them all in use is answered 503 at once (Retry-After: 1), without touching the
   * upstream and without an outcome: calls never queue for a connection, so a busy proxy cannot
   * pass its own wait off as an upstream timeout.
   */
  readonly maxSockets?: number;
}

/** One route (every path), or several routes by prefix. */
export type ProxyOptions = ProxyLimits & (ProxyRoute | { readonly routes: readonly NamedProxyRoute[] });

export const PROXY_DEFAULTS = {
  maxBodyBytes: 1024 * 1024,
  headersTimeoutMs: CLIENT_LIMITS.headersTimeoutMs,
  clientRequestTimeoutMs: CLIENT_LIMITS.clientRequestTimeoutMs,
  totalTimeoutMs: 60_000,
  connectionsCheckingIntervalMs: CLIENT_LIMITS.connectionsCheckingIntervalMs,
  maxSockets: 256,
} as const;

/**
 * Where an admitted call is; listeners compare it to know whether an event still matters.
 * waiting: being forwarded (the body may still be coming), no answer yet. streaming: the upstream's
 * headers are in with a success status and its body streams; the outcome waits for the body's end
 * (an answer that breaks off is a failure), so a trial keeps its slot until then. answered: the
 * outcome is counted (a failing status at once, a success at the body's end) and the rest streams
 * to the client. ended: finished without an answer passed on, or cut (502/504, 408/413, client gone).
 */
type Phase = 'waiting' | 'streaming' | 'answered' | 'ended';

/** The client's request, with how its body is framed (read by the header scan). */
class ProxyRequest extends http.IncomingMessage {
  exchange: ProxyResponse | undefined = undefined;
  /** Content-Length, 0 when absent */
  announcedBytes = 0;
  chunked = false;
  /** bytes of a chunked body seen so far */
  receivedBytes = 0;
}

/**
 * What the call's timer is set for: the end of the total time, or the end of REQUEST_TIMEOUT
 * (armed once the whole request is with the upstream, when it ends before the total time).
 */
type Deadline = 'total' | 'upstream';

/** The response to the client, carrying its call's state. */
class ProxyResponse extends http.ServerResponse<ProxyRequest> {
  proxy: GuardedProxy | undefined = undefined;
  ticket: Ticket | undefined = undefined;
  upstream: UpstreamCall | undefined = undefined;
  timer: NodeJS.Timeout | undefined = undefined;
  deadline: Deadline = 'total';
  phase: Phase = 'waiting';
  /** when the call was admitted */
  startedAt = 0;
  /** when the whole request was with the upstream (REQUEST_TIMEOUT counts from here); -1 until then */
  sentAt = -1;
  forwardPath = '';
  forwardHeaders: string[] = [];
  /** the body as undici reads it: a pipe from the request, which undici must not destroy (it would take the client's socket) */
  forwardBody: PassThrough | null = null;
  retried = false;
  /** a 'drain' listener is on (the client fell behind once) */
  waitsForDrain = false;
  /** PROXY_FALLBACK=stale: the answer's body being kept, when it may be stored */
  recorder: Recorder | undefined = undefined;
  /** the call holds a slot of the route's concurrency limit, taken at `slotAt` (on the limiter's clock) */
  holdsSlot = false;
  slotAt = 0;
  /** what the limiter is told when the slot is freed: `dropped` unless the upstream's answer or failure was counted */
  callEnd: CallEnd = 'dropped';
}

/**
 * One exchange with the upstream: undici's handler for it, pointing back at the client's response.
 * undici calls onConnect once the request has a connection, then onHeaders, onData... and exactly
 * one of onComplete and onError; after either, the exchange is over and its connection free (or
 * closed). A retry is a new exchange: events of an earlier one no longer matter.
 */
class UpstreamCall implements Dispatcher.DispatchHandler {
  /** undici's abort for this exchange, once it has a connection */
  private abortExchange: ((error?: Error) => void) | undefined = undefined;
  /** resumes reading the answer after onData returned false (the client was not keeping up) */
  resumeAnswer: (() => void) | undefined = undefined;
  cancelled = false;
  done = false;

  constructor(
    readonly proxy: GuardedProxy,
    readonly downstream: ProxyResponse,
  ) {}

  /** Ends the exchange from our side: before it has a connection, as soon as it gets one. The socket is destroyed. */
  cancel(): void {
    if (this.cancelled || this.done) return;
    this.cancelled = true;
    this.abortExchange?.(CANCELLED);
  }

  onConnect(abort: (error?: Error) => void): void {
    if (this.cancelled) abort(CANCELLED);
    else this.abortExchange = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    const res = this.downstream;
    if (res.phase !== 'waiting' || this !== res.upstream) {
      this.cancel();
      return false;
    }
    this.resumeAnswer = resume;
    return this.proxy.answered(res, statusCode, statusText, rawHeaders);
  }

  onData(chunk: Buffer): boolean {
    const res = this.downstream;
    if (this !== res.upstream || res.destroyed) return true;
    res.recorder?.write(chunk);
    if (res.write(chunk)) return true;
    // the client is not keeping up: undici stops reading until its response has room again (the
    // listener goes on only then: most answers never need it)
    if (!res.waitsForDrain) {
      res.waitsForDrain = true;
      res.on('drain', onDownstreamDrain);
    }
    return false;
  }

  onComplete(): void {
    this.done = true;
    this.proxy.exchangeEnded();
    const res = this.downstream;
    if (this !== res.upstream) return;
    if (res.phase === 'streaming') res.proxy!.bodyComplete(res, res.statusCode);
    if (!res.destroyed) res.end();
    if (res.holdsSlot) this.proxy.freeSlot(res);
  }

  onError(error: Error): void {
    const wasCancelled = this.cancelled;
    this.done = true;
    this.proxy.exchangeEnded();
    const res = this.downstream;
    if (this !== res.upstream) return;
    if (!wasCancelled) this.proxy.upstreamFailed(res, error);
    // the exchange is over here, whoever ended it (a cancel frees its slot only now); a retry is a
    // new exchange of the same call, and keeps the slot
    if (res.holdsSlot && res.upstream === this) this.proxy.freeSlot(res);
  }

  onBodySent(): void {}
}

/** The reason our own cancellations carry (never reported: a cancelled exchange has no outcome). */
const CANCELLED = new Error('cancelled by the proxy');

/**
 * undici's words for a connection the upstream closed or reset, in the words Node's own client and
 * the probe use (`ECONNRESET`), so the logs read the same for every path.
 */
function upstreamReason(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'UND_ERR_SOCKET') return 'ECONNRESET';
  return networkReason(error);
}

/**
 * The connection an exchange failed on had carried an earlier answer: it was kept alive, and the
 * upstream closed it just as the request went out. undici's socket errors say how many bytes the
 * connection had read; a new exchange's answer had not begun, so any byte read was an earlier one's.
 */
function onReusedConnection(error: Error): boolean {
  const socket = (error as Error & { socket?: { bytesRead?: number } }).socket;
  return (error as NodeJS.ErrnoException).code === 'UND_ERR_SOCKET' && (socket?.bytesRead ?? 0) > 0;
}

/**
 * A client connection with pipelined requests: their answers wait, socketless, behind the one being
 * written, and Node never tells them that the connection closed. The connection does, to these.
 */
interface PipelinedSocket extends Socket {
  queued?: ProxyResponse[];
}

/** Retry-After values up to this many seconds get a cached 503; longer windows build theirs. */
const CACHED_RETRY_SECONDS = 3_600;

/** The proxy: the upstream's address, the connection pool, the limits and the prebuilt answers. */
class GuardedProxy {
  readonly breaker: CircuitBreaker;
  readonly logger: Logger;
  readonly observer: CallObserver | undefined;
  readonly lastOutcome: LastOutcome | undefined;
  readonly requestTimeoutMs: number;
  readonly timeoutReason: string;
  readonly totalTimeoutMs: number;
  readonly maxBodyBytes: number;
  readonly tooLarge: Canned;
  readonly totalTimeUp: Canned;
  readonly pool: Pool;
  closing = false;
  readonly fallbackCache: StaleCache | undefined;
  /** MAX_CONCURRENT_CALLS; null when off, so the hot path pays one check */
  readonly limiter: ConcurrencyLimiter | null;
  private readonly acceptClientErrors: boolean;
  private readonly host: string;
  private readonly basePath: string;
  private readonly maxSockets: number;
  /** exchanges with the upstream not yet over (each holds a connection, or is getting one) */
  private exchanges = 0;
  private readonly busy: Canned;
  private readonly openAnswers: Canned[] = [];
  private readonly halfOpenAnswer = rejection('half_open', 1);
  private readonly isolatedAnswer = isolatedRejection();

  constructor(route: ProxyRoute, options: ProxyLimits, logger: Logger) {
    this.breaker = route.breaker;
    this.logger = logger;
    this.observer = route.observer;
    this.lastOutcome = route.lastOutcome;
    this.fallbackCache = route.fallbackCache;
    this.limiter = route.limiter ?? null;
    this.requestTimeoutMs = route.requestTimeoutMs;
    // the probe's words, so a proxy timeout reads the same in the logs
    this.timeoutReason = `timeout after ${route.requestTimeoutMs} ms`;
    this.totalTimeoutMs =
      options.totalTimeoutMs ??
      Math.max(PROXY_DEFAULTS.totalTimeoutMs, (options.clientRequestTimeoutMs ?? PROXY_DEFAULTS.clientRequestTimeoutMs) + route.requestTimeoutMs);
    this.maxBodyBytes = options.maxBodyBytes ?? PROXY_DEFAULTS.maxBodyBytes;
    this.tooLarge = canned(413, { error: `request body larger than ${this.maxBodyBytes} bytes` }, ['Connection', 'close']);
    this.totalTimeUp = canned(504, { error: 'gateway timeout', reason: `total time limit of ${this.totalTimeoutMs} ms reached` });
    this.maxSockets = options.maxSockets ?? PROXY_DEFAULTS.maxSockets;
    this.busy = canned(503, { error: 'proxy busy', reason: `all ${this.maxSockets} upstream connections in use` }, ['Retry-After', '1']);
    this.acceptClientErrors = route.acceptClientErrors;
    const url = new URL(route.upstream);
    this.host = url.host;
    this.basePath = url.pathname.replace(/\/+$/, '');
    this.pool = new Pool(url.origin, {
      connections: this.maxSockets,
      pipelining: 1,
      // An idle connection is dropped before Node's default 5 s server keep-alive would close it
      // under a request; a `Keep-Alive: timeout` hint from the upstream is honoured, less 1 s.
      keepAliveTimeout: 4_000,
      keepAliveTimeoutThreshold: 1_000,
      // the proxy's own timers bound every exchange (REQUEST_TIMEOUT, the total time): none of undici's
      headersTimeout: 0,
      bodyTimeout: 0,
      // a connection that is not up within REQUEST_TIMEOUT is a timeout like any other
      connect: { timeout: this.requestTimeoutMs },
    });
  }

  /** The request listener for this route's requests (origin-form: the router checked). */
  handle(req: ProxyRequest, res: ProxyResponse, target: string): void {
    const headers = this.requestHeaders(req);
    if (headers === undefined) {
      send(res, TWO_HOSTS);
      return;
    }
    if (req.announcedBytes > this.maxBodyBytes) {
      send(res, this.tooLarge);
      return;
    }
    const admission = this.breaker.tryAcquire();
    if (!admission.admitted) {
      const stale = this.fallbackFor(req);
      if (stale !== undefined) {
        this.observer?.callRejected('proxy', admission.state, 'fallback');
        this.serveFallback(res, stale, `circuit ${admission.state}`);
        return;
      }
      this.observer?.callRejected('proxy', admission.state);
      send(res, admission.state === 'open' ? this.openAnswer(admission.retryAfterMs) : admission.state === 'half_open' ? this.halfOpenAnswer : this.isolatedAnswer);
      return;
    }
    if (this.exchanges >= this.maxSockets) {
      this.breaker.release(admission.ticket);
      this.observer?.callEnded('proxy', 'busy');
      send(res, this.busy);
      return;
    }
    // probes never come here; trials are outside the limit (HALF_OPEN_MAX_CALLS bounds them)
    const limiter = this.limiter;
    if (limiter !== null && !admission.ticket.trial) {
      if (!limiter.tryAcquire()) {
        // never queued: 503 now, and the ticket goes back without an outcome
        this.breaker.release(admission.ticket);
        this.observer?.callEnded('proxy', 'overloaded');
        send(res, OVERLOADED);
        return;
      }
      res.holdsSlot = true;
      res.slotAt = limiter.clock.now();
    }
    res.proxy = this;
    res.ticket = admission.ticket;
    res.startedAt = performance.now();
    res.forwardPath = this.basePath + target;
    res.forwardHeaders = headers;
    req.exchange = res;
    res.on('close', onDownstreamClose);
    if (res.socket === null) queueOn(req.socket as PipelinedSocket, res);
    const withBody = req.chunked || req.announcedBytes > 0;
    if (withBody) res.forwardBody = new PassThrough();
    this.dispatch(res);
    // undici may refuse the request at once (a header Node's server let through): already answered
    if (res.phase === 'ended') return;
    if (withBody) {
      // the body streams through as the client sends it; REQUEST_TIMEOUT starts once it is all forwarded
      res.timer = setTimeout(onDeadline, this.totalTimeoutMs, res);
      req.on('end', onBodyForwarded);
      // no length up front: counted as it streams
      if (req.chunked) req.on('data', onBodyData);
      req.pipe(res.forwardBody!);
    } else {
      this.forwarded(res, res.startedAt);
    }
  }

  /** An exchange is over (answered to its last byte, failed, or cut): its connection is free. */
  exchangeEnded(): void {
    this.exchanges -= 1;
  }

  /** The call's last exchange is over: its slot of the concurrency limit is freed, with how long it held it and how it ended. */
  freeSlot(res: ProxyResponse): void {
    res.holdsSlot = false;
    const limiter = this.limiter!;
    const now = limiter.clock.now();
    limiter.release(now - res.slotAt, res.callEnd, now);
  }

  /** The whole request is with the upstream (`now`): REQUEST_TIMEOUT starts, within the total time. */
  forwarded(res: ProxyResponse, now: number): void {
    res.sentAt = now;
    clearTimeout(res.timer);
    const left = this.totalTimeoutMs - (now - res.startedAt);
    if (this.requestTimeoutMs <= left) {
      res.deadline = 'upstream';
      res.timer = setTimeout(onDeadline, this.requestTimeoutMs, res);
    } else {
      res.timer = setTimeout(onDeadline, Math.max(0, left), res);
    }
  }

  /** Sends (or sends again) the call's request to the upstream. */
  dispatch(res: ProxyResponse): void {
    const call = new UpstreamCall(this, res);
    res.upstream = call;
    this.exchanges += 1;
    this.pool.dispatch({ method: res.req.method!, path: res.forwardPath, headers: res.forwardHeaders, body: res.forwardBody }, call);
  }

  /** The exchange failed before or while answering (undici's onError). */
  upstreamFailed(res: ProxyResponse, error: Error): void {
    if (res.phase === 'streaming') {
      this.bodyCutOff(res, error);
      return;
    }
    if (res.phase === 'answered') {
      // the answer broke off mid-body: the client must see a cut, not a clean end
      if (!res.writableFinished) res.destroy();
      return;
    }
    if (res.phase !== 'waiting') return;
    if (this.closing) {
      this.endWithoutOutcome(res);
      return;
    }
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'UND_ERR_INVALID_ARG') {
      // a target or header that Node's server parser let through but undici refuses
      this.logger.debug(`proxy cannot forward ${res.req.method ?? '?'} ${res.req.url ?? '?'}: ${error.message}`, { event: 'error', source: 'proxy' });
      this.endWithoutOutcome(res, CANNOT_FORWARD);
      return;
    }
    // A kept-alive connection the upstream closed just as we reused it: send once more on a fresh
    // one. Only without a body, which could not be replayed.
    if (!res.retried && res.forwardBody === null && onReusedConnection(error)) {
      res.retried = true;
      this.dispatch(res);
      return;
    }
    if (code === 'UND_ERR_CONNECT_TIMEOUT') this.failed(res, this.timeoutReason, 504);
    else this.failed(res, upstreamReason(error), 502);
  }

  /**
   * The headers to forward: the client's end-to-end ones, Host set to the upstream's, and
   * X-Forwarded-For (appended), -Proto and -Host. Notes the body's framing on `req`. Undefined
   * when the request has more than one Host header (RFC 9112 section 3.2: a 400).
   */
  private requestHeaders(req: ProxyRequest): string[] | undefined {
    const raw = req.rawHeaders;
    const headers: string[] = ['Host', this.host];
    let connection: string | undefined;
    let forwardedFor: string | undefined;
    let originalHost: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      const value = raw[i + 1]!;
      const lower = name.toLowerCase();
      const role = REQUEST_HEADER_ROLES.get(lower);
      if (role === undefined) {
        if (!lower.startsWith('proxy-')) headers.push(name, value);
        continue;
      }
      switch (role) {
        case 'drop':
          break;
        case 'connection':
          connection = connection === undefined ? value : `${connection},${value}`;
          break;
        case 'transfer-encoding':
          // Node's parser has de-chunked the body; undici chunks a body of unknown length again
          req.chunked = true;
          break;
        case 'content-length':
          req.announcedBytes = Number(value);
          headers.push(name, value);
          break;
        case 'host':
          if (originalHost !== undefined) return undefined;
          originalHost = value;
          break;
        case 'x-forwarded-for':
          forwardedFor = forwardedFor === undefined ? value : `${forwardedFor}, ${value}`;
          break;
      }
    }
    const forwarded = withoutNominated(headers, connection, 2);
    const client = req.socket.remoteAddress;
    const chain = client === undefined ? forwardedFor : forwardedFor === undefined ? client : `${forwardedFor}, ${client}`;
    if (chain !== undefined) forwarded.push('X-Forwarded-For', chain);
    forwarded.push('X-Forwarded-Proto', 'http');
    if (originalHost !== undefined) forwarded.push('X-Forwarded-Host', originalHost);
    return forwarded;
  }

  /** The 503 of an open circuit: Retry-After is the whole seconds until the trial, at least 1. */
  private openAnswer(retryAfterMs: number): Canned {
    const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    if (seconds > CACHED_RETRY_SECONDS) return rejection('open', seconds);
    return (this.openAnswers[seconds] ??= rejection('open', seconds));
  }

  /**
   * The upstream answered; its answer streams to the client. A failing status is counted at once; a
   * success once its body has all come in (a body that breaks off is a failure). Returns whether
   * undici may go on reading the answer (false: it was cut).
   */
  answered(res: ProxyResponse, status: number, statusText: string, rawHeaders: Buffer[]): boolean {
    const verdict = classifyStatus(status, this.acceptClientErrors);
    const headers = responseHeaders(rawHeaders);
    if (verdict.ok) {
      res.phase = 'streaming';
    } else {
      res.phase = 'answered';
      // a 4xx counted as a failure is still a prompt answer: the limit learns its latency
      res.callEnd = status >= 500 ? 'failure' : 'success';
      const retryAfterMs = asksToWait(status) ? parseRetryAfter(headerValue(headers, 'retry-after'), Date.now()) : undefined;
      this.settle(res, status, verdict.reason, retryAfterMs);
    }
    if (this.fallbackCache !== undefined && verdict.ok) res.recorder = this.fallbackCache.record(cacheRequest(res.req), status, headers);
    try {
      res.writeHead(status, statusText, headers);
    } catch (error) {
      // a header undici's parser accepted but Node's server side will not write
      this.logger.warn(`proxy cannot pass on the answer to ${res.req.method ?? '?'} ${res.req.url ?? '?'}: ${String(error)}`, {
        event: 'error',
        source: 'proxy',
      });
      // our fault, not the upstream's
      if (res.phase === 'streaming') this.endWithoutOutcome(res);
      res.upstream?.cancel();
      res.destroy();
      return false;
    }
    return true;
  }

  /** A success's body has all come in: now it counts. */
  bodyComplete(res: ProxyResponse, status: number): void {
    res.phase = 'answered';
    res.callEnd = 'success';
    res.recorder?.end();
    this.settle(res, status, undefined);
  }

  /** A success's body broke off (the upstream closed or reset): a failure, and the client sees a cut. */
  bodyCutOff(res: ProxyResponse, error: Error): void {
    res.recorder?.abandon();
    if (this.closing) {
      this.endWithoutOutcome(res);
    } else {
      res.phase = 'ended';
      res.callEnd = 'failure';
      clearTimeout(res.timer);
      this.settle(res, res.statusCode, `answer cut off mid-body (${upstreamReason(error)})`);
    }
    res.destroy();
  }

  /** The upstream failed before answering: 502 for a network error, 504 for a timeout. */
  failed(res: ProxyResponse, reason: string, status: 502 | 504): void {
    res.phase = 'ended';
    res.callEnd = status === 504 ? 'timeout' : 'failure';
    clearTimeout(res.timer);
    this.stopForwarding(res);
    const stale = this.fallbackFor(res.req);
    this.settle(res, undefined, reason, undefined, stale === undefined ? 'failure' : 'fallback');
    if (res.headersSent || res.destroyed) return;
    if (stale !== undefined) this.serveFallback(res, stale, status === 502 ? 'upstream error' : 'upstream timeout');
    else send(res, canned(status, { error: status === 502 ? 'bad gateway' : 'gateway timeout', reason }));
  }

  /** The cached answer a GET or HEAD may get instead of an error (PROXY_FALLBACK=stale), or undefined. */
  private fallbackFor(req: ProxyRequest): CachedAnswer | undefined {
    return this.fallbackCache?.lookup(cacheRequest(req));
  }

  /** Sends a cached answer, marked stale (`Age`, `Cache-Status` naming why); a HEAD gets its headers only. */
  private serveFallback(res: ProxyResponse, entry: CachedAnswer, why: string): void {
    const headers = fallbackHeaders(entry, this.fallbackCache!.ageOf(entry), why).filter(
      (_, i, all) => all[i - (i % 2)]!.toLowerCase() !== 'content-length',
    );
    headers.push('Content-Length', String(entry.body.length));
    this.logger.debug(`proxy answered ${res.req.method ?? '?'} ${res.req.url ?? '?'} from the stale cache: ${why}`, { event: 'proxy', source: 'proxy' });
    res.writeHead(entry.status, headers);
    res.end(res.req.method === 'HEAD' ? undefined : entry.body);
  }

  /**
   * Reports an answered or failed call (`status`: the upstream's, if it answered; `failure`
   * undefined: success) to the breaker, the observer, the last outcome and the log.
   */
  private settle(
    res: ProxyResponse,
    status: number | undefined,
    reported: string | undefined,
    retryAfterMs?: number,
    /** how a counted failure is told to the observer: `fallback` when a cached answer goes out instead */
    failedAs: 'failure' | 'fallback' = 'failure',
  ): void {
    const ticket = res.ticket!;
    // upstream time: from when it had the whole request (or, answering early, from the start)
    const seconds = (performance.now() - (res.sentAt >= 0 ? res.sentAt : res.startedAt)) / 1000;
    const durationMs = seconds * 1000;
    // what the breaker counts: a slow success is a failure (`slow: 1800 ms`)
    const outcome = this.breaker.judge(
      ticket,
      reported === undefined
        ? { ok: true, durationMs }
        : retryAfterMs === undefined
          ? { ok: false, reason: reported, durationMs }
          : { ok: false, reason: reported, durationMs, retryAfterMs },
    );
    const failure = outcome.ok ? undefined : outcome.reason;
    if (!this.breaker.isCurrent(ticket)) {
      this.breaker.record(ticket, outcome);
      this.observer?.callEnded('proxy', 'late', seconds);
      // debug, not info: when the circuit opens under load, every call in flight ends late
      this.logger.debug(`proxy call result ignored: ${describe(res, failure, seconds)}; the circuit changed state while it was in flight`, {
        event: 'late',
        source: 'proxy',
        ok: failure === undefined,
        ...(failure === undefined ? {} : { reason: failure }),
      });
      return;
    }
    const latencyMs = Math.round(seconds * 1000);
    this.lastOutcome?.record('proxy', { ok: failure === undefined, status, reason: failure, latencyMs });
    if (failure === undefined) {
      this.breaker.record(ticket, outcome);
      this.observer?.callEnded('proxy', 'success', seconds);
      return;
    }
    // logged before it is recorded, so its line comes before the transition it may cause
    const before = this.breaker.snapshot();
    const count = ticket.trial ? 'trial failed' : `${before.consecutiveFailures + 1} consecutive failures`;
    this.logger.warn(`proxy call failed: ${describe(res, failure, seconds)} (${count})`, {
      event: 'proxy',
      state: before.state,
      reason: failure,
      latencyMs,
    });
    this.breaker.record(ticket, outcome);
    this.observer?.callEnded('proxy', failedAs, seconds);
  }

  /** Ends an admitted call without an outcome: the upstream call stops, the ticket goes back. */
  endWithoutOutcome(res: ProxyResponse, answer?: Canned): void {
    if (res.phase === 'ended') return;
    res.phase = 'ended';
    res.recorder?.abandon();
    clearTimeout(res.timer);
    this.stopForwarding(res);
    this.breaker.release(res.ticket!);
    this.observer?.callEnded('proxy', 'aborted');
    if (answer !== undefined && !res.headersSent && !res.destroyed) send(res, answer);
  }

  /** Cuts the exchange (its connection is closed) and stops feeding it the client's body. */
  stopForwarding(res: ProxyResponse): void {
    if (res.forwardBody !== null) res.req.unpipe(res.forwardBody);
    res.upstream?.cancel();
  }

  /** The total time ran out before the upstream's REQUEST_TIMEOUT did: 504, and no outcome. */
  timeUp(res: ProxyResponse): void {
    this.logger.debug(`proxy call abandoned: ${res.req.method ?? '?'} ${res.req.url ?? '?'}: total time limit of ${this.totalTimeoutMs} ms reached`, {
      event: 'proxy',
    });
    this.endWithoutOutcome(res, this.totalTimeUp);
  }

  /** The client, not the upstream, is holding the call up: 408, and no outcome. */
  clientTooSlow(res: ProxyResponse): void {
    this.logger.debug(`proxy call abandoned: ${res.req.method ?? '?'} ${res.req.url ?? '?'}: the client did not send its body in time`, {
      event: 'proxy',
    });
    this.endWithoutOutcome(res, CLIENT_TOO_SLOW);
  }

  bodyTooLarge(res: ProxyResponse): void {
    if (res.phase === 'waiting') {
      this.endWithoutOutcome(res, this.tooLarge);
    } else {
      // the upstream answered early: cut both sides; a success whose body was still coming counts nothing
      if (res.phase === 'streaming') this.endWithoutOutcome(res);
      this.stopForwarding(res);
      res.destroy();
    }
  }
}

function describe(res: ProxyResponse, failure: string | undefined, seconds: number): string {
  const what = failure ?? 'ok';
  // a timeout's (or a slow call's) reason already says how long it took
  const timing = what.startsWith('timeout') || what.startsWith('slow:') ? '' : ` in ${Math.round(seconds * 1000)} ms`;
  return `${res.req.method ?? '?'} ${res.req.url ?? '?'}: ${what}${timing}`;
}

// Listeners shared by every call: `this` is the emitter, which leads to the call's state.

/** The client has room again: undici goes on reading the answer. */
function onDownstreamDrain(this: ProxyResponse): void {
  this.upstream?.resumeAnswer?.();
}

/** A header's value in a flat [name, value, ...] list (names compared without case), or undefined. */
function headerValue(headers: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === lowerName) return headers[i + 1];
  return undefined;
}

/** What the stale cache needs of a client's request. */
function cacheRequest(req: ProxyRequest): CacheRequest {
  return {
    method: req.method ?? '',
    url: req.url ?? '',
    header: (name) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

function onDeadline(res: ProxyResponse): void {
  const proxy = res.proxy!;
  if (res.phase === 'waiting') {
    if (res.deadline === 'upstream') proxy.failed(res, proxy.timeoutReason, 504);
    // the total time is up: the upstream has not had the request (the body is still coming), or
    // has not had all of its REQUEST_TIMEOUT; neither is an upstream fault
    else if (res.sentAt < 0) proxy.clientTooSlow(res);
    else proxy.timeUp(res);
  } else if (res.phase === 'streaming' || res.phase === 'answered') {
    const left = proxy.totalTimeoutMs - (performance.now() - res.startedAt);
    if (left > 0) {
      res.timer = setTimeout(onDeadline, left, res);
    } else {
      // a body still coming in when the time is up was cut by us: no outcome
      if (res.phase === 'streaming') proxy.endWithoutOutcome(res);
      proxy.stopForwarding(res);
      res.destroy();
    }
  }
}

function onDownstreamClose(this: ProxyResponse): void {
  clearTimeout(this.timer);
  if (this.phase === 'waiting' || this.phase === 'streaming') {
    // the client left before the upstream's answer was all in: no outcome, and a trial slot is freed
    this.proxy!.endWithoutOutcome(this);
  } else if (this.phase === 'answered' && !this.writableFinished) {
    this.upstream?.cancel();
  }
}

function onBodyForwarded(this: ProxyRequest): void {
  const res = this.exchange!;
  if (res.phase === 'waiting') res.proxy!.forwarded(res, performance.now());
}

function onBodyData(this: ProxyRequest, chunk: Buffer): void {
  this.receivedBytes += chunk.length;
  const res = this.exchange!;
  if (this.receivedBytes > res.proxy!.maxBodyBytes) {
    this.off('data', onBodyData);
    res.proxy!.bodyTooLarge(res);
  }
}

/** Notes an answer that waits behind another on its connection, to end it when the connection closes. */
function queueOn(socket: PipelinedSocket, res: ProxyResponse): void {
  const queued = socket.queued;
  if (queued === undefined) {
    socket.queued = [res];
    socket.once('close', onPipelineClose);
    return;
  }
  // those at the front have had their turn (Node gives the connection to them in order)
  while (queued.length > 0 && (queued[0]!.socket !== null || queued[0]!.writableFinished)) queued.shift();
  queued.push(res);
}

function onPipelineClose(this: PipelinedSocket): void {
  for (const res of this.queued!) if (res.socket === null && !res.writableFinished) onDownstreamClose.call(res);
  this.queued = undefined;
}

function onConnect(_req: http.IncomingMessage, socket: Socket): void {
  socket.on('error', ignore);
  socket.end(CONNECT_REFUSED);
}

function ignore(): void {}

const NO_ROUTE = canned(404, { error: 'no route for this path' });
const AMBIGUOUS_PATH = canned(400, { error: 'a path with dot segments or encoded slashes or dots cannot be routed: it could reach another route\'s upstream' });
/** `.` or `..` segments, or `%2e`/`%2f`/`%5c` anywhere: an upstream that normalises paths would see another route's. */
const DOT_SEGMENT = /\/\.\.?(?:\/|\?|#|$)|%2e|%2f|%5c|\\/i;

/** Picks the route of a request target: the longest matching prefix. */
class Router {
  /** longest prefix first */
  private readonly routes: readonly { readonly prefix: string; readonly proxy: GuardedProxy }[];

  constructor(
    routes: readonly { readonly prefix: string; readonly proxy: GuardedProxy }[],
    /** more than one route: paths that could cross routes are refused */
    private readonly strict: boolean,
  ) {
    this.routes = [...routes].sort((a, b) => b.prefix.length - a.prefix.length);
  }

  handle(req: ProxyRequest, res: ProxyResponse): void {
    const target = req.url ?? '';
    // origin-form only: absolute-form (`GET http://x/`) and asterisk-form (`OPTIONS *`) are refused
    if (target.charCodeAt(0) !== 47 /* '/' */) {
      send(res, NOT_ORIGIN_FORM);
      return;
    }
    if (this.strict && DOT_SEGMENT.test(target)) {
      send(res, AMBIGUOUS_PATH);
      return;
    }
    for (const route of this.routes) {
      if (target.startsWith(route.prefix)) {
        route.proxy.handle(req, res, target);
        return;
      }
    }
    // no upstream is touched, and no breaker counts it: it is not a call
    send(res, NO_ROUTE);
  }
}

/** Builds the proxy; `listen` starts it. */
export function createProxy(options: ProxyOptions): ServerHandle {
  const routes: readonly NamedProxyRoute[] = 'routes' in options ? options.routes : [{ ...options, name: 'default', prefix: '/' }];
  if (routes.length === 0) throw new Error('createProxy needs at least one route');
  const named = routes.length > 1;
  const proxies = routes.map((route) => ({ prefix: route.prefix, proxy: new GuardedProxy(route, options, routeLogger(options.logger, route.name, named)) }));
  const router = new Router(proxies, named);
  const server = http.createServer<typeof ProxyRequest, typeof ProxyResponse>(
    {
      IncomingMessage: ProxyRequest,
      ServerResponse: ProxyResponse,
      headersTimeout: options.headersTimeoutMs ?? PROXY_DEFAULTS.headersTimeoutMs,
      requestTimeout: options.clientRequestTimeoutMs ?? PROXY_DEFAULTS.clientRequestTimeoutMs,
      connectionsCheckingInterval: options.connectionsCheckingIntervalMs ?? PROXY_DEFAULTS.connectionsCheckingIntervalMs,
    },
    (req, res) => router.handle(req, res),
  );
  server.on('connect', onConnect);
  const handle = serverHandle(server, (error) => options.logger.error(`proxy server error: ${String(error)}`, { event: 'error', source: 'proxy' }));
  return {
    listen: (port, host) => handle.listen(port, host),
    close: async () => {
      // from here on, an upstream call that breaks was broken by us: no outcome, no log line
      for (const { proxy } of proxies) proxy.closing = true;
      await handle.close();
      await Promise.all(proxies.map(({ proxy }) => proxy.pool.destroy()));
    },
  };
}
