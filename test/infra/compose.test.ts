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

const ROOT = path.resolve(__dirname, '../..');

interface Service {
  image?: string;
  build?: { context: string; dockerfile?: string };
  init?: boolean;
  restart?: string;
  read_only?: boolean;
  cap_drop?: string[];
  security_opt?: string[];
  depends_on?: Record<string, { condition: string }> | string[];
  env_file?: string | string[];
  healthcheck?: { test: unknown };
  ports?: string[];
  tmpfs?: string[];
}
interface Compose {
  services: Record<string, Service>;
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
    if (service.build && service.init !== true) problems.push(`${name}: a node service needs init: true`);
  }
  return problems;
}

const compose = load();

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
      nginx: { image: 'nginx:1.28', depends_on: { web: { condition: 'service_healthy' } } },
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
  for (const [name, service] of Object.entries(compose.services)) {
    expect([name, service.read_only]).toEqual([name, true]);
    expect([name, service.cap_drop]).toEqual([name, ['ALL']]);
    expect([name, service.security_opt]).toEqual([name, ['no-new-privileges:true']]);
  }
});

it('pins the nginx image to a version', () => {
  expect(compose.services.nginx?.image).toMatch(/^nginx:\d+\.\d+/);
});

const dockerCompose = spawnSync('docker-compose', ['version'], { encoding: 'utf8' }).status === 0;
(dockerCompose ? it : it.skip)('`docker-compose config -q` accepts it', () => {
  expect(() => execFileSync('docker-compose', ['-f', path.join(ROOT, 'docker-compose.yml'), 'config', '-q'], { cwd: ROOT, stdio: 'pipe' })).not.toThrow();
});
