/**
 * Every relative link in the project's Markdown (README.md, docs/, each package's README, bench's
 * results) points at a file that exists, and every `#anchor` at a heading of that page, as GitHub
 * names it. Moving a section to another page cannot leave a dead link behind.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');
const SKIPPED = new Set(['node_modules', '.git', 'dist', 'coverage']);

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return SKIPPED.has(entry.name) ? [] : markdownFiles(full);
    return entry.name.endsWith('.md') ? [full] : [];
  });
}

/** The lines outside fenced code blocks, with inline code spans blanked out, numbered from 1. */
function prose(text: string): { line: number; text: string }[] {
  let fenced = false;
  return text.split('\n').flatMap((line, index) => {
    if (/^\s*```/.test(line)) {
      fenced = !fenced;
      return [];
    }
    return fenced ? [] : [{ line: index + 1, text: line.replace(/`[^`]*`/g, '``') }];
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  let fenced = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const heading = fenced ? null : /^#{1,6} (.*)$/.exec(line);
    if (!heading) continue;
    const slug = (heading[1] ?? '').trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    result.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return result;
}

/** What is wrong with each relative link of one Markdown file, as `file:line: link: why`. */
function deadLinks(file: string): string[] {
  const problems: string[] = [];
  for (const { line, text } of prose(readFileSync(file, 'utf8'))) {
    for (const match of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      const link = match[1] ?? '';
      if (/^[a-z][a-z+.-]*:/i.test(link)) continue; // http:, https:, mailto:
      const [target = '', anchor] = link.split('#');
      const where = `${path.relative(ROOT, file)}:${line}: ${link}`;
      const resolved = target === '' ? file : path.resolve(path.dirname(file), decodeURI(target));
      if (!existsSync(resolved)) problems.push(`${where}: no such file`);
      else if (anchor !== undefined && resolved.endsWith('.md') && !anchors(resolved).has(anchor)) problems.push(`${where}: no such heading`);
    }
  }
  return problems;
}

const files = markdownFiles(ROOT);

it('finds the README and the pages of docs/', () => {
  const names = files.map((file) => path.relative(ROOT, file));
  expect(names).toEqual(expect.arrayContaining(['README.md', 'docs/configuration.md', 'breaker/README.md', 'bench/results/latest.md']));
});

it.each(files.map((file) => [path.relative(ROOT, file), file]))('%s has no dead relative link or anchor', (_name, file) => {
  expect(deadLinks(file)).toEqual([]);
});

it('reports a missing file and a missing heading, and reads no link in code', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'links-'));
  try {
    const page = path.join(dir, 'page.md');
    writeFileSync(page, [
      '# A page: its title', '', '## A part', '',
      '[here](#a-page-its-title), [there](#a-part), [gone](#a-parts), [missing](other.md#a-part), [self](page.md#a-part)',
      '`[in code](nowhere.md)`', '```', '[in a block](nowhere.md)', '```',
    ].join('\n'));
    expect(deadLinks(page)).toEqual([
      `${path.relative(ROOT, page)}:5: #a-parts: no such heading`,
      `${path.relative(ROOT, page)}:5: other.md#a-part: no such file`,
    ]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
