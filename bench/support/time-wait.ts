/**
 * Counts TCP sockets in TIME_WAIT by port, from the kernel's own tables (/proc/net/tcp and
 * /proc/net/tcp6), read a chunk at a time: memory stays flat however many sockets there are.
 * (`ss` output read whole overflowed execFileSync's 1 MiB buffer at ~20,000 sockets: issue 17.)
 *
 * Like any dump of the kernel's socket tables (`ss` too), it is not one atomic snapshot: between two
 * reads sockets come and go, and one may be listed twice, so matching sockets are counted once per
 * address pair.
 */
import { closeSync, openSync, readSync } from 'node:fs';

export const PROC_TCP_TABLES: readonly string[] = ['/proc/net/tcp', '/proc/net/tcp6'];

/** `st` in /proc/net/tcp: the kernel's TCP_TIME_WAIT, in hex. */
const TIME_WAIT = '06';
const CHUNK_BYTES = 1024 * 1024;

export interface TimeWaitCount {
  /** local port is `port`: the side that closed first, here the server */
  readonly server: number;
  /** peer port is `port`: the client's end of a connection to it */
  readonly client: number;
}

/** Calls `onLine` with every line of `file`, read `CHUNK_BYTES` at a time. */
export function forEachLine(file: string, onLine: (line: string) => void): void {
  const fd = openSync(file, 'r');
  try {
    const buffer = Buffer.alloc(CHUNK_BYTES);
    let rest = '';
    for (;;) {
      const read = readSync(fd, buffer, 0, CHUNK_BYTES, null);
      if (read === 0) break;
      const text = rest + buffer.toString('latin1', 0, read);
      const lines = text.split('\n');
      rest = lines.pop() as string;
      for (const line of lines) onLine(line);
    }
    if (rest !== '') onLine(rest);
  } finally {
    closeSync(fd);
  }
}

/** The port of an address as /proc/net/tcp writes it: `0100007F:1F90` (tcp6: 32 hex digits, then `:port`). */
function portOf(address: string): number {
  return parseInt(address.slice(address.lastIndexOf(':') + 1), 16);
}

/** TIME_WAIT sockets whose local (server side) or peer (client side) port is `port`, over `tables`. */
export function countTimeWait(port: number, tables: readonly string[] = PROC_TCP_TABLES): TimeWaitCount {
  // only the matching sockets' address pairs are kept (tcp and tcp6 addresses never collide)
  const server = new Set<string>();
  const client = new Set<string>();
  for (const table of tables) {
    forEachLine(table, (line) => {
      // `  sl  local_address rem_address   st ...`; the header's fourth field is `st`, never `06`
      const [, local, peer, state] = line.trim().split(/\s+/, 4);
      if (state !== TIME_WAIT || local === undefined || peer === undefined) return;
      if (portOf(local) === port) server.add(`${local} ${peer}`);
      else if (portOf(peer) === port) client.add(`${local} ${peer}`);
    });
  }
  return { server: server.size, client: client.size };
}
