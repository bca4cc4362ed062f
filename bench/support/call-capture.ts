/**
 * Counts the calls sent to a loopback port nobody listens on, with tcpdump on `lo`: each new
 * connection's opening SYN (refused by the kernel), and each packet carrying data on a connection
 * opened before (a request written to a pooled keep-alive connection, answered by a reset). A
 * killed upstream receives nothing, so it cannot count them; a stand-in listener could, but it
 * would accept the connections, and the guard would see something else than what a crash gives.
 * The capture only watches. Needs tcpdump and CAP_NET_RAW (bench/setup-peers.sh; run as root).
 */
import { spawn } from 'node:child_process';
import { Service } from '../../test/support/local-stack';

/** One captured call: `connect` a new connection's SYN, `request` data on an open connection. */
export interface CapturedCall {
  readonly at: number;
  readonly kind: 'connect' | 'request';
}

export interface CallCapture {
  /** Stops tcpdump; resolves with the calls seen, oldest first. */
  stop(): Promise<CapturedCall[]>;
}

const TCPDUMP = '/usr/bin/tcpdump';

/**
 * tcpdump's lines with `-tt -nn -q`: `<epoch seconds.micro> IP a.b.c.d.p > e.f.g.h.q: tcp <payload bytes>`;
 * a SYN carries no payload, a request some.
 */
export function parseCapture(text: string): CapturedCall[] {
  const calls: CapturedCall[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\d+\.\d+) IP .*: tcp (\d+)$/.exec(line.trim());
    if (match) calls.push({ at: Number(match[1]) * 1000, kind: Number(match[2]) === 0 ? 'connect' : 'request' });
  }
  return calls;
}

/** Starts capturing the calls to `port` on loopback; resolves once tcpdump is listening. */
export async function startCallCapture(port: number): Promise<CallCapture> {
  const payload = '(ip[2:2] - ((ip[0] & 0xf) << 2) - ((tcp[12] & 0xf0) >> 2)) > 0';
  const filter = `tcp dst port ${port} and (tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn or ${payload})`;
  // -U: each packet written as it comes, so nothing waits in a buffer when it is stopped
  const child = spawn(TCPDUMP, ['-i', 'lo', '-nn', '-tt', '-q', '-l', '-U', filter], { stdio: ['ignore', 'pipe', 'pipe'] });
  // its lines: the packets (stdout) and, on stderr, `listening on lo` once it captures
  const service = new Service('tcpdump', child);
  try {
    await service.waitForLine(/listening on lo/, 5000, 0);
  } catch (error) {
    await service.stop('SIGKILL');
    throw new Error(`tcpdump did not start (it needs root or CAP_NET_RAW): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return {
    stop: async () => {
      // a packet sent just before is on its way through the capture buffer
      await new Promise((resolve) => setTimeout(resolve, 50));
      await service.stop('SIGINT');
      return parseCapture(service.lines.join('\n'));
    },
  };
}
