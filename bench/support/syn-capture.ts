/**
 * Counts connection attempts to a loopback port nobody listens on: tcpdump on `lo`, the opening
 * SYN of each attempt (SYN without ACK). A killed upstream receives nothing, so it cannot count the
 * calls a guard still sends it; a stand-in listener could, but it would accept the connections,
 * and the guard would see something else than the refused connection a crash gives. The capture
 * only watches. Needs tcpdump and CAP_NET_RAW (bench/setup-peers.sh installs it; run as root).
 */
import { spawn } from 'node:child_process';
import { Service } from '../../test/support/local-stack';

export interface SynCapture {
  /** Stops tcpdump; resolves with each attempt's time, ms since the epoch. */
  stop(): Promise<number[]>;
}

const TCPDUMP = '/usr/bin/tcpdump';

/** tcpdump's line for one packet with `-tt -nn -q`: `<epoch seconds.micro> IP a.b.c.d.p > ...`. */
export function parseCapture(text: string): number[] {
  return text
    .split('\n')
    .map((line) => /^(\d+\.\d+) /.exec(line)?.[1])
    .filter((seconds): seconds is string => seconds !== undefined)
    .map((seconds) => Number(seconds) * 1000);
}

/** Starts capturing opening SYNs to `port` on loopback; resolves once tcpdump is listening. */
export async function startSynCapture(port: number): Promise<SynCapture> {
  const filter = `tcp dst port ${port} and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn`;
  // -U: write each packet as it comes, so nothing is lost in a buffer when it is stopped
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
      // a SYN sent just before is on its way through the capture buffer
      await new Promise((resolve) => setTimeout(resolve, 50));
      await service.stop('SIGINT');
      return parseCapture(service.lines.join('\n'));
    },
  };
}
