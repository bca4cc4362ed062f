/**
 * The Docker lab (test/docker/lab.sh) for the suites that need an engine: e2e-compose and e2e-podman.
 *
 * Each suite sets the lab up, uses the engine, then tears it down. Jest runs projects in parallel
 * when the machine has the cores for it, and one suite's teardown would stop the engine under the
 * other: so a suite holds the lab from before its setup until after its teardown, by an exclusive
 * lock (`flock`) that a child process keeps while its stdin is open. The lock goes with the child,
 * so a worker that crashes or is killed lets the other suite go on. lab.sh's own lock (LAB_DIR/.lock)
 * only covers one setup or teardown; this one covers a whole suite.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const LAB = path.join(ROOT, 'test/docker/lab.sh');
/** One per machine, like the engine (not in LAB_DIR: that folder is made by the first setup). */
export const LAB_LOCK = path.join(tmpdir(), 'cbdemo-docker-lab.lock');

export interface LabLease {
  /** Releases the lab to the next suite (idempotent). */
  release(): void;
}

/**
 * Waits until no other suite holds the lab, then holds it. `waitMs` bounds the wait: the other
 * suite's whole run (the compose suite takes ~4 min warm, ~8 min cold).
 */
export function holdLab(waitMs = 20 * 60_000, lockFile = LAB_LOCK): Promise<LabLease> {
  const seconds = String(Math.ceil(waitMs / 1000));
  const holder = spawn('flock', ['--wait', seconds, lockFile, 'sh', '-c', 'echo held; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const release = (): void => {
    holder.stdin.end();
  };
  return new Promise((resolve, reject) => {
    let out = '';
    holder.stdout.setEncoding('utf8');
    holder.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.startsWith('held\n')) resolve({ release });
    });
    holder.on('error', reject);
    holder.on('exit', (code) => reject(new Error(`could not hold the Docker lab (${lockFile}): flock exited ${code} after waiting ${seconds} s`)));
  });
}

/** `bash test/docker/lab.sh <command>`: its stdout; a failure throws. Its log goes to stderr. */
export function lab(command: 'setup' | 'teardown'): string {
  const result = spawnSync('bash', [LAB, command], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (result.status !== 0) throw new Error(`lab.sh ${command} failed (exit ${result.status})`);
  return result.stdout;
}

/** The environment `eval "$(lab.sh env)"` gives: the engine's DOCKER_HOST, Debian's docker client first on PATH. */
export function labEnv(): NodeJS.ProcessEnv {
  const dump = execFileSync('bash', ['-c', `eval "$(bash '${LAB}' env)" && env -0`], { cwd: ROOT, encoding: 'utf8' });
  return Object.fromEntries(
    dump
      .split('\0')
      .filter((entry) => entry.includes('='))
      .map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]),
  );
}
