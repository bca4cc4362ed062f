/**
 * One source of truth for the variables: monitor/src/config.ts's VARIABLES. The configuration page
 * is what `npm run docs:config` writes from it, every variable the monitor reads is in it, and
 * `.env` agrees with it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describeConfig, parseConfig, VARIABLE_LIST, VARIABLES } from '../../monitor/src/config';
import { END, PAGE, START, variablesTable, withTable } from '../../scripts/configuration-page';

const ROOT = path.resolve(__dirname, '../..');
const ENV_FILE = path.join(ROOT, '.env');

it('docs/configuration.md is what npm run docs:config writes now', () => {
  const page = readFileSync(PAGE, 'utf8');
  expect(page).toContain(START);
  expect(page).toContain(END);
  // a stale page fails here: run `npm run docs:config`
  expect(page).toBe(withTable(page));
});

it('the table has one row per variable, with its default and the words of its error line', () => {
  const rows = variablesTable().split('\n').slice(2);
  expect(rows.map((row) => /^\| `([A-Z_]+)` \|/.exec(row)?.[1])).toEqual(VARIABLE_LIST.map((variable) => variable.name));
  const row = (name: string) => rows.find((line) => line.startsWith(`| \`${name}\` |`))!.split(' | ');
  expect(row('ERROR_THRESHOLD')[1]).toBe('`3`');
  expect(row('ERROR_THRESHOLD')[3]).toBe(`${VARIABLES.ERROR_THRESHOLD.parser.accepts} |`);
  // the page's accepted values are the error line's
  const bad = parseConfig({ HTTP_CLIENT: 'nginx:80', ERROR_THRESHOLD: '0' });
  expect(bad.ok ? [] : bad.errors).toEqual([`ERROR_THRESHOLD="0" is not valid: expected ${VARIABLES.ERROR_THRESHOLD.parser.accepts}`]);
});

it('every default is a value its own parser accepts (the monitor parses it like a given value)', () => {
  for (const variable of VARIABLE_LIST) {
    if (variable.fallback === undefined) continue;
    expect([variable.name, variable.parser.parse(variable.fallback) !== undefined]).toEqual([variable.name, true]);
  }
});

it('every variable the monitor describes is defined once, and the monitor reads every variable that is not compose\'s', () => {
  const config = parseConfig({
    HTTP_CLIENT: 'nginx:80',
    ALERT_WEBHOOK_URL: 'http://127.0.0.1:9099/hook',
    ALERT_WEBHOOK_AUTHORIZATION: 'Bearer abc',
    ADMIN_TOKEN: 'a-token-of-sixteen-chars',
  });
  if (!config.ok) throw new Error(config.errors.join('\n'));
  const described = Object.keys(describeConfig(config.config)).sort();
  const monitorVariables = VARIABLE_LIST.filter((variable) => variable.scope !== 'compose').map((variable) => variable.name);
  expect(described).toEqual([...monitorVariables].sort());
});

/** `.env`'s assignments and the variables its comments name. */
function envFile(): { assignments: Map<string, string>; commented: string[] } {
  const assignments = new Map<string, string>();
  const commented: string[] = [];
  for (const line of readFileSync(ENV_FILE, 'utf8').split('\n')) {
    const assignment = /^([A-Z_]+)=(.*)$/.exec(line);
    if (assignment) assignments.set(assignment[1]!, assignment[2]!);
    const comment = /^#\s*([A-Z][A-Z_]+[A-Z])(?:=|:)/.exec(line);
    if (comment) commented.push(comment[1]!);
  }
  return { assignments, commented };
}

it('.env sets known variables to their defaults (HTTP_CLIENT to the one the page names), and its comments name known variables', () => {
  const { assignments, commented } = envFile();
  expect(assignments.size).toBeGreaterThan(10);
  const names = new Set(VARIABLE_LIST.map((variable) => variable.name));
  for (const [name, value] of assignments) {
    expect([name, names.has(name)]).toEqual([name, true]);
    const variable = VARIABLE_LIST.find((each) => each.name === name)!;
    expect([name, variable.parser.parse(value.trim()) !== undefined]).toEqual([name, true]);
    if (variable.fallback !== undefined) expect([name, value]).toEqual([name, variable.fallback]);
    else expect([name, variable.default]).toEqual([name, expect.stringContaining(`\`${value}\``)]);
  }
  for (const name of commented) expect([name, names.has(name)]).toEqual([name, true]);
  expect(readFileSync(ENV_FILE, 'utf8')).toContain('docs/configuration.md');
});
