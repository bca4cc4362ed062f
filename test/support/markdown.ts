/**
 * What a Markdown page links to and which anchors it offers, read the way GitHub renders it: enough
 * to check relative links and `#anchors` without a network or a renderer.
 */

/** A link as written in a page: its target and the line it is on. */
export interface MarkdownLink {
  readonly target: string;
  readonly line: number;
}

/**
 * GitHub's anchor for a heading's text (github-slugger's rules): lowercase; every character but
 * letters, marks, digits, spaces, `-` and `_` dropped; each space a `-`. No trimming or collapsing:
 * `A -- B` is `a----b`.
 */
export function githubSlug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Each line with whether it is inside a fenced code block (``` or ~~~), where nothing is a heading or a link. */
function proseLines(markdown: string): { readonly text: string; readonly line: number }[] {
  const lines: { text: string; line: number }[] = [];
  let fence: string | undefined;
  markdown.split('\n').forEach((text, index) => {
    const marker = /^\s{0,3}(`{3,}|~{3,})/.exec(text)?.[1];
    if (fence === undefined && marker !== undefined) fence = marker;
    else if (fence !== undefined && marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length && text.trim() === marker) fence = undefined;
    else if (fence === undefined) lines.push({ text, line: index + 1 });
  });
  return lines;
}

/** A heading's text as GitHub renders it: inline code, emphasis, links and HTML tags reduced to their text. */
function renderedText(heading: string): string {
  return heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/`/g, '')
    .replace(/(\*\*|__|\*)(.+?)\1/g, '$2')
    .trim();
}

/**
 * The anchors a page offers: one per heading (ATX `#` or setext `===`/`---`), a repeated one with
 * `-1`, `-2`, ... as GitHub numbers them, and any explicit `id="..."` or `<a name="...">`.
 */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  // github-slugger's occurrences: a slug taken, and how many times its base was repeated
  const occurrences = new Map<string, number>();
  const add = (text: string): void => {
    const base = githubSlug(renderedText(text));
    let slug = base;
    while (occurrences.has(slug)) {
      const count = occurrences.get(base)! + 1;
      occurrences.set(base, count);
      slug = `${base}-${count}`;
    }
    occurrences.set(slug, 0);
    anchors.add(slug);
  };
  const lines = proseLines(markdown);
  lines.forEach(({ text }, index) => {
    const atx = /^\s{0,3}#{1,6}\s+(.*?)(?:\s+#+\s*)?$/.exec(text);
    if (atx !== undefined && atx !== null) add(atx[1]!);
    const next = lines[index + 1];
    if (next !== undefined && /^\s{0,3}(=+|-+)\s*$/.test(next.text) && text.trim() !== '' && !/^\s{0,3}([-*+]\s|#|>|\|)/.test(text)) add(text);
    for (const match of text.matchAll(/<[^>]*\s(?:id|name)="([^"]+)"/g)) anchors.add(match[1]!);
  });
  return anchors;
}

/** Every link and image target in a page's prose: inline `[text](target)`, reference definitions, HTML href/src. */
export function linksOf(markdown: string): MarkdownLink[] {
  const links: MarkdownLink[] = [];
  for (const { text, line } of proseLines(markdown)) {
    const prose = text.replace(/`[^`]*`/g, '');
    for (const match of prose.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) links.push({ target: match[1]!, line });
    const definition = /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$/.exec(prose);
    if (definition !== null) links.push({ target: definition[1]!, line });
    for (const match of prose.matchAll(/\s(?:href|src)="([^"]+)"/g)) links.push({ target: match[1]!, line });
  }
  return links;
}

/** Whether a target leaves the repository (a scheme such as https: or mailto:, or a protocol-relative //host). */
export function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//');
}
