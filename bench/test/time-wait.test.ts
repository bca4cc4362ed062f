/** The footprint benchmark's TIME_WAIT counter (issue 17): on a generated table, and on real sockets. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { countTimeWait, forEachLine } from '../support/time-wait';

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';
const hex = (port: number) => port.toString(16).toUpperCase().padStart(4, '0');
/** An address as the tables write it; `host` makes every line's address pair its own. */
const v4 = (host: number, port: number) => `${host.toString(16).toUpperCase().padStart(8, '0')}:${hex(port)}`;
const v6 = (host: number, port: number) => `0000000000000000FFFF0000${host.toString(16).toUpperCase().padStart(8, '0')}:${hex(port)}`;

/** A /proc/net/tcp-format table of `lines` sockets, and how many of them are TIME_WAIT on `port`. */
function table(lines: number, port: number, address: (host: number, port: number) => string): { text: string; server: number; client: number } {
  const rows = [HEADER];
  let server = 0;
  let client = 0;
  for (let i = 0; i < lines; i++) {
    // states cycle through ESTABLISHED, TIME_WAIT, LISTEN and CLOSE_WAIT; ports through ours and others
    const state = ['01', '06', '0A', '08'][i % 4] as string;
    const ephemeral = 32768 + (i % 28000);
    const kind = Math.floor(i / 4) % 3; // 0: we are the local port, 1: the peer port, 2: neither
    const local = kind === 0 ? port : kind === 1 ? ephemeral : 443;
    const peer = kind === 0 ? ephemeral : kind === 1 ? port : ephemeral;
    if (state === '06' && kind === 0) server += 1;
    if (state === '06' && kind === 1) client += 1;
    rows.push(`${String(i).padStart(6)}: ${address(0x0100007f, local)} ${address(i + 1, peer)} ${state} 00000000:00000000 03:00000F9F 00000000     0        0 0 3 000000004a0032ca`);
  }
  return { text: rows.join('\n'), server, client };
}

/**
 * Listens on a port below the ephemeral range: no other process's outgoing connection can then
 * leave sockets on it (a port from listen(0) may have been some client's a moment ago).
 */
async function listenBelowEphemeralRange(server: net.Server): Promise<number> {
  const firstEphemeral = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  for (let attempt = 0; ; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (firstEphemeral - 10_000));
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (listening) return port;
    if (attempt > 50) throw new Error('no free port below the ephemeral range');
  }
}

describe('counting TIME_WAIT sockets', () => {
  let dir: string;
  beforeAll(() => (dir = mkdtempSync(path.join(tmpdir(), 'time-wait-'))));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('counts 100,000 lines of tcp and tcp6 tables by side, streamed a chunk at a time', () => {
    const port = 40123;
    const tcp = table(100_000, port, v4);
    const tcp6 = table(100_000, port, v6);
    writeFileSync(path.join(dir, 'tcp'), `${tcp.text}\n`);
    // no newline at the end: the last line still counts
    writeFileSync(path.join(dir, 'tcp6'), tcp6.text);
    expect(tcp.server + tcp.client).toBeGreaterThan(15_000);

    const counted = countTimeWait(port, [path.join(dir, 'tcp'), path.join(dir, 'tcp6')]);

    expect(counted).toEqual({ server: tcp.server + tcp6.server, client: tcp.client + tcp6.client });
  });

  it('counts a socket listed twice once (a dump is not atomic: the tables change between reads)', () => {
    const line = (sl: number, peerPort: number) => `${String(sl).padStart(6)}: ${v4(0x0100007f, 40123)} ${v4(0x0100007f, peerPort)} 06 00000000:00000000 03:00000F9F 00000000     0        0 0 3 0`;
    writeFileSync(path.join(dir, 'twice'), [HEADER, line(0, 50001), line(1, 50002), line(2, 50001)].join('\n'));
    expect(countTimeWait(40123, [path.join(dir, 'twice')])).toEqual({ server: 2, client: 0 });
  });

  it('hands over every line once, whole, across chunk boundaries', () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `line ${i} ${'x'.repeat(i % 97)}`);
    writeFileSync(path.join(dir, 'lines'), lines.join('\n'));
    const seen: string[] = [];
    forEachLine(path.join(dir, 'lines'), (line) => seen.push(line));
    expect(seen).toEqual(lines);
  });

  it('finds the TIME_WAIT sockets a server that closes first leaves on loopback', async () => {
    const connections = 2_000;
    const server = net.createServer((socket) => socket.end('bye'));
    const port = await listenBelowEphemeralRange(server);
    try {
      const before = countTimeWait(port);
      for (let batch = 0; batch < connections / 100; batch++) {
        await Promise.all(
          Array.from(
            { length: 100 },
            () =>
              new Promise<void>((resolve, reject) => {
                const client = net.connect(port, '127.0.0.1');
                client.on('error', reject);
                client.on('close', () => resolve());
                client.resume();
              }),
          ),
        );
      }
      // the client's close follows the server's FIN: wait until the kernel has moved every socket on
      let counted = countTimeWait(port);
      for (let polls = 0; counted.server < before.server + connections && polls < 100; polls++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        counted = countTimeWait(port);
      }
      expect({ server: counted.server - before.server, client: counted.client - before.client }).toEqual({ server: connections, client: 0 });
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    // 2,000 connections take well under a second alone, much longer on a busy shared machine
  }, 30_000);
});
