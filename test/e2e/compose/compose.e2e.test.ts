/**
 * The compose stack on a real Docker engine, played with the README's commands literally:
 * `docker-compose up -d --build`, `docker-compose stop nginx`, `docker-compose logs monitor`,
 * `docker-compose start nginx`, `docker-compose down -v`. Default timings from .env. Then the same
 * with `--profile observability`, read through Prometheus's API; and nginx built from a checkout
 * whose template a root without capabilities cannot read.
 *
 * Where no engine runs (these CI machines), test/docker/lab.sh starts one and builds stand-ins for
 * the base images (no registry here); where a normal engine with registry access exists, the lab
 * uses it and the real images. The only test-only addition is an override file
 * (test/docker/compose.test-override.yml): builds on the host network (compose networks here have no
 * route out to the npm registry), nginx without the unprivileged-port sysctl of newer engines, and
 * Prometheus scraping and evaluating every second.
 */
import { execFileSync } from 'node:child_process';
import http from 'node:http';
import { chmodSync, chownSync, cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { holdLab, lab, labEnv, type LabLease } from '../../support/docker-lab';
import { waitForLogLine } from '../../support/log-lines';

const ROOT = path.resolve(__dirname, '../../..');
const PROJECT = 'cbdemo-e2e';
/**
 * The last run's monitor log, the proxy's answers (closed and open), /status while open, /metrics
 * and the monitor's memory at the end, for the README and docs/ (admin-api.md, performance.md).
 */
const LAST_RUN = (name: string) => path.join(ROOT, `test/e2e/compose/last-run.${name}`);

jest.setTimeout(15 * 60_000);

let env: NodeJS.ProcessEnv = process.env;
let started = false;
let lease: LabLease | undefined;

interface Stack {
  readonly project: string;
  /** compose files after docker-compose.yml and the test override */
  readonly files?: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
}

/** `docker-compose <args>` for one stack: its project name, the build override and its own files. */
function composeIn(stack: Stack, ...args: string[]): string {
  const files = ['docker-compose.yml', 'test/docker/compose.test-override.yml', ...(stack.files ?? [])].flatMap((file) => ['-f', file]);
  return execFileSync('docker-compose', ['-p', stack.project, ...files, ...args], {
    cwd: ROOT,
    env: { ...env, ...stack.env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
  });
}

/** `docker-compose <args>` exactly as a user types it, plus the project name and the build override. */
function compose(...args: string[]): string {
  return composeIn({ project: PROJECT }, ...args);
}

/** Polls `url` until it answers `status`; throws with the last error after `timeoutMs`. */
async function waitForStatus(url: string, status: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const reply = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (reply.status === status) return;
      last = `HTTP ${reply.status}`;
    } catch (error) {
      last = String((error as Error).cause ?? error);
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer ${status} within ${timeoutMs} ms (last: ${last})`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** `curl -si <url>` as the README shows it, saved for the README; returns the status line. */
function curlInclude(url: string, name: string): string {
  const answer = execFileSync('curl', ['-si', '--max-time', '5', url], { encoding: 'utf8' });
  writeFileSync(LAST_RUN(name), answer);
  return answer.split('\r\n')[0] ?? '';
}

/** VmRSS and VmHWM of the monitor's node process inside its container (PID 1 there is the init). */
function monitorMemory(): string {
  // this shell's own command line names main.js too: match on the command, node
  const script = 'for p in /proc/[0-9]*; do case "$(tr "\\0" " " 2>/dev/null < "$p/cmdline")" in node*main.js*) grep -E "^(VmRSS|VmHWM|RssAnon|RssFile):" "$p/status";; esac; done';
  return compose('exec', '-T', 'monitor', 'sh', '-c', script);
}

function monitorLog(): string[] {
  return compose('logs', '--no-color', 'monitor')
    .split('\n')
    .map((line) => line.replace(/^[^|]*\| ?/, ''))
    .filter(Boolean);
}

const waitForLog = (pattern: RegExp, timeoutMs: number, from = 0): Promise<string> => waitForLogLine(monitorLog, pattern, timeoutMs, from);

beforeAll(async () => {
  // the podman suite uses the same engine: one suite at a time (test/support/docker-lab.ts)
  lease = await holdLab();
  lab('setup');
  env = labEnv();
  // a previous run killed midway may have left the project behind
  compose('--profile', 'observability', 'down', '-v', '--remove-orphans');
  started = true;
});

afterAll(() => {
  // without the lease the engine may be another suite's: leave it alone
  if (!lease) return;
  try {
    if (started) {
      writeFileSync(LAST_RUN('monitor.log'), `${monitorLog().join('\n')}\n`);
      // the profile too: without it docker-compose 1.29 leaves Prometheus (and so the network) up
      compose('--profile', 'observability', 'down', '-v', '--remove-orphans');
    }
  } finally {
    try {
      lab('teardown');
    } finally {
      lease?.release();
    }
  }
});

it('docker-compose config -q accepts the compose file as users run it', () => {
  // the infra suite runs this only where docker-compose is installed; here it always is
  expect(() => execFileSync('docker-compose', ['-f', 'docker-compose.yml', 'config', '-q'], { cwd: ROOT, env, stdio: 'pipe' })).not.toThrow();
});

it('nginx starts from a checkout whose template root cannot read (mode 000, another owner): the image sets its mode', async () => {
  // what a checkout under umask 077 by another user looks like to a root without CAP_DAC_OVERRIDE,
  // and worse: the build copies the file in, and nginx/Dockerfile makes it readable
  const context = mkdtempSync(path.join(tmpdir(), 'cbdemo-nginx-context-'));
  const stack: Stack = { project: `${PROJECT}-modes`, files: [path.join(context, 'override.yml')], env: { NGINX_PORT: '8009' } };
  try {
    cpSync(path.join(ROOT, 'nginx'), path.join(context, 'nginx'), { recursive: true });
    const templates = path.join(context, 'nginx/templates');
    chmodSync(path.join(templates, 'default.conf.template'), 0o000);
    chmodSync(templates, 0o700);
    for (const file of [templates, path.join(templates, 'default.conf.template')]) chownSync(file, 4242, 4242);
    writeFileSync(path.join(context, 'override.yml'), `services:\n  nginx:\n    build:\n      context: ${path.join(context, 'nginx')}\n`);
    composeIn(stack, 'up', '-d', '--build', '--no-deps', 'nginx');
    await waitForStatus('http://127.0.0.1:8009/nginx-health', 200, 30_000);
    expect(composeIn(stack, 'logs', '--no-color', 'nginx')).toMatch(/Running envsubst on \/etc\/nginx\/templates\/default\.conf\.template/);
  } finally {
    composeIn(stack, 'down', '-v', '--remove-orphans', '--rmi', 'local');
    rmSync(context, { recursive: true, force: true });
  }
});

it('docker-compose up, stop nginx, start nginx: the monitor logs closed -> open -> half_open -> closed', async () => {
  const t0 = Date.now();
  compose('up', '-d', '--build');
  const upSeconds = (Date.now() - t0) / 1000;

  await waitForLog(/ info probe ok: HTTP 200 in \d+ ms$/, 60_000);
  const direct = await fetch('http://127.0.0.1:8000/');
  expect(direct.status).toBe(200);
  expect(await direct.json()).toMatchObject({ service: 'upstream' });
  expect(curlInclude('http://127.0.0.1:8080/', 'proxy-closed.txt')).toBe('HTTP/1.1 200 OK');
  expect(await (await fetch('http://127.0.0.1:8081/status')).json()).toMatchObject({ state: 'closed' });

  const beforeStop = monitorLog().length;
  compose('stop', 'nginx');
  const openLine = await waitForLog(/ warn Circuit changed from closed to open /, 30_000, beforeStop);
  expect(openLine).toMatch(/\(3 consecutive failures, last: (ENOTFOUND|ECONNREFUSED); trial in 10 s\)$/);

  const shortCircuit = await fetch('http://127.0.0.1:8080/');
  expect(shortCircuit.status).toBe(503);
  expect(Number(shortCircuit.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect(curlInclude('http://127.0.0.1:8080/', 'proxy-open.txt')).toBe('HTTP/1.1 503 Service Unavailable');
  const status = await (await fetch('http://127.0.0.1:8081/status')).text();
  expect(JSON.parse(status)).toMatchObject({ state: 'open' });
  writeFileSync(LAST_RUN('status.json'), status);

  const beforeStart = monitorLog().length;
  compose('start', 'nginx');
  await waitForLog(/ info Circuit changed from open to half_open /, 30_000, beforeStart);
  await waitForLog(/ info Circuit changed from half_open to closed \(3 consecutive trial successes\)$/, 60_000, beforeStart);
  expect((await fetch('http://127.0.0.1:8080/')).status).toBe(200);
  const metrics = await (await fetch('http://127.0.0.1:8081/metrics')).text();
  expect(metrics).toMatch(/^circuit_breaker_transitions_total\{route="default",from="half_open",to="closed"\} 1$/m);
  expect(metrics).toMatch(/^circuit_breaker_state\{route="default",state="closed"\} 1$/m);
  writeFileSync(LAST_RUN('metrics.txt'), metrics);
  const memory = monitorMemory();
  expect(memory.match(/^VmRSS:/gm)).toHaveLength(1);
  writeFileSync(LAST_RUN('memory.txt'), memory);

  process.stdout.write(`compose e2e: up -d --build took ${upSeconds.toFixed(1)} s, whole scenario ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
});

it('the image serves the dashboard on the admin port: the page, its assets and the /events stream', async () => {
  // the scenario above left the stack up and closed
  const page = await fetch('http://127.0.0.1:8081/');
  expect(page.status).toBe(200);
  expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src 'self';/);
  const html = await page.text();
  expect(html).toContain('<script type="module" src="app.js"></script>');
  for (const asset of ['app.js', 'style.css', 'favicon.svg']) expect({ asset, status: (await fetch(`http://127.0.0.1:8081/${asset}`)).status }).toEqual({ asset, status: 200 });

  const controller = new AbortController();
  const events = await fetch('http://127.0.0.1:8081/events', { signal: controller.signal });
  expect(events.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
  const reader = events.body!.getReader();
  let text = '';
  while (!text.includes('\n\n', text.indexOf('event: snapshot'))) text += new TextDecoder().decode((await reader.read()).value);
  controller.abort();
  const snapshot = JSON.parse(/^event: snapshot\ndata: (.*)$/m.exec(text)![1]!) as { state: string; recent: { transitions: { to: string }[] } };
  expect(snapshot.state).toBe('closed');
  // the scenario's transitions (a trial may have failed once more if nginx was slow to come back)
  const states = snapshot.recent.transitions.map((transition) => transition.to);
  expect(states[0]).toBe('open');
  expect(states.slice(-2)).toEqual(['half_open', 'closed']);
});

interface PrometheusAlert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: 'pending' | 'firing';
  activeAt: string;
}

/** Prometheus's own API on its published port: `data` of a successful answer. */
async function prometheusApi<T>(pathAndQuery: string): Promise<T> {
  const reply = await fetch(`http://127.0.0.1:9090${pathAndQuery}`, { signal: AbortSignal.timeout(2000) });
  const body = (await reply.json()) as { status: string; data: T };
  if (body.status !== 'success') throw new Error(`${pathAndQuery}: ${JSON.stringify(body)}`);
  return body.data;
}

async function until<T>(what: string, attempt: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await attempt();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

const openAlerts = async (): Promise<PrometheusAlert[]> =>
  (await prometheusApi<{ alerts: PrometheusAlert[] }>('/api/v1/alerts')).alerts.filter((alert) => alert.labels.alertname === 'CircuitBreakerOpen');

it('--profile observability adds Prometheus with the rules: stop nginx and CircuitBreakerOpen is pending or firing, start nginx and it resolves', async () => {
  // the walkthrough's plain `up` started no Prometheus
  expect(compose('ps', '-q', 'prometheus').trim()).toBe('');
  const t0 = Date.now();
  compose('--profile', 'observability', 'up', '-d');
  await until('Prometheus scrapes the monitor', async () => {
    const { result } = await prometheusApi<{ result: { value: [number, string] }[] }>('/api/v1/query?query=up%7Bjob%3D%22circuit-breaker-monitor%22%7D');
    return result[0]?.value[1] === '1' ? true : undefined;
  }, 60_000).catch((error: unknown) => {
    throw new Error(`${String(error)}\n${compose('--profile', 'observability', 'logs', '--no-color', '--tail', '20', 'prometheus')}`);
  });
  const readySeconds = (Date.now() - t0) / 1000;
  const { groups } = await prometheusApi<{ groups: { rules: { name: string; type: string }[] }[] }>('/api/v1/rules');
  expect(groups.flatMap((group) => group.rules.filter((rule) => rule.type === 'alerting').map((rule) => rule.name))).toEqual([
    'CircuitBreakerOpen',
    'CircuitBreakerFlapping',
    'CircuitBreakerRejectingCalls',
    'CircuitBreakerOverloaded',
    'CircuitBreakerMonitorDown',
    'CircuitBreakerMonitorMissing',
  ]);
  expect(await openAlerts()).toEqual([]);

  const stopped = Date.now();
  compose('stop', 'nginx');
  const [alert] = await until('CircuitBreakerOpen pending or firing', async () => {
    const alerts = await openAlerts();
    return alerts.length > 0 ? alerts : undefined;
  }, 30_000);
  const pendingSeconds = (Date.now() - stopped) / 1000;
  expect(alert).toMatchObject({ labels: { alertname: 'CircuitBreakerOpen', severity: 'critical', job: 'circuit-breaker-monitor', instance: 'monitor:8081' } });
  expect(['pending', 'firing']).toContain(alert?.state);
  expect(alert?.annotations.summary).toBe('Circuit open on monitor:8081 for over a minute: its upstream is failing');
  const all = await prometheusApi<{ alerts: PrometheusAlert[] }>('/api/v1/alerts');
  // a stopped nginx is one trip, no proxied traffic, and a monitor that is still scraped
  expect(all.alerts.map((active) => active.labels.alertname)).toEqual(['CircuitBreakerOpen']);
  writeFileSync(LAST_RUN('prometheus-alerts.json'), `${JSON.stringify(all, null, 2)}\n`);

  const started = Date.now();
  compose('start', 'nginx');
  await until('CircuitBreakerOpen resolved', async () => ((await openAlerts()).length === 0 ? true : undefined), 60_000);
  const resolvedSeconds = (Date.now() - started) / 1000;
  expect((await fetch('http://127.0.0.1:8081/status').then((reply) => reply.json())) as unknown).toMatchObject({ state: 'closed' });
  process.stdout.write(
    `compose e2e (observability): Prometheus scraping ${readySeconds.toFixed(1)} s after up, alert ${alert?.state} ${pendingSeconds.toFixed(1)} s after stop nginx, resolved ${resolvedSeconds.toFixed(1)} s after start nginx; whole test ${((Date.now() - t0) / 1000).toFixed(1)} s\n`,
  );
});

/**
 * GET on a connection of its own. A kept-alive connection that the monitor closes (its keep-alive
 * timeout) just as the next request goes out fails that request with "other side closed": a race of
 * the test's client, not something the monitor does wrong, and a client's to retry.
 */
function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, timeout: 10_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      })
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy(new Error(`GET ${url}: no answer in 10 s`));
      })
      .on('error', reject);
  });
}

it('the routes demo: stop reviews and only its route opens, catalog keeps answering; start it and it closes; stop nginx and both open, start it and both close', async () => {
  const t0 = Date.now();
  // the stack of the tests above, with the override the README gives: reviews added, nginx and the monitor recreated
  const routes: Stack = { project: PROJECT, files: ['docker-compose.routes.yml'] };
  const before = monitorLog().length;
  try {
    await routesScenario(routes, before);
  } finally {
    // kept whatever happened: the first place to look when this test fails
    writeFileSync(LAST_RUN('routes-monitor.log'), `${monitorLog().slice(before).join('\n')}\n`);
  }
  process.stdout.write(`compose e2e (routes): whole scenario ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
});

async function routesScenario(routes: Stack, before: number): Promise<void> {
  composeIn(routes, 'up', '-d', '--build');
  await waitForLog(/ info \[reviews\] probe ok: HTTP 200 in \d+ ms$/, 60_000, before);
  await waitForLog(/ info \[catalog\] probe ok: HTTP 200 in \d+ ms$/, 60_000, before);
  expect((await get('http://127.0.0.1:8080/api/catalog/')).status).toBe(200);
  expect((await get('http://127.0.0.1:8080/api/reviews/')).status).toBe(200);
  // a path no route has: the monitor's own 404
  expect((await get('http://127.0.0.1:8080/')).status).toBe(404);

  const beforeStop = monitorLog().length;
  composeIn(routes, 'stop', 'reviews');
  const openLine = await waitForLog(/ warn \[reviews\] Circuit changed from closed to open /, 30_000, beforeStop);
  expect(openLine).toMatch(/\(3 consecutive failures, last: HTTP 502; trial in 10 s\)$/);
  const statuses = { catalog: [] as number[], reviews: [] as number[] };
  for (let i = 0; i < 50; i += 1) {
    statuses.catalog.push((await get(`http://127.0.0.1:8080/api/catalog/?i=${i}`)).status);
    statuses.reviews.push((await get(`http://127.0.0.1:8080/api/reviews/?i=${i}`)).status);
  }
  expect(statuses.catalog.filter((code) => code !== 200)).toEqual([]);
  expect(statuses.reviews.filter((code) => code !== 503)).toEqual([]);
  const status = JSON.parse((await get('http://127.0.0.1:8081/status')).body) as { overall: unknown; routes: { name: string; state: string }[] };
  expect(status.overall).toEqual({ state: 'open', routesNotClosed: ['reviews'] });
  expect(status.routes.map(({ name, state }) => `${name} ${state}`)).toEqual(['catalog closed', 'reviews open']);
  // nothing of catalog's changed
  expect(monitorLog().slice(beforeStop).filter((line) => line.includes('[catalog] Circuit changed'))).toEqual([]);
  writeFileSync(LAST_RUN('routes-status.json'), `${JSON.stringify(status)}\n`);

  const beforeStart = monitorLog().length;
  composeIn(routes, 'start', 'reviews');
  await waitForLog(/ info \[reviews\] Circuit changed from half_open to closed \(3 consecutive trial successes\)$/, 60_000, beforeStart);
  expect((await get('http://127.0.0.1:8080/api/reviews/')).status).toBe(200);

  // nginx in front of both: both routes open, each on its own count; start it and each closes
  const beforeNginx = monitorLog().length;
  composeIn(routes, 'stop', 'nginx');
  await waitForLog(/ warn \[catalog\] Circuit changed from closed to open /, 30_000, beforeNginx);
  await waitForLog(/ warn \[reviews\] Circuit changed from closed to open /, 30_000, beforeNginx);
  const bothOpen = JSON.parse((await get('http://127.0.0.1:8081/status')).body) as { overall: unknown };
  expect(bothOpen.overall).toEqual({ state: 'open', routesNotClosed: ['catalog', 'reviews'] });
  const beforeNginxStart = monitorLog().length;
  composeIn(routes, 'start', 'nginx');
  await waitForLog(/ info \[catalog\] Circuit changed from half_open to closed /, 60_000, beforeNginxStart);
  await waitForLog(/ info \[reviews\] Circuit changed from half_open to closed /, 60_000, beforeNginxStart);
}
