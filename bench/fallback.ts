/**
 * `npm run bench:fallback`: the guarded proxy with PROXY_FALLBACK=stale against the same proxy
 * without it, side by side in front of one upstream, alternating rounds (issue 14's targets):
 * throughput on a cacheable page (recorded) and on one that is never stored, then the RSS with the
 * cache filled to its bound. Prints its figures; it is not a test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import autocannon from 'autocannon';

const ROOT = path.resolve(__dirname, '..');
const ROUNDS = Number(process.env.BENCH_FALLBACK_ROUNDS ?? 4);
const SECONDS = 4;
const CACHE_BYTES = 4 * 1024 * 1024;
const FILL_REQUESTS = 20_000;
const PORTS = { upstream: 39_100, offProxy: 39_101, offAdmin: 39_102, onProxy: 39_103, onAdmin: 39_104 };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const children: ChildProcess[] = [];
function start(file: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, [path.join(ROOT, file)], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  return child;
}
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
const load = (url: string) =>
  new Promise<number>((resolve, reject) =>
    autocannon({ url, connections: 32, duration: SECONDS }, (error, result) => (error ? reject(error) : resolve(result.requests.average))),
  );
const get = (url: string) =>
  new Promise<string>((resolve, reject) =>
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve(body));
      })
      .on('error', reject),
  );
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

async function abOn(pathAndQuery: string): Promise<void> {
  const off: number[] = [];
  const on: number[] = [];
  for (let round = 0; round < ROUNDS; round += 1) {
    const order = round % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
    for (const which of order) {
      const port = which === 'off' ? PORTS.offProxy : PORTS.onProxy;
      (which === 'off' ? off : on).push(await load(`http://127.0.0.1:${port}${pathAndQuery}`));
    }
  }
  const perRound = on.map((value, i) => value / (off[i] ?? NaN));
  process.stdout.write(
    `${pathAndQuery}: req/s without ${off.map(Math.round).join(' ')}, with ${on.map(Math.round).join(' ')}; ` +
      `with / without ${(median(on) / median(off)).toFixed(3)} (per round ${perRound.map((r) => r.toFixed(2)).join(' ')})\n`,
  );
}

async function main(): Promise<void> {
  start('upstream/dist/main.js', { PORT: String(PORTS.upstream), HOST: '127.0.0.1' });
  // as the image starts it (monitor/Dockerfile's NODE_OPTIONS)
  const base = { HTTP_CLIENT: `127.0.0.1:${PORTS.upstream}`, LOG_LEVEL: 'warn', NODE_OPTIONS: '--max-semi-space-size=4 --max-old-space-size=256' };
  const off = start('monitor/dist/main.js', { ...base, PROXY_PORT: String(PORTS.offProxy), ADMIN_PORT: String(PORTS.offAdmin) });
  const on = start('monitor/dist/main.js', {
    ...base,
    PROXY_PORT: String(PORTS.onProxy),
    ADMIN_PORT: String(PORTS.onAdmin),
    PROXY_FALLBACK: 'stale',
    PROXY_CACHE_MAX_BYTES: String(CACHE_BYTES),
  });
  await sleep(1_500);
  process.stdout.write(`fallback: ${ROUNDS} alternating rounds of ${SECONDS} s at 32 connections; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}\n`);
  await abOn('/catalog'); // cacheable: recorded (at most once a second)
  await abOn('/'); // no-store: never recorded
  process.stdout.write(`RSS after the load: without ${rssMb(off.pid!).toFixed(1)} MB, with ${rssMb(on.pid!).toFixed(1)} MB\n`);
  for (let i = 0; i < FILL_REQUESTS; i += 1) await get(`http://127.0.0.1:${PORTS.onProxy}/catalog?i=${i}`);
  const gauges = (await get(`http://127.0.0.1:${PORTS.onAdmin}/metrics`)).split('\n').filter((line) => line.startsWith('circuit_breaker_fallback_cache_'));
  process.stdout.write(`${gauges.join('\n')}\n`);
  process.stdout.write(`RSS with the cache filled to ${CACHE_BYTES} bytes: without ${rssMb(off.pid!).toFixed(1)} MB, with ${rssMb(on.pid!).toFixed(1)} MB\n`);
}

main()
  .catch((error: unknown) => {
    process.stderr.write(`bench:fallback failed: ${String(error)}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const child of children) child.kill();
  });
