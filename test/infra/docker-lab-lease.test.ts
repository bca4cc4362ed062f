/**
 * test/support/docker-lab.ts: the lease that keeps the compose and podman suites from using (and
 * tearing down) the one Docker engine at the same time when jest runs them in parallel.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { holdLab } from '../support/docker-lab';

let work = '';
let lock = '';
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), 'cbdemo-lease-'));
  lock = path.join(work, 'lab.lock');
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

it('a second suite gets the lab only after the first released it', async () => {
  const events: string[] = [];
  const first = await holdLab(60_000, lock);
  const second = holdLab(60_000, lock).then((lease) => {
    events.push('second held');
    return lease;
  });
  // give the second flock every chance to take the lock early if it could
  await new Promise((resolve) => setTimeout(resolve, 300));
  events.push('first released');
  first.release();
  (await second).release();
  expect(events).toEqual(['first released', 'second held']);
});

it('a suite whose process dies (killed worker) does not keep the lab', async () => {
  // another process holds the lease, then is killed without releasing it
  const script = `require(${JSON.stringify(path.resolve(__dirname, '../support/docker-lab.ts'))})`;
  const holder = spawn(process.execPath, ['-r', 'ts-node/register/transpile-only', '-e', `${script}.holdLab(60000, ${JSON.stringify(lock)}).then(() => console.log('held'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => holder.stdout.on('data', (chunk: Buffer) => chunk.toString().includes('held') && resolve()));
  const exited = new Promise((resolve) => holder.on('exit', resolve));
  holder.kill('SIGKILL');
  await exited;
  const lease = await holdLab(10_000, lock);
  lease.release();
});

it('gives up with an error naming the lock when the wait is over', async () => {
  const first = await holdLab(60_000, lock);
  try {
    await expect(holdLab(1_000, lock)).rejects.toThrow(`could not hold the Docker lab (${lock}): flock exited 1 after waiting 1 s`);
  } finally {
    first.release();
  }
});
