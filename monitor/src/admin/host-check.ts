/**
 * Which names the admin port answers to (SPEC "Admin API: who may ask"). A browser sends the name
 * it thinks it talks to as `Host`. A page whose own name is made to resolve to this machine (DNS
 * rebinding) can then reach the admin port from the person's browser, as the same origin, and read
 * what it answers. So every route answers only a Host that is an IP literal (v4, or v6 in
 * brackets), `localhost`, the machine's own host name or a name in ADMIN_ALLOWED_HOSTS, with any
 * port; anything else gets 421 and a short text without data. Refusals are logged once a minute
 * per name, for a bounded number of names.
 */
import type http from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import type { Clock } from '@circuit-breaker-demo/breaker';
import type { Logger } from '../logger';
import { clientAddress } from './client-address';
import { WindowedCounts } from './windowed-counts';

export interface HostCheckOptions {
  /** ADMIN_ALLOWED_HOSTS, lower case */
  readonly allowed: readonly string[];
  /** the machine's host name (os.hostname()) */
  readonly hostname: string;
  readonly logger: Logger;
  readonly clock: Clock;
}

/** A request the admin port answers: the Host it named (for the Origin check) and the path it asked for. */
export interface Addressed {
  readonly host: string;
  readonly path: string;
}

const LOG_EVERY_MS = 60_000;
/** names logged within one minute at most; past them, refusals of other names are not logged until a minute ends */
const MAX_LOGGED_NAMES = 64;
/** how much of a client's Host or path a log line shows */
const SHOWN_CHARACTERS = 100;

/** `name`, `name:port`, `[v6]` or `[v6]:port`: what a Host header may hold (RFC 9110 section 7.2). */
const AUTHORITY = /^(?:\[([0-9A-Fa-f:.]+)\]|([^\s:[\]@/\\]+))(?::(\d{1,5}))?$/;

const BODY = Buffer.from('421 Misdirected Request: this admin port does not answer to that Host name (ADMIN_ALLOWED_HOSTS lists the names it answers beside IP addresses and localhost).\n');

/** The name a Host value names, lower case and without the root's dot, and whether it is an IP literal; undefined when it is not a Host value. */
function parseHost(value: string): { readonly name: string; readonly ip: boolean } | undefined {
  const match = AUTHORITY.exec(value);
  if (match === null || Number(match[3] ?? 0) > 65535) return undefined;
  if (match[1] !== undefined) return isIPv6(match[1]) ? { name: match[1].toLowerCase(), ip: true } : undefined;
  const name = match[2]!.toLowerCase().replace(/\.$/, '');
  return { name, ip: isIPv4(name) };
}

/** The names the admin port answers beside IP literals: localhost, the machine's host name and ADMIN_ALLOWED_HOSTS. */
export function answeredNames(allowed: readonly string[], hostname: string): ReadonlySet<string> {
  return new Set(['localhost', hostname.toLowerCase(), ...allowed]);
}

/** Whether the admin port answers a request with this Host (any port): an IP literal, or one of `names`. */
export function answersHost(host: string, names: ReadonlySet<string>): boolean {
  const parsed = parseHost(host);
  return parsed !== undefined && (parsed.ip || names.has(parsed.name));
}

const shown = (text: string): string => JSON.stringify(text.length > SHOWN_CHARACTERS ? `${text.slice(0, SHOWN_CHARACTERS)}...` : text);

export class HostCheck {
  private readonly names: ReadonlySet<string>;
  private readonly logged: WindowedCounts;

  constructor(private readonly options: HostCheckOptions) {
    this.names = answeredNames(options.allowed, options.hostname);
    this.logged = new WindowedCounts(options.clock, LOG_EVERY_MS, MAX_LOGGED_NAMES);
  }

  /** The request's Host and path when the admin port answers it; otherwise it answers 421 itself, and this is undefined. */
  admit(req: http.IncomingMessage, res: http.ServerResponse): Addressed | undefined {
    const host = req.headers.host ?? '';
    const target = req.url ?? '/';
    // absolute-form (`GET http://name/path`): RFC 9112 section 3.2.2 makes the target's authority
    // the one that counts; one that is not the Host as well is refused rather than guessed at
    const absolute = /^https?:\/\/([^/?#]*)([^?#]*)/i.exec(target);
    const authority = absolute?.[1] ?? host;
    const parsed = parseHost(authority);
    let why: string;
    if (host === '') why = req.headers.host === undefined ? 'no Host header' : 'an empty Host';
    else if (authority.toLowerCase() !== host.toLowerCase()) why = `the request target names ${shown(authority)}, not its Host ${shown(host)}`;
    else if (parsed === undefined) why = `Host ${shown(host)} is not a host name`;
    else if (!answersHost(host, this.names)) why = `Host ${shown(host)} is not an IP address, localhost, ${this.options.hostname} or a name in ADMIN_ALLOWED_HOSTS`;
    else return { host, path: absolute ? absolute[2] || '/' : target.split('?', 1)[0]! };
    this.refuse(req, res, parsed?.name ?? authority, why);
    return undefined;
  }

  private refuse(req: http.IncomingMessage, res: http.ServerResponse, name: string, why: string): void {
    // the connection goes too: a client that reuses it for another name starts afresh (RFC 9110 section 15.5.20)
    res.writeHead(421, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Content-Length': BODY.length,
      Connection: 'close',
    });
    res.end(req.method === 'HEAD' ? undefined : BODY);
    if (this.logged.add(name.slice(0, SHOWN_CHARACTERS)) !== 1) return;
    const client = clientAddress(req);
    this.options.logger.warn(
      `admin request refused (421) from ${client}: ${why} (${req.method ?? ''} ${shown(req.url ?? '')}); not logged again for this name within ${LOG_EVERY_MS / 1000} s`,
      { event: 'admin', status: 421, client, host: (req.headers.host ?? '').slice(0, SHOWN_CHARACTERS), reason: why },
    );
  }
}
