/**
 * The live dashboard's files (SPEC "Live dashboard"), served as they are from `./dashboard` (the
 * build copies that folder next to this file). They are read once, at start; only the files found
 * there are served, by exact name. Headers keep the page to the monitor's own origin: a
 * Content-Security-Policy that allows nothing else (and no inline script or style), no sniffing,
 * no framing, no referrer.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
} as const;

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

export const DASHBOARD_DIR = path.join(__dirname, 'dashboard');

export class Dashboard {
  private readonly assets = new Map<string, Asset>();

  /** Reads every servable file of the folder (a missing folder is an error: the build did not copy it). */
  constructor() {
    const dir = DASHBOARD_DIR;
    for (const name of readdirSync(dir)) {
      const type = TYPES[path.extname(name)];
      if (type === undefined) continue;
      const body = readFileSync(path.join(dir, name));
      const asset = { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
      this.assets.set(`/${name}`, asset);
      if (name === 'index.html') this.assets.set('/', asset);
    }
    if (!this.assets.has('/')) throw new Error(`${dir}: no index.html (is the dashboard copied next to the build?)`);
  }

  /** The paths it serves: `/` and each file's name. */
  get paths(): readonly string[] {
    return [...this.assets.keys()];
  }

  has(urlPath: string): boolean {
    return this.assets.has(urlPath);
  }

  /** Answers GET or HEAD for one of `paths` (the method is checked by the caller). */
  handle(urlPath: string, req: http.IncomingMessage, res: http.ServerResponse): void {
    const asset = this.assets.get(urlPath);
    if (asset === undefined) throw new Error(`not a dashboard path: ${urlPath}`);
    const headers = { ...SECURITY_HEADERS, 'Cache-Control': 'no-cache', ETag: asset.etag };
    if (req.headers['if-none-match'] === asset.etag) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    res.writeHead(200, { ...headers, 'Content-Type': asset.type, 'Content-Length': asset.body.length });
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  }
}
