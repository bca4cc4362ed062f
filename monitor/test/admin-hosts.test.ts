/**
 * SPEC "Admin API: who may ask": every admin route answers only a Host that is an IP literal,
 * localhost, the machine's host name or a name in ADMIN_ALLOWED_HOSTS. Anything else, a rebinding
 * name above all, gets 421 and a short text, never data; refusals are logged once a minute per name.
 * Raw bytes on a socket, so the table can hold what an HTTP client would not send.
 */
import net from 'node:net';
import { Dashboard } from '../src/admin/dashboard';
import { adminRig, RIG_HOSTNAME, type AdminRig } from './support/admin-rig';

const TOKEN = 'test-admin-token-0123456789';
const REFUSED_BODY =
  '421 Misdirected Request: this admin port does not answer to that Host name (ADMIN_ALLOWED_HOSTS lists the names it answers beside IP addresses and localhost).\n';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function rig(env: Record<string, string> = {}): Promise<AdminRig> {
  const r = await adminRig({ ADMIN_TOKEN: TOKEN, ADMIN_ALLOWED_HOSTS: 'monitor,dash.example', ...env });
  cleanups.push(() => r.close());
  return r;
}

interface Answer {
  readonly status: number;
  /** header names in lower case */
  readonly headers: Readonly<Record<string, string>>;
  /** for a refusal: the whole body; otherwise what came with the headers */
  readonly body: string;
}

/**
 * Sends `head` (the request line and headers, without the blank line) and reads the answer's
 * head. A refusal (400, 421) is read to its end, since the server closes; any other answer is cut
 * after its head, since /events never ends.
 */
function ask(port: number, head: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let answer: Answer | undefined;
    const parse = (): Answer | undefined => {
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return undefined;
      const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
      const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
      return { status: Number(statusLine!.split(' ')[1]), headers, body: text.slice(end + 4) };
    };
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      answer = parse();
      if (answer !== undefined && answer.status !== 400 && answer.status !== 421) {
        socket.destroy();
        resolve(answer);
      }
    });
    socket.on('end', () => (answer ? resolve(answer) : reject(new Error(`closed without an answer: ${JSON.stringify(text)}`))));
    socket.on('error', reject);
    socket.write(`${head}\r\n\r\n`);
  });
}

const ROUTES: readonly (readonly [method: string, path: string])[] = [
  ...new Dashboard().paths.map((path) => ['GET', path] as const),
  ['GET', '/healthz'],
  ['GET', '/status'],
  ['GET', '/metrics'],
  ['GET', '/events'],
  ['HEAD', '/status'],
  ['POST', '/breaker/isolate'],
  ['POST', '/breaker/reset'],
  ['GET', '/no-such-path'],
];

/** The request head for one route: `target` is the request target, `host` the Host lines. */
const requestHead = (method: string, target: string, hostLines: readonly string[]): string =>
  [`${method} ${target} HTTP/1.1`, ...hostLines, ...(method === 'POST' ? [`Authorization: Bearer ${TOKEN}`, 'Content-Length: 0'] : []), 'Connection: close'].join('\r\n');

/** Host values the admin port answers (PORT is the server's port). */
const ALLOWED = [
  '127.0.0.1',
  '127.0.0.1:PORT',
  '10.1.2.3:8081',
  '[::1]',
  '[::1]:PORT',
  '[2001:db8::7]:8081',
  '[::ffff:127.0.0.1]:PORT',
  'localhost',
  'localhost:PORT',
  'LocalHost:PORT',
  'localhost.:PORT',
  RIG_HOSTNAME,
  `${RIG_HOSTNAME.toUpperCase()}:PORT`,
  'monitor:8081',
  'dash.example',
  'Dash.Example.:PORT',
];

/** Host values it refuses: names that are not its own, and values that are no Host at all. */
const REFUSED = [
  'rebind.example:PORT',
  'rebind.example',
  '127.0.0.1.nip.io:PORT',
  'localhost.rebind.example:PORT',
  'monitor.rebind.example:PORT',
  `${RIG_HOSTNAME}.rebind.example`,
  'xmonitor:PORT',
  'dash.example.com',
  '127.1:PORT',
  '2130706433:PORT',
  '::1',
  '[::1',
  '[localhost]:PORT',
  '[127.0.0.1]:PORT',
  '127.0.0.1:99999',
  '127.0.0.1:x',
  'user@127.0.0.1:PORT',
  'localhost:PORT/',
];

describe('every admin route, by Host', () => {
  it.each(ALLOWED)('Host %p: answered as under 127.0.0.1', async (value) => {
    const r = await rig();
    const host = value.replace('PORT', String(r.port));
    for (const [method, path] of ROUTES) {
      const expected = await ask(r.port, requestHead(method, path, [`Host: 127.0.0.1:${r.port}`]));
      // a POST with the token changes the state: put it back, so each gets the same answer
      r.breaker.reset();
      const answer = await ask(r.port, requestHead(method, path, [`Host: ${host}`]));
      r.breaker.reset();
      expect([method, path, answer.status]).toEqual([method, path, expected.status]);
      expect(answer.status).not.toBe(421);
    }
  });

  it.each(REFUSED)('Host %p: 421, a short text and no data, on every route', async (value) => {
    const r = await rig();
    const host = value.replace('PORT', String(r.port));
    for (const [method, path] of ROUTES) {
      const answer = await ask(r.port, requestHead(method, path, [`Host: ${host}`]));
      expect([method, path, answer.status]).toEqual([method, path, 421]);
      expect(answer.body).toBe(method === 'HEAD' ? '' : REFUSED_BODY);
      expect(answer.headers).toMatchObject({ 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store', connection: 'close' });
      expect(Object.keys(answer.headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
    }
    expect(r.breaker.state).toBe('closed');
  });

  it.each([
    ['an empty Host', (_port: number) => ['Host:'], 421],
    ['two Host headers, both allowed', (port: number) => [`Host: 127.0.0.1:${port}`, `Host: 127.0.0.1:${port}`], 400],
    ['two Host headers, an allowed one first', (port: number) => [`Host: 127.0.0.1:${port}`, 'Host: rebind.example'], 400],
    ['two Host headers, a rebinding one first', (port: number) => ['Host: rebind.example', `Host: 127.0.0.1:${port}`], 400],
  ])('%s: refused on every route, no data', async (_label, hostLines, status) => {
    const r = await rig();
    for (const [method, path] of ROUTES) {
      const answer = await ask(r.port, requestHead(method, path, hostLines(r.port)));
      expect([method, path, answer.status]).toEqual([method, path, status]);
      expect(answer.body).not.toMatch(/closed|circuit_breaker|<html|event:/);
    }
    expect(r.breaker.state).toBe('closed');
  });

  it('HTTP/1.0 without a Host: refused on every route (Node refuses HTTP/1.1 without one with 400 itself)', async () => {
    const r = await rig();
    for (const [method, path] of ROUTES) {
      const answer = await ask(r.port, `${method} ${path} HTTP/1.0`);
      expect([method, path, answer.status]).toEqual([method, path, 421]);
    }
    expect((await ask(r.port, 'GET /status HTTP/1.1')).status).toBe(400);
  });

  it.each([
    ['another name than its allowed Host', 'http://rebind.example:PORT', 'Host: 127.0.0.1:PORT'],
    ['an allowed name, under a rebinding Host', 'http://127.0.0.1:PORT', 'Host: rebind.example:PORT'],
    ['another allowed name than its Host', 'http://localhost:PORT', 'Host: 127.0.0.1:PORT'],
    ['another port than its Host', 'http://127.0.0.1:1', 'Host: 127.0.0.1:PORT'],
    ['credentials and its Host', 'http://127.0.0.1:PORT@rebind.example', 'Host: 127.0.0.1:PORT'],
  ])('an absolute-form request whose authority differs (%s): 421 on every route', async (_label, authority, hostLine) => {
    const r = await rig();
    const port = String(r.port);
    for (const [method, path] of ROUTES) {
      const answer = await ask(r.port, requestHead(method, `${authority.replace('PORT', port)}${path}`, [hostLine.replace('PORT', port)]));
      expect([method, path, answer.status]).toEqual([method, path, 421]);
    }
  });

  it('an absolute-form request whose authority is its allowed Host is answered for the target\'s path (RFC 9112 section 3.2.2)', async () => {
    const r = await rig();
    const answer = await ask(r.port, requestHead('GET', `http://127.0.0.1:${r.port}/status?x=1`, [`Host: 127.0.0.1:${r.port}`]));
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    expect((await ask(r.port, requestHead('GET', `HTTP://LOCALHOST:${r.port}/healthz`, [`Host: localhost:${r.port}`]))).status).toBe(503);
  });

  it('with ADMIN_ALLOWED_HOSTS unset, a service name is refused like any other', async () => {
    const r = await rig({ ADMIN_ALLOWED_HOSTS: '' });
    expect((await ask(r.port, requestHead('GET', '/metrics', ['Host: monitor:8081']))).status).toBe(421);
    expect((await ask(r.port, requestHead('GET', '/metrics', [`Host: ${RIG_HOSTNAME}:8081`]))).status).toBe(200);
  });
});

describe('the refusal log', () => {
  const refusals = (r: AdminRig): string[] => r.logger.messages().filter((line) => line.includes('refused (421)'));

  it('is one line a minute per name, whatever the port, with the client, the Host and the request', async () => {
    const r = await rig();
    for (const host of ['rebind.example:8081', 'rebind.example:9999', 'REBIND.example', 'other.example']) {
      await ask(r.port, requestHead('GET', '/status', [`Host: ${host}`]));
    }
    expect(refusals(r)).toEqual([
      `warn admin request refused (421) from 127.0.0.1: Host "rebind.example:8081" is not an IP address, localhost, ${RIG_HOSTNAME} or a name in ADMIN_ALLOWED_HOSTS (GET "/status"); not logged again for this name within 60 s`,
      `warn admin request refused (421) from 127.0.0.1: Host "other.example" is not an IP address, localhost, ${RIG_HOSTNAME} or a name in ADMIN_ALLOWED_HOSTS (GET "/status"); not logged again for this name within 60 s`,
    ]);
    expect(r.logger.lines.find((line) => line.msg.includes('refused (421)'))?.fields).toMatchObject({ event: 'admin', status: 421, client: '127.0.0.1', host: 'rebind.example:8081' });

    r.clock.advance(59_999);
    await ask(r.port, requestHead('GET', '/events', ['Host: rebind.example']));
    expect(refusals(r)).toHaveLength(2);
    r.clock.advance(1);
    await ask(r.port, requestHead('GET', '/events', ['Host: rebind.example']));
    expect(refusals(r)).toHaveLength(3);
    expect(refusals(r)[2]).toContain('Host "rebind.example" is not');
  });

  it('says why for a missing Host and an absolute-form target', async () => {
    const r = await rig();
    await ask(r.port, 'GET /status HTTP/1.0');
    await ask(r.port, requestHead('GET', 'http://rebind.example/status', [`Host: 127.0.0.1:${r.port}`]));
    expect(refusals(r)).toEqual([
      'warn admin request refused (421) from 127.0.0.1: no Host header (GET "/status"); not logged again for this name within 60 s',
      `warn admin request refused (421) from 127.0.0.1: the request target names "rebind.example", not its Host "127.0.0.1:${r.port}" (GET "http://rebind.example/status"); not logged again for this name within 60 s`,
    ]);
  });

  it('keeps at most 64 names a minute: a flood of names is not a flood of lines', async () => {
    const r = await rig();
    for (let i = 0; i < 100; i += 1) await ask(r.port, requestHead('GET', '/status', [`Host: flood-${i}.example`]));
    expect(refusals(r)).toHaveLength(64);
    r.clock.advance(60_000);
    await ask(r.port, requestHead('GET', '/status', ['Host: flood-99.example']));
    expect(refusals(r)).toHaveLength(65);
  });
});
