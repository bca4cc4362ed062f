/** ALERT_WEBHOOK_URL, ALERT_WEBHOOK_AUTHORIZATION and ALERT_WEBHOOK_FORMAT (config.ts), kept apart from config.test.ts. */
import { describeConfig, parseConfig, type Config } from '../src/config';

const base = { HTTP_CLIENT: 'nginx:80' };

function valid(env: Record<string, string>): Config {
  const result = parseConfig({ ...base, ...env });
  if (!result.ok) throw new Error(`expected valid, got: ${result.errors.join('; ')}`);
  return result.config;
}

function errors(env: Record<string, string>): readonly string[] {
  const result = parseConfig({ ...base, ...env });
  if (result.ok) throw new Error('expected configuration errors');
  return result.errors;
}

const URL_ACCEPTS = 'expected an http:// or https:// URL without credentials or fragment (an Authorization header goes in ALERT_WEBHOOK_AUTHORIZATION)';

describe('ALERT_WEBHOOK_URL', () => {
  it('is off when unset or empty, and then nothing about it shows in the effective configuration', () => {
    for (const env of [{}, { ALERT_WEBHOOK_URL: '' }, { ALERT_WEBHOOK_URL: '  ' }] as Record<string, string>[]) {
      const config = valid(env);
      expect(config.alertWebhook).toBeUndefined();
      expect(Object.keys(describeConfig(config)).filter((name) => name.startsWith('ALERT'))).toEqual([]);
    }
  });

  it.each([
    ['http://receiver:9000/alerts', 'http://receiver:9000/alerts'],
    ['https://hooks.slack.com/services/T0/B0/secret', 'https://hooks.slack.com/services/T0/B0/secret'],
    ['HTTPS://Example.test', 'https://example.test/'],
    ['http://127.0.0.1:8080/hook?channel=ops', 'http://127.0.0.1:8080/hook?channel=ops'],
  ])('accepts %s', (value, url) => {
    expect(valid({ ALERT_WEBHOOK_URL: value }).alertWebhook).toEqual({ url, format: 'json' });
  });

  it.each(['receiver:9000', 'ftp://receiver/x', 'http://', 'http://receiver:0/', 'http://receiver/x#top', 'not a url'])('rejects %p', (value) => {
    expect(errors({ ALERT_WEBHOOK_URL: value })).toEqual([`ALERT_WEBHOOK_URL=${JSON.stringify(value)} is not valid: ${URL_ACCEPTS}`]);
  });

  it.each([
    ['https://user:s3cret@hooks.example/x', 'https://***@hooks.example/x'],
    ['http://token@receiver:9000/', 'http://***@receiver:9000/'],
    ['http://a:b@c@receiver/', 'http://***@receiver/'],
  ])('refuses credentials in %s without ever printing them', (value, shown) => {
    const lines = errors({ ALERT_WEBHOOK_URL: value });
    expect(lines).toEqual([`ALERT_WEBHOOK_URL="${shown}" is not valid: ${URL_ACCEPTS}`]);
    expect(lines.join('\n')).not.toMatch(/s3cret|token|a:b/);
  });

  it('shows only the scheme, host and port in the effective configuration: the path may hold a token', () => {
    expect(describeConfig(valid({ ALERT_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/secret' }))).toMatchObject({
      ALERT_WEBHOOK_URL: 'https://hooks.slack.com/...',
      ALERT_WEBHOOK_FORMAT: 'json',
    });
    expect(describeConfig(valid({ ALERT_WEBHOOK_URL: 'http://receiver:9000' })).ALERT_WEBHOOK_URL).toBe('http://receiver:9000');
    expect(describeConfig(valid({ ALERT_WEBHOOK_URL: 'http://receiver:9000/?token=x' })).ALERT_WEBHOOK_URL).toBe('http://receiver:9000/...');
  });
});

describe('ALERT_WEBHOOK_AUTHORIZATION', () => {
  const url = { ALERT_WEBHOOK_URL: 'https://receiver.test/alerts' };

  it('is the Authorization header, shown as "(set)" and never as itself', () => {
    const config = valid({ ...url, ALERT_WEBHOOK_AUTHORIZATION: 'Bearer abc.def-123' });
    expect(config.alertWebhook).toEqual({ url: 'https://receiver.test/alerts', authorization: 'Bearer abc.def-123', format: 'json' });
    expect(describeConfig(config)).toMatchObject({ ALERT_WEBHOOK_AUTHORIZATION: '(set)' });
    expect(JSON.stringify(describeConfig(config))).not.toContain('abc.def');
  });

  it.each(['Bearer a\nX-Injected: 1', 'Bearer \u00e9t\u00e9', 'Bearer\u0007x'])('rejects %p without printing it', (value) => {
    const lines = errors({ ...url, ALERT_WEBHOOK_AUTHORIZATION: value });
    expect(lines).toEqual([
      `ALERT_WEBHOOK_AUTHORIZATION=(hidden, ${value.length} characters) is not valid: expected an Authorization header value, e.g. "Bearer <token>" (visible ASCII and spaces only)`,
    ]);
  });

  it('needs ALERT_WEBHOOK_URL', () => {
    expect(errors({ ALERT_WEBHOOK_AUTHORIZATION: 'Bearer abc' })).toEqual([
      'ALERT_WEBHOOK_AUTHORIZATION is set but ALERT_WEBHOOK_URL is not: expected ALERT_WEBHOOK_URL too, or ALERT_WEBHOOK_AUTHORIZATION unset',
    ]);
  });
});

describe('ALERT_WEBHOOK_FORMAT', () => {
  const url = { ALERT_WEBHOOK_URL: 'https://receiver.test/alerts' };

  it.each([
    ['json', 'json'],
    ['SLACK', 'slack'],
    [' slack ', 'slack'],
  ])('accepts %p', (value, format) => {
    expect(valid({ ...url, ALERT_WEBHOOK_FORMAT: value }).alertWebhook?.format).toBe(format);
  });

  it('rejects anything else', () => {
    expect(errors({ ...url, ALERT_WEBHOOK_FORMAT: 'teams' })).toEqual(['ALERT_WEBHOOK_FORMAT="teams" is not valid: expected json or slack']);
  });

  it('needs ALERT_WEBHOOK_URL', () => {
    expect(errors({ ALERT_WEBHOOK_FORMAT: 'slack' })).toEqual([
      'ALERT_WEBHOOK_FORMAT is set but ALERT_WEBHOOK_URL is not: expected ALERT_WEBHOOK_URL too, or ALERT_WEBHOOK_FORMAT unset',
    ]);
  });

  it('is reported with the other bad variables at once', () => {
    expect(errors({ ERROR_THRESHOLD: '0', ALERT_WEBHOOK_URL: 'ftp://x', ALERT_WEBHOOK_FORMAT: 'teams' })).toEqual([
      expect.stringMatching(/^ERROR_THRESHOLD="0"/),
      expect.stringMatching(/^ALERT_WEBHOOK_URL="ftp:\/\/x"/),
      expect.stringMatching(/^ALERT_WEBHOOK_FORMAT="teams"/),
    ]);
  });
});
