/**
 * What every part produces: tables, targets with a verdict, notes and raw data, written to
 * `bench/results/<part>.json`, printed to the console, and gathered into `bench/results/latest.md`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
export const RESULTS_DIR = path.join(ROOT, 'bench/results');

export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly string[])[];
}

export type Verdict = 'met' | 'missed' | 'not measured';

export interface TargetResult {
  readonly target: string;
  readonly measured: string;
  readonly verdict: Verdict;
  /** by how much it was missed or met, why, and what would close a gap */
  readonly detail: string;
}

export interface Machine {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly node: string;
  readonly os: string;
  /** 1-minute load average when the part started: a hint of how noisy the run was */
  readonly loadAverage: number;
  readonly commit: string;
}

export interface PartResult {
  readonly part: 'breaker' | 'proxy' | 'footprint' | 'detection' | 'webhook' | 'peers';
  readonly title: string;
  readonly command: string;
  readonly startedAt: string;
  readonly durationSeconds: number;
  readonly machine: Machine;
  readonly method: readonly string[];
  readonly tables: readonly Table[];
  readonly targets: readonly TargetResult[];
  readonly notes: readonly string[];
  /** steps that failed (`run: failed while step: error`); what the other steps measured is still reported */
  readonly failures?: readonly string[];
  readonly data: unknown;
}

export function machine(): Machine {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'breaker/src', 'monitor/src', 'upstream/src', 'nginx'], { cwd: ROOT, encoding: 'utf8' }).trim();
    if (dirty !== '') commit += ' (+ uncommitted changes in monitor/upstream/nginx)';
  } catch {
    // not a git checkout: the commit is simply unknown
  }
  return {
    cpus: os.availableParallelism(),
    cpuModel: /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown',
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    loadAverage: Math.round((os.loadavg()[0] ?? 0) * 100) / 100,
    commit,
  };
}

/** The shell command that runs a part, for the report. */
export function commandFor(part: PartResult['part']): string {
  return `npm run bench:${part}`;
}

export function tableToText(table: Table): string {
  const widths = table.columns.map((column, i) => Math.max(column.length, ...table.rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
  return [table.title, line(table.columns), widths.map((w) => '-'.repeat(w)).join('  '), ...table.rows.map(line)].join('\n');
}

export function tableToMarkdown(table: Table): string {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|');
  return [
    `**${table.title}**`,
    '',
    `| ${table.columns.map(escape).join(' | ')} |`,
    `|${table.columns.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...table.rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ].join('\n');
}

/** Prints the part's tables and verdicts, writes its JSON and rewrites latest.md. */
export function publish(result: PartResult): void {
  const out = process.stdout;
  out.write(`\n== ${result.title} ==\n`);
  for (const table of result.tables) out.write(`\n${tableToText(table)}\n`);
  out.write('\nTargets\n');
  for (const target of result.targets) out.write(`  [${target.verdict}] ${target.target}: ${target.measured}. ${target.detail}\n`);
  for (const note of result.notes) out.write(`  note: ${note}\n`);
  for (const failure of result.failures ?? []) out.write(`  FAILED: ${failure}\n`);
  writeFileSync(path.join(RESULTS_DIR, `${result.part}.json`), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(path.join(RESULTS_DIR, 'latest.md'), renderMarkdown(readParts()));
  out.write(`\nwrote bench/results/${result.part}.json and bench/results/latest.md\n`);
}

const PART_ORDER: readonly PartResult['part'][] = ['breaker', 'proxy', 'footprint', 'detection', 'webhook', 'peers'];

export function readParts(): PartResult[] {
  const files = new Set(readdirSync(RESULTS_DIR));
  return PART_ORDER.filter((part) => files.has(`${part}.json`)).map(
    (part) => JSON.parse(readFileSync(path.join(RESULTS_DIR, `${part}.json`), 'utf8')) as PartResult,
  );
}

export function renderMarkdown(parts: readonly PartResult[]): string {
  const lines: string[] = ['# Benchmark results', ''];
  lines.push('Written by `npm run bench` (or one part: `npm run bench:<part>`); each part rewrites its own section.');
  lines.push('Timings come from a shared, noisy machine: compare ratios measured side by side in one run, not absolute figures.', '');
  lines.push('## Summary of targets', '', '| part | target | measured | verdict |', '|---|---|---|---|');
  for (const part of parts) {
    for (const target of part.targets) lines.push(`| ${part.part} | ${target.target} | ${target.measured} | **${target.verdict}** |`);
    for (const failure of part.failures ?? []) lines.push(`| ${part.part} | (a step of the run) | ${failure} | **failed** |`);
  }
  for (const part of parts) {
    const m = part.machine;
    lines.push('', `## ${part.title}`, '');
    lines.push(`- command: \`${part.command}\` (${part.durationSeconds} s, started ${part.startedAt})`);
    lines.push(`- machine: ${m.cpus} CPUs (\`nproc\`), ${m.cpuModel}, Node ${m.node}, ${m.os}, load average ${m.loadAverage} at start`);
    lines.push(`- code: ${m.commit}`);
    lines.push('', '### Method', '', ...part.method.map((line) => `- ${line}`));
    for (const table of part.tables) lines.push('', tableToMarkdown(table));
    lines.push('', '### Targets', '');
    for (const target of part.targets) lines.push(`- **${target.verdict}**: ${target.target}. Measured: ${target.measured}. ${target.detail}`);
    if (part.notes.length > 0) lines.push('', '### Notes', '', ...part.notes.map((note) => `- ${note}`));
    if ((part.failures ?? []).length > 0) lines.push('', '### Failed steps', '', ...(part.failures ?? []).map((failure) => `- ${failure}`));
  }
  lines.push('');
  return lines.join('\n');
}
