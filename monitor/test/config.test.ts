import { describeConfig, parseConfig, type Config } from '../src/config';

const base = { HTTP_CLIENT: 'nginx:80' };

function valid(env: Record<string, string>): Config {
  const result = parseConfig({ ...base, ...env });
  if (!result.ok) throw new Error(`expected valid, got: ${result.errors.join('; ')}`);
  return result.config;
}

function errors(env: Record<string, string | undefined>): readonly string[] {
  const result = parseConfig(env);
  if (result.ok) throw new Error('expected configuration errors');
  return result.errors;
}

describe('defaults', () => {
  it('needs only HTTP_CLIENT and fills in the SPEC defaults', () => {
    expect(valid({})).toEqual({
      upstream: 'http://nginx:80',
      probePath: '/',
      probeUrl: 'http://nginx:80/',
      errorThreshold: 3,
      timeWindowMs: 10_000,
      acceptClientErrors: false,
      logLevel: 'info',
      probeIntervalMs: 2_000,
      requestTimeoutMs: 2_000,
      successThreshold: 3,
      halfOpenMaxCalls: 1,
      logFormat: 'text',
      adminPort: 8081,
      proxyPort: 8080,
      slowCallThresholdMs: undefined,
      failureRateThreshold: undefined,
      slidingWindow: { calls: 20 },
      minimumCalls: 10,
      timeWindowMaxMs: 10_000,
      honorRetryAfter: true,
      proxyFallback: 'none',
      proxyCacheMaxBytes: 16_777_216,
      adminToken: undefined,
      listenAddress: '127.0.0.1',
      routesFile: undefined,
      routes: [
        {
          name: 'default',
          prefix: '/',
          upstream: 'http://nginx:80',
          probeUrl: 'http://nginx:80/',
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
        },
      ],
      maxConcurrentCalls: 'off',
      adminAllowedHosts: [],
    });
  });

  it('without ROUTES_FILE, one route, default, for every path, with the environment\'s settings', () => {
    const config = valid({ ERROR_THRESHOLD: '7', REQUEST_TIMEOUT: '0.5', PROBE_PATH: '/health' });
    expect(config.routes).toHaveLength(1);
    expect(config.routes[0]).toMatchObject({ name: 'default', prefix: '/', errorThreshold: 7, requestTimeoutMs: 500, probeUrl: 'http://nginx:80/health' });
    expect(Object.isFrozen(config.routes) && Object.isFrozen(config.routes[0])).toBe(true);
  });

  it('returns a frozen object', () => {
    expect(Object.isFrozen(valid({}))).toBe(true);
  });

  it('describes the effective configuration with the variable names', () => {
    expect(describeConfig(valid({ TIME_WINDOW: '0.5' }))).toMatchObject({ HTTP_CLIENT: 'http://nginx:80', TIME_WINDOW: 0.5, PROXY_PORT: 8080 });
  });
});

describe('HTTP_CLIENT', () => {
  it.each([
    ['nginx:80', 'http://nginx:80/'],
    ['127.0.0.1:65535', 'http://127.0.0.1:65535/'],
    ['[::1]:8080', 'http://[::1]:8080/'],
    ['my-upstream.internal:1', 'http://my-upstream.internal:1/'],
    ['http://nginx', 'http://nginx/'],
    ['https://example.test:8443/api/', 'https://example.test:8443/api/'],
    ['HTTP://nginx:80', 'http://nginx/'],
    ['my_upstream:80', 'http://my_upstream:80/'],
    ['http://my_upstream:8080', 'http://my_upstream:8080/'],
  ])('accepts %s (probes %s)', (value, probeUrl) => {
    expect(valid({ HTTP_CLIENT: value }).probeUrl).toBe(probeUrl);
  });

  it('joins a URL base path and PROBE_PATH', () => {
    expect(valid({ HTTP_CLIENT: 'http://gw:8000/svc', PROBE_PATH: '/health' }).probeUrl).toBe('http://gw:8000/svc/health');
  });

  it('is required', () => {
    expect(errors({})).toEqual([
      'HTTP_CLIENT is not set: expected host:port with port 1-65535 (e.g. nginx:80), or an http:// or https:// URL without credentials, query or fragment',
    ]);
  });

  it.each([
    '',
    'nginx',
    'nginx:0',
    'nginx:65536',
    'nginx:-1',
    'nginx:80/path',
    'ftp://nginx:21',
    'http://',
    'http://user:pw@nginx',
    'http://nginx/?q=1',
    'nginx :80',
    'http://nginx:0',
    'http://nginx:00',
    'https://nginx:0/api',
  ])('rejects %p', (value) => {
    expect(errors({ HTTP_CLIENT: value })).toEqual([
      `HTTP_CLIENT=${JSON.stringify(value)} is not valid: expected host:port with port 1-65535 (e.g. nginx:80), or an http:// or https:// URL without credentials, query or fragment`,
    ]);
  });

  // the two spellings of one address must not get different answers
  it.each(['nginx', 'my_upstream', '_svc', 'my-upstream.internal', '10.0.0.7', '[::1]'])('takes %s as host:port and as a URL alike', (host) => {
    for (const portText of ['1', '8080', '65535']) {
      expect(valid({ HTTP_CLIENT: `${host}:${portText}` }).upstream).toBe(`http://${host}:${portText}`);
      expect(valid({ HTTP_CLIENT: `http://${host}:${portText}` }).upstream).toBe(`http://${host}:${portText}`);
    }
    for (const portText of ['0', '65536']) {
      expect(parseConfig({ HTTP_CLIENT: `${host}:${portText}` }).ok).toBe(false);
      expect(parseConfig({ HTTP_CLIENT: `http://${host}:${portText}` }).ok).toBe(false);
    }
  });
});

describe.each([
  ['ERROR_THRESHOLD', 'errorThreshold'],
  ['SUCCESS_THRESHOLD', 'successThreshold'],
  ['HALF_OPEN_MAX_CALLS', 'halfOpenMaxCalls'],
] as const)('%s', (name, key) => {
  it.each([
    ['1', 1],
    ['7', 7],
    [' 5 ', 5],
  ])('accepts %p', (value, expected) => {
    expect(valid({ [name]: value })[key]).toBe(expected);
  });

  it.each(['0', '-1', '2.5', '1e3', 'three', '', '0x10', '99999999999999999999'])('rejects %p', (value) => {
    expect(errors({ ...base, [name]: value })).toEqual([`${name}=${JSON.stringify(value)} is not valid: expected an integer >= 1`]);
  });
});

describe.each([
  ['TIME_WINDOW', 'timeWindowMs'],
  ['PROBE_INTERVAL', 'probeIntervalMs'],
  ['REQUEST_TIMEOUT', 'requestTimeoutMs'],
] as const)('%s', (name, key) => {
  it.each([
    ['10', 10_000],
    ['0.5', 500],
    ['.25', 250],
    ['1.0005', 1000.5],
    ['0.001', 1],
    ['0.0015', 1.5],
    ['86400', 86_400_000],
  ])('accepts %p seconds', (value, ms) => {
    expect(valid({ [name]: value })[key]).toBe(ms);
  });

  it.each(['0', '0.0', '-2', 'ten', '', '1s', '86401', 'Infinity', 'NaN', '1e2'])('rejects %p', (value) => {
    expect(errors({ ...base, [name]: value })).toEqual([
      `${name}=${JSON.stringify(value)} is not valid: expected a number of seconds >= 0.001 and <= 86400 (decimals allowed, e.g. 0.5)`,
    ]);
  });

  // these used to round to 0 ms and pass: a 0 ms TIME_WINDOW crashed the monitor at start
  it.each(['0.0000001', '.0000001', '0.0004', '0.0005', '0.0009', '0.0009999'])('rejects %p seconds, which is less than 1 ms', (value) => {
    expect(errors({ ...base, [name]: value })).toEqual([
      `${name}=${JSON.stringify(value)} is not valid: expected a number of seconds >= 0.001 and <= 86400 (decimals allowed, e.g. 0.5)`,
    ]);
  });
});

describe('ACCEPT_CLIENT_ERRORS', () => {
  it.each([
    ['true', true],
    ['True', true],
    ['TRUE', true],
    ['1', true],
    ['yes', true],
    ['false', false],
    ['False', false],
    ['0', false],
    ['No', false],
  ])('accepts %p as %p', (value, expected) => {
    expect(valid({ ACCEPT_CLIENT_ERRORS: value }).acceptClientErrors).toBe(expected);
  });

  it.each(['maybe', '', 'on', '2'])('rejects %p', (value) => {
    expect(errors({ ...base, ACCEPT_CLIENT_ERRORS: value })).toEqual([
      `ACCEPT_CLIENT_ERRORS=${JSON.stringify(value)} is not valid: expected true, false, 1, 0, yes or no (any case)`,
    ]);
  });
});

describe('LOG_LEVEL', () => {
  it.each([
    ['error', 'error'],
    ['WARN', 'warn'],
    ['WARNING', 'warn'],
    ['warning', 'warn'],
    ['Info', 'info'],
    ['debug', 'debug'],
  ])('accepts %p as %p', (value, expected) => {
    expect(valid({ LOG_LEVEL: value }).logLevel).toBe(expected);
  });

  it.each(['verbose', 'trace', '', 'silly'])('rejects %p', (value) => {
    expect(errors({ ...base, LOG_LEVEL: value })).toEqual([
      `LOG_LEVEL=${JSON.stringify(value)} is not valid: expected error, warn (or warning), info or debug (any case)`,
    ]);
  });
});

describe('LOG_FORMAT', () => {
  it.each([
    ['text', 'text'],
    ['JSON', 'json'],
  ])('accepts %p', (value, expected) => {
    expect(valid({ LOG_FORMAT: value }).logFormat).toBe(expected);
  });

  it.each(['yaml', ''])('rejects %p', (value) => {
    expect(errors({ ...base, LOG_FORMAT: value })).toEqual([`LOG_FORMAT=${JSON.stringify(value)} is not valid: expected text or json`]);
  });
});

describe('PROBE_PATH', () => {
  it.each(['/', '/health', '/a/b?x=1'])('accepts %p', (value) => {
    expect(valid({ PROBE_PATH: value }).probePath).toBe(value);
  });

  it.each(['health', '', '/a b', '/x#frag'])('rejects %p', (value) => {
    expect(errors({ ...base, PROBE_PATH: value })).toEqual([
      `PROBE_PATH=${JSON.stringify(value)} is not valid: expected a path starting with / (no spaces, no #), e.g. /health`,
    ]);
  });
});

describe.each([
  ['ADMIN_PORT', 'adminPort'],
  ['PROXY_PORT', 'proxyPort'],
] as const)('%s', (name, key) => {
  it.each([
    ['0', 0],
    ['1', 1],
    ['65535', 65535],
  ])('accepts %p', (value, expected) => {
    const other: Record<string, string> = name === 'ADMIN_PORT' ? { PROXY_PORT: '9' } : { ADMIN_PORT: '9' };
    expect(valid({ ...other, [name]: value })[key]).toBe(expected);
  });

  it.each(['65536', '-1', '80.5', 'http', ''])('rejects %p', (value) => {
    expect(errors({ ...base, [name]: value })).toEqual([`${name}=${JSON.stringify(value)} is not valid: expected a port 1-65535, or 0 to turn it off`]);
  });
});

describe('ADMIN_TOKEN', () => {
  const token = 'a-token-of-16-ch';

  it('is unset by default, and when empty (control off)', () => {
    expect(valid({}).adminToken).toBeUndefined();
    expect(valid({ ADMIN_TOKEN: '' }).adminToken).toBeUndefined();
  });

  it.each([token, 'x'.repeat(64), '!#$%&*+-./:;<=>?@[]^_`{|}~0123'])('accepts %p', (value) => {
    expect(valid({ ADMIN_TOKEN: value }).adminToken).toBe(value);
  });

  it.each([
    ['15 characters', token.slice(1)],
    ['a space inside', 'a token with spaces'],
    ['non-ASCII', 'tökentökentökentöken'],
  ])('rejects %s, without printing the value', (_, value) => {
    expect(errors({ ...base, ADMIN_TOKEN: value })).toEqual([
      `ADMIN_TOKEN=(hidden, ${value.length} characters) is not valid: expected at least 16 printable ASCII characters without spaces (or empty for control off)`,
    ]);
  });

  it('shows in the effective configuration as set or unset, never the token', () => {
    expect(describeConfig(valid({ ADMIN_TOKEN: token })).ADMIN_TOKEN).toBe('set');
    expect(describeConfig(valid({})).ADMIN_TOKEN).toBe('unset');
    expect(JSON.stringify(describeConfig(valid({ ADMIN_TOKEN: token })))).not.toContain(token);
  });
});

describe('LISTEN_ADDRESS', () => {
  it('is loopback by default: outside a container the servers are not on the network', () => {
    expect(valid({}).listenAddress).toBe('127.0.0.1');
    expect(describeConfig(valid({}))).toMatchObject({ LISTEN_ADDRESS: '127.0.0.1' });
  });

  it.each(['0.0.0.0', '127.0.0.1', '192.168.1.20', '::', '::1', 'fe80::1%eth0', '::ffff:127.0.0.1', ' 0.0.0.0 '])('accepts %p', (value) => {
    expect(valid({ LISTEN_ADDRESS: value }).listenAddress).toBe(value.trim());
  });

  it.each(['localhost', 'monitor', '[::1]', '0.0.0.0:8080', '256.1.1.1', '1.2.3', '01.2.3.4', ''])('rejects %p', (value) => {
    expect(errors({ ...base, LISTEN_ADDRESS: value })).toEqual([
      `LISTEN_ADDRESS=${JSON.stringify(value)} is not valid: expected an IPv4 or IPv6 address, without brackets: 127.0.0.1 or ::1 (this machine only), 0.0.0.0 (every IPv4 interface), :: (every interface), or one interface's address`,
    ]);
  });
});

describe('ADMIN_ALLOWED_HOSTS', () => {
  const accepts =
    'host names separated by commas, e.g. monitor,monitor.example.com (letters, digits, -, _ and dots; no port, no wildcard, no scheme)';

  it('is unset by default (IP addresses, localhost and the machine\'s name only), and when empty', () => {
    expect(valid({}).adminAllowedHosts).toEqual([]);
    expect(valid({ ADMIN_ALLOWED_HOSTS: '' }).adminAllowedHosts).toEqual([]);
    expect(describeConfig(valid({})).ADMIN_ALLOWED_HOSTS).toBe('unset');
  });

  it.each([
    ['monitor', ['monitor']],
    ['monitor,prometheus', ['monitor', 'prometheus']],
    [' Monitor , monitor.default.svc.cluster.local. ', ['monitor', 'monitor.default.svc.cluster.local']],
    ['my_service', ['my_service']],
    // compose writes `monitor,${ADMIN_ALLOWED_HOSTS:-}`: empty items are skipped
    ['monitor,', ['monitor']],
    ['monitor,,dash.example', ['monitor', 'dash.example']],
    [`${'a'.repeat(63)}.example`, [`${'a'.repeat(63)}.example`]],
  ])('accepts %p as %p (lower case, without the root dot)', (value, names) => {
    expect(valid({ ADMIN_ALLOWED_HOSTS: value }).adminAllowedHosts).toEqual(names);
    expect(describeConfig(valid({ ADMIN_ALLOWED_HOSTS: value })).ADMIN_ALLOWED_HOSTS).toBe(names.join(','));
  });

  it.each(['monitor:8081', '*.example.com', 'http://monitor', 'mon itor', '-monitor', 'monitor-', 'a..b', '[::1]', `${'a'.repeat(64)}.example`, `${'abc.'.repeat(64)}x`, 'monitor,bad name'])(
    'rejects %p, naming the variable, the value and what is accepted',
    (value) => {
      expect(errors({ ...base, ADMIN_ALLOWED_HOSTS: value })).toEqual([`ADMIN_ALLOWED_HOSTS=${JSON.stringify(value)} is not valid: expected ${accepts}`]);
    },
  );
});

describe('several problems', () => {
  it('reports every bad variable at once, one line each, in table order', () => {
    expect(
      errors({ ERROR_THRESHOLD: '0', TIME_WINDOW: '-1', ACCEPT_CLIENT_ERRORS: 'maybe', LOG_LEVEL: 'verbose', PROXY_PORT: '70000' }),
    ).toEqual([
      expect.stringMatching(/^HTTP_CLIENT is not set/),
      expect.stringMatching(/^ERROR_THRESHOLD="0"/),
      expect.stringMatching(/^TIME_WINDOW="-1"/),
      expect.stringMatching(/^ACCEPT_CLIENT_ERRORS="maybe"/),
      expect.stringMatching(/^LOG_LEVEL="verbose"/),
      expect.stringMatching(/^PROXY_PORT="70000"/),
    ]);
  });

  it('refuses the same port for the admin server and the proxy', () => {
    expect(errors({ ...base, ADMIN_PORT: '9000', PROXY_PORT: '9000' })).toEqual([
      'ADMIN_PORT and PROXY_PORT are both 9000: expected two different ports (or 0 to turn one off)',
    ]);
  });

  it('allows both servers off', () => {
    expect(valid({ ADMIN_PORT: '0', PROXY_PORT: '0' })).toMatchObject({ adminPort: 0, proxyPort: 0 });
  });
});

describe('trip and recovery policies', () => {
  it('describes them with the variable names', () => {
    expect(describeConfig(valid({}))).toMatchObject({
      SLOW_CALL_THRESHOLD: 'off',
      FAILURE_RATE_THRESHOLD: 'off',
      SLIDING_WINDOW: 20,
      MINIMUM_CALLS: 10,
      TIME_WINDOW_MAX: 10,
      HONOR_RETRY_AFTER: true,
    });
    expect(
      describeConfig(valid({ SLOW_CALL_THRESHOLD: '1.5', FAILURE_RATE_THRESHOLD: '50', SLIDING_WINDOW: '60s', TIME_WINDOW_MAX: '80', HONOR_RETRY_AFTER: 'no' })),
    ).toMatchObject({ SLOW_CALL_THRESHOLD: 1.5, FAILURE_RATE_THRESHOLD: 50, SLIDING_WINDOW: '60s', TIME_WINDOW_MAX: 80, HONOR_RETRY_AFTER: false });
  });

  describe('SLOW_CALL_THRESHOLD', () => {
    it.each([
      ['off', undefined],
      ['OFF', undefined],
      ['', undefined],
      ['1', 1_000],
      ['0.25', 250],
    ])('accepts %p', (value, expected) => {
      expect(valid({ SLOW_CALL_THRESHOLD: value }).slowCallThresholdMs).toBe(expected);
    });

    it.each(['0', '-1', 'fast', '1s'])('rejects %p', (value) => {
      expect(errors({ ...base, SLOW_CALL_THRESHOLD: value })).toEqual([
        `SLOW_CALL_THRESHOLD=${JSON.stringify(value)} is not valid: expected a number of seconds >= 0.001 and <= 86400 (decimals allowed, e.g. 0.5), or off`,
      ]);
    });
  });

  describe('FAILURE_RATE_THRESHOLD', () => {
    it.each([
      ['off', undefined],
      ['1', 1],
      ['50', 50],
      ['62.5', 62.5],
      ['100', 100],
    ])('accepts %p', (value, expected) => {
      expect(valid({ FAILURE_RATE_THRESHOLD: value }).failureRateThreshold).toBe(expected);
    });

    it.each(['0', '101', '50%', '-5', 'half'])('rejects %p', (value) => {
      expect(errors({ ...base, FAILURE_RATE_THRESHOLD: value })).toEqual([
        `FAILURE_RATE_THRESHOLD=${JSON.stringify(value)} is not valid: expected a percent from 1 to 100 (decimals allowed), or off`,
      ]);
    });
  });

  describe('SLIDING_WINDOW', () => {
    it.each([
      ['20', { calls: 20 }],
      ['1', { calls: 1 }],
      ['100000', { calls: 100_000 }],
      ['60s', { timeMs: 60_000 }],
      ['0.5S', { timeMs: 500 }],
    ])('accepts %p', (value, expected) => {
      expect(valid({ SLIDING_WINDOW: value }).slidingWindow).toEqual(expected);
    });

    it.each(['0', '100001', '-1s', '0s', '1m', 's', '2.5'])('rejects %p', (value) => {
      expect(errors({ ...base, SLIDING_WINDOW: value })).toEqual([
        `SLIDING_WINDOW=${JSON.stringify(value)} is not valid: expected a number of calls 1-100000 (e.g. 20), or seconds followed by s (e.g. 60s, 0.5s)`,
      ]);
    });
  });

  describe('MINIMUM_CALLS', () => {
    it('accepts an integer >= 1', () => {
      expect(valid({ MINIMUM_CALLS: '1' }).minimumCalls).toBe(1);
    });

    it.each(['0', '2.5', 'ten'])('rejects %p', (value) => {
      expect(errors({ ...base, MINIMUM_CALLS: value })).toEqual([`MINIMUM_CALLS=${JSON.stringify(value)} is not valid: expected an integer >= 1`]);
    });
  });

  describe('TIME_WINDOW_MAX', () => {
    it('is TIME_WINDOW when not set: no backoff', () => {
      expect(valid({ TIME_WINDOW: '3' }).timeWindowMaxMs).toBe(3_000);
    });

    it('accepts seconds at or above TIME_WINDOW', () => {
      expect(valid({ TIME_WINDOW: '3', TIME_WINDOW_MAX: '3' }).timeWindowMaxMs).toBe(3_000);
      expect(valid({ TIME_WINDOW: '3', TIME_WINDOW_MAX: '60.5' }).timeWindowMaxMs).toBe(60_500);
    });

    it.each(['0', 'long', ''])('rejects %p', (value) => {
      expect(errors({ ...base, TIME_WINDOW_MAX: value })).toEqual([
        `TIME_WINDOW_MAX=${JSON.stringify(value)} is not valid: expected a number of seconds >= 0.001 and <= 86400 (decimals allowed, e.g. 0.5)`,
      ]);
    });
  });

  describe('HONOR_RETRY_AFTER', () => {
    it.each([
      ['false', false],
      ['YES', true],
    ])('accepts %p', (value, expected) => {
      expect(valid({ HONOR_RETRY_AFTER: value }).honorRetryAfter).toBe(expected);
    });

    it('rejects anything else', () => {
      expect(errors({ ...base, HONOR_RETRY_AFTER: 'sometimes' })).toEqual([
        'HONOR_RETRY_AFTER="sometimes" is not valid: expected true, false, 1, 0, yes or no (any case)',
      ]);
    });
  });

  describe('variables that do not fit together', () => {
    it('TIME_WINDOW_MAX below TIME_WINDOW names both', () => {
      expect(errors({ ...base, TIME_WINDOW: '10', TIME_WINDOW_MAX: '5' })).toEqual([
        'TIME_WINDOW_MAX="5" is less than TIME_WINDOW=10: expected a number of seconds >= TIME_WINDOW (the longest open window cannot be shorter than the first)',
      ]);
    });

    it('TIME_WINDOW_MAX below the default TIME_WINDOW of 10 s', () => {
      expect(errors({ ...base, TIME_WINDOW_MAX: '2' })).toEqual([expect.stringMatching(/^TIME_WINDOW_MAX="2" is less than TIME_WINDOW=10:/)]);
    });

    it('SLOW_CALL_THRESHOLD at or over REQUEST_TIMEOUT names both', () => {
      expect(errors({ ...base, SLOW_CALL_THRESHOLD: '2', REQUEST_TIMEOUT: '2' })).toEqual([
        'SLOW_CALL_THRESHOLD="2" is not below REQUEST_TIMEOUT=2: expected fewer seconds than REQUEST_TIMEOUT (a call that slow times out first)',
      ]);
    });

    it('MINIMUM_CALLS over a SLIDING_WINDOW of calls, with the rate on, names both', () => {
      expect(errors({ ...base, FAILURE_RATE_THRESHOLD: '50', SLIDING_WINDOW: '20', MINIMUM_CALLS: '30' })).toEqual([
        'MINIMUM_CALLS="30" is more than SLIDING_WINDOW=20 calls: expected at most SLIDING_WINDOW (the window could never hold enough calls for the rate to trip)',
      ]);
      // a time window can hold any number of calls; with the rate off neither is used
      expect(valid({ FAILURE_RATE_THRESHOLD: '50', SLIDING_WINDOW: '10s', MINIMUM_CALLS: '30' }).minimumCalls).toBe(30);
      expect(valid({ SLIDING_WINDOW: '20', MINIMUM_CALLS: '30' }).minimumCalls).toBe(30);
    });

    it('a cross-variable check waits for both values to be valid, and comes with the other errors', () => {
      expect(errors({ ...base, TIME_WINDOW: 'x', TIME_WINDOW_MAX: '5', ERROR_THRESHOLD: '0' })).toEqual([
        expect.stringMatching(/^ERROR_THRESHOLD="0"/),
        expect.stringMatching(/^TIME_WINDOW="x"/),
      ]);
      expect(errors({ ...base, ERROR_THRESHOLD: '0', TIME_WINDOW_MAX: '5' })).toEqual([
        expect.stringMatching(/^ERROR_THRESHOLD="0"/),
        expect.stringMatching(/^TIME_WINDOW_MAX="5" is less than TIME_WINDOW=10/),
      ]);
    });
  });
});

describe('PROXY_FALLBACK and PROXY_CACHE_MAX_BYTES', () => {
  it('accepts stale and a byte bound', () => {
    expect(valid({ PROXY_FALLBACK: 'Stale', PROXY_CACHE_MAX_BYTES: '1048576' })).toMatchObject({ proxyFallback: 'stale', proxyCacheMaxBytes: 1_048_576 });
  });

  it('names each bad value and what is accepted', () => {
    expect(errors({ HTTP_CLIENT: 'nginx:80', PROXY_FALLBACK: 'cache', PROXY_CACHE_MAX_BYTES: '16MB' })).toEqual([
      'PROXY_FALLBACK="cache" is not valid: expected none or stale',
      'PROXY_CACHE_MAX_BYTES="16MB" is not valid: expected an integer >= 0',
    ]);
  });
});

describe('MAX_CONCURRENT_CALLS', () => {
  it('is off by default, for the default route too, and shows in the effective configuration', () => {
    const config = valid({});
    expect(config.maxConcurrentCalls).toBe('off');
    expect(config.routes[0]!.maxConcurrentCalls).toBe('off');
    expect(describeConfig(config)).toMatchObject({ MAX_CONCURRENT_CALLS: 'off' });
    expect(describeConfig(valid({ MAX_CONCURRENT_CALLS: '12' }))).toMatchObject({ MAX_CONCURRENT_CALLS: 12 });
  });

  it.each([
    ['off', 'off'],
    ['OFF', 'off'],
    ['', 'off'],
    ['adaptive', 'adaptive'],
    [' Adaptive ', 'adaptive'],
    ['1', 1],
    ['10', 10],
    ['5000', 5000],
  ])('accepts %p', (value, expected) => {
    const config = valid({ MAX_CONCURRENT_CALLS: value });
    expect(config.maxConcurrentCalls).toBe(expected);
    expect(config.routes[0]!.maxConcurrentCalls).toBe(expected);
  });

  it.each(['0', '-1', '2.5', '1e3', 'on', 'auto', 'fixed', '10%', '99999999999999999999'])('rejects %p', (value) => {
    expect(errors({ ...base, MAX_CONCURRENT_CALLS: value })).toEqual([
      `MAX_CONCURRENT_CALLS=${JSON.stringify(value)} is not valid: expected off, an integer >= 1 (a fixed limit), or adaptive`,
    ]);
  });
});
