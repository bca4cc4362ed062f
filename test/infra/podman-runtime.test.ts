/**
 * scripts/podman-runtime.sh: the OCI runtime podman is set to for the e2e-podman suite, chosen from
 * the machine's cgroup layout. Each case hands the script a fake machine: a mountinfo file and a
 * cgroup root with the cgroup2 mount's controllers.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const SCRIPT = path.resolve(__dirname, '../../scripts/podman-runtime.sh');

let work = '';
beforeEach(() => {
  work = mkdtempSync(path.join(tmpdir(), 'cbdemo-cgroups-'));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

interface Machine {
  /** mount point (under the fake root, '' = the root itself) -> file system type */
  mounts: Record<string, string>;
  /** content of <root>/unified/cgroup.controllers, when the file exists */
  unifiedControllers?: string;
  /** mounts made later over the same points (mountinfo lists them after the first ones) */
  over?: Record<string, string>;
}

/** Runs the script on a fake machine: `choose` gives `{ runtime, why }`, `layout` its one line. */
function run(machine: Machine, command: 'choose' | 'layout' = 'choose'): string {
  const root = path.join(work, 'sys/fs/cgroup');
  mkdirSync(root, { recursive: true });
  const lines = [...Object.entries(machine.mounts), ...Object.entries(machine.over ?? {})].map(([under, type], i) => {
    const point = under ? path.join(root, under) : root;
    mkdirSync(point, { recursive: true });
    return `${30 + i} 23 0:${28 + i} / ${point} rw,nosuid,nodev,noexec,relatime shared:${9 + i} - ${type} ${type} rw`;
  });
  // other mounts around it, as on a real machine
  lines.unshift('22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw', `23 22 0:21 / ${path.join(work, 'sys')} rw - sysfs sysfs rw`);
  if (machine.unifiedControllers !== undefined) {
    mkdirSync(path.join(root, 'unified'), { recursive: true });
    writeFileSync(path.join(root, 'unified/cgroup.controllers'), machine.unifiedControllers);
  }
  const mountinfo = path.join(work, 'mountinfo');
  writeFileSync(mountinfo, `${lines.join('\n')}\n`);
  const result = spawnSync('bash', [SCRIPT, command], { encoding: 'utf8', env: { ...process.env, CGROUP_MOUNTINFO: mountinfo, CGROUP_ROOT: root } });
  if (result.status !== 0) throw new Error(`podman-runtime.sh ${command} exited ${result.status}: ${result.stderr}`);
  return result.stdout.trim();
}

const runtime = (machine: Machine): string => run(machine).split(' ')[0]!;

const V1 = { cpu: 'cgroup', memory: 'cgroup', pids: 'cgroup', systemd: 'cgroup' };

it('pure cgroup v2 (the root is the cgroup2 mount): crun, podman default', () => {
  expect(run({ mounts: { '': 'cgroup2' } })).toBe('crun unified cgroups: crun, podman\'s default, runs there');
});

it('hybrid with controllers in the cgroup2 mount (hugetlb, as seen on a CI machine): runc, with the reason', () => {
  const machine = { mounts: { '': 'tmpfs', ...V1, unified: 'cgroup2' }, unifiedControllers: 'hugetlb\n' };
  expect(runtime(machine)).toBe('runc');
  expect(run(machine)).toMatch(/crun refuses hybrid cgroups whose cgroup2 mount has controllers \(.*\/unified: hugetlb\)$/);
  expect(run(machine, 'layout')).toMatch(/^hybrid: v1 controllers under .*, cgroup2 at .*\/unified with controllers \[hugetlb\]$/);
});

it('hybrid with several controllers in the cgroup2 mount: runc', () => {
  expect(runtime({ mounts: { '': 'tmpfs', ...V1, unified: 'cgroup2' }, unifiedControllers: 'cpuset hugetlb rdma\n' })).toBe('runc');
});

it('hybrid without controllers in the cgroup2 mount (the usual systemd hybrid): crun, which accepts it', () => {
  const machine = { mounts: { '': 'tmpfs', ...V1, unified: 'cgroup2' }, unifiedControllers: '' };
  expect(run(machine)).toBe('crun hybrid cgroups, but the cgroup2 mount has no controller: crun accepts that');
  expect(run(machine, 'layout')).toMatch(/with controllers \[\]$/);
});

it('cgroup v1 only (no cgroup2 mount, or something else at unified): crun', () => {
  expect(runtime({ mounts: { '': 'tmpfs', ...V1 } })).toBe('crun');
  expect(runtime({ mounts: { '': 'tmpfs', ...V1, unified: 'tmpfs' }, unifiedControllers: 'hugetlb' })).toBe('crun');
  expect(run({ mounts: { '': 'tmpfs', ...V1 } }, 'layout')).toMatch(/^cgroup v1 only \(legacy\)/);
});

it('a point mounted over counts as its last mount (a cgroup2 over the tmpfs root is unified)', () => {
  expect(runtime({ mounts: { '': 'tmpfs', unified: 'cgroup2' }, unifiedControllers: 'hugetlb', over: { '': 'cgroup2' } })).toBe('crun');
  expect(runtime({ mounts: { '': 'cgroup2' }, unifiedControllers: 'hugetlb', over: { '': 'tmpfs', unified: 'cgroup2' } })).toBe('runc');
});

it('this machine: the choice is one of the two runtimes, with a reason', () => {
  const result = spawnSync('bash', [SCRIPT], { encoding: 'utf8' });
  expect(result.status).toBe(0);
  expect(result.stdout).toMatch(/^(crun|runc) \S.*\n$/);
});
