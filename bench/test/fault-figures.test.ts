import { parseCapture } from '../support/call-capture';
import { parseUpstreamLog } from '../support/demo-upstream';
import { faultFigures, okPerSecond, overloadShare, throughputBackMs, tripCost, type Contact, type FaultWindow } from '../support/fault-figures';
import type { Answer } from '../support/steady-load';

const WINDOW: FaultWindow = { start: 10_000, end: 20_000, settleEnd: 25_000 };

let nextId = 0;
function answer(sentAt: number, fields: Partial<Answer> = {}): Answer {
  return { id: nextId++, sentAt, latencyMs: 1, status: 200, own: false, overloaded: false, clientStallMs: 0, ...fields };
}
const contact = (startedAt: number, kind: Contact['kind'] = 'client', endedAt = startedAt + 1): Contact => ({ startedAt, endedAt, kind });

describe('what a fault cost', () => {
  it('counts as wasted only the calls that began during the fault, by kind', () => {
    const figures = faultFigures(WINDOW, [], [contact(9_999), contact(10_000), contact(12_000, 'probe'), contact(15_000, 'attempt'), contact(20_000)]);
    expect(figures.wasted).toEqual({ client: 1, probe: 1, attempt: 1 });
    expect(figures.wastedTotal).toBe(3);
  });

  it('splits the wasted calls at the first answer the guard made by itself, as the client received it', () => {
    const answers = [answer(10_100, { status: 500 }), answer(10_150, { status: 503, own: true, latencyMs: 150 }), answer(10_250, { status: 503, own: true, latencyMs: 1 })];
    const figures = faultFigures(WINDOW, answers, [contact(10_100), contact(10_150, 'probe'), contact(12_000, 'probe')]);
    expect(figures.firstOwnMs).toBe(251);
    expect(figures.wastedBeforeOwn).toBe(2);
    expect(figures.wastedAfterOwn).toBe(1);
  });

  it('has no first own answer when the guard passes every failure on', () => {
    const figures = faultFigures(WINDOW, [answer(11_000, { status: 500 })], [contact(11_000)]);
    expect(figures.firstOwnMs).toBeUndefined();
    expect(figures.wastedBeforeOwn).toBe(1);
    expect(figures.ownShare).toBe(0);
  });

  it('reports what the clients sent during the fault got: outcomes, latency, Retry-After, shed', () => {
    const answers = [
      answer(9_000, { status: 200, latencyMs: 1 }),
      answer(10_000, { status: 504, latencyMs: 400 }),
      answer(11_000, { error: 'timeout', status: undefined, latencyMs: 3000 }),
      answer(12_000, { status: 503, own: true, retryAfter: '2', latencyMs: 0.5 }),
      answer(13_000, { status: 503, own: true, retryAfter: '1', latencyMs: 0.5 }),
    ];
    const figures = faultFigures(WINDOW, answers, [], [9_500, 10_500, 19_999, 20_000]);
    expect(figures.sent).toBe(4);
    expect(figures.outcomes).toEqual({ '504': 1, timeout: 1, '503': 2 });
    expect(figures.ownShare).toBe(0.5);
    expect(figures.p50Ms).toBe(200.25);
    expect(figures.retryAfterCount).toBe(2);
    expect(figures.retryAfterValues).toEqual(['2', '1']);
    expect(figures.shed).toBe(2);
  });

  it('leaves out of p50/p99 the answers during which the client itself was stalled, and says how many', () => {
    const answers = [answer(11_000, { latencyMs: 1 }), answer(11_010, { latencyMs: 2 }), answer(11_020, { latencyMs: 190, clientStallMs: 180 }), answer(11_030, { latencyMs: 3, clientStallMs: 20 })];
    const figures = faultFigures(WINDOW, answers, []);
    expect(figures.p99Ms).toBeCloseTo(2.98, 5);
    expect(figures.stalledOut).toBe(1);
    expect(figures.sent).toBe(4);
  });

  it('times the return to 200s from the end of the fault: the first 200, and the one after the last failure', () => {
    const answers = [
      answer(19_990, { status: 200, latencyMs: 5 }),
      answer(20_100, { status: 503, own: true }),
      answer(20_500, { status: 200, latencyMs: 2 }),
      answer(20_600, { status: 502 }),
      answer(21_000, { status: 200, latencyMs: 3 }),
      answer(21_100, { status: 200 }),
    ];
    const figures = faultFigures(WINDOW, answers, []);
    expect(figures.firstOkMs).toBe(502);
    expect(figures.stableOkMs).toBe(1003);
  });

  it('has no return to 200s while the answers after the fault still fail', () => {
    const figures = faultFigures(WINDOW, [answer(20_100, { status: 200 }), answer(24_000, { status: 503 })], []);
    expect(figures.firstOkMs).toBe(101);
    expect(figures.stableOkMs).toBeUndefined();
  });
});

describe('the concurrency limit seen by the clients', () => {
  const overloaded = (sentAt: number): Answer => answer(sentAt, { status: 503, own: true, overloaded: true, retryAfter: '1' });

  it('shares out the overloaded answers among the requests sent in the span, whenever they were answered', () => {
    const answers = [answer(9_999), overloaded(9_999), answer(10_000, { latencyMs: 2_000 }), overloaded(10_500), answer(11_000, { status: 503, own: true }), overloaded(11_999), overloaded(12_000)];
    expect(overloadShare(answers, 10_000, 12_000)).toEqual({ sent: 4, overloaded: 2, share: 0.5 });
  });

  it('has a share of 0 when nothing was sent', () => {
    expect(overloadShare([answer(5_000)], 10_000, 12_000)).toEqual({ sent: 0, overloaded: 0, share: 0 });
  });
});

describe('throughput back after a fault', () => {
  /** a 2xx (or `status`) received at `at`, sent `latencyMs` before */
  const received = (at: number, status = 200, latencyMs = 1): Answer => answer(at - latencyMs, { status, latencyMs });
  const every10ms = (from: number, to: number, status = 200): Answer[] => Array.from({ length: Math.round((to - from) / 10) }, (_, i) => received(from + i * 10, status));

  it('counts the 2xx answers received per second in a span, by when they arrived', () => {
    const answers = [...every10ms(0, 3_000), received(3_000, 200, 2_000), received(2_999, 504, 400), received(1_000, 201)];
    expect(okPerSecond(answers, 0, 3_000)).toBeCloseTo(301 / 3, 10);
    expect(okPerSecond(answers, 0, 0)).toBe(0);
  });

  it('times the return from the end of the fault to the first 2xx that begins a second at the rate asked', () => {
    // 503s while the circuit stays open, then 2xx from 1 200 ms after the end at 100 a second
    const answers = [...every10ms(20_000, 21_200, 503), ...every10ms(21_200, 25_000)];
    expect(throughputBackMs(answers, 20_000, 25_000, 90)).toBe(1_200);
  });

  it('does not take a lone early 2xx for the return, nor a half-rate trickle', () => {
    const halfRate = Array.from({ length: 100 }, (_, i) => received(20_500 + i * 20));
    const answers = [received(20_050), ...halfRate, ...every10ms(22_500, 25_000)];
    // the second from 22 300 ms holds the trickle's last 10 and the first 80 at the full rate
    expect(throughputBackMs(answers, 20_000, 25_000, 90)).toBe(2_300);
  });

  it('leaves out the 2xx answers received before the end, and has no return when no whole second reaches the rate before `until`', () => {
    const before = every10ms(19_000, 20_000);
    expect(throughputBackMs([...before, ...every10ms(24_200, 25_000)], 20_000, 25_000, 90)).toBeUndefined();
    expect(throughputBackMs([...before, ...every10ms(24_000, 25_000)], 20_000, 25_000, 90)).toBe(4_000);
    // the load goes on after `until` (the next fault): a second that ends after it does not count
    expect(throughputBackMs(every10ms(24_000, 26_000), 20_000, 24_500, 90)).toBeUndefined();
  });
});

describe('calls before and after a trip', () => {
  it('tells the calls that had ended when the circuit opened from those still in flight, and counts the trials a window later', () => {
    const contacts = [contact(10_010, 'client', 10_011), contact(10_020, 'client', 10_420), contact(10_030, 'client', 10_031), contact(10_040, 'client', 10_440), contact(12_500, 'probe'), contact(14_900, 'probe'), contact(20_500)];
    expect(tripCost(WINDOW, contacts, 10_100, 1000)).toEqual({ before: 4, inFlight: 2, ended: 2, after: 2 });
  });

  it('counts a call that reached the upstream soon after the trip as let through before it, in flight', () => {
    const contacts = [contact(10_090, 'client', 10_091), contact(10_100, 'client', 10_100), contact(10_300, 'client', 10_700), contact(12_100, 'probe')];
    expect(tripCost(WINDOW, contacts, 10_100, 1000)).toEqual({ before: 3, inFlight: 1, ended: 2, after: 1 });
  });

  it('adds the calls known to be in flight that the contacts cannot show, never more than the calls before', () => {
    const attempts = [contact(10_010, 'attempt', 10_010), contact(10_020, 'attempt', 10_020), contact(10_030, 'attempt', 10_030), contact(10_040, 'attempt', 10_040)];
    expect(tripCost(WINDOW, attempts, 10_050, 1000, 1)).toEqual({ before: 4, inFlight: 1, ended: 3, after: 0 });
    expect(tripCost(WINDOW, attempts, 10_050, 1000, 9).inFlight).toBe(4);
  });
});

describe('reading the records', () => {
  it("reads the upstream's request lines, start = end - duration, and skips the others", () => {
    const log = [
      '2026-12-01T09:34:26.056Z upstream listening on http://127.0.0.1:23456 (fault mode normal)',
      '2026-12-01T09:34:26.982Z GET /?c=12 200 3ms',
      '2026-12-01T09:34:26.991Z fault mode normal -> hang',
      '2026-12-01T09:34:27.400Z GET /?probe=monitor hang 400ms',
      '',
    ].join('\n');
    expect(parseUpstreamLog(log)).toEqual([
      { startedAt: Date.parse('2026-12-01T09:34:26.979Z'), endedAt: Date.parse('2026-12-01T09:34:26.982Z'), method: 'GET', url: '/?c=12', outcome: '200' },
      { startedAt: Date.parse('2026-12-01T09:34:27.000Z'), endedAt: Date.parse('2026-12-01T09:34:27.400Z'), method: 'GET', url: '/?probe=monitor', outcome: 'hang' },
    ]);
  });

  it("reads tcpdump's lines: a SYN opens a connection, a payload is a request on an open one", () => {
    const text = [
      'listening on lo, link-type EN10MB (Ethernet), snapshot length 262144 bytes',
      '1796117730.481722 IP 127.0.0.1.57652 > 127.0.0.1.23456: tcp 0',
      '1796117730.489920 IP 127.0.0.1.57668 > 127.0.0.1.23456: tcp 84',
      '3 packets captured',
    ].join('\n');
    const calls = parseCapture(text);
    expect(calls.map((call) => call.kind)).toEqual(['connect', 'request']);
    expect(calls[0]?.at).toBeCloseTo(1796117730481.722, 2);
    expect(calls[1]?.at).toBeCloseTo(1796117730489.92, 2);
  });
});
