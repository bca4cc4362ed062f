/**
 * Part 1: the breaker's overhead per call against opossum and cockatiel.
 *
 * Every measurement runs in a fresh child (bench/breaker-worker.ts): one library, one path, one
 * mode. The jobs run in rounds, every case once per round in a shuffled order, and ratios are taken
 * within a round: drift on a noisy machine moves both sides of a ratio alike.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
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
  'ours-execute': 'ours, execute (rejects with a CircuitOpenError while open)',
  'ours-try': 'ours, tryExecute (resolves to a result; no error while open)',
  'ours-core': 'ours, the core alone (sync tryAcquire + record)',
  'opossum-default': 'opossum, defaults',
  'opossum-tuned': 'opossum, timeout: false',
  'opossum-lean': 'opossum, timeout: false + rollingPercentilesEnabled: false',
  'ours-count-execute': 'ours, execute, failure rate over a count window (50% of the last 100 calls)',
  'ours-count-try': 'ours, tryExecute, failure rate over a count window (50% of the last 100 calls)',
  'ours-time-execute': 'ours, execute, failure rate over a time window (50% over 60 s, >= 100 calls)',
  'ours-time-try': 'ours, tryExecute, failure rate over a time window (50% over 60 s, >= 100 calls)',
  cockatiel: 'cockatiel, ConsecutiveBreaker',
  'cockatiel-sampling': 'cockatiel, SamplingBreaker (50% over 60 s, >= 100 calls)',
};

/** The package's two ways to run a call, the ones the targets are about. */
const OURS = ['ours-execute', 'ours-try'] as const;
type Ours = (typeof OURS)[number];
const SHORT: Record<Ours, string> = { 'ours-execute': 'execute', 'ours-try': 'tryExecute' };
/**
 * The cases the overhead targets judge: every path of tryExecute, and execute's success and failure.
 * execute's rejection while open throws, like opossum's and cockatiel's: it is reported beside theirs.
 */
const judged = (ours: Ours, callPath: CallPath) => !(ours === 'ours-execute' && callPath === 'open');

/** Our failure-rate cases (issue 11): each against the same API without a window, and against cockatiel's SamplingBreaker. */
const WINDOWED = {
  'ours-count-execute': { plain: 'ours-execute', window: 'count window' },
  'ours-count-try': { plain: 'ours-try', window: 'count window' },
  'ours-time-execute': { plain: 'ours-execute', window: 'time window' },
  'ours-time-try': { plain: 'ours-try', window: 'time window' },
} as const satisfies Partial<Record<Library, { plain: Ours; window: string }>>;
type Windowed = keyof typeof WINDOWED;
const WINDOWED_CASES = Object.keys(WINDOWED) as Windowed[];
const windowedName = (windowed: Windowed) => `${SHORT[WINDOWED[windowed].plain]}, ${WINDOWED[windowed].window}`;
/** The most a window may add: ours with one at most 1.5x ours without (overhead over the bare await). */
const WINDOW_LIMIT = 1.5;

interface Job {
  readonly library: Library;
  readonly path: CallPath;
  readonly mode: Mode;
  readonly measure: 'time' | 'heap';
  /** time jobs run in rounds, every case once per round: ratios are taken within a round */
  readonly round: number;
}

type RoundSample<S> = S & { readonly round: number };
/** Which time a figure is from: the process's CPU time (what ratios and targets use) or wall-clock time. */
type Clock = 'cpu' | 'wall';
/** A figure from the medians, and the min-max of the same figure taken round by round. */
interface Spread {
  readonly value: number;
  readonly min: number;
  readonly max: number;
}

const key = (library: Library, callPath: CallPath, mode: Mode) => `${library}/${callPath}/${mode}`;
const applies = (library: Library, mode: Mode) => !(library === 'ours-core' && mode === 'concurrent');
const cases = PATHS.flatMap((callPath) => MODES.map((mode) => ({ callPath, mode })));

function versionOf(name: string): string {
  return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

function enginesOf(name: string): string {
  return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { engines?: { node?: string } }).engines?.node ?? 'any';
}

/** Every (library, path, mode) once, shuffled: one round of time jobs, or the heap jobs. */
function oneOfEach(measure: Job['measure'], round: number): Job[] {
  const jobs: Job[] = [];
  for (const library of LIBRARIES) {
    for (const callPath of PATHS) {
      for (const mode of MODES) if (applies(library, mode)) jobs.push({ library, path: callPath, mode, measure, round });
    }
  }
  return shuffle(jobs);
}

export async function runBreakerBench(): Promise<PartResult> {
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const host = machine();
  const worker = compileForChild('bench/breaker-worker.ts');
  const rounds = Array.from({ length: TIME_REPS }, (_, round) => oneOfEach('time', round));
  const heapJobs = Array.from({ length: HEAP_REPS }, (_, round) => oneOfEach('heap', round)).flat();
  const jobs = [...rounds.flat(), ...heapJobs];

  const times = new Map<string, RoundSample<TimeSample>[]>();
  const heaps = new Map<string, RoundSample<HeapSample>[]>();
  const failures: string[] = [];
  /** 1-minute load average as each round started, then as the heap jobs started and at the end */
  const loads: number[] = [];
  for (const [index, job] of jobs.entries()) {
    if (index % 25 === 0) process.stdout.write(`breaker: job ${index + 1}/${jobs.length}\n`);
    if (index === 0 || job.measure !== jobs[index - 1]?.measure || job.round !== jobs[index - 1]?.round) loads.push(os.loadavg()[0] ?? NaN);
    const flags = job.measure === 'heap' ? HEAP_FLAGS : [];
    const result = await runNode([...flags, worker, job.library, job.path, job.mode, job.measure]);
    const name = key(job.library, job.path, job.mode);
    if (result.code !== 0) {
      failures.push(`${name} ${job.measure}: exit ${result.code}: ${result.stderr.trim().split('\n')[0] ?? ''}`);
      continue;
    }
    const sample = { ...(JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as object), round: job.round };
    const bucket = job.measure === 'time' ? times : heaps;
    const list = (bucket.get(name) ?? []) as unknown[];
    list.push(sample);
    bucket.set(name, list as never);
  }
  loads.push(os.loadavg()[0] ?? NaN);

  /** CPU ns per call (the figure every ratio uses); wallNs: wall-clock ns per call, for reference */
  const ns = (library: Library, callPath: CallPath, mode: Mode): Summary => summarize((times.get(key(library, callPath, mode)) ?? []).map((s) => s.cpuNsPerCall));
  const wallNs = (library: Library, callPath: CallPath, mode: Mode): Summary => summarize((times.get(key(library, callPath, mode)) ?? []).map((s) => s.nsPerCall));
  const bytes = (library: Library, callPath: CallPath, mode: Mode): Summary =>
    summarize((heaps.get(key(library, callPath, mode)) ?? []).map((s) => s.bytesPerCall));
  const heapNote = (library: Library, callPath: CallPath, mode: Mode): string => {
    const samples = heaps.get(key(library, callPath, mode)) ?? [];
    return samples.some((s) => s.gcDuring > 0) ? ' (>=, GC ran)' : '';
  };
  /** ns per call of one case in one round, CPU or wall-clock (undefined when that job failed) */
  const nsIn = (library: Library, callPath: CallPath, mode: Mode, round: number, clock: Clock): number | undefined => {
    const sample = times.get(key(library, callPath, mode))?.find((s) => s.round === round);
    return clock === 'cpu' ? sample?.cpuNsPerCall : sample?.nsPerCall;
  };
  /**
   * A figure (a ratio, an overhead) from each side's median over the processes, with its spread: the
   * same figure taken within each round, from that round's processes (a failed job leaves its round out).
   */
  const perRound = (figure: (ns: (library: Library) => number) => number, callPath: CallPath, mode: Mode, clock: Clock = 'cpu'): Spread => {
    const medians = clock === 'cpu' ? ns : wallNs;
    const rounds_ = summarize(rounds.map((_, round) => figure((library) => nsIn(library, callPath, mode, round, clock) ?? NaN)).filter(Number.isFinite));
    return { value: figure((library) => medians(library, callPath, mode).median), min: rounds_.min, max: rounds_.max };
  };
  const overhead = (library: Library, callPath: CallPath, mode: Mode) => perRound((n) => n(library) - n('bare'), callPath, mode);
  const overheadRatio = (ours: Library, other: Library, callPath: CallPath, mode: Mode, clock: Clock = 'cpu') =>
    perRound((n) => (n(ours) - n('bare')) / (n(other) - n('bare')), callPath, mode, clock);
  const openRatio = (library: Library, mode: Mode, clock: Clock = 'cpu') => perRound((n) => n(library) / n('bare'), 'open', mode, clock);
  const ratioText = (spread: Spread, decimals = 3) => `${fixed(spread.value, decimals)}x (${fixed(spread.min, decimals)}-${fixed(spread.max, decimals)})`;
  const spreadText = (spread: Spread) => `${fixed(spread.value)} (${fixed(spread.min)}-${fixed(spread.max)})`;

  const tables: Table[] = [];
  for (const mode of MODES) {
    const modeLabel = mode === 'sequential' ? 'sequential (await each call)' : `${IN_FLIGHT} calls in flight (Promise.all)`;
    tables.push({
      title: `CPU ns per call, ${modeLabel}: median (min-max) of ${TIME_REPS} processes`,
      columns: ['library', 'success (closed)', 'failure (closed, below threshold)', 'rejection (open)'],
      rows: LIBRARIES.filter((library) => applies(library, mode)).map((library) => [
        LABELS[library],
        ...PATHS.map((callPath) => formatSummary(ns(library, callPath, mode), ns(library, callPath, mode).median < 10 ? 1 : 0)),
      ]),
    });
  }
  for (const mode of MODES) {
    tables.push({
      title: `overhead over the bare await, CPU ns per call, ${mode}: from the medians (min-max of the same figure within each of ${TIME_REPS} rounds)`,
      columns: ['library', 'success', 'failure', 'open', 'open / bare await'],
      rows: LIBRARIES.filter((library) => library !== 'bare' && library !== 'ours-core' && applies(library, mode)).map((library) => [
        LABELS[library],
        ...PATHS.map((callPath) => spreadText(overhead(library, callPath, mode))),
        ratioText(openRatio(library, mode), 2),
      ]),
    });
  }
  tables.push({
    title: `our overhead over theirs, (ours - bare) / (theirs - bare), CPU time and, for reference, wall-clock time: from the medians (min-max of the same ratio within each of ${TIME_REPS} rounds)`,
    columns: ['ours', 'path', 'mode', "/ opossum's defaults (target <= 0.2)", "/ cockatiel's (target < 1)", '/ opossum, wall clock', '/ cockatiel, wall clock'],
    rows: OURS.flatMap((ours) =>
      cases.map(({ callPath, mode }) => [
        SHORT[ours],
        callPath,
        mode,
        ...(['cpu', 'wall'] as const).flatMap((clock) => [ratioText(overheadRatio(ours, 'opossum-default', callPath, mode, clock)), ratioText(overheadRatio(ours, 'cockatiel', callPath, mode, clock))]),
      ]),
    ),
  });
  tables.push({
    title: `the failure-rate window (issue 11): our overhead with a window over ours without (same API), over cockatiel's SamplingBreaker and over opossum's defaults (a rate over a rolling 10 s window), (a - bare) / (b - bare), CPU time: from the medians (min-max within each of ${TIME_REPS} rounds); raw ns beside`,
    columns: ['ours', 'path', 'mode', `/ ours without a window (target <= ${WINDOW_LIMIT})`, "/ cockatiel's SamplingBreaker (target < 1)", "/ opossum's defaults", 'ns: with / without / SamplingBreaker'],
    rows: WINDOWED_CASES.flatMap((windowed) =>
      cases.map(({ callPath, mode }) => [
        windowedName(windowed),
        callPath,
        mode,
        `${ratioText(overheadRatio(windowed, WINDOWED[windowed].plain, callPath, mode))}${judged(WINDOWED[windowed].plain, callPath) ? '' : ' (not judged)'}`,
        `${ratioText(overheadRatio(windowed, 'cockatiel-sampling', callPath, mode))}${judged(WINDOWED[windowed].plain, callPath) ? '' : ' (not judged)'}`,
        ratioText(overheadRatio(windowed, 'opossum-default', callPath, mode)),
        [windowed, WINDOWED[windowed].plain, 'cockatiel-sampling' as const].map((library) => fixed(ns(library, callPath, mode).median)).join(' / '),
      ]),
    ),
  });
  const throwing: readonly Library[] = ['ours-execute', 'opossum-default', 'opossum-lean', 'cockatiel', 'ours-try', 'bare'];
  tables.push({
    title: 'rejection while open, side by side: execute, opossum and cockatiel reject with an error (the caller catches it); tryExecute and the bare await for reference (CPU ns, medians; ratios with their per-round min-max)',
    columns: ['library', 'ns sequential', 'ns concurrent', '/ bare await, sequential', '/ bare await, concurrent', 'heap bytes sequential', 'heap bytes concurrent'],
    rows: throwing.map((library) => [
      LABELS[library],
      ...MODES.map((mode) => fixed(ns(library, 'open', mode).median)),
      ...MODES.map((mode) => ratioText(openRatio(library, mode), 2)),
      ...MODES.map((mode) => `${fixed(bytes(library, 'open', mode).median)}${heapNote(library, 'open', mode)}`),
    ]),
  });
  for (const mode of MODES) {
    tables.push({
      title: `for reference, wall-clock ns per call, ${mode}: median (min-max) of ${TIME_REPS} processes (includes the time other processes held the CPU)`,
      columns: ['library', 'success', 'failure', 'open'],
      rows: LIBRARIES.filter((library) => applies(library, mode)).map((library) => [
        LABELS[library],
        ...PATHS.map((callPath) => formatSummary(wallNs(library, callPath, mode), wallNs(library, callPath, mode).median < 10 ? 1 : 0)),
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

  /**
   * A target over our judged cases: `subjects` (each with its name and what it is compared with), the
   * overhead ratio on every judged path and mode at most `limit` (`strict`: below it).
   */
  const judge = (subjects: readonly { ours: Library; plain: Ours; name: string; other: Library }[], limit: number, strict: boolean, target: string): TargetResult => {
    const within = (ratio: number) => (strict ? ratio < limit : ratio <= limit);
    const ratios = subjects.flatMap((subject) =>
      cases.filter(({ callPath }) => judged(subject.plain, callPath)).map(({ callPath, mode }) => ({ ...subject, callPath, mode, ratio: overheadRatio(subject.ours, subject.other, callPath, mode) })),
    );
    const worst = ratios.reduce((a, b) => (b.ratio.value > a.ratio.value ? b : a));
    const missed = ratios.filter((r) => !within(r.ratio.value));
    const roundsOver = ratios.filter((r) => !within(r.ratio.max));
    return {
      target,
      measured: subjects.map((subject) => `${subject.name}: ${ratios.filter((r) => r.name === subject.name).map((r) => `${r.callPath}/${r.mode} ${ratioText(r.ratio)}`).join(', ')}`).join('; '),
      verdict: missed.length === 0 ? 'met' : 'missed',
      detail: [
        missed.length === 0
          ? `worst case ${worst.name} ${worst.callPath}/${worst.mode}: ${fixed(overhead(worst.ours, worst.callPath, worst.mode).value)} ns against ${fixed(overhead(worst.other, worst.callPath, worst.mode).value)} ns over the bare await.`
          : `missed on ${missed.map((r) => `${r.name} ${r.callPath}/${r.mode} by ${fixed((r.ratio.value / limit - 1) * 100)}%`).join(', ')}.`,
        roundsOver.length === 0 ? 'Every round within the limit.' : `Rounds over the limit: ${roundsOver.map((r) => `${r.name} ${r.callPath}/${r.mode} (worst ${fixed(r.ratio.max, 3)}x)`).join(', ')}.`,
      ].join(' '),
    };
  };
  const compare = (other: Library, limit: number, phrase: string): TargetResult =>
    judge(
      OURS.map((ours) => ({ ours, plain: ours, name: SHORT[ours], other })),
      limit,
      false,
      `our overhead per call ${phrase} (tryExecute: success, failure, open; execute: success, failure)`,
    );
  const windowedAgainst = (other: (windowed: Windowed) => Library) =>
    WINDOWED_CASES.map((windowed) => ({ ours: windowed, plain: WINDOWED[windowed].plain, name: windowedName(windowed), other: other(windowed) }));
  const open = MODES.map((mode) => ({ mode, ratio: openRatio('ours-try', mode) }));
  const openMissed = open.filter((r) => !(r.ratio.value <= 2));
  const targets: TargetResult[] = [
    compare('opossum-default', 0.2, "at most a fifth of opossum's (defaults), on every path and mode"),
    compare('cockatiel', 1, "below cockatiel's, on every path and mode"),
    {
      target: "tryExecute's rejection while open at most twice a bare await",
      measured: `${open.map((r) => `${r.mode} ${ratioText(r.ratio, 2)} (${fixed(ns('ours-try', 'open', r.mode).median)} vs ${fixed(ns('bare', 'open', r.mode).median)} ns)`).join(', ')}; wall clock: ${MODES.map((mode) => `${mode} ${ratioText(openRatio('ours-try', mode, 'wall'), 2)}`).join(', ')}`,
      verdict: openMissed.length === 0 ? 'met' : 'missed',
      detail:
        openMissed.length === 0
          ? `within the limit${open.some((r) => r.ratio.max > 2) ? `; rounds over it: ${open.filter((r) => r.ratio.max > 2).map((r) => `${r.mode} (worst ${fixed(r.ratio.max, 2)}x)`).join(', ')}` : ', every round too'}.`
          : `missed by ${openMissed.map((r) => `${fixed((r.ratio.value / 2 - 1) * 100)}% (${r.mode})`).join(', ')}: the notes split the time between the core (with its one clock read) and tryExecute around it.`,
    },
    judge(
      windowedAgainst((windowed) => WINDOWED[windowed].plain),
      WINDOW_LIMIT,
      false,
      `the failure-rate window (issue 11): our overhead per call with a count window and with a time window at most ${WINDOW_LIMIT}x ours without, same API (tryExecute: success, failure, open; execute: success, failure)`,
    ),
    judge(
      windowedAgainst(() => 'cockatiel-sampling'),
      1,
      true,
      "the failure-rate window (issue 11): our overhead per call with a count window and with a time window below cockatiel's SamplingBreaker's, on every path and mode (tryExecute: success, failure, open; execute: success, failure)",
    ),
  ];

  const registry = await registryFigures();
  tables.push(registry.table);

  const opossum = { version: versionOf('opossum'), engines: enginesOf('opossum') };
  const cockatiel = { version: versionOf('cockatiel'), engines: enginesOf('cockatiel') };
  const coreOpen = ns('ours-core', 'open', 'sequential').median;
  const coreSuccess = ns('ours-core', 'success', 'sequential').median;
  const clockNs = clockReadNs();
  const opossumFailureCalls = (times.get(key('opossum-default', 'failure', 'sequential')) ?? []).map((s) => s.calls);
  const tryOpen = ns('ours-try', 'open', 'sequential').median;
  const executeOpen = ns('ours-execute', 'open', 'sequential').median;

  return {
    part: 'breaker',
    title: 'Part 1: breaker overhead per call',
    command: `${process.env.BENCH_REPS === undefined ? '' : `BENCH_REPS=${TIME_REPS} `}${commandFor('breaker')}`,
    startedAt,
    durationSeconds: Math.round((Date.now() - started) / 1000),
    machine: host,
    method: [
      `libraries: opossum ${opossum.version} (engines: node ${opossum.engines}), cockatiel ${cockatiel.version} (engines: node ${cockatiel.engines}); both declare Node >= 22 but run on ${host.node} (checked: every path below ran and reached the expected state; cockatiel 4 is ESM-only and loads through require(esm), on by default since Node 20.19, the repository's minimum), so the newest versions are used.`,
      `the failure-rate cases (issue 11): ours with failureRateThreshold 50, minimumCalls 100 and slidingWindow { calls: 100 } (count) or { timeMs: 60000 } (time, resilience4j-style, the package's default 10 buckets), errorThreshold out of reach so the rate alone trips the open path (checked: the opening's cause is failure_rate); cockatiel's circuitBreaker(handleAll, { halfOpenAfter: 1 hour, breaker: new SamplingBreaker({ threshold: 0.5, duration: 60000, minimumRps: 100 / 60 }) }), minimumRps x duration being its minimum of calls (100 in 60 s, like ours); opossum's defaults are a rate breaker too (errorThresholdPercentage 50 over a rolling 10 s window). On the failure path every call fails and all three keep counting every call in their windows, but their minimum of calls is out of reach (ours: minimumCalls Number.MAX_SAFE_INTEGER; cockatiel: minimumRps Number.MAX_SAFE_INTEGER; opossum: volumeThreshold Number.MAX_SAFE_INTEGER), so none trips; each then skips only its last comparison (failures against the threshold), the same step for all three.`,
      'the protected call is `() => Promise.resolve(value)` (success) or `() => Promise.reject(error)` with one Error created up front (failure), so the figures are the breakers, not Error construction in the call.',
      "ours: the package's own `execute(breaker, fn)` and `tryExecute(breaker, fn)` with no options, imported from '@circuit-breaker-demo/breaker' (its built dist, as a user gets it; the script builds it first), around `new CircuitBreaker(...)` with the default monotonic clock. execute, opossum and cockatiel reject on the failure and open paths, so those calls carry `.catch()`; tryExecute always resolves (to `{ kind: 'value' | 'error' | 'rejected' }`), so its calls carry none. Before measuring, one call of ours is checked to end as its path says (the value; the call's error; a CircuitOpenError or `kind: 'rejected'`).",
      "paths: success while closed; failure while closed with a threshold never reached (ours and cockatiel: threshold Number.MAX_SAFE_INTEGER; opossum: volumeThreshold Number.MAX_SAFE_INTEGER); rejection while open (tripped by failures first, reset/half-open after 1 hour). The bare await's failure path is `fail().catch(noop)`; its open path is the bare await of a resolved promise, the reference of the target.",
      'time is the process\'s CPU time (process.cpuUsage(), user + system, all threads) over the timed run, divided by the calls: on this shared machine other processes take turns on the 2 cores, and wall-clock time counts their turns too. The calls never wait for I/O or timers, so CPU time is all the time they take; wall-clock figures are kept beside it for reference.',
      `each (library, path, mode) in its own child process; ${TIME_REPS} rounds for time, each running every case once in a fresh shuffled order, then ${HEAP_REPS} for heap. A ratio (ours against theirs, against the bare await) and a verdict come from each side's median over its ${TIME_REPS} processes; beside it, in brackets, the min-max of the same ratio taken within each round (from processes that ran at most a minute or two apart): its spread. In each process: ~100 ms warm-up in doubling rounds, then one timed run sized to ~200 ms (process.hrtime.bigint). Concurrent mode: rounds of ${IN_FLIGHT} calls started at once and awaited with Promise.all.`,
      'heap: separate children with --expose-gc and a 64 MB semi-space; after the warm-up, gc() twice, then `process.memoryUsage().heapUsed` after N calls (N <= 10,000, sized to ~200 ms) minus before, divided by N: bytes allocated per call, garbage included. A PerformanceObserver on gc entries checks that no collection ran during the calls; when one did, N shrinks, and a figure still measured across a GC is marked ">=" (a lower bound).',
      "the calls never yield to the event loop (only microtasks), so timers (opossum's bucket rotation, its per-call timeout) never fire during a measurement.",
    ],
    tables,
    targets,
    notes: [
      `load average (1 min) as each round started: ${loads.slice(0, TIME_REPS).map((load) => fixed(load, 2)).join(', ')}; at the heap jobs ${fixed(loads[TIME_REPS] ?? NaN, 2)}, at the end ${fixed(loads.at(-1) ?? NaN, 2)} (2 CPUs: above ~2 the processes measured wait for a core, and share the caches with other work; CPU time leaves out the waiting, not the sharing).`,
      `ours-core (the core alone) costs ${fixed(coreSuccess, 1)} ns per closed call (V8 inlines tryAcquire and record and removes the ticket allocation in a tight loop) and ${fixed(coreOpen)} ns per open rejection: in closed, most of our figure is execute's own async function and await; in open it is the clock (below).`,
      `tryExecute's rejection while open costs ${fixed(tryOpen)} ns (sequential), ${ratioText(openRatio('ours-try', 'sequential'), 2)} a bare await. The core alone takes ${fixed(coreOpen)} ns of it, including the clock read its open path needs to know whether the window has ended (one performance.now(): ${fixed(clockNs, 1)} ns in this run, on Node 20 a binding call plus a fresh HeapNumber); the rest, ~${fixed(tryOpen - coreOpen)} ns, is tryExecute's async function, its result object and the caller's await.`,
      `execute's rejection while open (reported, not judged: it throws, like theirs) costs ${fixed(executeOpen)} CPU ns (sequential), ${MODES.map((mode) => `${mode}: ${ratioText(perRound((n) => n('ours-execute') / n('opossum-default'), 'open', mode), 2)} opossum's defaults, ${ratioText(perRound((n) => n('ours-execute') / n('cockatiel'), 'open', mode), 2)} cockatiel's`).join('; ')} (per round). Each of the three builds an Error per rejection (ours a CircuitOpenError, opossum an Error with code EOPENBREAKER, cockatiel a BrokenCircuitError), V8 captures its stack trace, and the caller catches it: that is nearly all of the cost, and why the package has tryExecute for hot paths.`,
      `opossum's failure path grows with the calls in its rolling window (10 s by default): every failure calls \`stats\`, which concatenates the latencies of every bucket and sorts them (rollingPercentilesEnabled). Its figure therefore depends on how many calls the window holds (here ${opossumFailureCalls.join(', ')} timed calls after the warm-up); opossum-lean (rollingPercentilesEnabled: false) shows the cost without the sort.`,
      `the failure-rate window: a count window (the last 100 calls in a ring of bytes) reads no clock; a time window reads the clock once per counted call, to put it in its bucket (one performance.now(): ${fixed(clockNs, 1)} ns in this run). Per closed success, sequential, CPU ns over the same API without a window: ${WINDOWED_CASES.map((windowed) => `${windowedName(windowed)} +${fixed(ns(windowed, 'success', 'sequential').median - ns(WINDOWED[windowed].plain, 'success', 'sequential').median)}`).join(', ')}. cockatiel's SamplingBreaker reads Date.now() once per call too.`,
      ...(failures.length > 0 ? [`failed jobs: ${failures.join('; ')}`] : []),
    ],
    data: {
      reps: { time: TIME_REPS, heap: HEAP_REPS },
      inFlight: IN_FLIGHT,
      performanceNowNs: clockNs,
      loadAverages: loads,
      versions: { opossum, cockatiel },
      times: Object.fromEntries(times),
      heaps: Object.fromEntries(heaps),
      registry: registry.data,
    },
  };
}

const REGISTRY_REPS = 3;
const REGISTRY_GETS = { hit: 'a key it keeps', miss: 'a new key, room left (a breaker made)', evict: 'a new key, all 256 slots idle and closed (one evicted, one made)' } as const;
const REGISTRY_MEMORY = [
  { keys: 256, maxKeys: 256 },
  { keys: 10_000, maxKeys: 256 },
  { keys: 10_000, maxKeys: 10_000 },
] as const;

/** The breaker registry (issue 23): get() per kind and the memory of many keys through a bounded registry, each in fresh processes. */
export async function registryFigures(): Promise<{ table: Table; data: unknown }> {
  const worker = compileForChild('bench/registry-worker.ts');
  const run = async (args: readonly string[]) => {
    const result = await runNode(args);
    if (result.code !== 0) throw new Error(`registry worker ${args.slice(1).join(' ')}: exit ${result.code}: ${result.stderr.trim()}`);
    return JSON.parse(result.stdout.trim().split('\n').pop() ?? '{}') as Record<string, number>;
  };
  const gets: Record<string, number[]> = {};
  const memory: Record<string, { heap: number[]; size: number }> = {};
  for (let rep = 0; rep < REGISTRY_REPS; rep++) {
    process.stdout.write(`breaker: registry ${rep + 1}/${REGISTRY_REPS}\n`);
    for (const kind of Object.keys(REGISTRY_GETS)) (gets[kind] ??= []).push((await run([worker, 'time', kind])).nsPerGet as number);
    for (const { keys, maxKeys } of REGISTRY_MEMORY) {
      const sample = await run(['--expose-gc', worker, 'memory', String(keys), String(maxKeys)]);
      const entry = (memory[`${keys}/${maxKeys}`] ??= { heap: [], size: sample.size as number });
      entry.heap.push(sample.heapBytes as number);
    }
  }
  const range = (values: readonly number[], scale = 1, decimals = 0) => {
    const s = summarize(values.map((v) => v / scale));
    return `${fixed(s.median, decimals)} (${fixed(s.min, decimals)}-${fixed(s.max, decimals)})`;
  };
  return {
    table: {
      title: `BreakerRegistry (issue 23): ns per get() and the heap kept by many keys, median (min-max) of ${REGISTRY_REPS} processes`,
      columns: ['case', 'figure'],
      rows: [
        ...Object.entries(REGISTRY_GETS).map(([kind, label]) => [`get(), ${label}: ns per call`, range(gets[kind] ?? [], 1, 0)]),
        ...REGISTRY_MEMORY.map(({ keys, maxKeys }) => {
          const entry = memory[`${keys}/${maxKeys}`];
          return [`${keys.toLocaleString('en-US')} keys, maxKeys ${maxKeys.toLocaleString('en-US')} (kept ${entry?.size ?? '?'}): heap it holds after GC, KB`, range(entry?.heap ?? [], 1024, 0)];
        }),
      ],
    },
    data: { gets, memory },
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

if (require.main === module) {
  runBreakerBench().then(publish, (error: unknown) => {
    process.stderr.write(`bench:breaker failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
