/** Child processes for the benchmarks: run-to-completion workers and long-running servers. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { ROOT } from './results';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface Finished {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node <args>` to the end and collects its output; kills it after `timeoutMs`. */
export async function runNode(args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number; nodeBinary?: string } = {}): Promise<Finished> {
  const child = spawn(options.nodeBinary ?? process.execPath, args, { cwd: ROOT, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
  const [code] = (await once(child, 'exit')) as [number | null];
  clearTimeout(timer);
  running.delete(child);
  return { code, stdout, stderr };
}

/** A long-running node process whose output is kept line by line. */
export class NodeProcess {
  readonly lines: string[] = [];
  readonly exited: Promise<number | null>;
  private partial = '';
  private readonly waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    running.add(child);
    const take = (chunk: Buffer) => {
      const parts = (this.partial + chunk.toString()).split('\n');
      this.partial = parts.pop() ?? '';
      for (const line of parts) {
        this.lines.push(line);
        for (const waiter of this.waiters.filter((w) => w.pattern.test(line))) {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    };
    child.stdout?.on('data', take);
    child.stderr?.on('data', take);
    this.exited = once(child, 'exit').then(([code]) => {
      running.delete(child);
      return code as number | null;
    });
  }

  /** Starts `node <args>`, with this process's node unless `nodeBinary` names another. */
  static start(name: string, args: readonly string[], env: Record<string, string>, nodeBinary = process.execPath): NodeProcess {
    // only PATH is inherited: a process under test must not pick up the caller's configuration
    const child = spawn(nodeBinary, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    return new NodeProcess(name, child);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** The first line from `fromIndex` on that matches, waiting up to `timeoutMs` for it. */
  waitForLine(pattern: RegExp, timeoutMs = 15_000, fromIndex = this.lines.length): Promise<string> {
    const seen = this.lines.slice(fromIndex).find((line) => pattern.test(line));
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const waiter = { pattern, resolve: (line: string) => (clearTimeout(timer), resolve(line)) };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`${this.name}: no line matching ${pattern} within ${timeoutMs} ms; last lines:\n${this.lines.slice(-10).join('\n')}`));
      }, timeoutMs);
      this.waiters.push(waiter);
    });
  }

  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves with the exit code. */
  async stop(timeoutMs = 3_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
