/**
 * A constant, bounded client load: `rate` GETs a second on a fixed schedule (open loop: a slow
 * answer does not slow the sending, as with real clients), at most `maxInFlight` at once (a request
 * due while that many are out is not sent and counted as shed), each given up after `timeoutMs`.
 * Every request carries its own id in the query (`/?c=<id>`), so the upstream's log tells which
 * ones reached it. Keep-alive connections, like a browser or a service client.
 */
import http from 'node:http';

export interface Answer {
  readonly id: number;
  /** when it was sent, ms since the epoch, sub-ms */
  readonly sentAt: number;
  readonly latencyMs: number;
  /** the status, or undefined when no answer came (see `error`) */
  readonly status?: number;
  /** `timeout` (the client gave up) or the socket error's code */
  readonly error?: string;
  readonly retryAfter?: string;
  /** the guard answered by itself, without trying the upstream (its own marker, see guards.ts) */
  readonly own: boolean;
  /** of its own answers, one saying its concurrency limit was full (the monitor's 503 `overloaded`) */
  readonly overloaded: boolean;
  /**
   * how long this client process was itself stalled (its event loop late by more than
   * STALL_MS) while the request was out: a latency that is partly the client's, not the guard's
   */
  readonly clientStallMs: number;
}

/** An event-loop delay above this counts as a stall of the client itself. */
export const STALL_MS = 20;
/** How often the client checks its own event loop. */
const LAG_CHECK_MS = 5;

export interface Reply {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export interface SteadyLoadOptions {
  readonly url: string;
  readonly rate: number;
  readonly maxInFlight: number;
  readonly timeoutMs: number;
  /** whether an answer is the guard's own (a rejection), not something it got from the upstream */
  readonly isOwn: (reply: Reply) => boolean;
  /** whether an answer says the guard's concurrency limit was full; none is, without it */
  readonly isOverloaded?: (reply: Reply) => boolean;
}

export interface SteadyLoad {
  /** requests not sent because `maxInFlight` were out: their due times */
  readonly shed: readonly number[];
  /** Stops sending, waits for the requests out to end, and returns every answer in sending order. */
  stop(): Promise<Answer[]>;
}

const now = (): number => performance.timeOrigin + performance.now();

export function startSteadyLoad(options: SteadyLoadOptions): SteadyLoad {
  const target = new URL(options.url);
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.maxInFlight });
  const answers: Answer[] = [];
  const shed: number[] = [];
  const pending = new Set<Promise<void>>();
  const period = 1000 / options.rate;
  const startedAt = now();
  let sent = 0;
  let nextId = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const send = (): void => {
    const id = nextId++;
    const sentAt = now();
    const done = new Promise<void>((resolve) => {
      let finished = false;
      const finish = (answer: Omit<Answer, 'id' | 'sentAt' | 'latencyMs' | 'clientStallMs' | 'overloaded'> & { overloaded?: boolean }): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timeout);
        answers.push({ id, sentAt, latencyMs: now() - sentAt, clientStallMs: 0, overloaded: false, ...answer });
        resolve();
      };
      const req = http.get({ agent, host: target.hostname, port: target.port, path: `/?c=${id}` }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const retryAfter = res.headers['retry-after'];
          const reply = { status, headers: res.headers, body };
          finish({ status, ...(retryAfter === undefined ? {} : { retryAfter }), own: options.isOwn(reply), overloaded: options.isOverloaded?.(reply) ?? false });
        });
        res.on('error', (error: NodeJS.ErrnoException) => finish({ error: error.code ?? error.message, own: false }));
      });
      req.on('error', (error: NodeJS.ErrnoException) => finish({ error: error.code ?? error.message, own: false }));
      const timeout = setTimeout(() => {
        finish({ error: 'timeout', own: false });
        req.destroy();
      }, options.timeoutMs);
    });
    pending.add(done);
    void done.then(() => pending.delete(done));
  };

  // Each tick sends every request due by now: a late timer does not lower the rate.
  const tick = (): void => {
    if (stopped) return;
    const due = Math.floor((now() - startedAt) / period) + 1;
    for (; sent < due; sent++) {
      if (pending.size >= options.maxInFlight) shed.push(startedAt + sent * period);
      else send();
    }
    timer = setTimeout(tick, Math.max(0, startedAt + sent * period - now()));
  };
  tick();

  // the client's own stalls (a busy machine, a GC pause): spans where its event loop was late
  const stalls: { from: number; to: number }[] = [];
  let expected = now() + LAG_CHECK_MS;
  const lagCheck = setInterval(() => {
    const at = now();
    if (at - expected > STALL_MS) stalls.push({ from: expected, to: at });
    expected = at + LAG_CHECK_MS;
  }, LAG_CHECK_MS);
  const stalledDuring = (from: number, to: number): number =>
    stalls.reduce((sum, stall) => sum + Math.max(0, Math.min(to, stall.to) - Math.max(from, stall.from)), 0);

  return {
    shed,
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      while (pending.size > 0) await Promise.all([...pending]);
      clearInterval(lagCheck);
      agent.destroy();
      return answers
        .map((answer) => ({ ...answer, clientStallMs: stalledDuring(answer.sentAt, answer.sentAt + answer.latencyMs) }))
        .sort((a, b) => a.id - b.id);
    },
  };
}
