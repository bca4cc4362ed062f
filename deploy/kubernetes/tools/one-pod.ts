/**
 * Rendered manifests in (stdin), one Pod out (stdout): the containers of every Deployment, side by
 * side in one Pod named `circuit-breaker-demo`, so they share localhost; ConfigMaps pass through.
 * For `podman kube play` of the one-pod overlay (its kustomization.yaml shows the commands), which
 * has already pointed each service at 127.0.0.1. The containers' `ports` are left out (podman
 * publishes every declared port on the host, and refuses to under `--network none`); probes that
 * named one get its number.
 *
 *   kubectl kustomize deploy/kubernetes/overlays/one-pod | npm run -s k8s:one-pod [-- --empty-dirs DIR] > pod.yaml
 *
 * --empty-dirs DIR: every emptyDir becomes a hostPath directory DIR/<volume>, made here with mode
 * 0777 as the kubelet makes an emptyDir. Podman 4.3 makes an emptyDir a volume that it fills from
 * the image and gives the image directory's owner and mode (root, 0755), which a container that
 * runs as another user (nginx as 101) cannot write.
 */
import { chmodSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: { template?: { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec } };
}
interface Volume {
  name: string;
  [field: string]: unknown;
}
interface Port {
  name?: string;
  containerPort: number;
}
interface Probe {
  httpGet?: { port: number | string; [field: string]: unknown };
  tcpSocket?: { port: number | string };
  [field: string]: unknown;
}
interface Container {
  name: string;
  ports?: Port[];
  volumeMounts?: { name: string }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  [field: string]: unknown;
}

/** The container without its `ports`, its probes' named ports replaced by their numbers. */
function withoutPorts({ ports = [], ...container }: Container): Container {
  const number = (port: number | string): number => {
    if (typeof port === 'number') return port;
    const found = ports.find((candidate) => candidate.name === port);
    if (!found) throw new Error(`container ${container.name}: a probe names port ${port}, which it does not declare`);
    return found.containerPort;
  };
  const probe = (given: Probe | undefined): Probe | undefined =>
    given && {
      ...given,
      ...(given.httpGet && { httpGet: { ...given.httpGet, port: number(given.httpGet.port) } }),
      ...(given.tcpSocket && { tcpSocket: { port: number(given.tcpSocket.port) } }),
    };
  const result: Container = { ...container };
  for (const key of ['livenessProbe', 'readinessProbe', 'startupProbe'] as const) {
    const resolved = probe(container[key]);
    if (resolved) result[key] = resolved;
  }
  return result;
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  terminationGracePeriodSeconds?: number;
  [field: string]: unknown;
}

export const POD_NAME = 'circuit-breaker-demo';

/** An emptyDir as a hostPath directory under `root`, made world-writable as the kubelet makes it. */
function asHostDirectory(volume: Volume, root: string): Volume {
  if (!('emptyDir' in volume)) return volume;
  const directory = path.join(root, volume.name);
  mkdirSync(directory, { recursive: true });
  chmodSync(directory, 0o777);
  return { name: volume.name, hostPath: { path: directory, type: 'Directory' } };
}

/**
 * The one Pod, then the ConfigMaps, as objects. Volume names get their Deployment's name in front;
 * with `emptyDirs`, emptyDirs become directories there (see the header).
 */
export function onePod(input: readonly object[], emptyDirs?: string): object[] {
  const manifests = input as readonly Manifest[];
  const deployments = manifests.filter((manifest) => manifest.kind === 'Deployment');
  if (deployments.length === 0) throw new Error('no Deployment in the input');
  const containers: Container[] = [];
  const volumes: Volume[] = [];
  let podFields: Record<string, unknown> = {};
  let grace = 0;
  const annotations: Record<string, string> = {};
  for (const deployment of deployments) {
    const template = deployment.spec?.template;
    if (!template) throw new Error(`Deployment ${deployment.metadata.name} has no pod template`);
    const { containers: own, initContainers, volumes: ownVolumes = [], terminationGracePeriodSeconds = 30, ...rest } = template.spec;
    if (initContainers?.length) throw new Error(`Deployment ${deployment.metadata.name}: init containers do not fit one pod here`);
    const prefix = (volume: string) => `${deployment.metadata.name}-${volume}`;
    for (const container of own) {
      if (containers.some((other) => other.name === container.name)) throw new Error(`two containers named ${container.name}`);
      containers.push({ ...withoutPorts(container), ...(container.volumeMounts && { volumeMounts: container.volumeMounts.map((mount) => ({ ...mount, name: prefix(mount.name) })) }) });
    }
    volumes.push(...ownVolumes.map((volume) => ({ ...volume, name: prefix(volume.name) })).map((volume) => (emptyDirs ? asHostDirectory(volume, emptyDirs) : volume)));
    podFields = { ...podFields, ...rest };
    grace = Math.max(grace, terminationGracePeriodSeconds);
    Object.assign(annotations, template.metadata?.annotations);
  }
  const spec: PodSpec = { ...podFields, terminationGracePeriodSeconds: grace, containers, ...(volumes.length > 0 && { volumes }) };
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: POD_NAME, labels: { 'app.kubernetes.io/name': POD_NAME }, ...(Object.keys(annotations).length > 0 && { annotations }) },
    spec,
  };
  return [pod, ...manifests.filter((manifest) => manifest.kind === 'ConfigMap')];
}

if (require.main === module) {
  const documents = parseAllDocuments(readFileSync(0, 'utf8')).map((document) => document.toJS() as Manifest | null);
  const [flag, emptyDirs, ...extra] = process.argv.slice(2);
  if ((flag !== undefined && (flag !== '--empty-dirs' || !emptyDirs)) || extra.length > 0) {
    process.stderr.write('usage: one-pod.ts [--empty-dirs DIR] < manifests.yaml > pod.yaml\n');
    process.exit(64);
  }
  const out = onePod(documents.filter((document): document is Manifest => document !== null), emptyDirs && path.resolve(emptyDirs));
  process.stdout.write(out.map((manifest) => stringify(manifest, { lineWidth: 0 })).join('---\n'));
}
