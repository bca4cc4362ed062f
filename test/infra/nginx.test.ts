import { spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createUpstreamServer, type UpstreamServer } from '../../upstream/src/server';
import { describeWithTool } from '../support/needs-tool';
import {
  NGINX_TEMPLATE_PATH,
  createLocalNginx,
  envsubst,
  findNginx,
  templateVariables,
  type LocalNginx,
  type NginxTemplateVars,
} from '../support/nginx';

const template = readFileSync(NGINX_TEMPLATE_PATH, 'utf8');

/** What compose puts in the nginx container's environment for the template. */
const COMPOSE_VARS: NginxTemplateVars = {
  NGINX_LISTEN: '80',
  UPSTREAM_ADDR: 'upstream:3000',
  NGINX_RESOLVER: '127.0.0.11',
  NGINX_PROXY_TIMEOUT: '5s',
  // nginx/Dockerfile's ENV
  REVIEWS_ADDR: 'upstream:3000',
};

/**
 * The official image's own environment, which its envsubst call also passes as "defined": nginx:1.30
 * (1.30.0 on Debian trixie; the ENV lines of nginx/docker-nginx's stable/debian/Dockerfile).
 */
const IMAGE_ENV = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  HOSTNAME: '3f2c1a9b7d4e',
  HOME: '/root',
  NGINX_VERSION: '1.30.0',
  NJS_VERSION: '0.9.6',
  NJS_RELEASE: '1~trixie',
  ACME_VERSION: '0.3.1',
  PKG_RELEASE: '1~trixie',
  DYNPKG_RELEASE: '1~trixie',
};

/** nginx's own variables the template relies on; a stray env var of the same name would eat them. */
const NGINX_OWN_VARIABLES = ['$host', '$remote_addr', '$proxy_add_x_forwarded_for', '$scheme', '$upstream_endpoint'];

const nginxBinary = findNginx();
const envsubstBinary = ['/usr/bin/envsubst', '/bin/envsubst'].find((path) => existsSync(path));
const NO_NGINX = 'nginx is not installed: `npm run setup:test` installs Debian\'s nginx-light (or set NGINX_BIN)';
const withNginx = (name: string, tests: () => void): void => describeWithTool('nginx', nginxBinary !== undefined, NO_NGINX, name, tests);

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

function http(url: string, options: { method?: string; timeoutMs?: number } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.setTimeout(options.timeoutMs ?? 5000, () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

async function poll<T>(attempt: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await attempt();
    if (done(value) || performance.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

describe('nginx template', () => {
  it('uses exactly the four documented variables', () => {
    expect(templateVariables(template).sort()).toEqual(Object.keys(COMPOSE_VARS).sort());
  });

  it('renders the compose way with no ${...} left and nginx\'s own $variables intact', () => {
    const rendered = envsubst(template, { ...IMAGE_ENV, ...COMPOSE_VARS });
    expect(rendered).not.toMatch(/\$\{/);
    expect(rendered).toContain('listen 80;');
    expect(rendered).toContain('set $upstream_endpoint upstream:3000;');
    expect(rendered).toContain('resolver 127.0.0.11 valid=5s ipv6=off;');
    expect(rendered).toContain('proxy_read_timeout 5s;');
    for (const variable of NGINX_OWN_VARIABLES) expect(rendered).toContain(variable);
  });

  it('has no nginx variable an environment variable could shadow', () => {
    const nginxVariables = [...template.matchAll(/\$([A-Za-z_]\w*)/g)].map((match) => match[1] ?? '');
    for (const name of nginxVariables) expect(name).toBe(name.toLowerCase());
  });

  (envsubstBinary ? it : it.skip)('renders exactly as the image\'s envsubst call does', () => {
    const env = { ...IMAGE_ENV, ...COMPOSE_VARS };
    // 20-envsubst-on-templates.sh: defined_envs=$(printf '${%s} ' $(awk 'END { for (name in ENVIRON) ... }'))
    const definedEnvs = Object.keys(env).map((name) => `\${${name}}`).join(' ');
    const result = spawnSync(envsubstBinary ?? 'envsubst', [definedEnvs], { input: template, env, encoding: 'utf8' });
    expect(result.status).toBe(0);
    expect(envsubst(template, env)).toBe(result.stdout);
  });

  withNginx('with a real nginx -t', () => {
    let nginx: LocalNginx;
    afterEach(() => nginx?.dispose());

    it('accepts the config rendered for the local stack', async () => {
      nginx = await createLocalNginx({ upstream: '127.0.0.1:9' });
      await expect(nginx.check()).resolves.toBeUndefined();
    });

    it('accepts the config rendered the compose way, upstream name unresolvable here', async () => {
      nginx = await createLocalNginx({ upstream: '127.0.0.1:9' });
      // listen 80 is not bound by -t, and upstream:3000 is only resolved at request time.
      writeFileSync(nginx.siteConfPath, envsubst(template, { ...IMAGE_ENV, ...COMPOSE_VARS }));
      await expect(nginx.check()).resolves.toBeUndefined();
    });
  });
});

withNginx('nginx in front of the upstream (real processes on loopback)', () => {
  let upstream: UpstreamServer;
  let upstreamPort: number;
  let nginx: LocalNginx;

  beforeAll(async () => {
    upstream = createUpstreamServer({ hostname: 'upstream-test' });
    ({ port: upstreamPort } = await upstream.listen(0, '127.0.0.1'));
    nginx = await createLocalNginx({ upstream: `127.0.0.1:${upstreamPort}`, proxyTimeout: '1s' });
    await nginx.start();
  });

  afterAll(async () => {
    await nginx?.dispose();
    await upstream?.close();
  });

  afterEach(() => http(`${nginx.url}/fault/normal`, { method: 'PUT' }).catch(() => undefined));

  it('proxies GET / to the upstream', async () => {
    const reply = await http(`${nginx.url}/`);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(JSON.parse(reply.body)).toMatchObject({ service: 'upstream', host: 'upstream-test', mode: 'normal' });
  });

  it('forwards the fault switch, so curl through nginx can flip it', async () => {
    const set = await http(`${nginx.url}/fault/client-error?status=429`, { method: 'PUT' });
    expect(set.status).toBe(200);
    expect(JSON.parse(set.body)).toEqual({ mode: 'client-error', status: 429 });
    expect((await http(`${nginx.url}/`)).status).toBe(429);
    expect((await http(`${nginx.url}/fault/error`, { method: 'POST' })).status).toBe(200);
    expect((await http(`${nginx.url}/`)).status).toBe(500);
    expect(JSON.parse((await http(`${nginx.url}/fault`)).body)).toMatchObject({ mode: 'error', status: 500 });
  });

  it('answers /nginx-health itself', async () => {
    const reply = await http(`${nginx.url}/nginx-health`);
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('ok\n');
  });

  it('hides its version in the Server header and on error pages', async () => {
    expect((await http(`${nginx.url}/`)).headers.server).toBe('nginx');
    await http(`${nginx.url}/fault/reset`, { method: 'PUT' });
    const error = await http(`${nginx.url}/`);
    expect(error.headers.server).toBe('nginx');
    expect(error.body).not.toMatch(/nginx\/\d/);
  });

  it('answers 502 when the upstream resets the connection', async () => {
    await http(`${nginx.url}/fault/reset`, { method: 'PUT' });
    expect((await http(`${nginx.url}/`)).status).toBe(502);
  });

  it('answers 504 once NGINX_PROXY_TIMEOUT passes while the upstream hangs', async () => {
    await http(`${nginx.url}/fault/hang`, { method: 'PUT' });
    const started = performance.now();
    const reply = await http(`${nginx.url}/`, { timeoutMs: 4000 });
    expect(reply.status).toBe(504);
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('answers 502 while the upstream is down, and proxies again once it is back', async () => {
    await upstream.close();
    expect((await http(`${nginx.url}/`)).status).toBe(502);
    expect((await http(`${nginx.url}/nginx-health`)).status).toBe(200);
    upstream = createUpstreamServer({ hostname: 'upstream-test' });
    await upstream.listen(upstreamPort, '127.0.0.1');
    expect((await http(`${nginx.url}/`)).status).toBe(200);
  });

  it('stops gracefully on SIGQUIT and starts again on the same port', async () => {
    const { url } = nginx;
    await nginx.stop();
    expect(nginx.running).toBe(false);
    await expect(http(`${url}/nginx-health`)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await nginx.start();
    expect(nginx.url).toBe(url);
    expect((await http(`${url}/`)).status).toBe(200);
    expect(nginx.errorLog()).not.toMatch(/\[(emerg|alert|crit)\]/);
  });
});

withNginx('nginx passing requests through unchanged', () => {
  let echo: Server;
  let nginx: LocalNginx;

  beforeAll(async () => {
    echo = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ url: req.url, method: req.method, httpVersion: req.httpVersion, headers: req.headers }));
    });
    const port = await listen(echo, 0, '127.0.0.1');
    nginx = await createLocalNginx({ upstream: `127.0.0.1:${port}` });
    await nginx.start();
  });

  afterAll(async () => {
    await nginx?.dispose();
    echo?.close();
  });

  it('keeps the path and query string as the client sent them', async () => {
    const seen = JSON.parse((await http(`${nginx.url}/fault/error?status=503&x=a%20b%2Fc`, { method: 'PUT' })).body);
    expect(seen).toMatchObject({ method: 'PUT', url: '/fault/error?status=503&x=a%20b%2Fc' });
  });

  it('sets X-Forwarded-* and talks HTTP/1.1 without forwarding Connection', async () => {
    const seen = JSON.parse((await http(`${nginx.url}/`)).body);
    expect(seen.httpVersion).toBe('1.1');
    expect(seen.headers).toMatchObject({
      host: '127.0.0.1',
      'x-real-ip': '127.0.0.1',
      'x-forwarded-for': '127.0.0.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': '127.0.0.1',
    });
    expect(seen.headers.connection).toBeUndefined();
  });
});

/** A one-record DNS server: answers every A query with `address()`, or NXDOMAIN when undefined. */
async function startDns(address: () => string | undefined): Promise<{ port: number; socket: Socket }> {
  const socket = createSocket('udp4');
  socket.on('message', (query, peer) => {
    let end = 12;
    while ((query[end] ?? 0) !== 0) end += (query[end] ?? 0) + 1;
    const question = query.subarray(12, end + 5);
    const ip = address();
    const header = Buffer.alloc(12);
    header.writeUInt16BE(query.readUInt16BE(0), 0);
    header.writeUInt16BE(ip ? 0x8180 : 0x8183, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(ip ? 1 : 0, 6);
    // TTL 600 s, as Docker's embedded DNS gives: only the resolver's `valid=` makes nginx ask again sooner.
    const answer = ip
      ? Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0x02, 0x58, 0, 4, ...ip.split('.').map(Number)])
      : Buffer.alloc(0);
    socket.send(Buffer.concat([header, question, answer]), peer.port, peer.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return { port: socket.address().port, socket };
}

withNginx('nginx finding the upstream by name at request time', () => {
  let dnsAnswer: string | undefined;
  let dns: Socket;
  let dnsPort: number;
  const cleanups: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    ({ socket: dns, port: dnsPort } = await startDns(() => dnsAnswer));
  });

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  afterAll(() => dns?.close());

  it('starts and answers 502 while the upstream name does not resolve', async () => {
    dnsAnswer = undefined;
    const nginx = await createLocalNginx({ upstream: 'upstream.test:3000', resolver: `127.0.0.1:${dnsPort}` });
    cleanups.push(() => nginx.dispose());
    await nginx.start();
    expect((await http(`${nginx.url}/`)).status).toBe(502);
    expect(nginx.errorLog()).toMatch(/upstream\.test could not be resolved \(3: Host not found\)/);
  });

  it('follows the upstream to a new address within the 5 s resolver cache', async () => {
    const first = createUpstreamServer({ hostname: 'first' });
    const { port } = await first.listen(0, '127.0.0.2');
    cleanups.push(() => first.close());
    dnsAnswer = '127.0.0.2';
    const nginx = await createLocalNginx({ upstream: `upstream.test:${port}`, resolver: `127.0.0.1:${dnsPort}` });
    cleanups.push(() => nginx.dispose());
    await nginx.start();
    expect(JSON.parse((await http(`${nginx.url}/`)).body)).toMatchObject({ host: 'first' });

    // The upstream container is recreated and comes back with another IP.
    await first.close();
    const second = createUpstreamServer({ hostname: 'second' });
    await second.listen(port, '127.0.0.3');
    cleanups.push(() => second.close());
    dnsAnswer = '127.0.0.3';
    const started = performance.now();
    const reply = await poll(() => http(`${nginx.url}/`), (r) => r.status === 200, 8000);
    expect(JSON.parse(reply.body)).toMatchObject({ host: 'second' });
    expect(performance.now() - started).toBeLessThan(6500);
  }, 15_000);
});
