/**
 * `npm run bench`: every part in turn (breaker, proxy, footprint, detection, webhook, peers), each printing its
 * tables and writing bench/results/<part>.json; bench/results/latest.md gathers them.
 */
import { runBreakerBench } from './breaker';
import { runDetectionBench } from './detection';
import { runFootprintBench } from './footprint';
import { runPeersBench } from './peers';
import { runProxyBench } from './proxy';
import { runWebhookBench } from './webhook';
import { publish, type PartResult } from './support/results';

const PARTS: readonly [string, () => Promise<PartResult>][] = [
  ['breaker', runBreakerBench],
  ['proxy', runProxyBench],
  ['footprint', runFootprintBench],
  ['detection', runDetectionBench],
  ['webhook', runWebhookBench],
  ['peers', runPeersBench],
];

async function main(): Promise<void> {
  const started = performance.now();
  const failed: string[] = [];
  for (const [name, run] of PARTS) {
    const partStarted = performance.now();
    process.stdout.write(`\n### bench:${name}\n`);
    try {
      const result = await run();
      publish(result);
      // a part whose steps failed has published what the others measured; the run still fails
      if ((result.failures ?? []).length > 0) failed.push(name);
    } catch (error) {
      failed.push(name);
      process.stderr.write(`bench:${name} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    }
    process.stdout.write(`bench:${name} took ${Math.round((performance.now() - partStarted) / 1000)} s\n`);
  }
  process.stdout.write(`\nnpm run bench took ${Math.round((performance.now() - started) / 1000)} s${failed.length > 0 ? `; failed: ${failed.join(', ')}` : ''}\n`);
  process.exitCode = failed.length > 0 ? 1 : 0;
}

void main();
