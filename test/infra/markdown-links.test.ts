/**
 * No dead relative link anywhere in the Markdown: every tracked page's relative links and images
 * point at a file or folder of the repository, and every `#anchor` (in the same page or another)
 * at a heading of the target page, by GitHub's slug rules (test/support/markdown.ts).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { anchorsOf, githubSlug, isExternal, linksOf } from '../support/markdown';

const repo = path.resolve(__dirname, '../..');
const pages = execFileSync('git', ['ls-files', '*.md'], { cwd: repo, encoding: 'utf8' }).trim().split('\n');

describe("GitHub's heading anchors", () => {
  it.each([
    ['Quick start', 'quick-start'],
    ['`new CircuitBreaker(options?)`', 'new-circuitbreakeroptions'],
    ['Fallback: stale answers (`PROXY_FALLBACK=stale`)', 'fallback-stale-answers-proxy_fallbackstale'],
    ['Tests -- e2e & co.', 'tests----e2e--co'],
    ['Ärger, naïve café', 'ärger-naïve-café'],
  ])('%s -> #%s', (heading, slug) => {
    expect([...anchorsOf(`# ${heading}\n`)]).toEqual([slug]);
  });

  it('numbers a repeated heading -1, -2, and skips a number another heading took', () => {
    expect([...anchorsOf('## API\n### Events\n## API\n# API 1\n## API\n')]).toEqual(['api', 'events', 'api-1', 'api-1-1', 'api-2']);
  });

  it('sees setext headings and explicit ids, not headings or links in code blocks or inline code', () => {
    const page = 'Title\n=====\n\n```md\n# Not a heading\n[x](missing.md)\n```\n<a id="here"></a>\nsee `[y](nope.md)` and [z](ok.md)\n';
    expect([...anchorsOf(page)].sort()).toEqual(['here', 'title']);
    expect(linksOf(page).map((link) => link.target)).toEqual(['ok.md']);
  });

  it('keeps letters, digits, - and _ only', () => {
    expect(githubSlug('a.b/c_d-e?')).toBe('abc_d-e');
  });
});

it('finds the Markdown pages, the READMEs among them', () => {
  expect(pages).toEqual(expect.arrayContaining(['README.md', 'breaker/README.md', 'bench/README.md', 'test/docker/README.md']));
});

/** Every relative link of a page that does not resolve, as `page:line target (why)`. */
function deadLinks(page: string): string[] {
  const source = readFileSync(path.join(repo, page), 'utf8');
  const dead: string[] = [];
  for (const { target, line } of linksOf(source)) {
    if (isExternal(target)) continue;
    const hash = target.indexOf('#');
    const file = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
    const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
    // GitHub reads a leading / as the repository's root
    const resolved = file === '' ? path.join(repo, page) : file.startsWith('/') ? path.join(repo, file) : path.resolve(repo, path.dirname(page), file);
    const where = `${page}:${line} ${target}`;
    if (!resolved.startsWith(repo + path.sep) && resolved !== repo) dead.push(`${where} (outside the repository)`);
    else if (!existsSync(resolved)) dead.push(`${where} (no such file)`);
    else if (anchor !== undefined && anchor !== '' && statSync(resolved).isFile() && resolved.endsWith('.md') && !anchorsOf(readFileSync(resolved, 'utf8')).has(anchor)) {
      dead.push(`${where} (no heading #${anchor} in ${path.relative(repo, resolved)})`);
    }
  }
  return dead;
}

it.each(pages)('%s has no dead relative link or anchor', (page) => {
  expect(deadLinks(page)).toEqual([]);
});
