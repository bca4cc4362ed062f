/**
 * prometheus/: the alert rules checked and unit-tested with promtool (Debian's prometheus package,
 * installed by scripts/setup-test-deps.sh), the scrape config checked, and the unit tests held to
 * covering every alert both ways (fires, stays quiet), and shown to fail on broken rules.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { describeWithTool } from '../support/needs-tool';

const ROOT = path.resolve(__dirname, '../..');
const PROMETHEUS = path.join(ROOT, 'prometheus');
const JOB = 'circuit-breaker-monitor';

interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}
interface AlertTest {
  eval_time: string;
  alertname: string;
  exp_alerts: { exp_labels: Record<string, string> }[];
}
interface UnitTests {
  rule_files: string[];
  tests: { name: string; alert_rule_test?: AlertTest[] }[];
}
interface ScrapeConfig {
  global?: Record<string, string>;
  rule_files?: string[];
  scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
}

const readYaml = <T>(file: string): T => parse(readFileSync(file, 'utf8')) as T;
const rules = readYaml<RuleFile>(path.join(PROMETHEUS, 'alerts.yml'));
const alerts = rules.groups.flatMap((group) => group.rules).filter((rule) => rule.alert !== undefined);

const promtoolFound = spawnSync('promtool', ['--version'], { encoding: 'utf8' }).status === 0;
const NO_PROMTOOL = 'promtool is not installed: `npm run setup:test` installs Debian\'s prometheus package';

function promtool(...args: string[]): { status: number | null; output: string } {
  const result = spawnSync('promtool', args, { cwd: ROOT, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

it('ships the alerts the issues ask for: open too long, flapping, calls rejected, calls overloaded, the monitor down or missing', () => {
  expect(alerts.map((rule) => rule.alert)).toEqual([
    'CircuitBreakerOpen',
    'CircuitBreakerFlapping',
    'CircuitBreakerRejectingCalls',
    'CircuitBreakerOverloaded',
    'CircuitBreakerMonitorDown',
    'CircuitBreakerMonitorMissing',
  ]);
});

it.each(alerts.map((rule) => [rule.alert, rule] as const))('%s has a severity, a summary and a description', (_name, rule) => {
  expect(['critical', 'warning']).toContain(rule.labels?.severity);
  expect(rule.annotations?.summary).toMatch(/\S/);
  expect(rule.annotations?.description?.length).toBeGreaterThan(120);
});

it('counts every state but closed as not closed, so isolated (and any later state) is covered', () => {
  const notClosed = rules.groups.flatMap((group) => group.rules).find((rule) => rule.record === 'instance:circuit_breaker_not_closed:max');
  expect(notClosed?.expr).toContain('circuit_breaker_state{state!="closed"}');
});

it('selects the scrape job that prometheus.yml defines', () => {
  const config = readYaml<ScrapeConfig>(path.join(PROMETHEUS, 'prometheus.yml'));
  expect(config.scrape_configs.map((scrape) => scrape.job_name)).toEqual([JOB]);
  for (const rule of alerts.filter((candidate) => candidate.expr.includes('up{'))) expect(rule.expr).toContain(`up{job="${JOB}"}`);
});

it('scrapes the monitor on the admin port it listens on by default', () => {
  const config = readYaml<ScrapeConfig>(path.join(PROMETHEUS, 'prometheus.yml'));
  const adminPort = /^ADMIN_PORT=(\d+)$/m.exec(readFileSync(path.join(ROOT, '.env'), 'utf8'))?.[1];
  expect(config.scrape_configs[0]?.static_configs).toEqual([{ targets: [`monitor:${adminPort}`] }]);
});

it('the compose suite\'s config differs from the shipped one in its intervals only', () => {
  const shipped = readYaml<ScrapeConfig>(path.join(PROMETHEUS, 'prometheus.yml'));
  const test = readYaml<ScrapeConfig>(path.join(ROOT, 'test/docker/prometheus.test.yml'));
  expect({ ...test, global: undefined }).toEqual({ ...shipped, global: undefined });
  expect(test.global).toEqual({ scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' });
});

it('names one Prometheus image everywhere: compose, the lab\'s stand-in, the READMEs and docs/', () => {
  const image = (parse(readFileSync(path.join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as { services: Record<string, { image?: string }> })
    .services.prometheus?.image;
  expect(image).toMatch(/^prom\/prometheus:v\d+\.\d+\.\d+$/);
  expect(readFileSync(path.join(ROOT, 'test/docker/lab.sh'), 'utf8')).toMatch(new RegExp(`^PROMETHEUS_TAG=${image}( |$)`, 'm'));
  const tagsIn = (file: string) => [...new Set([...readFileSync(path.join(ROOT, file), 'utf8').matchAll(/prom\/prometheus:v[\d.]+/g)].map((match) => match[0]))];
  for (const file of ['docs/alerts.md', 'test/docker/README.md', 'test/docker/lab.sh']) expect([file, tagsIn(file)]).toEqual([file, [image]]);
  // the README and every page of docs/ that names one names this one
  for (const file of ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)]) {
    for (const tag of tagsIn(file)) expect([file, tag]).toEqual([file, image]);
  }
});

it('unit-tests every alert both ways: firing at some time, quiet at another', () => {
  const unitTests = readYaml<UnitTests>(path.join(PROMETHEUS, 'test/alerts.test.yml'));
  const checks = unitTests.tests.flatMap((test) => test.alert_rule_test ?? []);
  for (const rule of alerts) {
    const own = checks.filter((check) => check.alertname === rule.alert);
    expect([rule.alert, own.some((check) => check.exp_alerts.length > 0)]).toEqual([rule.alert, true]);
    expect([rule.alert, own.some((check) => check.exp_alerts.length === 0)]).toEqual([rule.alert, true]);
  }
});

describeWithTool('promtool', promtoolFound, NO_PROMTOOL, 'promtool', () => {
  it('`promtool check rules` accepts alerts.yml', () => {
    const { status, output } = promtool('check', 'rules', 'prometheus/alerts.yml');
    expect([status, output]).toEqual([0, expect.stringContaining('SUCCESS: 12 rules found')]);
  });

  it('`promtool check config` accepts prometheus.yml and the rules it names', () => {
    const { status, output } = promtool('check', 'config', 'prometheus/prometheus.yml');
    expect([status, output]).toEqual([0, expect.stringContaining('is valid prometheus config file syntax')]);
  });

  it('`promtool test rules` passes every unit test', () => {
    const { status, output } = promtool('test', 'rules', 'prometheus/test/alerts.test.yml');
    expect([status, output]).toEqual([0, expect.stringContaining('SUCCESS')]);
  });

  /** The unit tests against a copy of alerts.yml changed by `mutate`: their promtool output. */
  function unitTestsAgainst(mutate: (rulesText: string) => string): { status: number | null; output: string } {
    const dir = mkdtempSync(path.join(tmpdir(), 'cbdemo-rules-'));
    try {
      cpSync(path.join(PROMETHEUS, 'test'), path.join(dir, 'test'), { recursive: true });
      const original = readFileSync(path.join(PROMETHEUS, 'alerts.yml'), 'utf8');
      const mutated = mutate(original);
      expect(mutated).not.toBe(original);
      writeFileSync(path.join(dir, 'alerts.yml'), mutated);
      return promtool('test', 'rules', path.join(dir, 'test/alerts.test.yml'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it.each([
    ['every alert firing at once (no `for:`)', (text: string) => text.replace(/^ {8}for: .*\n/gm, '')],
    ['the open alert looking at state="open" only', (text: string) => text.replace('{state!="closed"}', '{state="open"}')],
    ['flapping counting every transition', (text: string) => text.replace('{from="closed", to="open"}', '')],
    ['the monitor\'s own probes counted as rejected calls', (text: string) => text.replace(/\{source!="probe"\}/g, '')],
    ['no floor on the call rate', (text: string) => text.replace(/\n\s+and instance_source:circuit_breaker_calls:rate5m\{source!="probe"\} >= 0\.1/, '')],
    ['the overloaded share counting every outcome', (text: string) => text.replace('{outcome="overloaded"}', '')],
    ['no floor on the call rate of overloaded calls', (text: string) => text.replace(/\n\s+and instance_source:circuit_breaker_calls:rate5m\{source="proxy"\} >= 0\.1/, '')],
    ['the overloaded share over 5 minutes', (text: string) => text.replace('[1m]))\n          / sum without (outcome) (rate(circuit_breaker_calls_total[1m]))', '[5m]))\n          / sum without (outcome) (rate(circuit_breaker_calls_total[5m]))')],
  ])('the unit tests fail for rules with %s', (_name, mutate) => {
    const { status, output } = unitTestsAgainst(mutate);
    expect(status).not.toBe(0);
    expect(output).toContain('FAILED');
  });
});
