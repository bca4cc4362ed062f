/**
 * docker-compose.yml checked without a Docker engine: the compose-spec JSON schema (the copy
 * dclint ships), the project's own rules, and `docker-compose config -q` when that binary exists.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { DockerfileParser } from 'dockerfile-ast';
import { answeredNames, answersHost } from '../../monitor/src/admin/host-check';
import { parseConfig } from '../../monitor/src/config';
import { describeWithTool } from '../support/needs-tool';

const ROOT = path.resolve(__dirname, '../..');

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string };
  init?: boolean;
  restart?: string;
  read_only?: boolean;
  cap_drop?: string[];
  cap_add?: string[];
  security_opt?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  env_file?: string | string[];
  environment?: Record<string, string> | string[];
  healthcheck?: { test: unknown };
  ports?: string[];
  tmpfs?: string[];
  volumes?: string[];
  profiles?: string[];
  command?: string[];
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

function load(): Compose {
  return parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as Compose;
}

/** Whether a service has a healthcheck, in the compose file or in its image's Dockerfile. */
function hasHealthcheck(service: Service): boolean {
  if (service.healthcheck) return true;
  if (!service.build) return false;
  const dockerfile = path.join(ROOT, service.build.context, service.build.dockerfile ?? 'Dockerfile');
  return DockerfileParser.parse(readFileSync(dockerfile, 'utf8')).getHEALTHCHECKs().length > 0;
}

/** The images a built service's Dockerfile starts from (none for a service that is not built). */
function baseImages(service: Service): string[] {
  if (!service.build) return [];
  const dockerfile = path.join(ROOT, service.build.context, service.build.dockerfile ?? 'Dockerfile');
  return DockerfileParser.parse(readFileSync(dockerfile, 'utf8')).getFROMs().map((from) => from.getImage() ?? '');
}

/** The project's rules; returns one line per broken rule. */
export function projectRuleViolations(compose: Compose): string[] {
  const problems: string[] = [];
  for (const [name, service] of Object.entries(compose.services)) {
    const dependsOn = Array.isArray(service.depends_on)
      ? Object.fromEntries(service.depends_on.map((target) => [target, { condition: 'service_started' }]))
      : (service.depends_on ?? {});
    for (const [target, { condition }] of Object.entries(dependsOn)) {
      const dependency = compose.services[target];
      if (!dependency) problems.push(`${name} depends on ${target}, which is not a service`);
      else if (condition === 'service_healthy' && !hasHealthcheck(dependency)) {
        problems.push(`${name} waits for ${target} to be healthy, but ${target} has no healthcheck`);
      }
    }
    for (const file of [service.env_file ?? []].flat()) {
      if (!existsSync(path.join(ROOT, file))) problems.push(`${name}: env_file ${file} does not exist`);
    }
    const node = baseImages(service).some((image) => image.startsWith('node:'));
    if (node && service.init !== true) problems.push(`${name}: a node service needs init: true`);
  }
  return problems;
}

/** `environment` as a map, from either of its compose forms. */
function environmentOf(service: Service): Record<string, string> {
  const { environment = {} } = service;
  if (!Array.isArray(environment)) return environment;
  return Object.fromEntries(environment.map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)]));
}

/**
 * Published ports whose container side is not a `${VAR...}` that the service's `environment` sets
 * to the very same expression: one line per port the process may not be listening on.
 */
export function portVariableMismatches(service: Service): string[] {
  const environment = environmentOf(service);
  return (service.ports ?? []).flatMap((mapping) => {
    const container = /(\$\{(\w+)[^}]*\}|[^:]+)$/.exec(mapping);
    const [expression = '', variable] = [container?.[1], container?.[2]];
    if (variable === undefined) return [`${mapping}: container port ${expression} is not a variable the process is given`];
    if (environment[variable] !== expression) {
      return [`${mapping}: environment ${variable} is ${JSON.stringify(environment[variable])}, not "${expression}"`];
    }
    return [];
  });
}

const compose = load();

/** The variables of a dotenv file (its `NAME=value` lines). */
function dotenv(file: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(path.join(ROOT, file), 'utf8')
      .split('\n')
      .filter((line) => /^[A-Z_]+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );
}

/** `${VAR}` and `${VAR:-default}` as compose fills them in from the shell's and `.env`'s variables. */
const substitute = (value: string, variables: Record<string, string | undefined>): string =>
  value.replace(/\$\{(\w+)(?::-([^}]*))?\}/g, (_match, name: string, fallback: string | undefined) => variables[name] || (fallback ?? ''));

/** A service's environment in its container: its env_file, then its `environment` (filled in) over it. */
function containerEnvironment(service: Service, shell: Record<string, string> = {}): Record<string, string> {
  const variables = { ...dotenv('.env'), ...shell };
  const fromFiles = Object.assign({}, ...[service.env_file ?? []].flat().map((file) => dotenv(file))) as Record<string, string>;
  return { ...fromFiles, ...Object.fromEntries(Object.entries(environmentOf(service)).map(([name, value]) => [name, substitute(value, variables)])) };
}

/** The static targets of a Prometheus config file. */
function scrapeTargets(file: string): string[] {
  const config = parse(readFileSync(path.join(ROOT, file), 'utf8')) as { scrape_configs: { static_configs?: { targets: string[] }[] }[] };
  return config.scrape_configs.flatMap((job) => (job.static_configs ?? []).flatMap((group) => group.targets));
}

/**
 * Scrape targets that a monitor with this environment would answer with 421 (SPEC "Admin API: who
 * may ask"), one line each. Its container's host name is Docker's default, the container's ID.
 */
export function refusedScrapeTargets(environment: Record<string, string>, prometheusFiles: readonly string[]): string[] {
  const parsed = parseConfig(environment);
  if (!parsed.ok) return [...parsed.errors];
  const names = answeredNames(parsed.config.adminAllowedHosts, 'a24adfde33a6');
  return prometheusFiles.flatMap((file) => scrapeTargets(file).filter((target) => !answersHost(target, names)).map((target) => `${file}: ${target} gets 421 from the monitor`));
}

const PROMETHEUS_FILES = ['prometheus/prometheus.yml', 'test/docker/prometheus.test.yml'];

it('is valid against the compose-spec JSON schema', () => {
  // its $schema names draft-07 by an https URL ajv does not know; the draft itself is ajv's default
  const { $schema: _draft, ...schema } = JSON.parse(
    readFileSync(path.join(ROOT, 'node_modules/dclint/schemas/compose.schema.json'), 'utf8'),
  ) as Record<string, unknown>;
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  const validate = ajv.compile(schema);
  const valid = validate(compose);
  expect(validate.errors ?? []).toEqual([]);
  expect(valid).toBe(true);
});

it('keeps the project rules: depends_on targets exist, env files exist, init on node services', () => {
  expect(projectRuleViolations(compose)).toEqual([]);
});

it('the rules catch what they are meant to catch', () => {
  const broken: Compose = {
    services: {
      monitor: { build: { context: '.', dockerfile: 'monitor/Dockerfile' }, depends_on: { ghost: { condition: 'service_started' } }, env_file: 'missing.env' },
      nginx: { build: { context: 'nginx' }, depends_on: { web: { condition: 'service_healthy' } } },
      web: { image: 'example' },
    },
  };
  expect(projectRuleViolations(broken)).toEqual([
    'monitor depends on ghost, which is not a service',
    'monitor: env_file missing.env does not exist',
    'monitor: a node service needs init: true',
    'nginx waits for web to be healthy, but web has no healthcheck',
  ]);
});

it('does not stop the monitor from starting or running while nginx is down', () => {
  const { monitor } = compose.services;
  expect(monitor?.depends_on).toEqual({ nginx: { condition: 'service_started' } });
  expect(monitor?.restart).toBe('unless-stopped');
});

it('publishes ports on 127.0.0.1 only', () => {
  const ports = Object.values(compose.services).flatMap((service) => service.ports ?? []);
  expect(ports.length).toBeGreaterThanOrEqual(3);
  for (const mapping of ports) expect(mapping).toMatch(/^127\.0\.0\.1:/);
});

it('hardens every service: read-only root, no capabilities beyond what it needs, no-new-privileges', () => {
  // the official nginx image's master binds port 80, chowns its temp dirs and switches to the nginx user
  const needed: Record<string, string[]> = { nginx: ['CHOWN', 'NET_BIND_SERVICE', 'SETGID', 'SETUID'] };
  for (const [name, service] of Object.entries(compose.services)) {
    expect([name, service.read_only]).toEqual([name, true]);
    expect([name, service.cap_drop]).toEqual([name, ['ALL']]);
    expect([name, service.cap_add]).toEqual([name, needed[name]]);
    expect([name, service.security_opt]).toEqual([name, ['no-new-privileges:true']]);
  }
});

it('publishes the monitor\'s ports from the same variables the monitor listens on', () => {
  const { monitor } = compose.services;
  expect(monitor?.ports).toHaveLength(2);
  expect(portVariableMismatches(monitor ?? {})).toEqual([]);
  expect(environmentOf(monitor ?? {})).toMatchObject({ PROXY_PORT: '${PROXY_PORT:-8080}', ADMIN_PORT: '${ADMIN_PORT:-8081}' });
});

it("the monitor's admin port answers the names Prometheus scrapes it by (the shipped and the compose suite's config), whatever .env adds", () => {
  const { monitor = {} } = compose.services;
  for (const file of PROMETHEUS_FILES) expect([file, scrapeTargets(file)]).toEqual([file, ['monitor:8081']]);
  expect(containerEnvironment(monitor).ADMIN_ALLOWED_HOSTS).toBe('monitor,');
  expect(refusedScrapeTargets(containerEnvironment(monitor), PROMETHEUS_FILES)).toEqual([]);
  expect(containerEnvironment(monitor, { ADMIN_ALLOWED_HOSTS: 'dash.example' }).ADMIN_ALLOWED_HOSTS).toBe('monitor,dash.example');
  expect(refusedScrapeTargets(containerEnvironment(monitor, { ADMIN_ALLOWED_HOSTS: 'dash.example' }), PROMETHEUS_FILES)).toEqual([]);
});

it('the scrape rule catches a monitor that does not answer its service name', () => {
  const { ADMIN_ALLOWED_HOSTS: _allowed, ...without } = containerEnvironment(compose.services.monitor ?? {});
  expect(refusedScrapeTargets(without, PROMETHEUS_FILES)).toEqual(PROMETHEUS_FILES.map((file) => `${file}: monitor:8081 gets 421 from the monitor`));
  expect(refusedScrapeTargets({ ...without, ADMIN_ALLOWED_HOSTS: 'monitor:8081' }, PROMETHEUS_FILES)).toEqual([expect.stringMatching(/^ADMIN_ALLOWED_HOSTS="monitor:8081" is not valid/)]);
});

it('the port rule catches a port the process is not given', () => {
  const monitor: Service = {
    environment: ['PROXY_PORT=${PROXY_PORT:-9090}'],
    ports: ['127.0.0.1:${PROXY_PORT:-8080}:${PROXY_PORT:-8080}', '127.0.0.1:${ADMIN_PORT:-8081}:${ADMIN_PORT:-8081}', '127.0.0.1:8082:8082'],
  };
  expect(portVariableMismatches(monitor)).toEqual([
    '127.0.0.1:${PROXY_PORT:-8080}:${PROXY_PORT:-8080}: environment PROXY_PORT is "${PROXY_PORT:-9090}", not "${PROXY_PORT:-8080}"',
    '127.0.0.1:${ADMIN_PORT:-8081}:${ADMIN_PORT:-8081}: environment ADMIN_PORT is undefined, not "${ADMIN_PORT:-8081}"',
    '127.0.0.1:8082:8082: container port 8082 is not a variable the process is given',
  ]);
});

/**
 * Services that listen below 1024 inside their container without NET_BIND_SERVICE: they bind only
 * because Docker 20.10+ sets net.ipv4.ip_unprivileged_port_start=0 in the container's network
 * namespace (older engines, other runtimes and host networking do not). One line per such service.
 */
export function privilegedPortsWithoutCapability(compose: Compose, listenPorts: Record<string, number>): string[] {
  return Object.entries(listenPorts).flatMap(([name, port]) => {
    const capabilities = compose.services[name]?.cap_add ?? [];
    return port < 1024 && !capabilities.includes('NET_BIND_SERVICE') ? [`${name} listens on port ${port} without NET_BIND_SERVICE`] : [];
  });
}

describe('nginx', () => {
  const nginx = compose.services.nginx ?? {};

  it('is built from nginx/Dockerfile (the pinned official image with the template baked in), not a bind mount', () => {
    expect(nginx.build).toEqual({ context: 'nginx' });
    expect(nginx.image).toBeUndefined();
    expect(nginx.volumes).toBeUndefined();
  });

  it('gets NET_BIND_SERVICE for the port it listens on inside the container', () => {
    const port = Number(environmentOf(nginx).NGINX_LISTEN);
    expect(port).toBe(80);
    expect(nginx.ports).toEqual([`127.0.0.1:\${NGINX_PORT:-8000}:${port}`]);
    expect(privilegedPortsWithoutCapability(compose, { nginx: port })).toEqual([]);
  });

  it('the port rule catches a privileged port without the capability', () => {
    const broken: Compose = { services: { nginx: { cap_add: ['CHOWN', 'SETGID', 'SETUID'] }, web: { cap_add: ['NET_BIND_SERVICE'] } } };
    expect(privilegedPortsWithoutCapability(broken, { nginx: 80, web: 443 })).toEqual(['nginx listens on port 80 without NET_BIND_SERVICE']);
    expect(privilegedPortsWithoutCapability(broken, { nginx: 8080 })).toEqual([]);
  });

  it('has a tmpfs on /run, where nginx 1.28 and newer write nginx.pid (on Debian /var/run is only a link to it)', () => {
    expect(nginx.tmpfs).toContain('/run');
    expect(nginx.tmpfs).not.toContain('/var/run');
    expect(nginx.tmpfs).toEqual(expect.arrayContaining(['/etc/nginx/conf.d', '/var/cache/nginx', '/tmp']));
  });
});

describe('the observability profile', () => {
  const prometheus = compose.services.prometheus ?? {};

  it('adds Prometheus only with --profile observability: the default services have no profile', () => {
    expect(prometheus.profiles).toEqual(['observability']);
    for (const [name, service] of Object.entries(compose.services)) {
      if (name !== 'prometheus') expect([name, service.profiles]).toEqual([name, undefined]);
    }
  });

  it('runs the official Prometheus image pinned to a release', () => {
    expect(prometheus.image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
    expect(prometheus.build).toBeUndefined();
  });

  it('mounts the shipped scrape config and rules read-only where the config names them', () => {
    // and, with a read-only root, the data directory on a named volume as the one writable place
    expect(prometheus.volumes).toEqual([
      './prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro',
      './prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro',
      'prometheus-data:/prometheus',
    ]);
    expect(compose.volumes).toEqual({ 'prometheus-data': null });
    expect(prometheus.command).toEqual(expect.arrayContaining(['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus']));
  });

  it('publishes its UI and API on 127.0.0.1 only, and scrapes the monitor, which starts first', () => {
    expect(prometheus.ports).toEqual(['127.0.0.1:${PROMETHEUS_PORT:-9090}:9090']);
    expect(prometheus.depends_on).toEqual({ monitor: { condition: 'service_started' } });
  });
});

const dockerCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;
const NO_DOCKER_COMPOSE = 'docker-compose is not installed: `npm run setup:test` installs Debian\'s docker-compose';
const withDockerCompose = (name: string, tests: () => void): void => describeWithTool('docker-compose', dockerCompose, NO_DOCKER_COMPOSE, name, tests);

/** A port of `docker-compose config` output as `host_ip:published:target`: 1.29 prints strings, v2 objects. */
function resolvedPort(port: string | { host_ip?: string; published?: string | number; target: number }): string {
  if (typeof port === 'string') return port.replace(/\/tcp$/, '');
  return `${port.host_ip ?? ''}:${String(port.published ?? '')}:${port.target}`;
}

/** A volume of `docker-compose config` output as `source:target[:ro]`: 1.29 prints strings (`:rw` too), v2 objects. */
function resolvedVolume(volume: string | { source: string; target: string; read_only?: boolean }): string {
  if (typeof volume === 'string') return volume.replace(/:rw$/, '');
  return `${volume.source}:${volume.target}${volume.read_only ? ':ro' : ''}`;
}

withDockerCompose('docker-compose config', () => {
  const config = (args: string[], env: Record<string, string> = {}, global: string[] = []): string =>
    execFileSync('docker-compose', ['-f', path.join(ROOT, 'docker-compose.yml'), ...global, 'config', ...args], {
      cwd: ROOT,
      stdio: 'pipe',
      encoding: 'utf8',
      env: { ...process.env, ...env },
    });

  it('`docker-compose config -q` accepts it, with and without --profile observability', () => {
    expect(() => config(['-q'])).not.toThrow();
    expect(() => config(['-q'], {}, ['--profile', 'observability'])).not.toThrow();
  });

  it('the routes demo (docker-compose.routes.yml) adds reviews behind nginx and gives the monitor its routes file, hardened like the rest', () => {
    const { services } = parse(config([], {}, ['-f', path.join(ROOT, 'docker-compose.routes.yml')])) as Compose;
    expect(Object.keys(services).filter((name) => name !== 'prometheus').sort()).toEqual(['monitor', 'nginx', 'reviews', 'upstream']);
    expect(services.reviews).toMatchObject({ read_only: true, cap_drop: ['ALL'], security_opt: ['no-new-privileges:true'], init: true });
    expect(services.nginx?.environment).toMatchObject({ REVIEWS_ADDR: 'reviews:3000', UPSTREAM_ADDR: 'upstream:3000' });
    expect(services.monitor?.environment).toMatchObject({ ROUTES_FILE: '/app/routes.yaml' });
    const volumes = (services.monitor?.volumes ?? []) as (string | { source: string; target: string; read_only?: boolean })[];
    expect(volumes.map(resolvedVolume)).toEqual([`${path.join(ROOT, 'monitor/routes/demo.yaml')}:/app/routes.yaml:ro`]);
  });

  it('without the profile, Prometheus is not among the services `docker compose up` starts', () => {
    // docker-compose 1.29 lists every service and keeps `profiles`; compose v2 leaves profiled ones out
    const { services } = parse(config([])) as Compose;
    expect(Object.keys(services).filter((name) => name !== 'prometheus').sort()).toEqual(['monitor', 'nginx', 'upstream']);
    if (services.prometheus) expect(services.prometheus.profiles).toEqual(['observability']);
  });

  it('with --profile observability: Prometheus with its files resolved and read-only, on 127.0.0.1:PROMETHEUS_PORT', () => {
    const { prometheus } = (parse(config([], { PROMETHEUS_PORT: '9191' }, ['--profile', 'observability'])) as Compose).services;
    expect(prometheus?.ports?.map(resolvedPort)).toEqual(['127.0.0.1:9191:9090']);
    const volumes = (prometheus?.volumes ?? []) as (string | { source: string; target: string; read_only?: boolean })[];
    expect(volumes.map(resolvedVolume)).toEqual([
      `${path.join(ROOT, 'prometheus/prometheus.yml')}:/etc/prometheus/prometheus.yml:ro`,
      `${path.join(ROOT, 'prometheus/alerts.yml')}:/etc/prometheus/alerts.yml:ro`,
      'prometheus-data:/prometheus',
    ]);
    expect(prometheus).toMatchObject({ read_only: true, cap_drop: ['ALL'], security_opt: ['no-new-privileges:true'] });
  });

  it('ADMIN_ALLOWED_HOSTS resolves to monitor and what the shell adds, a value the monitor accepts', () => {
    for (const [shell, expected] of [
      [{}, 'monitor,'],
      [{ ADMIN_ALLOWED_HOSTS: 'dash.example,other' }, 'monitor,dash.example,other'],
    ] as const) {
      const { monitor } = (parse(config([], shell)) as Compose).services;
      const environment = environmentOf(monitor ?? {});
      expect(environment.ADMIN_ALLOWED_HOSTS).toBe(expected);
      expect(refusedScrapeTargets(environment, PROMETHEUS_FILES)).toEqual([]);
    }
  });

  it('PROXY_PORT and ADMIN_PORT from the shell move the published ports and the monitor\'s listeners together', () => {
    const { monitor } = (parse(config([], { PROXY_PORT: '9090', ADMIN_PORT: '9091' })) as Compose).services;
    expect(environmentOf(monitor ?? {})).toMatchObject({ PROXY_PORT: '9090', ADMIN_PORT: '9091' });
    expect(monitor?.ports?.map(resolvedPort)).toEqual(['127.0.0.1:9090:9090', '127.0.0.1:9091:9091']);
  });
});
