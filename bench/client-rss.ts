/**
 * How much memory the proxy's upstream client holds under load, apart from the rest of the monitor:
 * undici's Pool (the guarded proxy's client) against http.request with a keep-alive agent (the
 * pass-through's), each in a fresh process of the given node, with the image's node flags and ENV
 * (bench/support/shipped.ts reads them from monitor/Dockerfile).
 *
 *   npm run bench:client-rss                 (this machine's node)
 *   BENCH_MONITOR_NODE=24 npm run bench:client-rss
 *
 * Each child (bench/client-rss-worker.ts) runs a node:http server and the client in one process,
 * sends REQUESTS GETs with IN_FLIGHT at once, and prints its anonymous RSS (RssAnon) and heap before and after. A figure to
 * read beside bench:proxy's RSS, not a target of its own; nothing is written to bench/results.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import type { Sample } from './client-rss-worker';
import { compileForChild } from './support/compile';
import { nodeOfMajor, shippedMonitor } from './support/shipped';

const REQUESTS = 60_000;
const IN_FLIGHT = 32;
const RUNS = 2;

function main(): void {
  const major = process.env.BENCH_MONITOR_NODE;
  const node = major === undefined ? process.execPath : nodeOfMajor(Number(major));
  if (node === undefined) throw new Error(`BENCH_MONITOR_NODE=${major}: no such node could be fetched`);
  const version = execFileSync(node, ['-v'], { encoding: 'utf8' }).trim();
  const js = compileForChild('bench/client-rss-worker.ts');
  const shipped = shippedMonitor();
  const FLAGS = shipped.nodeFlags;
  process.stdout.write(`client RSS on node ${version} (${[...FLAGS, ...Object.entries(shipped.env).map(([key, value]) => `${key}=${value}`)].join(' ')}): ${REQUESTS} GETs, ${IN_FLIGHT} in flight, ${RUNS} runs each\n`);
  for (let run = 0; run < RUNS; run++) {
    for (const client of ['undici', 'http'] as const) {
      // compiled JavaScript, as the monitor runs: no TypeScript compiler in the measured process
      const result = spawnSync(node, [...FLAGS, js, client, String(REQUESTS), String(IN_FLIGHT)], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, ...shipped.env } });
      if (result.status !== 0) throw new Error(`${client}: exit ${result.status}: ${result.stderr}`);
      const sample = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as Sample;
      const label = client === 'undici' ? "undici Pool (the guarded proxy's client)" : 'http.request, keep-alive agent (the pass-through)';
      process.stdout.write(`  ${label.padEnd(52)} anon RSS ${(sample.anonKbBefore / 1024).toFixed(1)} -> ${(sample.anonKbAfter / 1024).toFixed(1)} MB, heap used ${sample.heapMbAfter.toFixed(1)} MB\n`);
    }
  }
}

if (require.main === module) main();
