/** The Dockerfiles, parsed (dockerfile-ast) and held to the project's rules. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Copy, DockerfileParser, type Instruction } from 'dockerfile-ast';

const ROOT = path.resolve(__dirname, '../..');

describe.each(['monitor', 'upstream'])('%s/Dockerfile', (service) => {
  const dockerfile = DockerfileParser.parse(readFileSync(path.join(ROOT, service, 'Dockerfile'), 'utf8'));
  const froms = dockerfile.getFROMs();
  const instructions = dockerfile.getInstructions();
  const finalStageStart = froms.at(-1)?.getRange().start.line ?? 0;
  const finalStage = instructions.filter((instruction) => instruction.getRange().start.line >= finalStageStart);
  const args = (instruction: Instruction) => instruction.getArgumentsContent() ?? '';

  it('is multi-stage: a build stage and a runtime stage', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(finalStage.some((instruction) => instruction instanceof Copy && instruction.getFromFlag()?.getValue() === 'build')).toBe(true);
  });

  it('bases every stage on a current LTS Node slim Debian image pinned to a major version', () => {
    for (const from of froms) expect(from.getImage()).toMatch(/^node:(24|26)(\.\d+)*-[a-z]+-slim$/);
  });

  it('runs the final stage as the non-root node user', () => {
    const users = finalStage.filter((instruction) => instruction.getKeyword() === 'USER').map(args);
    expect(users.at(-1)).toBe('node');
  });

  it('installs production dependencies only in the final stage, and compiles nothing there', () => {
    const runs = finalStage.filter((instruction) => instruction.getKeyword() === 'RUN').map(args);
    expect(runs.some((run) => /npm ci\b.*--omit=dev/.test(run))).toBe(true);
    for (const run of runs) expect(run).not.toMatch(/npm (install|i)\b(?!.*--omit=dev)|tsc|npm run build/);
  });

  it('starts node directly with an exec-form CMD (npm would swallow SIGTERM)', () => {
    const cmds = dockerfile.getCMDs();
    expect(cmds).toHaveLength(1);
    const cmd = JSON.parse(args(cmds[0]!)) as string[];
    // node, then only node's own flags (heap sizes), then the compiled entry point
    expect(cmd[0]).toBe('node');
    expect(cmd[cmd.length - 1]).toBe(`${service}/dist/main.js`);
    for (const flag of cmd.slice(1, -1)) expect(flag).toMatch(/^--[a-z-]+(=\S+)?$/);
  });

  it('has a HEALTHCHECK that uses node, in exec form', () => {
    const healthchecks = dockerfile.getHEALTHCHECKs();
    expect(healthchecks).toHaveLength(1);
    expect(args(healthchecks[0]!)).toMatch(/CMD \["node", /);
  });
});

/**
 * The current stable nginx line (nginx/docker-nginx tags `stable` as 1.30 since April 2026; 1.28
 * gets no more rebuilds for base-image fixes). Every place that names the image must agree with it.
 */
const NGINX_STABLE = 'nginx:1.30';

describe('nginx/Dockerfile', () => {
  const dockerfile = DockerfileParser.parse(readFileSync(path.join(ROOT, 'nginx/Dockerfile'), 'utf8'));
  const instructions = dockerfile.getInstructions();
  const args = (instruction: Instruction) => instruction.getArgumentsContent() ?? '';

  it(`is the official image on the stable line, ${NGINX_STABLE}, and nothing else`, () => {
    expect(dockerfile.getFROMs().map((from) => args(from))).toEqual([NGINX_STABLE]);
    // the official entrypoint, user switch, signals and command stay as they are (ENV: the template's REVIEWS_ADDR default)
    expect(instructions.map((instruction) => instruction.getKeyword()).sort()).toEqual(['COPY', 'ENV', 'FROM', 'RUN']);
  });

  it('bakes in the template where the official entrypoint renders it, and makes it readable whatever the checkout\'s mode', () => {
    const copies = instructions.filter((instruction) => instruction instanceof Copy).map(args);
    expect(copies).toEqual(['templates/ /etc/nginx/templates/']);
    const runs = instructions.filter((instruction) => instruction.getKeyword() === 'RUN').map(args);
    // root runs the entrypoint without CAP_DAC_OVERRIDE (cap_drop ALL): only the mode can let it read
    expect(runs).toEqual([expect.stringMatching(/^chmod -R u=rwX,go=rX \/etc\/nginx\/templates$/)]);
  });
});

describe(`${NGINX_STABLE} wherever the nginx image is named`, () => {
  const docs = readdirSync(path.join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`);
  const files = ['nginx/Dockerfile', 'docker-compose.yml', 'test/docker/lab.sh', 'README.md', ...docs, 'test/docker/README.md', 'test/infra/compose.test.ts', 'test/infra/nginx.test.ts'];

  it.each(files)('%s names no other nginx tag', (file) => {
    const tags = [...readFileSync(path.join(ROOT, file), 'utf8').matchAll(/\bnginx:(\d+\.\d+[\w.-]*)/g)].map((match) => `nginx:${match[1] ?? ''}`);
    for (const tag of tags) expect([file, tag]).toEqual([file, NGINX_STABLE]);
  });

  it('the lab builds its stand-in under that tag', () => {
    expect(readFileSync(path.join(ROOT, 'test/docker/lab.sh'), 'utf8')).toMatch(new RegExp(`^NGINX_TAG=${NGINX_STABLE}$`, 'm'));
  });

  it('the infra tests render the template with that image\'s environment', () => {
    const nginxTest = readFileSync(path.join(ROOT, 'test/infra/nginx.test.ts'), 'utf8');
    const version = /NGINX_VERSION: '([\d.]+)'/.exec(nginxTest)?.[1] ?? '';
    expect(`nginx:${version.split('.').slice(0, 2).join('.')}`).toBe(NGINX_STABLE);
  });
});

describe('monitor/Dockerfile', () => {
  const dockerfile = DockerfileParser.parse(readFileSync(path.join(ROOT, 'monitor', 'Dockerfile'), 'utf8'));
  const finalStageStart = dockerfile.getFROMs().at(-1)?.getRange().start.line ?? 0;

  it("listens on the container's network: LISTEN_ADDRESS=0.0.0.0 in the final stage (elsewhere the default is loopback)", () => {
    const listen = dockerfile
      .getENVs()
      .filter((env) => env.getRange().start.line >= finalStageStart)
      .flatMap((env) => env.getProperties())
      .filter((property) => property.getName() === 'LISTEN_ADDRESS')
      .map((property) => property.getValue());
    expect(listen).toEqual(['0.0.0.0']);
  });
});
