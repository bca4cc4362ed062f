/**
 * The package as a stranger gets it: `npm pack`, installed from the tarball into a fresh project
 * outside the workspace (no network: it has no dependencies), then used from CommonJS, from ESM and
 * from TypeScript through its published types; the tarball held to the ecosystem's checks (publint,
 * arethetypeswrong) and to a size budget.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildSync } from 'esbuild';

const repo = path.resolve(__dirname, '../..');
let work: string;
let project: string;
let tarball: string;
let packedBytes: number;

const npm = (args: string[], cwd: string): string =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { cwd, encoding: 'utf8', env: { ...process.env, npm_config_offline: 'true' } });

beforeAll(() => {
  work = mkdtempSync(path.join(tmpdir(), 'breaker-consumer-'));
  const packed = JSON.parse(npm(['pack', '--json', '--pack-destination', work], path.join(repo, 'breaker'))) as { filename: string; size: number }[];
  tarball = path.join(work, packed[0]!.filename);
  packedBytes = packed[0]!.size;
  project = path.join(work, 'app');
  execFileSync('mkdir', ['-p', project]);
  writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  npm(['install', tarball], project);
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

it('ships the build, its types, the README, the CHANGELOG and the LICENSE, and nothing else', () => {
  const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n').sort();
  expect(listing).toEqual(
    expect.arrayContaining(['package/LICENSE', 'package/README.md', 'package/CHANGELOG.md', 'package/package.json', 'package/dist/index.js', 'package/dist/index.d.ts']),
  );
  for (const entry of listing) expect(entry).toMatch(/^package\/(LICENSE|README\.md|CHANGELOG\.md|package\.json|dist\/.+\.(js|d\.ts))$/);
});

it('passes publint, strict, with no message at all (suggestions included)', () => {
  // publint is ESM only: a child Node runs it on the tarball's bytes and prints its messages
  const script = `
import { publint } from 'publint';
import { formatMessage } from 'publint/utils';
import { readFileSync } from 'node:fs';
const bytes = readFileSync(process.argv[1]);
const { messages, pkg } = await publint({ pack: { tarball: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) }, strict: true, level: 'suggestion' });
console.log(JSON.stringify(messages.map((message) => \`\${message.type}: \${formatMessage(message, pkg)}\`)));
`;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script, tarball], { cwd: repo, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  expect(run.stderr).toBe('');
  expect(JSON.parse(run.stdout)).toEqual([]);
});

it('passes arethetypeswrong: types found and no problem in every resolution mode (node10, node16 from CJS and ESM, bundler)', () => {
  const attw = path.join(path.dirname(require.resolve('@arethetypeswrong/cli/package.json')), 'dist/index.js');
  const run = spawnSync(process.execPath, [attw, '--format', 'json', tarball], { cwd: work, encoding: 'utf8' });
  const report = JSON.parse(run.stdout) as {
    problems: Record<string, unknown>;
    analysis: { entrypoints: Record<string, { resolutions: Record<string, { resolution?: { fileName: string; isTypeScript: boolean } }> }> };
  };
  expect(report.problems).toEqual({});
  expect(run.status).toBe(0);
  for (const subpath of ['.', './package.json']) {
    const modes = report.analysis.entrypoints[subpath]!.resolutions;
    expect(Object.keys(modes).sort()).toEqual(['bundler', 'node10', 'node16-cjs', 'node16-esm']);
    for (const mode of Object.values(modes)) expect(mode.resolution).toBeDefined();
  }
  const types = Object.values(report.analysis.entrypoints['.']!.resolutions).map((mode) => mode.resolution!.fileName);
  expect(new Set(types)).toEqual(new Set(['/node_modules/@circuit-breaker-demo/breaker/dist/index.d.ts']));
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

/**
 * One build, CommonJS, which ESM importers load through Node's CommonJS interop: one module instance,
 * so one copy of each class, whichever way a process loads it (no dual-package hazard). Each app
 * loads it both ways and prints whether the classes are the same and an error from one is an
 * instance of the other's class.
 */
const ONE_COPY = (load: string) => `${load}
const breaker = new cjs.CircuitBreaker({ errorThreshold: 1 });
cjs.execute(breaker, () => Promise.reject(new Error('down')))
  .catch(() => cjs.execute(breaker, () => 'not called'))
  .catch((error) => {
    console.log([error instanceof esm.CircuitOpenError, esm.CircuitOpenError === cjs.CircuitOpenError, esm.CircuitBreaker === cjs.CircuitBreaker, esm.TimeoutError === cjs.TimeoutError].join(' '));
  });
`;

it('has one copy of each class: require() from ESM and import() agree, instanceof CircuitOpenError included', () => {
  const out = node(
    'one-copy.mjs',
    ONE_COPY(`import { createRequire } from 'node:module';
const cjs = createRequire(import.meta.url)('@circuit-breaker-demo/breaker');
const esm = await import('@circuit-breaker-demo/breaker');`),
  );
  expect(out).toBe('true true true true');
});

it('has one copy of each class: import() from CommonJS and require() agree, instanceof CircuitOpenError included', () => {
  const out = node('one-copy.cjs', `(async () => {${ONE_COPY(`const cjs = require('@circuit-breaker-demo/breaker');
const esm = await import('@circuit-breaker-demo/breaker');`)}})();`);
  expect(out).toBe('true true true true');
});

/**
 * The budget, a little above the sizes measured when it was set (packed 39,402 B; the entry bundled
 * and minified 27,376 B, 8,073 B gzipped): headroom for a fix or a small feature, not for a
 * dependency, source maps or sources in the tarball, or a module pulled in twice.
 */
const BUDGET = { packedBytes: 45_000, minifiedBytes: 30_000, gzipBytes: 9_000 };

it(`keeps its packed size and the minified size of its entry under budget (${JSON.stringify(BUDGET)})`, () => {
  const bundle = buildSync({
    stdin: { contents: "export * from '@circuit-breaker-demo/breaker';", resolveDir: project, loader: 'js' },
    bundle: true,
    minify: true,
    write: false,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    logLevel: 'silent',
  });
  const minified = bundle.outputFiles[0]!.contents;
  const sizes = { packedBytes, minifiedBytes: minified.length, gzipBytes: gzipSync(minified).length };
  process.stdout.write(`breaker package sizes: ${JSON.stringify(sizes)}, budget ${JSON.stringify(BUDGET)}\n`);
  expect(sizes.packedBytes).toBeLessThanOrEqual(BUDGET.packedBytes);
  expect(sizes.minifiedBytes).toBeLessThanOrEqual(BUDGET.minifiedBytes);
  expect(sizes.gzipBytes).toBeLessThanOrEqual(BUDGET.gzipBytes);
});

it('says it has no side effects (sideEffects: false), and its modules have none at their top level', () => {
  const manifest = JSON.parse(readFileSync(path.join(project, 'node_modules/@circuit-breaker-demo/breaker/package.json'), 'utf8')) as { sideEffects?: unknown };
  expect(manifest.sideEffects).toBe(false);
  // The sources, away from the package.json that says so, imported for their side effects alone:
  // esbuild keeps every top-level statement it cannot prove pure (a /* @__PURE__ */ counts).
  const copy = path.join(work, 'src');
  cpSync(path.join(repo, 'breaker/src'), copy, { recursive: true });
  const bundle = buildSync({ stdin: { contents: "import './index.ts';", resolveDir: copy, loader: 'ts' }, bundle: true, minify: true, write: false, format: 'esm', platform: 'node', logLevel: 'silent' });
  expect(bundle.outputFiles[0]!.text).toBe('');
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
