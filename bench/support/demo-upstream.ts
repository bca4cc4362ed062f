/**
 * The project's own upstream (upstream/dist/main.js) as one process on a fixed loopback port, for
 * the side-by-side bench: killed with SIGKILL and started again on the same port, its fault switch
 * thrown over HTTP, and every request it saw read back from its log (one line per request, written
 * to a file so that reading it costs the bench nothing while it measures).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { Service } from '../../test/support/local-stack';
import { ROOT } from './results';
import { sleep } from './children';

const MAIN = path.join(ROOT, 'upstream/dist/main.js');

/** One request as the upstream logged it when it ended. */
export interface UpstreamRequest {
  /** when it began and ended, ms since the epoch (the log has whole ms: start = end - duration) */
  readonly startedAt: number;
  readonly endedAt: number;
  readonly method: string;
  readonly url: string;
  /** the status it answered, or why it did not: `hang`, `reset`, `aborted` */
  readonly outcome: string;
}

const REQUEST_LINE = /^(\S+) ([A-Z]+) (\S+) (\S+) (\d+)ms$/;
const FAULT_LINE = /^(\S+) fault mode (.+) -> (.+)$/;
const LISTENING_LINE = /^(\S+) upstream listening on http:\/\/[^:]+:(\d+)/;

/** Requests of a log text, oldest end first; other lines (start, fault switch, stop) are skipped. */
export function parseUpstreamLog(text: string): UpstreamRequest[] {
  const requests: UpstreamRequest[] = [];
  for (const line of text.split('\n')) {
    const match = REQUEST_LINE.exec(line);
    if (!match) continue;
    const [, time = '', method = '', url = '', outcome = '', ms = '0'] = match;
    const endedAt = Date.parse(time);
    if (Number.isNaN(endedAt)) continue;
    requests.push({ startedAt: endedAt - Number(ms), endedAt, method, url, outcome });
  }
  return requests;
}

/**
 * A port below the kernel's ephemeral range (read from /proc), free a moment ago. The upstream is
 * killed and started again on it: an ephemeral port could be taken in between by any outgoing
 * connection on the machine, a port below the range only by another listener.
 */
export async function stablePort(): Promise<number> {
  const range = existsSync('/proc/sys/net/ipv4/ip_local_port_range') ? readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8') : '32768 60999';
  const low = Number(range.trim().split(/\s+/)[0]) || 32768;
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 20000 + Math.floor(Math.random() * Math.max(1000, low - 20000));
    if (await isFree(port)) return port;
  }
  throw new Error('no free loopback port found below the ephemeral range');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

export class DemoUpstream {
  private process: Service | undefined;

  private constructor(
    readonly port: number,
    readonly logPath: string,
  ) {}

  /** Starts the upstream on a stable free port, its output appended to `logPath`. */
  static async start(logPath: string): Promise<DemoUpstream> {
    const upstream = new DemoUpstream(await stablePort(), logPath);
    await upstream.launch();
    return upstream;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get pid(): number {
    return this.process?.child.pid ?? -1;
  }

  /** Starts it (again) on its port; resolves with when it was spawned and when it said `listening`. */
  async launch(timeoutMs = 10_000): Promise<{ spawnedAt: number; listeningAt: number }> {
    if (this.process?.alive) throw new Error('the upstream is already running');
    const before = this.logSize();
    const spawnedAt = Date.now();
    const out = openSync(this.logPath, 'a');
    const child = spawn(process.execPath, [MAIN], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', PORT: String(this.port), HOST: '127.0.0.1' },
      stdio: ['ignore', out, out],
    });
    closeSync(out);
    this.process = new Service('upstream', child);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const fresh = this.logFrom(before);
      const listening = fresh.split('\n').map((line) => LISTENING_LINE.exec(line)).find((match) => match !== null);
      if (listening) return { spawnedAt, listeningAt: Date.parse(listening[1] ?? '') };
      if (!this.process.alive || Date.now() > deadline) {
        await this.process.stop('SIGKILL');
        throw new Error(`the upstream did not start on port ${this.port}:\n${fresh.slice(-2000)}`);
      }
      await sleep(5);
    }
  }

  /** SIGKILL, as a crash: no goodbye, open connections reset. Resolves with the time it was sent. */
  async kill(): Promise<number> {
    const service = this.process;
    if (!service?.alive) throw new Error('the upstream is not running');
    const at = Date.now();
    await service.stop('SIGKILL');
    return at;
  }

  /** Throws the fault switch (`error`, `hang`, `normal`...); resolves with the time of its log line. */
  async setFault(mode: string): Promise<number> {
    const before = this.logSize();
    const response = await fetch(`${this.url}/fault/${mode}`, { method: 'PUT' });
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`PUT /fault/${mode} answered ${response.status}`);
    const deadline = Date.now() + 2000;
    for (;;) {
      const switched = this.logFrom(before).split('\n').map((line) => FAULT_LINE.exec(line)).find((match) => match !== null);
      if (switched) return Date.parse(switched[1] ?? '');
      if (Date.now() > deadline) throw new Error(`the upstream did not log its switch to ${mode}`);
      await sleep(5);
    }
  }

  /** Every request it has logged so far, across restarts. */
  requests(): UpstreamRequest[] {
    return parseUpstreamLog(this.logText());
  }

  async stop(): Promise<void> {
    await this.process?.stop('SIGTERM');
  }

  private logText(): string {
    return existsSync(this.logPath) ? readFileSync(this.logPath, 'utf8') : '';
  }

  private logSize(): number {
    return existsSync(this.logPath) ? statSync(this.logPath).size : 0;
  }

  /** The log from a byte offset on: waits poll only what was written since. */
  private logFrom(offset: number): string {
    const size = this.logSize();
    if (size <= offset) return '';
    const buffer = Buffer.alloc(size - offset);
    const fd = openSync(this.logPath, 'r');
    try {
      readSync(fd, buffer, 0, buffer.length, offset);
    } finally {
      closeSync(fd);
    }
    return buffer.toString('utf8');
  }
}
