/**
 * Which headers cross the proxy (RFC 9110 7.6.1): hop-by-hop ones describe one connection and are
 * never forwarded, in either direction; nor is Proxy-*, nor any header the Connection header names.
 */

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** Names a Connection header may not remove: the body's framing and the headers this proxy sets. */
const PROTECTED = new Set(['host', 'content-length', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);

type RequestHeaderRole = 'drop' | 'connection' | 'transfer-encoding' | 'content-length' | 'host' | 'x-forwarded-for';

/** Request headers the scan treats specially; the others are forwarded unchanged. */
export const REQUEST_HEADER_ROLES = new Map<string, RequestHeaderRole>([
  ['connection', 'connection'],
  ['keep-alive', 'drop'],
  ['te', 'drop'],
  ['trailer', 'drop'],
  ['upgrade', 'drop'],
  ['transfer-encoding', 'transfer-encoding'],
  ['content-length', 'content-length'],
  ['host', 'host'],
  ['x-forwarded-for', 'x-forwarded-for'],
  // ours replace the client's: this proxy is the edge that saw the request
  ['x-forwarded-proto', 'drop'],
  ['x-forwarded-host', 'drop'],
  // Node has already answered 100 Continue; the upstream must not hold the body back waiting for its own
  ['expect', 'drop'],
]);

/** Lower-cased header names a Connection value lists, beyond those dropped anyway. */
function nominated(connection: string): Set<string> | undefined {
  // nearly every Connection header is just one of these: no list to parse
  const whole = connection.toLowerCase();
  if (whole === 'keep-alive' || whole === 'close') return undefined;
  let names: Set<string> | undefined;
  for (const token of connection.split(',')) {
    const name = token.trim().toLowerCase();
    if (name && !HOP_BY_HOP.has(name) && !PROTECTED.has(name)) (names ??= new Set()).add(name);
  }
  return names;
}

/** Drops the headers a Connection header named; `from` skips entries already vetted. */
export function withoutNominated(headers: string[], connection: string | undefined, from = 0): string[] {
  const names = connection === undefined ? undefined : nominated(connection);
  if (names === undefined) return headers;
  const kept = headers.slice(0, from);
  for (let i = from; i < headers.length; i += 2) {
    if (!names.has(headers[i]!.toLowerCase())) kept.push(headers[i]!, headers[i + 1]!);
  }
  return kept;
}

/** The upstream's answer headers (undici's raw [name, value, ...] bytes), end-to-end ones only, as strings. */
export function responseHeaders(raw: readonly Buffer[]): string[] {
  const kept: string[] = [];
  let connection: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    // latin1, as Node's own parser reads header bytes
    const name = raw[i]!.toString('latin1');
    const lower = name.toLowerCase();
    if (lower === 'connection') {
      const value = raw[i + 1]!.toString('latin1');
      connection = connection === undefined ? value : `${connection},${value}`;
    } else if (!HOP_BY_HOP.has(lower) && !lower.startsWith('proxy-')) kept.push(name, raw[i + 1]!.toString('latin1'));
  }
  return withoutNominated(kept, connection);
}
