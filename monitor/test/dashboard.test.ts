/**
 * The dashboard's files as the admin server serves them: every asset the page needs is there, from
 * the monitor's own origin only, with headers that allow nothing else. (The page itself runs in a
 * real browser in test/e2e/local/dashboard.e2e.test.ts.)
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { CONTENT_SECURITY_POLICY, DASHBOARD_DIR } from '../src/admin/dashboard';
import { adminRig, type AdminRig } from './support/admin-rig';
import { call } from './support/raw-http';

let r: AdminRig;
beforeAll(async () => {
  r = await adminRig();
});
afterAll(() => r.close());

const get = (urlPath: string, headers: Record<string, string> = {}) => call(r.port, { path: urlPath, headers });

it('GET / is the page, with a policy that allows the monitor own origin only and no inline code', async () => {
  const reply = await get('/');
  expect(reply.status).toBe(200);
  expect(reply.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(reply.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
  expect(CONTENT_SECURITY_POLICY).toBe(
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  );
  expect(reply.headers).toMatchObject({
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
    'cross-origin-opener-policy': 'same-origin',
    'cache-control': 'no-cache',
  });
  // scripts by src only, no style attributes or elements, no event-handler attributes
  expect(reply.body).toMatch(/<script type="module" src="app.js"><\/script>/);
  expect(reply.body).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  expect(reply.body).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
});

it('every file the page refers to (links, scripts, module imports) is served, with its type and the same headers', async () => {
  const index = (await get('/')).body;
  const wanted = new Set([...index.matchAll(/(?:src|href)="([^"#]+)"/g)].map((match) => match[1]!));
  const seen = new Set<string>();
  while (wanted.size > 0) {
    const [file] = wanted;
    wanted.delete(file!);
    seen.add(file!);
    const reply = await get(`/${file}`);
    expect({ file, status: reply.status }).toEqual({ file, status: 200 });
    expect(reply.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY);
    expect(reply.headers['x-content-type-options']).toBe('nosniff');
    const type = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml' }[path.extname(file!)];
    expect({ file, type: reply.headers['content-type'] }).toEqual({ file, type });
    if (file!.endsWith('.js')) {
      for (const match of reply.body.matchAll(/^import .* from '\.\/([^']+)';$/gm)) if (!seen.has(match[1]!)) wanted.add(match[1]!);
    }
  }
  // everything in the folder is used: no stray file ships
  expect([...seen].sort()).toEqual(readdirSync(DASHBOARD_DIR).filter((name) => name !== 'index.html').sort());
});

it('no asset names another origin: no URL with a scheme or a protocol-relative one', async () => {
  for (const name of readdirSync(DASHBOARD_DIR)) {
    const body = (await get(`/${name}`)).body;
    // the SVG namespace is a name, not a fetch
    const urls = [...body.matchAll(/(?:https?:)?\/\/[a-z0-9.-]+\.[a-z]{2,}[^\s'"`)]*/gi)].map((match) => match[0]).filter((url) => url !== 'http://www.w3.org/2000/svg');
    expect({ name, urls }).toEqual({ name, urls: [] });
  }
});

it('answers 304 to a matching If-None-Match, and HEAD without a body', async () => {
  const first = await get('/app.js');
  const etag = first.headers.etag!;
  expect(etag).toMatch(/^"[\w-]+"$/);
  expect((await get('/app.js', { 'If-None-Match': etag })).status).toBe(304);
  const head = await call(r.port, { method: 'HEAD', path: '/style.css' });
  expect(head.status).toBe(200);
  expect(head.body).toBe('');
});

it('serves only its own files by exact name', async () => {
  for (const urlPath of ['/nope.js', '/../admin.ts', '/%2e%2e/admin.ts', '/dashboard/app.js', '/admin.js']) {
    expect({ urlPath, status: (await get(urlPath)).status }).toEqual({ urlPath, status: 404 });
  }
  expect((await call(r.port, { method: 'POST', path: '/' })).status).toBe(405);
});
