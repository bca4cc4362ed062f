/**
 * The examples, run as a user would run them (ts-node, importing the package by its name, which
 * resolves to its build), and held to the output their closing comment says they print.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const repo = path.resolve(__dirname, '../..');
const examples = path.join(repo, 'breaker/examples');

beforeAll(() => {
  const tsc = require.resolve('typescript/bin/tsc');
  const build = spawnSync(process.execPath, [tsc, '-p', path.join(repo, 'breaker/tsconfig.build.json')], { encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`breaker build failed:\n${build.stdout}${build.stderr}`);
}, 60_000);

const files = readdirSync(examples).filter((name) => name.endsWith('.ts'));

it('has the three styles of the write-ups, the concurrency limit and the registry', () => {
  expect(files.sort()).toEqual(['decorator.ts', 'execute.ts', 'limiter.ts', 'registry.ts', 'wrap-axios.ts']);
});

it.each(files)('%s prints what its comment says', (file) => {
  const source = readFileSync(path.join(examples, file), 'utf8');
  const promised = /\/\* prints:\n([\s\S]*?)\*\//.exec(source)?.[1];
  expect(promised).toBeDefined();
  const run = spawnSync(process.execPath, ['-r', 'ts-node/register', path.join(examples, file)], {
    cwd: repo,
    encoding: 'utf8',
    env: { ...process.env, TS_NODE_PROJECT: path.join(repo, 'tsconfig.json'), TS_NODE_TRANSPILE_ONLY: 'true' },
    timeout: 30_000,
  });
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
  expect(run.stdout).toBe(promised);
}, 40_000);

it.each(files)('the README shows what %s prints', (file) => {
  const readme = readFileSync(path.join(repo, 'breaker/README.md'), 'utf8');
  const source = readFileSync(path.join(examples, file), 'utf8');
  const shown = new RegExp(`<!-- output: ${file.replace('.', '\\.')} -->\n\`\`\`text\n([\\s\\S]*?)\`\`\``).exec(readme)?.[1];
  expect(shown).toBeDefined();
  expect(shown).toBe(/\/\* prints:\n([\s\S]*?)\*\//.exec(source)?.[1]);
});

