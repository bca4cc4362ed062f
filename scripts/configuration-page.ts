/**
 * docs/configuration.md's table of variables, written from the monitor's own definitions
 * (monitor/src/config.ts, VARIABLES): name, default, meaning, and what is accepted in the words of
 * the error line. The rest of the page is prose, kept by hand around the table's markers.
 *
 *   npm run docs:config    (part of npm run docs)
 *
 * test/infra/configuration-page.test.ts fails when the page is not what this writes.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { VARIABLE_LIST } from '../monitor/src/config';

export const PAGE = path.resolve(__dirname, '../docs/configuration.md');
export const START = '<!-- variables: written by npm run docs:config from monitor/src/config.ts (VARIABLES); edit there -->';
export const END = '<!-- end of variables -->';

/** A table cell: one line, pipes escaped, and `<` outside code spans too (`<token>` would be read as a tag). */
const cell = (text: string): string =>
  text
    .replace(/\s*\n\s*/g, ' ')
    .split('`')
    .map((part, i) => (i % 2 === 0 ? part.replace(/</g, '&lt;') : part))
    .join('`')
    .replace(/\|/g, '\\|');

export function variablesTable(): string {
  const rows = VARIABLE_LIST.map((variable) => {
    const fallback = variable.fallback === undefined || variable.fallback === '' ? 'unset' : `\`${variable.fallback}\``;
    const accepted = `${variable.parser.accepts}${variable.note === undefined ? '' : `; ${variable.note}`}`;
    return `| \`${variable.name}\` | ${cell(variable.default ?? fallback)} | ${cell(variable.meaning)} | ${cell(accepted)} |`;
  });
  return ['| variable | default | meaning | accepted |', '|---|---|---|---|', ...rows].join('\n');
}

/** The page with its table as the definitions say. */
export function withTable(page: string): string {
  const start = page.indexOf(START);
  const end = page.indexOf(END);
  if (start < 0 || end < start) throw new Error(`${PAGE}: the markers ${START} and ${END} are missing`);
  return `${page.slice(0, start + START.length)}\n${variablesTable()}\n${page.slice(end)}`;
}

if (require.main === module) {
  const page = readFileSync(PAGE, 'utf8');
  const next = withTable(page);
  writeFileSync(PAGE, next);
  process.stdout.write(`${path.relative(process.cwd(), PAGE)}: ${next === page ? 'up to date' : 'written'} (${VARIABLE_LIST.length} variables)\n`);
}
