import type http from 'node:http';

/** The peer's address (never a forwarded header, which anyone can write), IPv4 without the ::ffff: prefix. */
export function clientAddress(req: http.IncomingMessage): string {
  const address = req.socket.remoteAddress ?? 'unknown';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
