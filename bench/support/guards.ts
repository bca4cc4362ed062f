/**
 * The guards of the side-by-side bench, each in front of the same upstream on loopback and each
 * configured as a user would for "3 failures, then stop for 10 s, then try again", scaled down:
 * the monitor's guarded proxy (the built monitor, probe loop on), nginx with max_fails/fail_timeout
 * (Debian's, through test/support/nginx.ts) and HAProxy with active checks and observe layer7.
 * Each says exactly which settings it got, why they are the equivalent, and how a client can tell
 * an answer it made by itself (a rejection) from one it got from the upstream.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Service, lineTime } from '../../test/support/local-stack';
import { createLocalNginx, freePort, onProcessEnd } from '../../test/support/nginx';
import { NodeProcess, sleep } from './children';
import { ROOT } from './results';
import { shippedMonitor } from './shipped';
import type { Reply } from './steady-load';

/** "3 failures, then stop for 10 s, then try again", scaled by 1/5 so that a run stays short. */
export const POLICY = {
  failures: 3,
  openSeconds: 2,
  /** the monitor's defaults (probe every 2 s, give up after 2 s) scaled by the same 1/5 */
  probeIntervalSeconds: 0.4,
  timeoutSeconds: 0.4,
} as const;

export type GuardName = 'ours' | 'ours-adaptive' | 'ours-fixed' | 'nginx' | 'haproxy' | 'nginx-single';

/** MAX_CONCURRENT_CALLS of the `ours-fixed` run: the bound on calls in flight to a hung upstream. */
export const FIXED_LIMIT = 10;

export const GUARD_LABELS: Record<GuardName, string> = {
  ours: "monitor's guarded proxy",
  'ours-adaptive': "monitor's guarded proxy, MAX_CONCURRENT_CALLS=adaptive",
  'ours-fixed': `monitor's guarded proxy, MAX_CONCURRENT_CALLS=${FIXED_LIMIT}`,
  nginx: 'nginx max_fails',
  haproxy: 'HAProxy observe layer7',
  'nginx-single': 'nginx max_fails, one server as written',
};

/** Something a guard said about the upstream's state, with the time it was said. */
export interface GuardEvent {
  readonly at: number;
  readonly text: string;
}

export interface Guard {
  readonly name: GuardName;
  readonly url: string;
  /** the exact settings, as they appear in its configuration */
  readonly settings: readonly string[];
  /** why these are the fair equivalent of the others' */
  readonly rationale: string;
  /** the guard answered by itself (it rejected the call), rather than passing on an upstream answer */
  isOwn(reply: Reply): boolean;
  /** of its own answers, one saying its concurrency limit was full; nginx and HAProxy, set as here, have none */
  isOverloaded(reply: Reply): boolean;
  /** its state changes, from its own log (the monitor's also: probe results it ignored) */
  events(): GuardEvent[];
  stop(): Promise<void>;
}

const MONITOR_MAIN = path.join(ROOT, 'monitor/dist/main.js');
const HAPROXY = '/usr/sbin/haproxy';

const ms = (seconds: number): string => `${Math.round(seconds * 1000)}ms`;

/** The monitor's runs: without a concurrency limit, and with each kind of it. */
export const isOurs = (name: GuardName): boolean => name === 'ours' || name === 'ours-adaptive' || name === 'ours-fixed';

/** The monitor's answer for a full MAX_CONCURRENT_CALLS limit (monitor/src/proxy/answers.ts). */
const overloaded = (reply: Reply): boolean => reply.status === 503 && reply.body.includes('"overloaded"');

/**
 * The built monitor: HTTP_CLIENT = the upstream, its guarded proxy on a free port, probe loop on;
 * `ours-adaptive` and `ours-fixed` with MAX_CONCURRENT_CALLS set, the rest alike.
 */
export async function startOurs(upstreamPort: number, name: 'ours' | 'ours-adaptive' | 'ours-fixed' = 'ours'): Promise<Guard> {
  const limit: Record<string, string> = name === 'ours-adaptive' ? { MAX_CONCURRENT_CALLS: 'adaptive' } : name === 'ours-fixed' ? { MAX_CONCURRENT_CALLS: String(FIXED_LIMIT) } : {};
  const env = {
    HTTP_CLIENT: `127.0.0.1:${upstreamPort}`,
    ERROR_THRESHOLD: String(POLICY.failures),
    TIME_WINDOW: String(POLICY.openSeconds),
    SUCCESS_THRESHOLD: '1',
    PROBE_INTERVAL: String(POLICY.probeIntervalSeconds),
    REQUEST_TIMEOUT: String(POLICY.timeoutSeconds),
    PROBE_PATH: '/?probe=monitor',
    ADMIN_PORT: '0',
    LOG_LEVEL: 'info',
    ...limit,
  };
  const flags = shippedMonitor().nodeFlags;
  for (let attempt = 1; ; attempt++) {
    const proxyPort = await freePort();
    const monitor = NodeProcess.start('monitor', [...flags, MONITOR_MAIN], { ...env, PROXY_PORT: String(proxyPort) });
    try {
      await monitor.waitForLine(/ guarded proxy listening on port /, 10_000, 0);
    } catch (error) {
      await monitor.stop();
      if (attempt < 3 && monitor.lines.some((line) => /EADDRINUSE/.test(line))) continue;
      throw error;
    }
    return {
      name,
      url: `http://127.0.0.1:${proxyPort}`,
      settings: [
        ...Object.entries(env)
          .filter(([key]) => key !== 'HTTP_CLIENT' && key !== 'ADMIN_PORT' && key !== 'LOG_LEVEL')
          .map(([key, value]) => `${key}=${value}`),
        `node ${[...flags, 'monitor/dist/main.js'].join(' ')} (as its image starts it)`,
      ],
      rationale:
        'ERROR_THRESHOLD=3 consecutive failures open the circuit for TIME_WINDOW; then one trial (the probe, HALF_OPEN_MAX_CALLS=1) and SUCCESS_THRESHOLD=1 success closes it, as one good request does in nginx and one good check (rise 1) in HAProxy. Client calls and probes count alike; 5xx, refused connections and timeouts after REQUEST_TIMEOUT are failures.' +
        (name === 'ours' ? '' : ' MAX_CONCURRENT_CALLS bounds the client calls in flight (probes and trials are outside it); one more is answered 503 overloaded without trying the upstream, an own answer like the open circuit\'s.'),
      // the open circuit's 503, or (with MAX_CONCURRENT_CALLS) the full limit's: neither tried the upstream
      isOwn: (reply) => reply.status === 503 && (reply.body.includes('"circuit open"') || overloaded(reply)),
      isOverloaded: overloaded,
      events: () =>
        monitor.lines.filter((line) => line.includes('Circuit changed from') || line.includes('probe result ignored')).map((line) => ({ at: lineTime(line), text: line.slice(line.indexOf(' ') + 1) })),
      stop: async () => {
        await monitor.stop();
      },
    };
  }
}

/**
 * nginx's site for the bench: an upstream group with max_fails/fail_timeout. With `single`, the
 * group holds one server, as a user would first write it; otherwise a second entry marked `down`
 * stands beside it, because nginx ignores max_fails and fail_timeout in a group of one server.
 */
export function nginxSite(listen: string, upstreamPort: number, single: boolean): string {
  const timeout = ms(POLICY.timeoutSeconds);
  return [
    'upstream app {',
    '    zone app 64k;',
    `    server 127.0.0.1:${upstreamPort} max_fails=${POLICY.failures} fail_timeout=${POLICY.openSeconds}s;`,
    ...(single ? [] : [`    server 127.0.0.1:${upstreamPort} down;`]),
    '    keepalive 32;',
    '}',
    'server {',
    `    listen ${listen};`,
    '    access_log off;',
    '    location = /nginx-health { return 200 "ok\\n"; }',
    '    location / {',
    '        proxy_pass http://app;',
    '        proxy_http_version 1.1;',
    '        proxy_set_header Connection "";',
    '        proxy_next_upstream error timeout http_500 http_502 http_503 http_504;',
    `        proxy_connect_timeout ${timeout};`,
    `        proxy_read_timeout ${timeout};`,
    `        proxy_send_timeout ${timeout};`,
    // which server answered; the group's name when none was tried (no live upstreams)
    '        add_header X-Upstream-Addr $upstream_addr always;',
    '    }',
    '}',
    '',
  ].join('\n');
}

export async function startNginx(upstreamPort: number, single = false): Promise<Guard> {
  const nginx = await createLocalNginx({ upstream: `127.0.0.1:${upstreamPort}`, workers: 'auto', site: (listen) => nginxSite(listen, upstreamPort, single) });
  await nginx.start();
  const site = nginxSite('<port>', upstreamPort, single).split('\n');
  return {
    name: single ? 'nginx-single' : 'nginx',
    url: nginx.url,
    settings: [
      ...site.filter((line) => /server 127|zone|keepalive|proxy_next_upstream|_timeout/.test(line)).map((line) => line.trim()),
      'worker_processes auto (one per core, the Debian default); the zone shares the failure count between workers',
    ],
    rationale: single
      ? 'the same settings with only the one server a user has: nginx documents that max_fails and fail_timeout are ignored in a group of one, so this shows what `max_fails=3` alone buys.'
      : `max_fails=${POLICY.failures} failures within fail_timeout mark the server unavailable for fail_timeout=${POLICY.openSeconds}s; then the next client request is the trial, and one success brings it back. A second entry marked down is needed for nginx to apply max_fails at all to a single upstream. proxy_next_upstream names the 5xx answers so that they count as failures, and the timeouts equal the monitor's REQUEST_TIMEOUT. nginx counts fail_timeout in whole seconds.`,
    isOwn: (reply) => reply.headers['x-upstream-addr'] === 'app',
    isOverloaded: () => false,
    events: () =>
      nginx
        .errorLog()
        .split('\n')
        // the state changes; each rejection ("no live upstreams") has a line too, counted by the clients
        .filter((line) => /temporarily disabled/.test(line))
        .map((line) => ({ at: Date.parse(line.slice(0, 19).replace(/\//g, '-').replace(' ', 'T')), text: line.slice(20) })),
    stop: () => nginx.dispose(),
  };
}

export function haproxyConfig(listenPort: number, upstreamPort: number): string {
  const timeout = ms(POLICY.timeoutSeconds);
  return [
    'global',
    '    maxconn 4096',
    'defaults',
    '    mode http',
    `    timeout connect ${timeout}`,
    `    timeout server ${timeout}`,
    `    timeout check ${timeout}`,
    '    timeout client 30s',
    // one attempt per request, like the other two: a retry would be one more call to a broken upstream
    '    retries 0',
    'frontend web',
    `    bind 127.0.0.1:${listenPort}`,
    '    http-request return status 503 content-type application/json string "{\\"error\\":\\"no server available\\"}" if { nbsrv(app) eq 0 }',
    '    default_backend app',
    'backend app',
    '    option httpchk GET /?probe=haproxy',
    `    server s1 127.0.0.1:${upstreamPort} check inter ${ms(POLICY.probeIntervalSeconds)} downinter ${POLICY.openSeconds}s fall ${POLICY.failures} rise 1 observe layer7 error-limit ${POLICY.failures} on-error mark-down`,
    '',
  ].join('\n');
}

export async function startHaproxy(upstreamPort: number): Promise<Guard> {
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-haproxy-'));
  const cleanup = (): void => rmSync(dir, { recursive: true, force: true });
  // Ctrl-C: the process ends without the finally blocks; its children are killed by their Service
  onProcessEnd(cleanup);
  try {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const config = haproxyConfig(port, upstreamPort);
      const configPath = path.join(dir, 'haproxy.cfg');
      writeFileSync(configPath, config);
      // -db: foreground, one process, no master: SIGKILL as a last resort leaves nothing behind
      const seen: GuardEvent[] = [];
      const child = spawn(HAPROXY, ['-db', '-f', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
      const service = new Service('haproxy', child, (line) => {
        if (/Server app\/s1 is (UP|DOWN)|no server available/.test(line) && line.startsWith('[')) seen.push({ at: Date.now(), text: line.replace(/^\[\w+\]\s+\(\d+\) : /, '') });
      });
      if (await answers(`http://127.0.0.1:${port}/`, service)) {
        return {
          name: 'haproxy',
          url: `http://127.0.0.1:${port}`,
          settings: config
            .split('\n')
            .filter((line) => /timeout (connect|server|check)|retries|http-request return|httpchk|server s1/.test(line))
            .map((line) => line.trim()),
          rationale: `error-limit ${POLICY.failures} consecutive errors seen in live traffic (observe layer7: 5xx other than 501/505, timeouts, refused connections) mark the server down at once (on-error mark-down), and so do fall ${POLICY.failures} failed checks; while down it is checked every downinter=${POLICY.openSeconds}s, the window, and one good check (rise 1) brings it back. inter=${ms(POLICY.probeIntervalSeconds)} is the monitor's PROBE_INTERVAL, and the check path is the one the clients use, as the monitor's probe. With no server left, the frontend answers 503 itself. retries 0: one attempt per request, as nginx (one live server) and the monitor make.`,
          isOwn: (reply) => reply.status === 503 && reply.body.includes('no server available'),
          isOverloaded: () => false,
          events: () => [...seen],
              stop: async () => {
            await service.stop('SIGTERM');
            cleanup();
          },
        };
      }
      await service.stop('SIGKILL');
      if (attempt >= 3 || !service.lines.some((line) => /cannot bind|Address already in use/i.test(line))) {
        throw new Error(`haproxy did not answer on port ${port}:\n${service.lines.slice(-15).join('\n')}`);
      }
    }
  } catch (error) {
    cleanup();
    throw error;
  }
}

/** Polls `url` until it answers 200 (true), or the process ends or 10 s pass (false). */
async function answers(url: string, service: Service): Promise<boolean> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline && service.alive) {
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.status === 200) return true;
    } catch {
      // not listening yet
    }
    await sleep(50);
  }
  return false;
}
