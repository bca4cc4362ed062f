/**
 * deploy/kubernetes run for real: the one-pod overlay (upstream, nginx and the monitor sharing
 * localhost) played by Debian's podman 4.3 with `podman kube play`, then `podman stop` of the nginx
 * container: the monitor logs closed -> open; `podman start` of it: half_open -> closed.
 *
 * Podman 4.3 knows Pods and Deployments, not Services or native sidecars, hence one pod, made from
 * the same base (deploy/kubernetes/overlays/one-pod and deploy/kubernetes/tools/one-pod.ts, with
 * `--empty-dirs`: see that file). The images are the ones the Docker lab builds (test/docker/lab.sh:
 * stand-ins for node:24-bookworm-slim and nginx:1.30 on these machines, no registry here), moved over
 * with `docker save | podman load`; the Docker engine is stopped once they are loaded. The pod runs
 * with `--network none`: its own loopback, no port on the host. Everything podman got (pod,
 * containers, the ConfigMap volumes, the images) is removed afterwards, also when a test fails.
 *
 * Needs root, podman (scripts/setup-test-deps.sh, which also sets the OCI runtime that works with
 * the machine's cgroup layout: scripts/podman-runtime.sh) and the Docker lab, which it holds from
 * setup to teardown so that the compose suite, run in parallel, waits (test/support/docker-lab.ts).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { onePod, POD_NAME } from '../../../deploy/kubernetes/tools/one-pod';
import { holdLab, lab, labEnv } from '../../support/docker-lab';
import { waitForLogLine } from '../../support/log-lines';

const ROOT = path.resolve(__dirname, '../../..');
const version = (workspace: string): string => (JSON.parse(readFileSync(path.join(ROOT, workspace, 'package.json'), 'utf8')) as { version: string }).version;
/** The images the manifests name, as the Docker lab builds them. */
const BUILDS = [
  { image: `circuit-breaker-demo/upstream:${version('upstream')}`, dockerfile: 'upstream/Dockerfile' },
  { image: `circuit-breaker-demo/monitor:${version('monitor')}`, dockerfile: 'monitor/Dockerfile' },
];
const NGINX_IMAGE = 'nginx:1.30';
const container = (name: string): string => `${POD_NAME}-${name}`;

jest.setTimeout(10 * 60_000);

let work = '';
let podYaml = '';
let configMaps: string[] = [];
let loaded: string[] = [];

/** `podman <args>`: its stdout; a failure throws with its stderr. */
function podman(...args: string[]): string {
  const result = spawnSync('podman', args, { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (result.status !== 0) throw new Error(`podman ${args.join(' ')} failed (exit ${result.status}): ${result.stderr}`);
  return result.stdout;
}

/**
 * What to know when podman cannot start a container: the OCI runtime it used and the machine's
 * cgroup layout (crun refuses some hybrid layouts: scripts/podman-runtime.sh).
 */
function runtimeAndLayout(): string {
  const runtime = spawnSync('podman', ['info', '--format', '{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Version}}'], { encoding: 'utf8' });
  const layout = spawnSync('bash', [path.join(ROOT, 'scripts/podman-runtime.sh'), 'layout'], { encoding: 'utf8' });
  const chosen = spawnSync('bash', [path.join(ROOT, 'scripts/podman-runtime.sh')], { encoding: 'utf8' });
  const firstLine = (text: string): string => text.split('\n')[0]?.trim() ?? '';
  return `podman's OCI runtime: ${firstLine(runtime.stdout) || `unknown (${firstLine(runtime.stderr)})`}; cgroups: ${layout.stdout.trim()}; scripts/podman-runtime.sh chooses: ${chosen.stdout.trim()}`;
}

/** `podman <args>` whose failure does not matter (cleanup of what may not exist). */
function podmanQuietly(...args: string[]): void {
  spawnSync('podman', args, { stdio: 'ignore' });
}

function monitorLog(): string[] {
  return podman('logs', container('monitor')).split('\n').filter(Boolean);
}

const waitForLog = (pattern: RegExp, timeoutMs: number, from = 0): Promise<string> => waitForLogLine(monitorLog, pattern, timeoutMs, from);

/** An HTTP GET from inside the monitor's container (the pod has no port on the host): status and body. */
function getInPod(url: string): { status: number; body: string } {
  const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(3000) }).then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })))`;
  return JSON.parse(podman('exec', container('monitor'), 'node', '-e', script)) as { status: number; body: string };
}

function removeFromPodman(): void {
  podmanQuietly('pod', 'rm', '--force', '--time', '2', POD_NAME);
  // kube play makes a volume per ConfigMap, named after it, and leaves it after the pod
  for (const name of configMaps) podmanQuietly('volume', 'rm', '--force', name);
}

beforeAll(async () => {
  const t0 = Date.now();
  work = mkdtempSync(path.join(tmpdir(), 'cbdemo-podman-'));
  const rendered = execFileSync('kubectl', ['kustomize', path.join(ROOT, 'deploy/kubernetes/overlays/one-pod')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const manifests = parseAllDocuments(rendered)
    .map((document) => document.toJS() as { kind?: string; metadata?: { name: string } } | null)
    .filter((manifest): manifest is { kind: string; metadata: { name: string } } => typeof manifest?.kind === 'string');
  configMaps = manifests.filter((manifest) => manifest.kind === 'ConfigMap').map((manifest) => manifest.metadata.name);
  podYaml = path.join(work, 'pod.yaml');
  writeFileSync(podYaml, onePodYaml(manifests, path.join(work, 'empty-dirs')));
  // a run killed midway may have left its pod behind
  removeFromPodman();

  // the compose suite uses the same engine: one suite at a time
  const lease = await holdLab();
  let started: number;
  let built: number;
  try {
    lab('setup');
    started = Date.now();
    const env = labEnv();
    // builds on the host network, like compose.test-override.yml (the lab's bridge has no route out)
    for (const { image, dockerfile } of BUILDS) {
      execFileSync('docker', ['build', '-q', '--network', 'host', '-f', dockerfile, '-t', image, '.'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    }
    built = Date.now();
    const images = [NGINX_IMAGE, ...BUILDS.map(({ image }) => image)];
    loaded = images;
    execFileSync('bash', ['-o', 'pipefail', '-c', `docker save ${images.join(' ')} | podman load -q`], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  } finally {
    try {
      lab('teardown');
    } finally {
      lease.release();
    }
  }
  const seconds = (from: number, to = Date.now()): string => ((to - from) / 1000).toFixed(1);
  process.stdout.write(`e2e-podman: lab and images ready in ${seconds(t0)} s (docker build ${seconds(started, built)} s, docker save | podman load ${seconds(built)} s)\n`);
});

/** The one pod and its ConfigMaps, as YAML for `podman kube play`. */
function onePodYaml(manifests: readonly object[], emptyDirs: string): string {
  return onePod(manifests, emptyDirs)
    .map((manifest) => JSON.stringify(manifest))
    .join('\n---\n');
}

afterAll(() => {
  const t0 = Date.now();
  try {
    removeFromPodman();
    // by the names given: podman resolves them to what it loaded (localhost/nginx:1.30, ...)
    if (loaded.length > 0) podmanQuietly('rmi', '--force', ...loaded);
  } finally {
    if (work) rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(`e2e-podman: pod, volumes and images removed in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
});

it('podman kube play of the one-pod overlay, stop nginx, start nginx: the monitor logs closed -> open -> half_open -> closed', async () => {
  const t0 = Date.now();
  try {
    podman('kube', 'play', '--network', 'none', podYaml);
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${runtimeAndLayout()}`, { cause: error });
  }
  expect(podman('pod', 'ps', '--filter', `name=^${POD_NAME}$`, '--format', '{{.Name}}').trim()).toBe(POD_NAME);
  await waitForLog(/ info probe ok: HTTP 200 in \d+ ms$/, 60_000);
  const upSeconds = (Date.now() - t0) / 1000;

  // the hardening the manifests ask for, as podman applied it
  for (const [name, user] of [['upstream', '1000:1000'], ['nginx', '101:101'], ['monitor', '1000:1000']] as const) {
    const [inspected] = JSON.parse(podman('inspect', container(name))) as { Config: { User: string }; HostConfig: { ReadonlyRootfs: boolean; SecurityOpt: string[] }; EffectiveCaps: string[] | null }[];
    expect([name, inspected?.Config.User, inspected?.HostConfig.ReadonlyRootfs, inspected?.EffectiveCaps ?? []]).toEqual([name, user, true, []]);
    expect(inspected?.HostConfig.SecurityOpt).toContain('no-new-privileges');
  }
  expect(getInPod('http://127.0.0.1:8080/')).toMatchObject({ status: 200, body: expect.stringContaining('"service":"upstream"') });

  const beforeStop = monitorLog().length;
  podman('stop', '--time', '5', container('nginx'));
  const openLine = await waitForLog(/ warn Circuit changed from closed to open /, 30_000, beforeStop);
  expect(openLine).toMatch(/\(3 consecutive failures, last: ECONNREFUSED; trial in 10 s\)$/);
  // what the liveness and readiness probes ask: still 200 with the circuit open
  expect(getInPod('http://127.0.0.1:8081/healthz').status).toBe(200);
  expect(getInPod('http://127.0.0.1:8080/')).toMatchObject({ status: 503, body: expect.stringContaining('"state":"open"') });

  const beforeStart = monitorLog().length;
  podman('start', container('nginx'));
  await waitForLog(/ info Circuit changed from open to half_open /, 30_000, beforeStart);
  await waitForLog(/ info Circuit changed from half_open to closed \(3 consecutive trial successes\)$/, 60_000, beforeStart);
  expect(getInPod('http://127.0.0.1:8080/').status).toBe(200);
  process.stdout.write(`e2e-podman: pod up and probing in ${upSeconds.toFixed(1)} s, whole scenario ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
});
