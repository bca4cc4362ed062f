import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeConfig, parseConfig, type Config, type RouteConfig } from '../src/config';
import { MAX_FILE_BYTES, MAX_ROUTES } from '../src/routes-file';

const base = { HTTP_CLIENT: 'nginx:80' };
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'routes-file-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function write(text: string, name = 'routes.yaml'): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

function valid(text: string, env: Record<string, string> = {}, name?: string): Config {
  const result = parseConfig({ ...base, ...env, ROUTES_FILE: write(text, name) });
  if (!result.ok) throw new Error(`expected valid, got:\n${result.errors.join('\n')}`);
  return result.config;
}

function routes(text: string, env: Record<string, string> = {}, name?: string): readonly RouteConfig[] {
  return valid(text, env, name).routes;
}

/** The error lines, each without its `ROUTES_FILE=<path>: ` (checked to be there). */
function errors(text: string, env: Record<string, string> = {}, name?: string): readonly string[] {
  const file = write(text, name);
  const result = parseConfig({ ...base, ...env, ROUTES_FILE: file });
  if (result.ok) throw new Error('expected configuration errors');
  return result.errors.map((line) => {
    const prefix = `ROUTES_FILE=${file}: `;
    if (!line.startsWith(prefix)) throw new Error(`expected ${JSON.stringify(prefix)} before ${JSON.stringify(line)}`);
    return line.slice(prefix.length);
  });
}

/** A file of one route with the given lines besides name, prefix and upstream. */
const oneRoute = (...lines: string[]): string =>
  ['routes:', '  - name: catalog', '    prefix: /api/catalog/', '    upstream: nginx:80', ...lines.map((line) => `    ${line}`), ''].join('\n');

const SPEC_EXAMPLE = `routes:
  - name: catalog               # [a-z0-9-]{1,32}, unique; names the route in logs, metrics, events
    prefix: /api/catalog/       # the proxy picks the longest matching prefix; starts with /
    upstream: nginx:80          # like HTTP_CLIENT
    probePath: /api/catalog/    # default PROBE_PATH
    errorThreshold: 5           # optional: any breaker setting, camelCase of its variable
  - name: reviews
    prefix: /api/reviews/
    upstream: nginx:80
`;

const ENVIRONMENT_SETTINGS = {
  probePath: '/',
  errorThreshold: 3,
  successThreshold: 3,
  halfOpenMaxCalls: 1,
  timeWindowMs: 10_000,
  timeWindowMaxMs: 10_000,
  probeIntervalMs: 2_000,
  requestTimeoutMs: 2_000,
  acceptClientErrors: false,
  slowCallThresholdMs: undefined,
  failureRateThreshold: undefined,
  slidingWindow: { calls: 20 },
  minimumCalls: 10,
  honorRetryAfter: true,
  maxConcurrentCalls: 'off',
};

describe('a good file', () => {
  it("reads the SPEC's example: each route its own, what it leaves out from the environment", () => {
    expect(routes(SPEC_EXAMPLE)).toEqual([
      {
        ...ENVIRONMENT_SETTINGS,
        name: 'catalog',
        prefix: '/api/catalog/',
        upstream: 'http://nginx:80',
        probePath: '/api/catalog/',
        probeUrl: 'http://nginx:80/api/catalog/',
        errorThreshold: 5,
      },
      { ...ENVIRONMENT_SETTINGS, name: 'reviews', prefix: '/api/reviews/', upstream: 'http://nginx:80', probeUrl: 'http://nginx:80/' },
    ]);
  });

  it('reads the same routes from JSON, by its extension or not', () => {
    const json = JSON.stringify({
      routes: [
        { name: 'catalog', prefix: '/api/catalog/', upstream: 'nginx:80', probePath: '/api/catalog/', errorThreshold: 5 },
        { name: 'reviews', prefix: '/api/reviews/', upstream: 'nginx:80' },
      ],
    });
    expect(routes(json, {}, 'routes.json')).toEqual(routes(SPEC_EXAMPLE));
    expect(routes(JSON.stringify(JSON.parse(json), null, 2), {}, 'routes.conf')).toEqual(routes(SPEC_EXAMPLE));
  });

  it('says where the routes came from; the top-level values stay the environment\'s', () => {
    const file = write(SPEC_EXAMPLE);
    const result = parseConfig({ ...base, ERROR_THRESHOLD: '7', ROUTES_FILE: ` ${file} ` });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    expect(result.config).toMatchObject({ routesFile: file, upstream: 'http://nginx:80', errorThreshold: 7, probeUrl: 'http://nginx:80/' });
    expect(result.config.routes.map((route) => route.errorThreshold)).toEqual([5, 7]);
    expect(describeConfig(result.config).ROUTES_FILE).toBe(file);
    expect(Object.isFrozen(result.config.routes) && result.config.routes.every((route) => Object.isFrozen(route))).toBe(true);
  });

  it.each([
    ['unset', {}],
    ['empty, as a `ROUTES_FILE=` line in .env', { ROUTES_FILE: '' }],
    ['blank', { ROUTES_FILE: '  ' }],
  ])('ROUTES_FILE %s: one route, default, prefix /, from the environment', (_label, env) => {
    const result = parseConfig({ ...base, ...env });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    expect(result.config.routesFile).toBeUndefined();
    expect(result.config.routes).toEqual([{ ...ENVIRONMENT_SETTINGS, name: 'default', prefix: '/', upstream: 'http://nginx:80', probeUrl: 'http://nginx:80/' }]);
    expect(describeConfig(result.config).ROUTES_FILE).toBe('unset');
  });

  it('gives a route every setting it leaves out from the environment', () => {
    const env = {
      ERROR_THRESHOLD: '7',
      TIME_WINDOW: '4',
      ACCEPT_CLIENT_ERRORS: 'yes',
      PROBE_INTERVAL: '0.5',
      PROBE_PATH: '/health',
      REQUEST_TIMEOUT: '3',
      SUCCESS_THRESHOLD: '2',
      HALF_OPEN_MAX_CALLS: '4',
      SLOW_CALL_THRESHOLD: '1.5',
      FAILURE_RATE_THRESHOLD: '50',
      SLIDING_WINDOW: '60s',
      MINIMUM_CALLS: '30',
      TIME_WINDOW_MAX: '80',
      HONOR_RETRY_AFTER: 'false',
      MAX_CONCURRENT_CALLS: 'adaptive',
    };
    expect(routes(oneRoute(), env)).toEqual([
      {
        name: 'catalog',
        prefix: '/api/catalog/',
        upstream: 'http://nginx:80',
        probePath: '/health',
        probeUrl: 'http://nginx:80/health',
        errorThreshold: 7,
        timeWindowMs: 4_000,
        acceptClientErrors: true,
        probeIntervalMs: 500,
        requestTimeoutMs: 3_000,
        successThreshold: 2,
        halfOpenMaxCalls: 4,
        slowCallThresholdMs: 1_500,
        failureRateThreshold: 50,
        slidingWindow: { timeMs: 60_000 },
        minimumCalls: 30,
        timeWindowMaxMs: 80_000,
        honorRetryAfter: false,
        maxConcurrentCalls: 'adaptive',
      },
    ]);
  });

  // every setting name, written as in the environment, as a YAML number or boolean, or quoted
  it.each([
    ['errorThreshold: 5', { errorThreshold: 5 }],
    ['errorThreshold: "5"', { errorThreshold: 5 }],
    ['timeWindow: 0.5', { timeWindowMs: 500, timeWindowMaxMs: 500 }],
    ['acceptClientErrors: true', { acceptClientErrors: true }],
    ['acceptClientErrors: YES', { acceptClientErrors: true }],
    ['probeInterval: 1', { probeIntervalMs: 1_000 }],
    ['probePath: /api/catalog/health', { probePath: '/api/catalog/health', probeUrl: 'http://nginx:80/api/catalog/health' }],
    ['requestTimeout: 5', { requestTimeoutMs: 5_000 }],
    ['successThreshold: 2', { successThreshold: 2 }],
    ['halfOpenMaxCalls: 3', { halfOpenMaxCalls: 3 }],
    ['slowCallThreshold: 1.5', { slowCallThresholdMs: 1_500 }],
    ['slowCallThreshold: off', { slowCallThresholdMs: undefined }],
    ['failureRateThreshold: 62.5', { failureRateThreshold: 62.5 }],
    ['slidingWindow: 60s', { slidingWindow: { timeMs: 60_000 } }],
    ['slidingWindow: 50', { slidingWindow: { calls: 50 } }],
    ['minimumCalls: 5', { minimumCalls: 5 }],
    ['timeWindowMax: 60', { timeWindowMaxMs: 60_000 }],
    ['honorRetryAfter: false', { honorRetryAfter: false }],
    ['maxConcurrentCalls: 8', { maxConcurrentCalls: 8 }],
    ['maxConcurrentCalls: "8"', { maxConcurrentCalls: 8 }],
    ['maxConcurrentCalls: adaptive', { maxConcurrentCalls: 'adaptive' }],
    ['maxConcurrentCalls: Off', { maxConcurrentCalls: 'off' }],
  ])('%s', (line, expected) => {
    expect(routes(oneRoute(line))[0]).toEqual({ ...routes(oneRoute())[0], ...expected });
  });

  it('overrides a setting the environment set, for that route only', () => {
    const text = `${oneRoute('slowCallThreshold: off', 'honorRetryAfter: yes')}  - name: reviews\n    prefix: /api/reviews/\n    upstream: nginx:80\n`;
    const [catalog, reviews] = routes(text, { SLOW_CALL_THRESHOLD: '1', HONOR_RETRY_AFTER: 'no' });
    expect(catalog).toMatchObject({ slowCallThresholdMs: undefined, honorRetryAfter: true });
    expect(reviews).toMatchObject({ slowCallThresholdMs: 1_000, honorRetryAfter: false });
  });

  it('a route sets its own concurrency limit, or turns off the one MAX_CONCURRENT_CALLS sets', () => {
    const text = `${oneRoute('maxConcurrentCalls: off')}  - name: reviews\n    prefix: /api/reviews/\n    upstream: nginx:80\n  - name: search\n    prefix: /api/search/\n    upstream: nginx:80\n    maxConcurrentCalls: adaptive\n`;
    const config = valid(text, { MAX_CONCURRENT_CALLS: '4' });
    expect(config.routes.map((route) => route.maxConcurrentCalls)).toEqual(['off', 4, 'adaptive']);
    expect(config.maxConcurrentCalls).toBe(4);
    const json = JSON.stringify({ routes: [{ name: 'a', prefix: '/', upstream: 'nginx:80', maxConcurrentCalls: 16 }] });
    expect(routes(json, {}, 'routes.json')[0]).toMatchObject({ maxConcurrentCalls: 16 });
  });

  it('reads a route setting in JSON as a number or a boolean', () => {
    const json = JSON.stringify({ routes: [{ name: 'a', prefix: '/', upstream: 'nginx:80', errorThreshold: 5, timeWindow: 0.5, acceptClientErrors: true, slidingWindow: '60s' }] });
    expect(routes(json, {}, 'routes.json')[0]).toMatchObject({ errorThreshold: 5, timeWindowMs: 500, acceptClientErrors: true, slidingWindow: { timeMs: 60_000 } });
  });

  it('timeWindowMax follows the route\'s timeWindow when TIME_WINDOW_MAX is unset (no backoff), as in the environment', () => {
    expect(routes(oneRoute('timeWindow: 30'))[0]).toMatchObject({ timeWindowMs: 30_000, timeWindowMaxMs: 30_000 });
    expect(routes(oneRoute('timeWindow: 30'), { TIME_WINDOW_MAX: '120' })[0]).toMatchObject({ timeWindowMs: 30_000, timeWindowMaxMs: 120_000 });
  });

  it('takes a route\'s upstream like HTTP_CLIENT: host:port or a URL with a base path', () => {
    expect(routes(oneRoute().replace('nginx:80', 'https://api.example:8443/v1/'))[0]).toMatchObject({
      upstream: 'https://api.example:8443/v1',
      probeUrl: 'https://api.example:8443/v1/',
    });
  });

  it('keeps prefixes as written: /api and /api/ are two prefixes, / is every path', () => {
    const text = ['routes:', ...['/api', '/api/', '/'].flatMap((prefix, index) => [`  - name: r${index}`, `    prefix: ${prefix}`, '    upstream: nginx:80'])].join('\n');
    expect(routes(text).map((route) => route.prefix)).toEqual(['/api', '/api/', '/']);
  });

  it('reads YAML anchors and aliases', () => {
    const text = 'routes:\n  - name: a\n    prefix: /a/\n    upstream: &up nginx:80\n  - name: b\n    prefix: /b/\n    upstream: *up\n';
    expect(routes(text).map((route) => route.upstream)).toEqual(['http://nginx:80', 'http://nginx:80']);
  });

  it("reads the routes demo's file (docker-compose.routes.yml mounts it)", () => {
    const file = path.resolve(__dirname, '../routes/demo.yaml');
    const result = parseConfig({ ...base, ROUTES_FILE: file });
    if (!result.ok) throw new Error(result.errors.join('\n'));
    expect(result.config.routes.map((route) => [route.name, route.prefix, route.probeUrl])).toEqual([
      ['catalog', '/api/catalog/', 'http://nginx:80/api/catalog/'],
      ['reviews', '/api/reviews/', 'http://nginx:80/api/reviews/'],
    ]);
  });

  it(`takes up to ${MAX_ROUTES} routes`, () => {
    const text = ['routes:', ...Array.from({ length: MAX_ROUTES }, (_, index) => `  - { name: r${index}, prefix: /r${index}/, upstream: "nginx:80" }`)].join('\n');
    expect(routes(text)).toHaveLength(MAX_ROUTES);
  });
});

const UPSTREAM_ACCEPTS = 'host:port with port 1-65535 (e.g. nginx:80), or an http:// or https:// URL without credentials, query or fragment';
const PREFIX_ACCEPTS = 'a path starting with / (no spaces, no ? or #), e.g. /api/catalog/';
const NAME_ACCEPTS = '1 to 32 lowercase letters, digits or - (e.g. catalog)';
const FILE_ACCEPTS = `a mapping with one key, routes (a list of 1 to ${MAX_ROUTES} routes, each a mapping with name, prefix and upstream)`;
const ROUTES_ACCEPTS = `a list of 1 to ${MAX_ROUTES} routes, each a mapping with name, prefix and upstream`;
const SETTINGS =
  'errorThreshold, timeWindow, acceptClientErrors, probeInterval, probePath, requestTimeout, successThreshold, halfOpenMaxCalls, slowCallThreshold, failureRateThreshold, slidingWindow, minimumCalls, timeWindowMax, honorRetryAfter, maxConcurrentCalls';

describe('a bad file: one line per problem, naming the route, the field and the line', () => {
  it.each([
    ['missing name', 'routes:\n  - prefix: /a/\n    upstream: nginx:80\n', [`route 1 (line 2): name is missing: expected ${NAME_ACCEPTS}`]],
    ['missing prefix', 'routes:\n  - name: a\n    upstream: nginx:80\n', [`route "a" (line 2): prefix is missing: expected ${PREFIX_ACCEPTS}`]],
    ['missing upstream', 'routes:\n  - name: a\n    prefix: /a/\n', [`route "a" (line 2): upstream is missing: expected ${UPSTREAM_ACCEPTS}`]],
    ['a name with capitals', 'routes:\n  - name: Catalog\n    prefix: /a/\n    upstream: nginx:80\n', [`route 1 (line 2): name "Catalog" is not valid: expected ${NAME_ACCEPTS}`]],
    [
      'a name of 33 characters',
      `routes:\n  - name: ${'a'.repeat(33)}\n    prefix: /a/\n    upstream: nginx:80\n`,
      [`route 1 (line 2): name "${'a'.repeat(33)}" is not valid: expected ${NAME_ACCEPTS}`],
    ],
    ['an empty name', 'routes:\n  - name:\n    prefix: /a/\n    upstream: nginx:80\n', [`route 1 (line 2): name "" is not valid: expected ${NAME_ACCEPTS}`]],
    [
      'a duplicate name',
      'routes:\n  - name: a\n    prefix: /a/\n    upstream: nginx:80\n  - name: a\n    prefix: /b/\n    upstream: nginx:80\n',
      ['route "a" (line 5): name "a" is already the name of the route at line 2: expected a name of its own'],
    ],
    [
      'a duplicate prefix',
      'routes:\n  - name: a\n    prefix: /api/\n    upstream: nginx:80\n  - name: b\n    prefix: /api/\n    upstream: nginx:81\n',
      ['route "b" (line 6): prefix "/api/" is already the prefix of route "a" (line 3): expected a prefix of its own (a path goes to one route)'],
    ],
    [
      'a prefix not starting with /',
      'routes:\n  - name: reviews\n    prefix: api/reviews/\n    upstream: nginx:80\n',
      [`route "reviews" (line 3): prefix "api/reviews/" is not valid: expected ${PREFIX_ACCEPTS}`],
    ],
    ['a prefix with a query', 'routes:\n  - name: a\n    prefix: /a?x=1\n    upstream: nginx:80\n', [`route "a" (line 3): prefix "/a?x=1" is not valid: expected ${PREFIX_ACCEPTS}`]],
    ['a prefix with a space', 'routes:\n  - name: a\n    prefix: /a b/\n    upstream: nginx:80\n', [`route "a" (line 3): prefix "/a b/" is not valid: expected ${PREFIX_ACCEPTS}`]],
    ['an upstream without a port', 'routes:\n  - name: a\n    prefix: /a/\n    upstream: nginx\n', [`route "a" (line 4): upstream "nginx" is not valid: expected ${UPSTREAM_ACCEPTS}`]],
    [
      'an upstream with credentials',
      'routes:\n  - name: a\n    prefix: /a/\n    upstream: http://u:p@nginx\n',
      [`route "a" (line 4): upstream "http://u:p@nginx" is not valid: expected ${UPSTREAM_ACCEPTS}`],
    ],
    [
      'an unknown setting (a typo)',
      oneRoute('errorTreshold: 5'),
      [`route "catalog" (line 5): unknown key "errorTreshold": expected name, prefix, upstream, or a setting: ${SETTINGS}`],
    ],
    [
      'a variable\'s name instead of its camelCase',
      oneRoute('ERROR_THRESHOLD: 5'),
      [`route "catalog" (line 5): unknown key "ERROR_THRESHOLD": expected name, prefix, upstream, or a setting: ${SETTINGS}`],
    ],
    ['a setting that is not per route', oneRoute('logLevel: debug'), [`route "catalog" (line 5): unknown key "logLevel": expected name, prefix, upstream, or a setting: ${SETTINGS}`]],
    ['an unknown key at the top', `${oneRoute()}defaults:\n  errorThreshold: 5\n`, ['line 5: unknown key "defaults": expected routes']],
    ['errorThreshold 0', oneRoute('errorThreshold: 0'), ['route "catalog" (line 5): errorThreshold "0" is not valid: expected an integer >= 1']],
    ['errorThreshold 1e3 (a YAML number, not an integer as the variable takes it)', oneRoute('errorThreshold: 1e3'), ['route "catalog" (line 5): errorThreshold "1e3" is not valid: expected an integer >= 1']],
    [
      'timeWindow 1s',
      oneRoute('timeWindow: 1s'),
      ['route "catalog" (line 5): timeWindow "1s" is not valid: expected a number of seconds >= 0.001 and <= 86400 (decimals allowed, e.g. 0.5)'],
    ],
    ['acceptClientErrors maybe', oneRoute('acceptClientErrors: maybe'), ['route "catalog" (line 5): acceptClientErrors "maybe" is not valid: expected true, false, 1, 0, yes or no (any case)']],
    ['slidingWindow 1m', oneRoute('slidingWindow: 1m'), ['route "catalog" (line 5): slidingWindow "1m" is not valid: expected a number of calls 1-100000 (e.g. 20), or seconds followed by s (e.g. 60s, 0.5s)']],
    [
      'maxConcurrentCalls 0',
      oneRoute('maxConcurrentCalls: 0'),
      ['route "catalog" (line 5): maxConcurrentCalls "0" is not valid: expected off, an integer >= 1 (a fixed limit), or adaptive'],
    ],
    [
      'maxConcurrentCalls auto',
      oneRoute('maxConcurrentCalls: auto'),
      ['route "catalog" (line 5): maxConcurrentCalls "auto" is not valid: expected off, an integer >= 1 (a fixed limit), or adaptive'],
    ],
    ['maxConcurrentCalls 2.5', oneRoute('maxConcurrentCalls: 2.5'), ['route "catalog" (line 5): maxConcurrentCalls "2.5" is not valid: expected off, an integer >= 1 (a fixed limit), or adaptive']],
    ['a list for a setting', oneRoute('errorThreshold: [1, 2]'), ['route "catalog" (line 5): errorThreshold is a list: expected an integer >= 1']],
    ['a mapping for a prefix', 'routes:\n  - name: a\n    prefix:\n      path: /a/\n    upstream: nginx:80\n', [`route "a" (line 4): prefix is a mapping: expected ${PREFIX_ACCEPTS}`]],
    [
      'timeWindowMax below the route\'s timeWindow',
      oneRoute('timeWindow: 30', 'timeWindowMax: 5'),
      ['route "catalog" (line 6): timeWindowMax "5" is less than timeWindow 30: expected a number of seconds >= timeWindow (the longest open window cannot be shorter than the first)'],
    ],
    [
      'slowCallThreshold not below REQUEST_TIMEOUT',
      oneRoute('slowCallThreshold: 2'),
      ['route "catalog" (line 5): slowCallThreshold "2" is not below REQUEST_TIMEOUT=2: expected fewer seconds than REQUEST_TIMEOUT (a call that slow times out first)'],
    ],
    [
      'minimumCalls over the slidingWindow, with the rate on',
      oneRoute('failureRateThreshold: 50', 'slidingWindow: 20', 'minimumCalls: 30'),
      ['route "catalog" (line 7): minimumCalls "30" is more than slidingWindow 20 calls: expected at most slidingWindow (the window could never hold enough calls for the rate to trip)'],
    ],
    ['a route that is text', 'routes:\n  - catalog\n', ['route 1 (line 2): the route is "catalog": expected a mapping with name, prefix and upstream']],
    ['no routes key', 'route:\n  - name: a\n', ['line 1: unknown key "route": expected routes', `line 1: routes is missing: expected ${ROUTES_ACCEPTS}`]],
    ['routes empty', 'routes:\n', [`line 1: routes is empty: expected ${ROUTES_ACCEPTS}`]],
    ['routes an empty list', 'routes: []\n', [`line 1: routes is an empty list: expected ${ROUTES_ACCEPTS}`]],
    ['routes a mapping', 'routes:\n  catalog:\n    prefix: /a/\n', [`line 2: routes is a mapping: expected ${ROUTES_ACCEPTS}`]],
    ['an empty file', '', [`line 1: the file is empty: expected ${FILE_ACCEPTS}`]],
    ['only comments', '# routes: none yet\n', [`line 1: the file is empty: expected ${FILE_ACCEPTS}`]],
    ['a list at the top', '- name: a\n', [`line 1: the file is a list: expected ${FILE_ACCEPTS}`]],
    [
      `${MAX_ROUTES + 1} routes`,
      ['routes:', ...Array.from({ length: MAX_ROUTES + 1 }, (_, index) => `  - { name: r${index}, prefix: /r${index}/, upstream: "nginx:80" }`)].join('\n'),
      [`line 2: routes has ${MAX_ROUTES + 1} routes: expected at most ${MAX_ROUTES} (each has its own probe loop, breaker and series in /metrics)`],
    ],
    ['a YAML syntax error, with its line', 'routes:\n  - name: a\n   prefix: /a/\n', ['line 3, column 1: YAML syntax error: Sequence item without - indicator']],
    ['a key given twice', 'routes:\n  - name: a\n    prefix: /a/\n    prefix: /b/\n    upstream: nginx:80\n', ['line 4, column 5: YAML syntax error: Map keys must be unique']],
    ['two documents', `${oneRoute()}---\n${oneRoute()}`, ['line 5, column 1: YAML syntax error: Source contains multiple documents; please use YAML.parseAllDocuments()']],
  ])('%s', (_label, text, expected) => {
    expect(errors(text)).toEqual(expected);
  });

  it('a .json file: JSON syntax errors, with line and column', () => {
    const text = '{\n  "routes": [\n    { "name": "a", "prefix": "/a/" "upstream": "nginx:80" }\n  ]\n}\n';
    expect(errors(text, {}, 'routes.json')).toEqual([
      'line 3, column 36: JSON syntax error: Unexpected double-quoted-scalar token',
      'line 3, column 30: JSON syntax error: Block collections are not allowed within flow collections',
    ]);
  });

  it('a JSON route with a null value or a number for the prefix', () => {
    const json = JSON.stringify({ routes: [{ name: 'a', prefix: 7, upstream: 'nginx:80', slowCallThreshold: null }] }, null, 2);
    expect(errors(json, {}, 'routes.json')).toEqual([
      `route "a" (line 5): prefix "7" is not valid: expected ${PREFIX_ACCEPTS}`,
      'route "a" (line 7): slowCallThreshold "null" is not valid: expected a number of seconds >= 0.001 and <= 86400 (decimals allowed, e.g. 0.5), or off',
    ]);
  });

  // the same rule as the variable: the same values refused, the same words for what is accepted
  it.each([
    ['errorThreshold', 'ERROR_THRESHOLD', '2.5'],
    ['timeWindow', 'TIME_WINDOW', '0.0004'],
    ['acceptClientErrors', 'ACCEPT_CLIENT_ERRORS', 'on'],
    ['probeInterval', 'PROBE_INTERVAL', '86401'],
    ['probePath', 'PROBE_PATH', 'health'],
    ['requestTimeout', 'REQUEST_TIMEOUT', '0'],
    ['successThreshold', 'SUCCESS_THRESHOLD', 'three'],
    ['halfOpenMaxCalls', 'HALF_OPEN_MAX_CALLS', '0x10'],
    ['slowCallThreshold', 'SLOW_CALL_THRESHOLD', '1s'],
    ['failureRateThreshold', 'FAILURE_RATE_THRESHOLD', '101'],
    ['slidingWindow', 'SLIDING_WINDOW', '100001'],
    ['minimumCalls', 'MINIMUM_CALLS', '-1'],
    ['timeWindowMax', 'TIME_WINDOW_MAX', 'long'],
    ['honorRetryAfter', 'HONOR_RETRY_AFTER', 'sometimes'],
  ])('%s refuses what %s refuses, and says the same about what is accepted', (key, variable, value) => {
    const env = parseConfig({ ...base, [variable]: value });
    expect(env.ok).toBe(false);
    const accepts = env.ok ? '' : (env.errors[0] ?? '').replace(/^.* is not valid: /, '');
    expect(errors(oneRoute(`${key}: "${value}"`))).toEqual([`route "catalog" (line 5): ${key} ${JSON.stringify(value)} is not valid: ${accepts}`]);
  });

  it('names the variable a conflicting value came from when the route left it out', () => {
    expect(errors(oneRoute('timeWindow: 30'), { TIME_WINDOW_MAX: '20' })).toEqual([
      'route "catalog" (line 5): TIME_WINDOW_MAX=20 is less than timeWindow 30: expected a number of seconds >= timeWindow (the longest open window cannot be shorter than the first)',
    ]);
    expect(errors(oneRoute('timeWindowMax: 5'))).toEqual([
      'route "catalog" (line 5): timeWindowMax "5" is less than TIME_WINDOW=10: expected a number of seconds >= TIME_WINDOW (the longest open window cannot be shorter than the first)',
    ]);
  });

  it('a conflict waits for both values to be valid, and comes with the other errors', () => {
    expect(errors(oneRoute('timeWindow: x', 'timeWindowMax: 5', 'errorThreshold: 0'))).toEqual([
      'route "catalog" (line 5): timeWindow "x" is not valid: expected a number of seconds >= 0.001 and <= 86400 (decimals allowed, e.g. 0.5)',
      'route "catalog" (line 7): errorThreshold "0" is not valid: expected an integer >= 1',
    ]);
  });

  it('reports every problem of every route at once, in the order of the file', () => {
    const text = [
      'routes:',
      '  - name: catalog',
      '    prefix: /api/catalog/',
      '    upstream: nginx:80',
      '  - name: reviews',
      '    prefix: api/reviews/',
      '    upstream: nginx',
      '    errorTreshold: 2',
      '  - name: Bad!',
      '    prefix: /api/catalog/',
      '  - hello',
      '',
    ].join('\n');
    expect(errors(text)).toEqual([
      `route "reviews" (line 6): prefix "api/reviews/" is not valid: expected ${PREFIX_ACCEPTS}`,
      `route "reviews" (line 7): upstream "nginx" is not valid: expected ${UPSTREAM_ACCEPTS}`,
      `route "reviews" (line 8): unknown key "errorTreshold": expected name, prefix, upstream, or a setting: ${SETTINGS}`,
      `route 3 (line 9): upstream is missing: expected ${UPSTREAM_ACCEPTS}`,
      `route 3 (line 9): name "Bad!" is not valid: expected ${NAME_ACCEPTS}`,
      'route 3 (line 10): prefix "/api/catalog/" is already the prefix of route "catalog" (line 3): expected a prefix of its own (a path goes to one route)',
      'route 4 (line 11): the route is "hello": expected a mapping with name, prefix and upstream',
    ]);
  });

  it("comes with the variables' errors, each once", () => {
    const file = write(oneRoute('errorThreshold: 0'));
    expect(parseConfig({ ...base, ERROR_THRESHOLD: '0', ROUTES_FILE: file })).toEqual({
      ok: false,
      errors: ['ERROR_THRESHOLD="0" is not valid: expected an integer >= 1', `ROUTES_FILE=${file}: route "catalog" (line 5): errorThreshold "0" is not valid: expected an integer >= 1`],
    });
  });
});

describe('a file that cannot be read', () => {
  const expected = 'expected a readable JSON or YAML file';

  it('is missing', () => {
    const file = path.join(dir, 'missing.yaml');
    expect(parseConfig({ ...base, ROUTES_FILE: file })).toEqual({ ok: false, errors: [`ROUTES_FILE=${file} cannot be read (ENOENT): ${expected}`] });
  });

  it('is under something that is not a directory', () => {
    const file = path.join(write(SPEC_EXAMPLE), 'routes.yaml');
    expect(parseConfig({ ...base, ROUTES_FILE: file })).toEqual({ ok: false, errors: [`ROUTES_FILE=${file} cannot be read (ENOTDIR): ${expected}`] });
  });

  it('is a directory', () => {
    mkdirSync(path.join(dir, 'routes.d'));
    const file = path.join(dir, 'routes.d');
    expect(parseConfig({ ...base, ROUTES_FILE: file })).toEqual({ ok: false, errors: [`ROUTES_FILE=${file} cannot be read (not a regular file): ${expected}`] });
  });

  it('is a device, which has no size to bound', () => {
    expect(parseConfig({ ...base, ROUTES_FILE: '/dev/zero' })).toEqual({ ok: false, errors: [`ROUTES_FILE=/dev/zero cannot be read (not a regular file): ${expected}`] });
  });

  it(`is larger than ${MAX_FILE_BYTES} bytes`, () => {
    const file = write(`${SPEC_EXAMPLE}#${'x'.repeat(MAX_FILE_BYTES)}\n`);
    const size = SPEC_EXAMPLE.length + MAX_FILE_BYTES + 2;
    expect(parseConfig({ ...base, ROUTES_FILE: file })).toEqual({ ok: false, errors: [`ROUTES_FILE=${file} is too large (${size} bytes): expected at most ${MAX_FILE_BYTES} bytes`] });
    // at the bound, it is read
    expect(routes(`${SPEC_EXAMPLE}#${'x'.repeat(MAX_FILE_BYTES - SPEC_EXAMPLE.length - 2)}\n`)).toHaveLength(2);
  });
});
