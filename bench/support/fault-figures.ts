/**
 * What a fault cost, from what the clients got and what reached the upstream: pure arithmetic over
 * the records of one fault, for the side-by-side bench (bench/peers.ts) and its tests.
 */
import { STALL_MS, type Answer } from './steady-load';
import { percentile } from './stats';

/**
 * A call that reached the broken upstream: a client request or a probe/health check found in the
 * upstream's log, or, for a killed upstream, a connection attempt seen by the capture (`attempt`:
 * the capture cannot tell a client's from a probe's).
 */
export interface Contact {
  readonly startedAt: number;
  readonly endedAt: number;
  readonly kind: 'client' | 'probe' | 'attempt';
}

/** One fault: it began at `start`, the upstream was back at `end`; answers are watched to `settleEnd`. */
export interface FaultWindow {
  readonly start: number;
  readonly end: number;
  readonly settleEnd: number;
}

export interface FaultFigures {
  /** calls that reached the upstream from `start` to `end`, by kind */
  readonly wasted: Readonly<Record<Contact['kind'], number>>;
  readonly wastedTotal: number;
  /**
   * from `start` to the first answer the guard made by itself, as the client received it (a guard
   * short of CPU answers late what was sent early); undefined: none
   */
  readonly firstOwnMs: number | undefined;
  /** wasted calls that began before that first own answer, and after it (the trials, mostly) */
  readonly wastedBeforeOwn: number;
  readonly wastedAfterOwn: number;
  /** client requests sent from `start` to `end` */
  readonly sent: number;
  /** their outcomes: the status, or `timeout` / the socket error */
  readonly outcomes: Readonly<Record<string, number>>;
  /** share of them the guard answered by itself */
  readonly ownShare: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** answers left out of p50/p99 because the client itself was stalled while they were out */
  readonly stalledOut: number;
  /** of them, how many carried Retry-After, and its distinct values */
  readonly retryAfterCount: number;
  readonly retryAfterValues: readonly string[];
  /** requests not sent because the client's bound of requests in flight was reached */
  readonly shed: number;
  /** from `end` to the first 200 received for a request sent after it; undefined: none before settleEnd */
  readonly firstOkMs: number | undefined;
  /** from `end` to the 200 after which every answer was a 200; undefined: still failing at settleEnd */
  readonly stableOkMs: number | undefined;
}

const within = (t: number, from: number, to: number): boolean => t >= from && t < to;

export function outcomeOf(answer: Answer): string {
  return answer.status === undefined ? (answer.error ?? 'error') : String(answer.status);
}

/** The client was itself stalled while this request was out: its latency is not all the guard's. */
export function clientStalled(answer: Answer): boolean {
  return answer.clientStallMs > STALL_MS;
}

export function faultFigures(window: FaultWindow, answers: readonly Answer[], contacts: readonly Contact[], shedAt: readonly number[] = []): FaultFigures {
  const during = answers.filter((answer) => within(answer.sentAt, window.start, window.end));
  const hits = contacts.filter((contact) => within(contact.startedAt, window.start, window.end));
  const wasted = { client: 0, probe: 0, attempt: 0 };
  for (const hit of hits) wasted[hit.kind] += 1;

  const receivedAt = (answer: Answer): number => answer.sentAt + answer.latencyMs;
  const ownAt = Math.min(...during.filter((answer) => answer.own).map(receivedAt));
  const outcomes: Record<string, number> = {};
  for (const answer of during) outcomes[outcomeOf(answer)] = (outcomes[outcomeOf(answer)] ?? 0) + 1;
  const latencies = during.filter((answer) => !clientStalled(answer)).map((answer) => answer.latencyMs);
  const retryAfter = during.filter((answer) => answer.retryAfter !== undefined);

  const after = answers.filter((answer) => within(answer.sentAt, window.end, window.settleEnd));
  const firstOk = after.find((answer) => answer.status === 200);
  let lastBad = -1;
  after.forEach((answer, i) => {
    if (answer.status !== 200) lastBad = i;
  });
  const stableOk = lastBad === after.length - 1 ? undefined : after[lastBad + 1];

  return {
    wasted,
    wastedTotal: hits.length,
    firstOwnMs: Number.isFinite(ownAt) ? ownAt - window.start : undefined,
    wastedBeforeOwn: hits.filter((hit) => hit.startedAt < ownAt).length,
    wastedAfterOwn: hits.filter((hit) => hit.startedAt >= ownAt).length,
    sent: during.length,
    outcomes,
    ownShare: during.length === 0 ? 0 : during.filter((answer) => answer.own).length / during.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    stalledOut: during.length - latencies.length,
    retryAfterCount: retryAfter.length,
    retryAfterValues: [...new Set(retryAfter.map((answer) => answer.retryAfter as string))],
    shed: shedAt.filter((t) => within(t, window.start, window.end)).length,
    firstOkMs: firstOk === undefined ? undefined : receivedAt(firstOk) - window.end,
    stableOkMs: stableOk === undefined ? undefined : receivedAt(stableOk) - window.end,
  };
}

export interface TripCost {
  /** calls the guard let through before it opened (they may reach the upstream a little after) */
  readonly before: number;
  /** of those, the ones still in flight when it opened (admitted: nothing can stop them) */
  readonly inFlight: number;
  /** the rest: calls that had ended when it opened, the failures that opened it */
  readonly ended: number;
  /** calls that began a window or more after it opened, before the upstream was back: trials */
  readonly after: number;
}

/**
 * How many calls the upstream received for the guard before and after its trip at `tripAt`. A
 * breaker lets nothing through once open until its window ends, so a call reaching the upstream
 * within half a window (`settleMs`) of the trip was let through before it and arrived late (the
 * logs have whole ms, and a process short of CPU sends late): it counts as in flight at the trip.
 * `alsoInFlight` adds calls known to be in flight that the contacts cannot show (a refused
 * connection has no end time to compare).
 */
export function tripCost(window: FaultWindow, contacts: readonly Contact[], tripAt: number, settleMs: number, alsoInFlight = 0): TripCost {
  const hits = contacts.filter((contact) => within(contact.startedAt, window.start, window.end));
  const before = hits.filter((hit) => hit.startedAt < tripAt + settleMs);
  const seen = before.filter((hit) => hit.endedAt > tripAt).length;
  const inFlight = Math.min(before.length, seen + alsoInFlight);
  return { before: before.length, inFlight, ended: before.length - inFlight, after: hits.length - before.length };
}

/** Requests sent in a span, and how many of them the guard answered `overloaded` (its concurrency limit full). */
export interface OverloadShare {
  readonly sent: number;
  readonly overloaded: number;
  /** overloaded / sent; 0 when none was sent */
  readonly share: number;
}

/** Of the requests sent from `from` to `to`, the share answered `overloaded`. */
export function overloadShare(answers: readonly Answer[], from: number, to: number): OverloadShare {
  const sent = answers.filter((answer) => within(answer.sentAt, from, to));
  const overloaded = sent.filter((answer) => answer.overloaded).length;
  return { sent: sent.length, overloaded, share: sent.length === 0 ? 0 : overloaded / sent.length };
}

const isOk = (answer: Answer): boolean => answer.status !== undefined && answer.status >= 200 && answer.status < 300;
/** when the client received the answer's last byte (throughput is what the clients get, not what they send) */
const okReceipts = (answers: readonly Answer[]): number[] =>
  answers
    .filter(isOk)
    .map((answer) => answer.sentAt + answer.latencyMs)
    .sort((a, b) => a - b);

/** 2xx answers received from `from` to `to`, per second. */
export function okPerSecond(answers: readonly Answer[], from: number, to: number): number {
  if (to <= from) return 0;
  return okReceipts(answers).filter((at) => within(at, from, to)).length / ((to - from) / 1000);
}

/**
 * From `from` (the upstream back) to the first 2xx answer received at or after it that begins a
 * second holding at least `perSecond` 2xx answers, that second over before `until`; undefined: none.
 * Only a 2xx can begin such a second: a second starting earlier holds no more than the one starting
 * at its first 2xx, so trying each 2xx finds the earliest.
 */
export function throughputBackMs(answers: readonly Answer[], from: number, until: number, perSecond: number): number | undefined {
  const receipts = okReceipts(answers);
  let end = 0;
  for (let i = 0; i < receipts.length; i++) {
    const at = receipts[i] as number;
    if (at < from) continue;
    if (at + 1000 > until) return undefined;
    end = Math.max(end, i);
    while (end < receipts.length && (receipts[end] as number) < at + 1000) end++;
    if (end - i >= perSecond) return at - from;
  }
  return undefined;
}
