/**
 * ROUTES_FILE (SPEC "Routes"): a JSON or YAML file of routes, read once at start into RouteConfig[].
 * Every problem is one line naming the route, the field and its line. Values are checked by their
 * variable's own rule, which config.ts passes in: config.ts calls this module, so only types are
 * imported back from it.
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Pair, type YAMLMap } from 'yaml';
import type { Parser, PolicyConflict, PolicySetting, RouteConfig, SettingNames } from './config';

/**
 * Each route has its own probe loop (one probe per PROBE_INTERVAL), breaker, `/status` entry and
 * series in `/metrics`: more upstreams than this is a gateway's job, not a sidecar's.
 */
export const MAX_ROUTES = 64;
/**
 * 64 routes with every setting and comments are about 40 KB; the bound keeps a wrong path (a log,
 * a dump) from being read and parsed at start.
 */
export const MAX_FILE_BYTES = 1024 * 1024;

/** One setting a route may have, e.g. `errorThreshold`: its variable's name and rule. */
export interface SettingRule {
  /** the variable whose value a route leaves out, e.g. `ERROR_THRESHOLD` */
  readonly variable: string;
  readonly accepts: string;
  /** what the (trimmed) text sets in the route, or undefined when it is not valid */
  parse(text: string): Partial<RouteConfig> | undefined;
}

/** config.ts's rules, so each is defined once for its variable and its routes-file setting. */
export interface RouteRules {
  /** HTTP_CLIENT's */
  readonly upstream: Parser<string>;
  /** by their names in the file: the camelCase of each variable */
  readonly settings: Readonly<Record<PolicySetting, SettingRule> & Record<string, SettingRule>>;
  /** settings valid alone but not together */
  readonly conflicts: (route: RouteConfig, names: SettingNames) => readonly PolicyConflict[];
}

/** What a route leaves out comes from here. */
export interface RouteEnvironment {
  /** the environment's settings, as the route `default` has them */
  readonly route: RouteConfig;
  /** false: TIME_WINDOW_MAX is unset, so a route's timeWindowMax is its own timeWindow (no backoff), as in the environment */
  readonly timeWindowMaxSet: boolean;
}

/** Routes in the file's order; none when there was no environment to build them on. */
export type RoutesResult = { readonly ok: true; readonly routes: readonly RouteConfig[] } | { readonly ok: false; readonly errors: readonly string[] };

const NAME = /^[a-z0-9-]{1,32}$/;
const NAME_ACCEPTS = '1 to 32 lowercase letters, digits or - (e.g. catalog)';
const REQUIRED = ['name', 'prefix', 'upstream'] as const;
const ROUTE_ACCEPTS = `a list of 1 to ${MAX_ROUTES} routes, each a mapping with name, prefix and upstream`;

/** Compared with the request's path as written, character by character: no decoding, no `?` or `#` (they are not part of a path). */
const prefixRule: Parser<string> = {
  accepts: 'a path starting with / (no spaces, no ? or #), e.g. /api/catalog/',
  // eslint-disable-next-line no-control-regex
  parse: (text) => (text.startsWith('/') && !/[\s\u0000-\u001f\u007f?#]/.test(text) ? text : undefined),
};

/**
 * Reads and checks the routes file. With `environment` undefined (a variable is bad) the file is
 * still checked, value by value, so its problems are told with the variables'.
 */
export function readRoutesFile(file: string, environment: RouteEnvironment | undefined, rules: RouteRules): RoutesResult {
  const source = readSource(file);
  return 'error' in source ? { ok: false, errors: [source.error] } : parseRoutes(file, source.text, environment, rules);
}

function readSource(file: string): { readonly text: string } | { readonly error: string } {
  const expected = 'expected a readable JSON or YAML file';
  try {
    // stat before reading: a FIFO would block the start, a device (/dev/zero) has no size to bound
    const stats = statSync(file);
    if (!stats.isFile()) return { error: `ROUTES_FILE=${file} cannot be read (not a regular file): ${expected}` };
    if (stats.size > MAX_FILE_BYTES) return { error: `ROUTES_FILE=${file} is too large (${stats.size} bytes): expected at most ${MAX_FILE_BYTES} bytes` };
    return { text: readFileSync(file, 'utf8') };
  } catch (error) {
    return { error: `ROUTES_FILE=${file} cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)}): ${expected}` };
  }
}

/** A key of a route with the text of its value (undefined: not a scalar) and where it is. */
interface Field {
  readonly key: string;
  readonly text: string | undefined;
  /** `a list`, `a mapping`: what the value is when it is not text */
  readonly kind: string;
  readonly line: number;
}

function parseRoutes(file: string, text: string, environment: RouteEnvironment | undefined, rules: RouteRules): RoutesResult {
  const lines = new LineCounter();
  // failsafe: every scalar stays the text as written (5, 0.5, true, 60s), checked like a variable's value.
  // JSON is YAML, so one parser reads both; a .json file's errors say JSON.
  const doc = parseDocument(text, { lineCounter: lines, schema: 'failsafe', prettyErrors: false });
  const errors: string[] = [];
  const report = (where: string, message: string): void => void errors.push(`ROUTES_FILE=${file}: ${where}: ${message}`);
  if (doc.errors.length > 0) {
    const language = path.extname(file).toLowerCase() === '.json' ? 'JSON' : 'YAML';
    for (const error of doc.errors) {
      const { line, col } = lines.linePos(error.pos[0]);
      report(`line ${line}, column ${col}`, `${language} syntax error: ${error.message}`);
    }
    return { ok: false, errors };
  }
  const lineOf = (node: unknown, fallback = 1): number => {
    const range = (node as { range?: readonly number[] | null } | null)?.range;
    return range?.[0] === undefined ? fallback : lines.linePos(range[0]).line;
  };
  const resolve = (node: unknown): unknown => (isAlias(node) ? node.resolve(doc as Document) : node);

  const top = resolve(doc.contents);
  const topAccepts = `a mapping with one key, routes (${ROUTE_ACCEPTS})`;
  if (!isMap(top)) {
    report(`line ${lineOf(top)}`, `the file is ${top ? kindOf(top) : 'empty'}: expected ${topAccepts}`);
    return { ok: false, errors };
  }
  let list: unknown;
  for (const pair of top.items) {
    const key = keyOf(pair);
    if (key === 'routes') list = resolve(pair.value);
    else report(`line ${lineOf(pair.key)}`, `unknown key ${JSON.stringify(key ?? `(${kindOf(pair.key)})`)}: expected routes`);
  }
  if (list === undefined) {
    report(`line ${lineOf(top)}`, `routes is missing: expected ${ROUTE_ACCEPTS}`);
    return { ok: false, errors };
  }
  if (!isSeq(list) || list.items.length === 0) {
    report(`line ${lineOf(list)}`, `routes is ${isSeq(list) ? 'an empty list' : kindOf(list)}: expected ${ROUTE_ACCEPTS}`);
    return { ok: false, errors };
  }
  if (list.items.length > MAX_ROUTES) {
    report(`line ${lineOf(list)}`, `routes has ${list.items.length} routes: expected at most ${MAX_ROUTES} (each has its own probe loop, breaker and series in /metrics)`);
    return { ok: false, errors };
  }

  const names = new Map<string, number>();
  const prefixes = new Map<string, string>();
  const routes: RouteConfig[] = [];
  list.items.forEach((item, index) => {
    const node = resolve(item);
    const routeLine = lineOf(node, lineOf(list));
    if (!isMap(node)) {
      report(`route ${index + 1} (line ${routeLine})`, `the route is ${kindOf(node)}: expected a mapping with name, prefix and upstream`);
      return;
    }
    const fields = fieldsOf(node, resolve, lineOf, routeLine);
    const name = fields.get('name')?.text?.trim();
    const label = name !== undefined && NAME.test(name) ? `route ${JSON.stringify(name)}` : `route ${index + 1}`;
    const before = errors.length;
    const fail = (line: number, message: string): void => report(`${label} (line ${line})`, message);
    /** The field's value by its rule, or undefined with an error line. */
    const check = <T>(field: Field, rule: { readonly accepts: string; parse(text: string): T | undefined }): T | undefined => {
      const value = field.text === undefined ? undefined : rule.parse(field.text.trim());
      if (value === undefined) fail(field.line, `${field.key} ${field.text === undefined ? `is ${field.kind}` : `${JSON.stringify(field.text)} is not valid`}: expected ${rule.accepts}`);
      return value;
    };

    for (const key of REQUIRED) {
      if (!fields.has(key)) fail(routeLine, `${key} is missing: expected ${key === 'name' ? NAME_ACCEPTS : key === 'prefix' ? prefixRule.accepts : rules.upstream.accepts}`);
    }
    let prefix: string | undefined;
    let upstream: string | undefined;
    let settings: Partial<RouteConfig> = {};
    const invalid = new Set<string>();
    for (const field of fields.values()) {
      if (field.key === 'name') {
        const given = check(field, { accepts: NAME_ACCEPTS, parse: (text) => (NAME.test(text) ? text : undefined) });
        const first = given === undefined ? undefined : names.get(given);
        if (first !== undefined) fail(field.line, `name ${JSON.stringify(given)} is already the name of the route at line ${first}: expected a name of its own`);
        else if (given !== undefined) names.set(given, field.line);
      } else if (field.key === 'prefix') {
        prefix = check(field, prefixRule);
        const owner = prefix === undefined ? undefined : prefixes.get(prefix);
        if (owner !== undefined) fail(field.line, `prefix ${JSON.stringify(prefix)} is already the prefix of ${owner}: expected a prefix of its own (a path goes to one route)`);
        else if (prefix !== undefined) prefixes.set(prefix, `${label} (line ${field.line})`);
      } else if (field.key === 'upstream') {
        upstream = check(field, rules.upstream);
      } else if (Object.hasOwn(rules.settings, field.key)) {
        const value = check(field, rules.settings[field.key] as SettingRule);
        if (value === undefined) invalid.add(field.key);
        settings = { ...settings, ...value };
      } else {
        fail(field.line, `unknown key ${JSON.stringify(field.key)}: expected name, prefix, upstream, or a setting: ${Object.keys(rules.settings).join(', ')}`);
      }
    }
    if (environment === undefined) return;

    const base = environment.route;
    const timeWindowMaxMs = settings.timeWindowMaxMs ?? (environment.timeWindowMaxSet ? base.timeWindowMaxMs : (settings.timeWindowMs ?? base.timeWindowMs));
    const merged: RouteConfig = { ...base, ...settings, timeWindowMaxMs };
    // like the variables': a check waits for both values to be valid, and comes with the other errors
    for (const conflict of rules.conflicts(merged, routeNames(fields, rules))) {
      if (invalid.has(conflict.setting) || invalid.has(conflict.other)) continue;
      fail(fields.get(conflict.setting)?.line ?? fields.get(conflict.other)?.line ?? routeLine, conflict.message);
    }
    if (errors.length > before || name === undefined || prefix === undefined || upstream === undefined) return;
    routes.push(Object.freeze({ ...merged, name, prefix, upstream, probeUrl: `${upstream}${merged.probePath}` }));
  });
  return errors.length > 0 ? { ok: false, errors } : { ok: true, routes: Object.freeze(routes) };
}

/** A route's own setting by its name in the file (`timeWindowMax "5"`), one it left out by its variable (`TIME_WINDOW_MAX=5`). */
function routeNames(fields: ReadonlyMap<string, Field>, rules: RouteRules): SettingNames {
  const variable = (setting: PolicySetting): string => rules.settings[setting].variable;
  return {
    blamed: (setting, value) => {
      const text = fields.get(setting)?.text;
      return text === undefined ? `${variable(setting)}=${value}` : `${setting} ${JSON.stringify(text)}`;
    },
    other: (setting, value) => (fields.has(setting) ? `${setting} ${value}` : `${variable(setting)}=${value}`),
    name: (setting) => (fields.has(setting) ? setting : variable(setting)),
  };
}

function fieldsOf(node: YAMLMap, resolve: (node: unknown) => unknown, lineOf: (node: unknown, fallback?: number) => number, routeLine: number): Map<string, Field> {
  const fields = new Map<string, Field>();
  for (const pair of node.items) {
    // a key that is not text cannot be a known one: it is reported by its kind
    const key = keyOf(pair) ?? `(${kindOf(pair.key)})`;
    const value = resolve(pair.value);
    const line = lineOf(pair.value, lineOf(pair.key, routeLine));
    // an empty value (`prefix:`) is the empty text, as an empty variable is
    const text = value === null || value === undefined ? '' : isScalar(value) ? String(value.value) : undefined;
    fields.set(key, { key, text, kind: kindOf(value), line });
  }
  return fields;
}

function keyOf(pair: Pair): string | undefined {
  return isScalar(pair.key) ? String(pair.key.value) : undefined;
}

/** What a node is, for an error line: `a list`, `a mapping`, `"text"`, `empty`. */
function kindOf(node: unknown): string {
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  if (isScalar(node) && String(node.value) !== '') return JSON.stringify(String(node.value));
  return 'empty';
}
