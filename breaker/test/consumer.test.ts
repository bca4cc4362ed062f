/**
 * The package as a stranger gets it: `npm pack`, installed from the tarball into a fresh project
 * outside the workspace (no network: it has no dependencies), then used from CommonJS, from ESM and
 * from TypeScript through its published types.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const repo = path.resolve(__dirname, '../..');
let work: string;
let project: string;
let tarball: string;

const npm = (args: string[], cwd: string): string =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8', env: { ...process.env, npm_config_offline: 'true' } });

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'breaker-consumer-'));
  const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', work], path.join(repo, 'breaker'))) as { filename: string; files: { path: string }[] }[];
  tarball = path.join(work, packed[0]!.filename);
  project = path.join(work, 'app');
  execFileSync('mkdir', ['-p', project]);
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  npm(['install', tarball], project);
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

it('ships the build, its types, the README and the LICENSE, and nothing else', () => {
  const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n').sort();
  expect(listing).toEqual(expect.arrayContaining(['package/LICENSE', 'package/README.md', 'package/package.json', 'package/dist/index.js', 'package/dist/index.d.ts']));
  for (const entry of listing) expect(entry).toMatch(/^package\/(LICENSE|README\.md|package\.json|dist\/.+\.(js|d\.ts))$/);
});

/** Trips a breaker through the public API and checks the error a caller gets. */
const USE = `
const breaker = new CircuitBreaker({ errorThreshold: 1 });
execute(breaker, () => Promise.reject(new Error('down')))
  .catch(() => execute(breaker, () => 'not called'))
  .catch((error) => {
    console.log([error instanceof CircuitOpenError, error instanceof Error, error.name, error.state, breaker.state].join(' '));
  });
`;

function node(file: string, source: string): string {
  writeFileSync(path.join(project, file), source);
  const run = spawnSync(process.execPath, [file], { cwd: project, encoding: 'utf8' });
  expect(run.stderr).toBe('');
  return run.stdout.trim();
}

it('works from CommonJS, instanceof CircuitOpenError included', () => {
  const out = node('app.cjs', `const { CircuitBreaker, CircuitOpenError, execute } = require('@circuit-breaker-demo/breaker');\n${USE}`);
  expect(out).toBe('true true CircuitOpenError open open');
});

it('works from ESM with named imports, instanceof CircuitOpenError included', () => {
  const out = node('app.mjs', `import { CircuitBreaker, CircuitOpenError, execute } from '@circuit-breaker-demo/breaker';\n${USE}`);
  expect(out).toBe('true true CircuitOpenError open open');
});

it('type-checks a TypeScript consumer against the published types', () => {
  writeFileSync(
    path.join(project, 'app.ts'),
    `import { CircuitBreaker, wrap, type State } from '@circuit-breaker-demo/breaker';
const breaker = new CircuitBreaker({ openWindowMs: 5_000 });
const get = wrap(breaker, async (id: number) => ({ id }));
export const state: State = breaker.state;
export const result: Promise<{ id: number }> = get(1);
// @ts-expect-error the guarded function keeps its parameter types
void get('1');
`,
  );
  writeFileSync(
    path.join(project, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', types: [] }, files: ['app.ts'] }),
  );
  const tsc = require.resolve('typescript/bin/tsc');
  const check = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project, encoding: 'utf8' });
  expect(check.stdout + check.stderr).toBe('');
  expect(check.status).toBe(0);
});
