/** Child processes for the benchmarks: run-to-completion workers and long-running servers. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { Service } from '../../test/support/local-stack';
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

/** A long-running node process whose output is kept line by line (the local stack's Service). */
export class NodeProcess extends Service {
  /** Starts `node <args>`, with this process's node unless `nodeBinary` names another. */
  static start(name: string, args: readonly string[], env: Record<string, string>, nodeBinary = process.execPath): NodeProcess {
    // only PATH is inherited: a process under test must not pick up the caller's configuration
    const child = spawn(nodeBinary, args, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    return new NodeProcess(name, child);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
