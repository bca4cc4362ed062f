/**
 * deploy/kubernetes checked without a cluster: `kubectl kustomize` renders the base and every
 * overlay (whichever kubectl is on the machine: the manifests use only kustomize features that
 * kustomize v2.0.3, in Debian's kubectl 1.20, and v5 both know), every rendered object is validated
 * against the Kubernetes API schema (the `kubernetes-models` packages: types, enums, required
 * fields; and their TypeScript types, whose excess-property check catches a misspelt or unknown
 * field), and the project's rules are kept: hardened like the compose services, probes, limits,
 * pinned images, the same variables as compose, ADMIN_TOKEN only from a Secret.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { parse, parseAllDocuments } from 'yaml';
import { DockerfileParser } from 'dockerfile-ast';
import { answeredNames, answersHost } from '../../monitor/src/admin/host-check';
import { parseConfig } from '../../monitor/src/config';
import { describeWithTool } from '../support/needs-tool';
import { onePod, POD_NAME } from '../../deploy/kubernetes/tools/one-pod';
import { prometheusRule } from '../../deploy/kubernetes/tools/prometheus-rule';

const ROOT = path.resolve(__dirname, '../..');
const KUBERNETES = path.join(ROOT, 'deploy/kubernetes');
const OVERLAYS = readdirSync(path.join(KUBERNETES, 'overlays'));
const JOB = 'circuit-breaker-monitor';

interface Probe {
  httpGet?: { path: string; port: number | string };
  tcpSocket?: { port: number | string };
  exec?: { command: string[] };
}
interface Container {
  name: string;
  image?: string;
  imagePullPolicy?: string;
  restartPolicy?: string;
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } }[];
  envFrom?: { configMapRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
}
interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  readOnlyRootFilesystem?: boolean;
  allowPrivilegeEscalation?: boolean;
  privileged?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type: string };
}
interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  securityContext?: SecurityContext;
  terminationGracePeriodSeconds?: number;
  automountServiceAccountToken?: boolean;
  hostNetwork?: boolean;
  volumes?: { name: string; configMap?: { name: string } }[];
}
interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: PodSpec;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  data?: Record<string, string>;
  spec?: Record<string, unknown> & { template?: PodTemplate };
}

/** `kubectl kustomize DIR`, as objects; kustomize v2 writes `{}` for a deleted object: left out. */
function render(dir: string): K8sObject[] {
  const yaml = execFileSync('kubectl', ['kustomize', path.join(KUBERNETES, dir)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return parseAllDocuments(yaml)
    .map((document) => document.toJS() as K8sObject | null)
    .filter((object): object is K8sObject => object !== null && typeof object.kind === 'string');
}

/** Problems the kubernetes-models runtime schemas find (test/infra/kubernetes-models.mjs). */
function schemaProblems(objects: readonly object[]): string[] {
  const result = spawnSync('node', [path.join(__dirname, 'kubernetes-models.mjs')], { cwd: ROOT, input: JSON.stringify(objects), encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`kubernetes-models.mjs failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as string[];
}

/** The models' TypeScript type of a kind: its module and interface. */
function typeOf({ apiVersion, kind }: K8sObject): { module: string; name: string } {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const module =
    group === 'monitoring.coreos.com'
      ? `@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`
      : `kubernetes-models/${group ? `${group}/` : ''}${version}/${kind}`;
  return { module, name: `I${kind}` };
}

/**
 * Fields the API does not have, and values their types refuse: each object as a literal of its
 * model's interface, type-checked by TypeScript (an object literal may only specify known fields).
 */
function typeProblems(objects: readonly K8sObject[]): string[] {
  mkdirSync(path.join(ROOT, '.tmp'), { recursive: true });
  const dir = mkdtempSync(path.join(ROOT, '.tmp/k8s-types-'));
  try {
    const file = path.join(dir, 'objects.mts');
    const lines = objects.map((object, index) => {
      const { module, name } = typeOf(object);
      return `import type { ${name} as T${index} } from '${module}';\nexport const o${index}: T${index} = ${JSON.stringify(object)};`;
    });
    writeFileSync(file, `${lines.join('\n')}\n`);
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      skipLibCheck: true,
      types: [],
    });
    return ts.getPreEmitDiagnostics(program).map((diagnostic) => {
      const line = diagnostic.file && diagnostic.start !== undefined ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line : -1;
      const object = objects[Math.floor(line / 2)];
      return `${object ? `${object.kind}/${object.metadata.name}` : '?'}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`;
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Every pod template (Deployments) and pod spec (Pods), with the name of what holds it. */
function pods(objects: readonly K8sObject[]): { name: string; template: PodTemplate }[] {
  return objects.flatMap((object) => {
    if (object.kind === 'Deployment' && object.spec?.template) return [{ name: `${object.kind}/${object.metadata.name}`, template: object.spec.template }];
    if (object.kind === 'Pod') return [{ name: `Pod/${object.metadata.name}`, template: { metadata: object.metadata, spec: object.spec as unknown as PodSpec } }];
    return [];
  });
}

const QUANTITIES = ['cpu', 'memory'] as const;

/** The project's rules for pods; one line per broken rule. */
export function podRuleViolations(objects: readonly K8sObject[]): string[] {
  const problems: string[] = [];
  for (const { name: pod, template } of pods(objects)) {
    const { spec } = template;
    const podSecurity = spec.securityContext ?? {};
    if (spec.automountServiceAccountToken !== false) problems.push(`${pod}: automountServiceAccountToken must be false (no API access needed)`);
    if (spec.hostNetwork) problems.push(`${pod}: hostNetwork`);
    const grace = spec.terminationGracePeriodSeconds;
    if (grace === undefined || grace < 2 || grace > 10) problems.push(`${pod}: terminationGracePeriodSeconds ${grace}: the services stop within 1 s, so 2 to 10`);
    for (const container of [...(spec.initContainers ?? []), ...spec.containers]) {
      const where = `${pod} ${container.name}`;
      const security = { ...podSecurity, ...container.securityContext };
      if (security.runAsNonRoot !== true) problems.push(`${where}: runAsNonRoot must be true`);
      if (typeof security.runAsUser !== 'number' || security.runAsUser === 0) problems.push(`${where}: runAsUser must be a number other than 0 (the images' USER is a name the kubelet cannot check)`);
      if (container.securityContext?.readOnlyRootFilesystem !== true) problems.push(`${where}: readOnlyRootFilesystem must be true`);
      if (container.securityContext?.allowPrivilegeEscalation !== false) problems.push(`${where}: allowPrivilegeEscalation must be false`);
      if (security.privileged) problems.push(`${where}: privileged`);
      if (!container.securityContext?.capabilities?.drop?.includes('ALL')) problems.push(`${where}: capabilities must drop ALL`);
      if (container.securityContext?.capabilities?.add?.length) problems.push(`${where}: adds capabilities ${container.securityContext.capabilities.add.join(', ')}`);
      if (security.seccompProfile?.type !== 'RuntimeDefault') problems.push(`${where}: seccompProfile must be RuntimeDefault`);
      if (!container.livenessProbe) problems.push(`${where}: no livenessProbe`);
      if (container.ports?.length && !container.readinessProbe) problems.push(`${where}: serves ports but has no readinessProbe`);
      for (const kind of ['requests', 'limits'] as const) {
        for (const quantity of QUANTITIES) {
          if (!container.resources?.[kind]?.[quantity]) problems.push(`${where}: no ${quantity} in resources.${kind}`);
        }
      }
      const image = container.image ?? '';
      const tag = /^[^@]+:([\w.-]+)$/.exec(image)?.[1];
      if (!tag) problems.push(`${where}: image ${JSON.stringify(image)} has no tag`);
      else if (tag === 'latest') problems.push(`${where}: image ${image} is not pinned (latest)`);
      if (container.imagePullPolicy === 'Always') problems.push(`${where}: imagePullPolicy Always`);
      for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
        const port = probe?.httpGet?.port ?? probe?.tcpSocket?.port;
        if (typeof port === 'string' && !container.ports?.some((declared) => declared.name === port)) {
          problems.push(`${where}: a probe asks port ${port}, which the container does not declare`);
        }
      }
    }
  }
  return problems;
}

/** The variables of a dotenv file. */
function dotenv(file: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/** The first `FROM` of a Dockerfile: the image compose builds on. */
function baseImage(dockerfile: string): string | undefined {
  return DockerfileParser.parse(readFileSync(path.join(ROOT, dockerfile), 'utf8')).getFROMs()[0]?.getImage() ?? undefined;
}

const packageVersion = (workspace: string): string => (JSON.parse(readFileSync(path.join(ROOT, workspace, 'package.json'), 'utf8')) as { version: string }).version;

const find = <T extends { name: string }>(items: readonly T[] | undefined, name: string): T => {
  const item = items?.find((candidate) => candidate.name === name);
  if (!item) throw new Error(`no ${name}`);
  return item;
};
const object = (objects: readonly K8sObject[], kind: string, name: string): K8sObject => {
  const found = objects.find((candidate) => candidate.kind === kind && candidate.metadata.name === name);
  if (!found) throw new Error(`no ${kind}/${name} in ${objects.map((candidate) => `${candidate.kind}/${candidate.metadata.name}`).join(', ')}`);
  return found;
};
const podSpec = (objects: readonly K8sObject[], deployment: string): PodSpec => {
  const spec = object(objects, 'Deployment', deployment).spec?.template?.spec;
  if (!spec) throw new Error(`Deployment ${deployment} has no pod template`);
  return spec;
};

const kubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });

describeWithTool('kubectl', kubectl.status === 0, 'kubectl not found: run scripts/setup-test-deps.sh (Debian: kubernetes-client)', 'deploy/kubernetes', () => {
  const rendered: Record<string, K8sObject[]> = {};
  beforeAll(() => {
    for (const dir of ['base', ...OVERLAYS.map((overlay) => `overlays/${overlay}`)]) rendered[dir] = render(dir);
  });
  const base = (): K8sObject[] => rendered.base ?? [];

  it('renders the base and every overlay with kubectl kustomize', () => {
    expect(OVERLAYS.sort()).toEqual(['one-pod', 'prometheus-operator', 'routes']);
    expect(base().map((item) => `${item.kind}/${item.metadata.name}`).sort()).toEqual([
      'ConfigMap/monitor-config',
      expect.stringMatching(/^ConfigMap\/nginx-templates-[a-z0-9]{10}$/),
      'Deployment/client',
      'Deployment/monitor',
      'Deployment/nginx',
      'Deployment/upstream',
      'Service/monitor',
      'Service/nginx',
      'Service/upstream',
    ]);
    const added = (rendered['overlays/prometheus-operator'] ?? []).filter((item) => !base().some((other) => other.kind === item.kind));
    expect(added.map((item) => `${item.kind}/${item.metadata.name}`).sort()).toEqual(['PodMonitor/client-monitor-sidecar', 'PrometheusRule/circuit-breaker', 'ServiceMonitor/monitor']);
  });

  it('every rendered object, and the one pod for podman, is valid against the Kubernetes API schema', () => {
    const all = [...Object.values(rendered).flat(), ...(onePod(rendered['overlays/one-pod'] ?? []) as K8sObject[])];
    expect(schemaProblems(all)).toEqual([]);
    expect(typeProblems(all)).toEqual([]);
  });

  it('the schema checks catch a wrong type, an unknown kind and a misspelt field', () => {
    const wrongType = structuredClone(object(base(), 'Deployment', 'monitor'));
    (wrongType.spec?.template?.spec.containers[0] as unknown as Record<string, unknown>).ports = [{ name: 'admin', containerPort: '8081' }];
    const misspelt = structuredClone(object(base(), 'Deployment', 'monitor'));
    const container = misspelt.spec?.template?.spec.containers[0] as unknown as Record<string, unknown>;
    container.readinesProbe = container.readinessProbe;
    const unknownKind = { apiVersion: 'v1', kind: 'Sevrice', metadata: { name: 'x' } };
    expect(schemaProblems([wrongType, unknownKind])).toEqual([
      'Deployment/monitor: data/spec/template/spec/containers/0/ports/0/containerPort must be integer',
      'Sevrice/x: no schema for v1 Sevrice',
    ]);
    expect(typeProblems([wrongType, misspelt])).toEqual([
      "Deployment/monitor: Type 'string' is not assignable to type 'number'.",
      `Deployment/monitor: Object literal may only specify known properties, and '"readinesProbe"' does not exist in type 'IContainer'.`,
    ]);
  });

  it('keeps the project rules in the base and every overlay: hardened, probed, limited, pinned', () => {
    for (const [dir, objects] of Object.entries(rendered)) expect([dir, podRuleViolations(objects)]).toEqual([dir, []]);
    expect(podRuleViolations(onePod(rendered['overlays/one-pod'] ?? []) as K8sObject[])).toEqual([]);
  });

  it('the rules catch what they are meant to catch', () => {
    const monitor = structuredClone(object(base(), 'Deployment', 'monitor'));
    const spec = monitor.spec?.template?.spec as PodSpec;
    const [container] = spec.containers as [Container];
    spec.automountServiceAccountToken = true;
    spec.terminationGracePeriodSeconds = 30;
    container.image = 'circuit-breaker-demo/monitor:latest';
    container.imagePullPolicy = 'Always';
    delete container.livenessProbe;
    delete container.resources?.limits;
    container.securityContext = { runAsUser: 0, readOnlyRootFilesystem: false, capabilities: { add: ['NET_ADMIN'] } };
    container.readinessProbe = { httpGet: { path: '/healthz', port: 'metrics' } };
    delete spec.securityContext;
    expect(podRuleViolations([monitor])).toEqual([
      'Deployment/monitor: automountServiceAccountToken must be false (no API access needed)',
      'Deployment/monitor: terminationGracePeriodSeconds 30: the services stop within 1 s, so 2 to 10',
      'Deployment/monitor monitor: runAsNonRoot must be true',
      "Deployment/monitor monitor: runAsUser must be a number other than 0 (the images' USER is a name the kubelet cannot check)",
      'Deployment/monitor monitor: readOnlyRootFilesystem must be true',
      'Deployment/monitor monitor: allowPrivilegeEscalation must be false',
      'Deployment/monitor monitor: capabilities must drop ALL',
      'Deployment/monitor monitor: adds capabilities NET_ADMIN',
      'Deployment/monitor monitor: seccompProfile must be RuntimeDefault',
      'Deployment/monitor monitor: no livenessProbe',
      'Deployment/monitor monitor: no cpu in resources.limits',
      'Deployment/monitor monitor: no memory in resources.limits',
      'Deployment/monitor monitor: image circuit-breaker-demo/monitor:latest is not pinned (latest)',
      'Deployment/monitor monitor: imagePullPolicy Always',
      'Deployment/monitor monitor: a probe asks port metrics, which the container does not declare',
    ]);
    container.image = 'nginx';
    expect(podRuleViolations([monitor])).toContain('Deployment/monitor monitor: image "nginx" has no tag');
  });

  it('pins the images as compose builds them: nginx from nginx/Dockerfile, the project images at their package versions', () => {
    const images = new Set(pods(base()).flatMap(({ template }) => [...(template.spec.initContainers ?? []), ...template.spec.containers].map((container) => container.image)));
    expect([...images].sort()).toEqual([
      `circuit-breaker-demo/monitor:${packageVersion('monitor')}`,
      `circuit-breaker-demo/upstream:${packageVersion('upstream')}`,
      baseImage('nginx/Dockerfile'),
    ]);
  });

  it('configures the monitor with the variables compose gives it, LISTEN_ADDRESS 0.0.0.0, and its ports to match', () => {
    const { data = {} } = object(base(), 'ConfigMap', 'monitor-config');
    const { NGINX_PORT: _composeOnly, ...compose } = dotenv(path.join(ROOT, '.env'));
    // ADMIN_ALLOWED_HOSTS: compose adds `monitor` in docker-compose.yml, here the ConfigMap does
    expect(data).toEqual({ ...compose, LISTEN_ADDRESS: '0.0.0.0', ADMIN_ALLOWED_HOSTS: 'monitor' });
    for (const spec of [podSpec(base(), 'monitor'), podSpec(base(), 'client')]) {
      const monitor = find([...(spec.initContainers ?? []), ...spec.containers], 'monitor');
      expect(monitor.envFrom).toEqual([{ configMapRef: { name: 'monitor-config' } }]);
      expect(monitor.ports).toEqual([
        { name: 'proxy', containerPort: Number(data.PROXY_PORT) },
        { name: 'admin', containerPort: Number(data.ADMIN_PORT) },
      ]);
    }
  });

  it('takes ADMIN_TOKEN from a Secret reference only: no Secret and no literal token in any rendered object', () => {
    for (const objects of Object.values(rendered)) {
      expect(objects.filter((item) => item.kind === 'Secret')).toEqual([]);
      for (const item of objects) expect([item.metadata.name, JSON.stringify(item)]).not.toEqual([item.metadata.name, expect.stringMatching(/"ADMIN_TOKEN":/)]);
    }
    for (const spec of [podSpec(base(), 'monitor'), podSpec(base(), 'client')]) {
      const monitor = find([...(spec.initContainers ?? []), ...spec.containers], 'monitor');
      expect(monitor.env).toEqual([{ name: 'ADMIN_TOKEN', valueFrom: { secretKeyRef: { name: 'monitor-admin', key: 'ADMIN_TOKEN', optional: true } } }]);
    }
  });

  it('probes the monitor on /healthz (its own loop, not the upstream), readiness too, on the admin port', () => {
    for (const spec of [podSpec(base(), 'monitor'), podSpec(base(), 'client')]) {
      const monitor = find([...(spec.initContainers ?? []), ...spec.containers], 'monitor');
      for (const probe of [monitor.livenessProbe, monitor.readinessProbe]) expect(probe?.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    }
  });

  it('the admin port answers every name the cluster asks it under: pod IPs (kubelet, Prometheus discovery), localhost, the Service name', () => {
    const parsed = parseConfig(object(base(), 'ConfigMap', 'monitor-config').data ?? {});
    if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
    // the pod's name is its host name
    const names = answeredNames(parsed.config.adminAllowedHosts, 'monitor-7d9f8b6c5-x2k4q');
    const port = parsed.config.adminPort;
    for (const spec of [podSpec(base(), 'monitor'), podSpec(base(), 'client')]) {
      const monitor = find([...(spec.initContainers ?? []), ...spec.containers], 'monitor');
      // no `host` and no Host header: the kubelet asks the pod's IP
      for (const probe of [monitor.livenessProbe, monitor.readinessProbe, monitor.startupProbe].filter((probe) => probe !== undefined)) {
        expect(Object.keys(probe?.httpGet ?? {}).sort()).toEqual(['path', 'port']);
      }
    }
    const service = object(base(), 'Service', 'monitor');
    for (const host of [`10.244.1.7:${port}`, `[fd00:10:244::7]:${port}`, `localhost:${port}`, `${service.metadata.name}:${port}`]) {
      expect([host, answersHost(host, names)]).toEqual([host, true]);
    }
    expect(answersHost(`${service.metadata.name}.rebind.example:${port}`, names)).toBe(false);
  });

  it('runs the monitor as a native sidecar of the client: the same container as deploy/monitor, restartPolicy Always and a startupProbe', () => {
    const client = podSpec(base(), 'client');
    const [sidecar, ...otherInits] = client.initContainers ?? [];
    expect(otherInits).toEqual([]);
    const { restartPolicy, startupProbe, ...rest } = sidecar as Container;
    expect(restartPolicy).toBe('Always');
    expect(startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(rest).toEqual(find(podSpec(base(), 'monitor').containers, 'monitor'));
    const [caller] = client.containers;
    expect(caller?.env).toEqual([{ name: 'TARGET', value: `http://127.0.0.1:${object(base(), 'ConfigMap', 'monitor-config').data?.PROXY_PORT}/` }]);
  });

  it('asks Prometheus to scrape every monitor on its admin port', () => {
    const port = object(base(), 'ConfigMap', 'monitor-config').data?.ADMIN_PORT;
    for (const name of ['monitor', 'client']) {
      expect(object(base(), 'Deployment', name).spec?.template?.metadata?.annotations).toEqual({
        'prometheus.io/scrape': 'true',
        'prometheus.io/port': port,
        'prometheus.io/path': '/metrics',
      });
    }
  });

  it("nginx renders the project's template: the same file, every ${VAR} given, listening on the port its Service targets", () => {
    const template = readFileSync(path.join(ROOT, 'nginx/templates/default.conf.template'), 'utf8');
    const configMap = base().find((item) => item.kind === 'ConfigMap' && item.metadata.name.startsWith('nginx-templates-'));
    expect(configMap?.data).toEqual({ 'default.conf.template': template });
    const spec = podSpec(base(), 'nginx');
    expect(find(spec.volumes, 'templates').configMap?.name).toBe(configMap?.metadata.name);
    const [nginx] = spec.containers as [Container];
    const env = Object.fromEntries((nginx.env ?? []).map((variable) => [variable.name, variable.value]));
    const variables = [...new Set([...template.matchAll(/\$\{(\w+)\}/g)].map((match) => match[1] ?? ''))];
    for (const variable of variables) expect([variable, env[variable]]).toEqual([variable, expect.any(String)]);
    expect(env.UPSTREAM_ADDR).toBe('upstream.$(POD_NAMESPACE).svc.cluster.local:3000');
    expect(nginx.ports).toEqual([{ name: 'http', containerPort: Number(env.NGINX_LISTEN) }]);
    // HTTP_CLIENT nginx:80, as under compose
    expect(object(base(), 'Service', 'nginx').spec?.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http' }]);
    expect(object(base(), 'ConfigMap', 'monitor-config').data?.HTTP_CLIENT).toBe('nginx:80');
  });

  it('every Service selects the pods of one Deployment and targets ports they declare', () => {
    for (const service of base().filter((item) => item.kind === 'Service')) {
      const { selector, ports } = service.spec as { selector: Record<string, string>; ports: { targetPort: string }[] };
      const selected = pods(base()).filter(({ template }) => Object.entries(selector).every(([key, value]) => template.metadata?.labels?.[key] === value));
      expect([service.metadata.name, selected.map(({ name }) => name)]).toEqual([service.metadata.name, [`Deployment/${service.metadata.name}`]]);
      const declared = selected[0]?.template.spec.containers.flatMap((container) => container.ports ?? []).map((port) => port.name);
      for (const { targetPort } of ports) expect(declared).toContain(targetPort);
    }
  });

  it('the prometheus-operator overlay scrapes as the job the alert rules select, and its PrometheusRule is prometheus/alerts.yml', () => {
    const objects = rendered['overlays/prometheus-operator'] ?? [];
    const rule = object(objects, 'PrometheusRule', 'circuit-breaker');
    const alerts = parse(readFileSync(path.join(ROOT, 'prometheus/alerts.yml'), 'utf8')) as { groups: unknown[] };
    expect(rule.spec?.groups).toEqual(alerts.groups);
    expect(readFileSync(path.join(KUBERNETES, 'overlays/prometheus-operator/prometheusrule.yaml'), 'utf8')).toBe(prometheusRule(readFileSync(path.join(ROOT, 'prometheus/alerts.yml'), 'utf8')));
    const relabel = [{ action: 'replace', targetLabel: 'job', replacement: JOB }];
    const serviceMonitor = object(objects, 'ServiceMonitor', 'monitor').spec as { selector: unknown; endpoints: unknown[] };
    expect(serviceMonitor).toEqual({ selector: { matchLabels: { 'app.kubernetes.io/name': 'monitor' } }, endpoints: [{ port: 'admin', path: '/metrics', interval: '15s', relabelings: relabel }] });
    const podMonitor = object(objects, 'PodMonitor', 'client-monitor-sidecar').spec as { selector: unknown; podMetricsEndpoints: unknown[] };
    expect(podMonitor).toEqual({ selector: { matchLabels: { 'app.kubernetes.io/name': 'client' } }, podMetricsEndpoints: [{ port: 'admin', path: '/metrics', interval: '15s', relabelings: relabel }] });
  });

  it('the routes overlay gives both monitors ROUTES_FILE and the file, a valid routes file, from its own ConfigMap; the rest is the base', () => {
    const objects = rendered['overlays/routes'] ?? [];
    const routes = objects.find((item) => item.kind === 'ConfigMap' && item.metadata.name.startsWith('monitor-routes-'));
    expect(routes?.metadata.name).toMatch(/^monitor-routes-[a-z0-9]{10}$/);
    const { data = {} } = object(objects, 'ConfigMap', 'monitor-config');
    expect(data).toEqual({ ...object(base(), 'ConfigMap', 'monitor-config').data, ROUTES_FILE: '/etc/monitor/routes/routes.yaml' });
    for (const name of ['monitor', 'client']) {
      const spec = podSpec(objects, name);
      const monitor = find([...(spec.initContainers ?? []), ...spec.containers], 'monitor');
      const mount = monitor.volumeMounts?.find((each) => each.mountPath === path.posix.dirname(data.ROUTES_FILE!));
      expect([name, mount?.readOnly]).toEqual([name, true]);
      expect([name, spec.volumes?.find((volume) => volume.name === mount?.name)?.configMap?.name]).toEqual([name, routes?.metadata.name]);
    }
    // the file as the monitor reads it
    const dir = mkdtempSync(path.join(ROOT, '.k8s-routes-'));
    try {
      writeFileSync(path.join(dir, 'routes.yaml'), routes?.data?.['routes.yaml'] ?? '');
      const parsed = parseConfig({ ...data, ROUTES_FILE: path.join(dir, 'routes.yaml') });
      expect(parsed.ok ? parsed.config.routes.map((route) => `${route.name} ${route.prefix} ${route.upstream}`) : parsed.errors).toEqual([
        'catalog /api/catalog/ http://nginx:80',
        'reviews /api/reviews/ http://nginx:80',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // nothing else differs from the base but the two Deployments' volumes and mounts
    const others = (list: K8sObject[]) => list.filter((item) => !['monitor-config', 'monitor', 'client'].includes(item.metadata.name) && !item.metadata.name.startsWith('monitor-routes-'));
    expect(others(objects)).toEqual(others(base()));
  });

  it('the one-pod overlay puts upstream, nginx and the monitor in one pod that talks over localhost', () => {
    const objects = rendered['overlays/one-pod'] ?? [];
    expect(objects.map((item) => item.kind).sort()).toEqual(['ConfigMap', 'ConfigMap', 'Deployment', 'Deployment', 'Deployment']);
    const [pod, ...configMaps] = onePod(objects) as K8sObject[];
    expect(pod?.metadata.name).toBe(POD_NAME);
    const spec = pod?.spec as unknown as PodSpec;
    expect(spec.containers.map((container) => container.name)).toEqual(['monitor', 'nginx', 'upstream']);
    expect(configMaps.map((item) => item.metadata.name)).toEqual(['monitor-config', expect.stringMatching(/^nginx-templates-/)]);
    const nginxEnv = Object.fromEntries((find(spec.containers, 'nginx').env ?? []).map((variable) => [variable.name, variable.value]));
    expect(nginxEnv).toMatchObject({ NGINX_LISTEN: '8000', UPSTREAM_ADDR: '127.0.0.1:3000', NGINX_RESOLVER: '127.0.0.1' });
    expect(nginxEnv).not.toHaveProperty('POD_NAMESPACE');
    expect(configMaps[0]?.data?.HTTP_CLIENT).toBe(`127.0.0.1:${nginxEnv.NGINX_LISTEN}`);
    // podman would publish declared ports on the host: none left, probes by number
    for (const container of spec.containers) expect([container.name, container.ports]).toEqual([container.name, undefined]);
    expect(find(spec.containers, 'monitor').livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 8081 });
  });
});
