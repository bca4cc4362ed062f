/** One autocannon run against a URL, each connection sending its next request once answered. */
import autocannon from 'autocannon';
import { percentileOfSorted } from './stats';

export interface Run {
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly statuses: Readonly<Record<string, number>>;
  /** socket errors and timeouts */
  readonly errors: number;
}

export function runAutocannon(url: string, connections: number, seconds: number): Promise<Run> {
  // per-response hrtime figures: autocannon's own histogram keeps whole milliseconds
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  return new Promise((resolve, reject) => {
    const instance = autocannon({ url, connections, duration: seconds, pipelining: 1, timeout: 5 }, (error: unknown, result: autocannon.Result) => {
      if (error) return reject(error instanceof Error ? error : new Error(String(error)));
      const sorted = Float64Array.from(latencies).sort();
      resolve({
        requestsPerSecond: latencies.length / result.duration,
        p50Ms: percentileOfSorted(sorted, 50),
        p99Ms: percentileOfSorted(sorted, 99),
        statuses,
        errors: result.errors + result.timeouts,
      });
    });
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      latencies.push(responseTime);
      statuses[statusCode] = (statuses[statusCode] ?? 0) + 1;
    });
  });
}
