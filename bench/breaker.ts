/**
 * Part 1: the breaker's overhead per call against opossum and cockatiel.
 *
 * Every measurement runs in a fresh child (bench/breaker-worker.ts): one library, one path, one
 * mode; the jobs are shuffled, so drift on a noisy machine spreads over every library alike.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { IN_FLIGHT, LIBRARIES, MODES, PATHS, type CallPath, type HeapSample, type Library, type Mode, type TimeSample } from './breaker-worker';
import { runNode } from './support/children';
import { compileForChild } from './support/compile';
import { commandFor, machine, publish, ROOT, type PartResult, type Table, type TargetResult } from './support/results';
import { fixed, formatSummary, shuffle, summarize, type Summary } from './support/stats';

const TIME_REPS = Number(process.env.BENCH_REPS ?? 5);
/** Allocation per call is near-deterministic (three processes agreed within a few bytes while this was written). */
const HEAP_REPS = 1;
/** A young generation big enough that N calls allocate without a scavenge in between. */
const HEAP_FLAGS = ['--expose-gc', '--min-semi-space-size=64', '--max-semi-space-size=64'];

const LABELS: Record<Library, string> = {
  bare: 'bare await (no breaker)',
  ours: 'ours (state machine + 6-line async execute)',
  'ours-core': 'ours, state machine alone (sync tryAcquire + record)',
  'opossum-default': 'opossum, defaults',
  'opossum-tuned': 'opossum, timeout: false',
  'opossum-lean': 'opossum, timeout: false + rollingPercentilesEnabled: false',
  cockatiel: 'cockatiel, ConsecutiveBreaker',
};

interface Job {
  readonly library: Library;
  readonly path: CallPath;
  readonly mode: Mode;
  readonly measure: 'time' | 'heap';
}

const key = (library: Library, callPath: CallPath, mode: Mode) => `${library}/${callPath}/${mode}`;
const applies = (library: Library, mode: Mode) => !(library === 'ours-core' && mode === 'concurrent');

function versionOf(name: string): string {
  return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

function enginesOf(name: string): string {
  return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { engines?: { node?: string } }).engines?.node ?? 'any';
}

export async function runBreakerBench(): Promise<PartResult> {
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const host = machine();
  const worker = compileForChild('bench/breaker-worker.ts');
  const jobs: Job[] = [];
  for (const library of LIBRARIES) {
    for (const callPath of PATHS) {
      for (const mode of MODES) {
        if (!applies(library, mode)) continue;
        for (let rep = 0; rep < TIME_REPS; rep++) jobs.push({ library, path: callPath, mode, measure: 'time' });
        for (let rep = 0; rep < HEAP_REPS; rep++) jobs.push({ library, path: callPath, mode, measure: 'heap' });
      }
    }
  }
  shuffle(jobs);

  const times = new Map<string, TimeSample[]>();
  const heaps = new Map<string, HeapSample[]>();
  const failures: string[] = [];
  for (const [index, job] of jobs.entries()) {
    if (index % 25 === 0) process.stdout.write(`breaker: job ${index + 1}/${jobs.length}\n`);
    const flags = job.measure === 'heap' ? HEAP_FLAGS : [];
    const result = await runNode([...flags, worker, job.library, job.path, job.mode, job.measure]);
    const name = key(job.library, job.path, job.mode);
    if (result.code !== 0) {
      failures.push(`${name} ${job.measure}: exit ${result.code}: ${result.stderr.trim().split('\n')[0] ?? ''}`);
      continue;
    }
    const sample: unknown = JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}');
    const bucket = job.measure === 'time' ? times : heaps;
    const list = (bucket.get(name) ?? []) as unknown[];
    list.push(sample);
    bucket.set(name, list as never);
  }

  const ns = (library: Library, callPath: CallPath, mode: Mode): Summary => summarize((times.get(key(library, callPath, mode)) ?? []).map((s) => s.nsPerCall));
  const bytes = (library: Library, callPath: CallPath, mode: Mode): Summary =>
    summarize((heaps.get(key(library, callPath, mode)) ?? []).map((s) => s.bytesPerCall));
  const heapNote = (library: Library, callPath: CallPath, mode: Mode): string => {
    const samples = heaps.get(key(library, callPath, mode)) ?? [];
    return samples.some((s) => s.gcDuring > 0) ? ' (>=, GC ran)' : '';
  };

  const tables: Table[] = [];
  for (const mode of MODES) {
    const modeLabel = mode === 'sequential' ? 'sequential (await each call)' : `${IN_FLIGHT} calls in flight (Promise.all)`;
    tables.push({
      title: `ns per call, ${modeLabel}: median (min-max) of ${TIME_REPS} processes`,
      columns: ['library', 'success (closed)', 'failure (closed, below threshold)', 'rejection (open)'],
      rows: LIBRARIES.filter((library) => applies(library, mode)).map((library) => [
        LABELS[library],
        ...PATHS.map((callPath) => formatSummary(ns(library, callPath, mode), ns(library, callPath, mode).median < 10 ? 1 : 0)),
      ]),
    });
  }
  for (const mode of MODES) {
    tables.push({
      title: `overhead over the bare await, ns per call (median), ${mode}`,
      columns: ['library', 'success', 'failure', 'open', 'open / bare await'],
      rows: LIBRARIES.filter((library) => library !== 'bare' && library !== 'ours-core' && applies(library, mode)).map((library) => [
        LABELS[library],
        ...PATHS.map((callPath) => fixed(ns(library, callPath, mode).median - ns('bare', callPath, mode).median)),
        `${fixed(ns(library, 'open', mode).median / ns('bare', 'open', mode).median, 2)}x`,
      ]),
    });
  }
  for (const mode of MODES) {
    tables.push({
      title: `heap bytes allocated per call, ${mode}: ${HEAP_REPS} process(es) (heapUsed delta, no GC during the calls)`,
      columns: ['library', 'success', 'failure', 'open'],
      rows: LIBRARIES.filter((library) => applies(library, mode)).map((library) => [
        LABELS[library],
        ...PATHS.map((callPath) => `${fixed(bytes(library, callPath, mode).median)}${heapNote(library, callPath, mode)}`),
      ]),
    });
  }

  const targets = evaluate(ns);
  const opossum = { version: versionOf('opossum'), engines: enginesOf('opossum') };
  const cockatiel = { version: versionOf('cockatiel'), engines: enginesOf('cockatiel') };
  const openRatio = (mode: Mode) => ns('ours', 'open', mode).median / ns('bare', 'open', mode).median;
  const coreOpen = ns('ours-core', 'open', 'sequential').median;
  const coreSuccess = ns('ours-core', 'success', 'sequential').median;
  const clockNs = clockReadNs();
  const opossumFailureCalls = (times.get(key('opossum-default', 'failure', 'sequential')) ?? []).map((s) => s.calls);

  return {
    part: 'breaker',
    title: 'Part 1: breaker overhead per call',
    command: commandFor('breaker'),
    startedAt,
    durationSeconds: Math.round((Date.now() - started) / 1000),
    machine: host,
    method: [
      `libraries: opossum ${opossum.version} (engines: node ${opossum.engines}), cockatiel ${cockatiel.version} (engines: node ${cockatiel.engines}); both declare Node >= 22 but run on ${host.node} (checked: every path below ran and reached the expected state; cockatiel 4 is ESM-only and loads through require(esm), on by default since Node 20.19, the repository's minimum), so the newest versions are used.`,
      'the protected call is `() => Promise.resolve(value)` (success) or `() => Promise.reject(error)` with one Error created up front (failure), so the figures are the breakers, not Error construction in the call.',
      'ours: `new CircuitBreaker(...)` with the real monotonic clock, wrapped in the execute the shell would write: tryAcquire; if rejected return the rejection as a value (no throw); `await fn()`; record. Opossum and cockatiel reject with an error while open, so their calls carry `.catch()` on the failure and open paths (ours only on the failure path, where it rethrows the call\'s error like they do).',
      'paths: success while closed; failure while closed with a threshold never reached (ours and cockatiel: threshold Number.MAX_SAFE_INTEGER; opossum: volumeThreshold Number.MAX_SAFE_INTEGER); rejection while open (tripped by failures first, reset/half-open after 1 hour). The bare await\'s failure path is `fail().catch(noop)`; its open path is the bare await of a resolved promise, the reference of the target.',
      `each (library, path, mode) in its own child process, ${TIME_REPS} processes for time and ${HEAP_REPS} for heap, all jobs shuffled; in each: ~100 ms warm-up in doubling rounds, then one timed run sized to ~200 ms (process.hrtime.bigint). Concurrent mode: rounds of ${IN_FLIGHT} calls started at once and awaited with Promise.all.`,
      'heap: separate children with --expose-gc and a 64 MB semi-space; after the warm-up, gc() twice, then `process.memoryUsage().heapUsed` after N calls (N <= 10,000, sized to ~200 ms) minus before, divided by N: bytes allocated per call, garbage included. A PerformanceObserver on gc entries checks that no collection ran during the calls; when one did, N shrinks, and a figure still measured across a GC is marked ">=" (a lower bound).',
      'the calls never yield to the event loop (only microtasks), so timers (opossum\'s bucket rotation, its per-call timeout) never fire during a measurement.',
    ],
    tables,
    targets,
    notes: [
      `ours-core (the state machine alone) costs ${fixed(coreSuccess, 1)} ns per closed call (V8 inlines tryAcquire and record and removes the ticket allocation in a tight loop) and ${fixed(coreOpen)} ns per open rejection: in closed most of our figure is the async wrapper (one more async function and await); in open it is the clock (below).`,
      `our rejection while open costs ${fixed(ns('ours', 'open', 'sequential').median)} ns, ${fixed(openRatio('sequential'), 2)}x a bare await (sequential; ${fixed(openRatio('concurrent'), 2)}x concurrent). The state machine alone (ours-core) takes ${fixed(coreOpen)} ns of it, including the clock read its open path needs to know whether the window has ended (one performance.now(): ${fixed(clockNs, 1)} ns in this run, on Node 20 a binding call plus a fresh HeapNumber); the rest, ~${fixed(ns('ours', 'open', 'sequential').median - coreOpen)} ns, is the execute wrapper's own async function and its await.`,
      `opossum's failure path grows with the calls in its rolling window (10 s by default): every failure calls \`stats\`, which concatenates the latencies of every bucket and sorts them (rollingPercentilesEnabled). Its figure therefore depends on how many calls the window holds (here ${opossumFailureCalls.join(', ')} timed calls after the warm-up); opossum-lean (rollingPercentilesEnabled: false) shows the cost without the sort.`,
      'opossum builds a new Error (with a stack trace) for every rejection while open (EOPENBREAKER), cockatiel throws a BrokenCircuitError: that, and the caller\'s catch, is most of their open-path cost; ours returns a plain object.',
      ...(failures.length > 0 ? [`failed jobs: ${failures.join('; ')}`] : []),
    ],
    data: { reps: { time: TIME_REPS, heap: HEAP_REPS }, inFlight: IN_FLIGHT, performanceNowNs: clockNs, versions: { opossum, cockatiel }, times: Object.fromEntries(times), heaps: Object.fromEntries(heaps) },
  };
}

/** ns per performance.now() in this process, the clock our breaker reads. */
function clockReadNs(): number {
  let sink = 0;
  for (let i = 0; i < 1e6; i++) sink += performance.now();
  const calls = 5e6;
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) sink += performance.now();
  const ns = Number(process.hrtime.bigint() - started) / calls;
  return sink === 0 ? NaN : ns;
}

function evaluate(ns: (library: Library, callPath: CallPath, mode: Mode) => Summary): TargetResult[] {
  const overhead = (library: Library, callPath: CallPath, mode: Mode) => ns(library, callPath, mode).median - ns('bare', callPath, mode).median;
  const cases = PATHS.flatMap((callPath) => MODES.map((mode) => ({ callPath, mode })));
  const compare = (other: Library, limit: number, phrase: string): TargetResult => {
    const ratios = cases.map(({ callPath, mode }) => ({ callPath, mode, ratio: overhead('ours', callPath, mode) / overhead(other, callPath, mode) }));
    const worst = ratios.reduce((a, b) => (b.ratio > a.ratio ? b : a));
    const missed = ratios.filter((r) => !(r.ratio <= limit));
    return {
      target: `our overhead per call ${phrase}`,
      measured: ratios.map((r) => `${r.callPath}/${r.mode} ${fixed(r.ratio, 3)}x`).join(', '),
      verdict: missed.length === 0 ? 'met' : 'missed',
      detail:
        missed.length === 0
          ? `worst case ${worst.callPath}/${worst.mode}: ${fixed(overhead('ours', worst.callPath, worst.mode))} ns against ${fixed(overhead(other, worst.callPath, worst.mode))} ns (overhead = median ns per call minus the bare await's).`
          : `missed on ${missed.map((r) => `${r.callPath}/${r.mode} by ${fixed((r.ratio / limit - 1) * 100)}%`).join(', ')}.`,
    };
  };
  const open = MODES.map((mode) => ({ mode, ratio: ns('ours', 'open', mode).median / ns('bare', 'open', mode).median }));
  const openMissed = open.filter((r) => !(r.ratio <= 2));
  return [
    compare('opossum-default', 0.2, "at most a fifth of opossum's (defaults), on every path and mode"),
    compare('cockatiel', 1, "below cockatiel's, on every path and mode"),
    {
      target: 'rejection while open at most twice a bare await',
      measured: open.map((r) => `${r.mode} ${fixed(r.ratio, 2)}x (${fixed(ns('ours', 'open', r.mode).median)} vs ${fixed(ns('bare', 'open', r.mode).median)} ns)`).join(', '),
      verdict: openMissed.length === 0 ? 'met' : 'missed',
      detail:
        openMissed.length === 0
          ? 'within the limit.'
          : `missed by ${openMissed.map((r) => `${fixed((r.ratio / 2 - 1) * 100)}% (${r.mode})`).join(', ')}: the notes split the time between the state machine (with its one clock read) and the async execute wrapper.`,
    },
  ];
}

if (require.main === module) {
  runBreakerBench().then(publish, (error: unknown) => {
    process.stderr.write(`bench:breaker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
