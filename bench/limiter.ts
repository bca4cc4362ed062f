/**
 * The concurrency limiter's cost per call (issue 24): tryAcquire + release, as a proxy's hot path
 * runs them for every request, against the same loop around a function that does nothing, and
 * beside the breaker's core. Each case in its own child process (bench/limiter-worker.ts), in
 * rounds of every case once in a shuffled order; CPU time per call, median (min-max) over rounds.
 * Prints its table and writes bench/results/limiter.json. Not a part of `npm run bench`: a
 * micro-benchmark, run on its own with `npm run bench:limiter`.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CASES, type Case } from './limiter-worker';
import { runNode } from './support/children';
import { compileForChild } from './support/compile';
import { machine, RESULTS_DIR, tableToText, type Table } from './support/results';
import { fixed, formatSummary, shuffle, summarize } from './support/stats';

const ROUNDS = Number(process.env.BENCH_REPS ?? 5);
const HEAP_FLAGS = ['--expose-gc', '--min-semi-space-size=64', '--max-semi-space-size=64'];

const LABELS: Record<Case, string> = {
  loop: 'the loop around a no-op (reference)',
  fixed: 'FixedLimiter: tryAcquire + release',
  adaptive: 'AdaptiveLimiter: tryAcquire + release (one clock read)',
  'adaptive-given-end': 'AdaptiveLimiter: tryAcquire + release(latency, end, endedAt)',
  'adaptive-refused': 'AdaptiveLimiter: tryAcquire refused at the limit',
  core: 'breaker core alone: tryAcquire + record',
  'core+adaptive': 'breaker core + AdaptiveLimiter (given endedAt)',
};

async function measure(worker: string, name: Case, kind: 'time' | 'heap'): Promise<Record<string, number>> {
  const result = await runNode([...(kind === 'heap' ? HEAP_FLAGS : []), worker, name, kind]);
  if (result.code !== 0) throw new Error(`${name} ${kind}: exit ${result.code}: ${result.stderr.trim()}`);
  return JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as Record<string, number>;
}

async function main(): Promise<void> {
  const started = Date.now();
  const uptimeBefore = execFileSync('uptime', { encoding: 'utf8' }).trim();
  const worker = compileForChild('bench/limiter-worker.ts');
  const cpu = new Map<Case, number[]>(CASES.map((name) => [name, []]));
  const wall = new Map<Case, number[]>(CASES.map((name) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const name of shuffle([...CASES])) {
      const sample = await measure(worker, name, 'time');
      cpu.get(name)!.push(sample.cpuNsPerCall!);
      wall.get(name)!.push(sample.nsPerCall!);
    }
  }
  const heap = new Map<Case, Record<string, number>>();
  for (const name of CASES) heap.set(name, await measure(worker, name, 'heap'));
  const uptimeAfter = execFileSync('uptime', { encoding: 'utf8' }).trim();
  const loop = summarize(cpu.get('loop')!).median;
  const table: Table = {
    title: `CPU ns per call, median (min-max) of ${ROUNDS} processes; over the loop; heap bytes per call (200,000 calls, no GC between)`,
    columns: ['case', 'CPU ns', 'over the loop', 'wall ns', 'heap bytes'],
    rows: CASES.map((name) => {
      const samples = heap.get(name)!;
      return [
        LABELS[name],
        formatSummary(summarize(cpu.get(name)!), 1),
        name === 'loop' ? '-' : fixed(summarize(cpu.get(name)!).median - loop, 1),
        formatSummary(summarize(wall.get(name)!), 1),
        `${fixed(samples.bytesPerCall!, 2)}${samples.gcDuring! > 0 ? ' (GC ran)' : ''}`,
      ];
    }),
  };
  process.stdout.write(`\n${tableToText(table)}\n\nuptime before: ${uptimeBefore}\nuptime after:  ${uptimeAfter}\n`);
  const result = {
    command: `${process.env.BENCH_REPS === undefined ? '' : `BENCH_REPS=${ROUNDS} `}npm run bench:limiter`,
    startedAt: new Date(started).toISOString(),
    durationSeconds: Math.round((Date.now() - started) / 1000),
    machine: machine(),
    uptime: { before: uptimeBefore, after: uptimeAfter, loadAverage: os.loadavg() },
    table,
    data: { cpu: Object.fromEntries(cpu), wall: Object.fromEntries(wall), heap: Object.fromEntries(heap) },
  };
  writeFileSync(path.join(RESULTS_DIR, 'limiter.json'), `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write('wrote bench/results/limiter.json\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`bench:limiter failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
