/**
 * prometheus/alerts.yml as a prometheus-operator PrometheusRule, on stdout: the same groups, under
 * `spec`. The prometheus-operator overlay's prometheusrule.yaml is this script's output, which the
 * infra suite checks.
 *
 *   npm run -s k8s:prometheusrule > deploy/kubernetes/overlays/prometheus-operator/prometheusrule.yaml
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, stringify } from 'yaml';

const ROOT = path.resolve(__dirname, '../../..');

export function prometheusRule(alertsYaml: string): string {
  const { groups } = parse(alertsYaml) as { groups: unknown[] };
  const rule = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'circuit-breaker', labels: { 'app.kubernetes.io/name': 'monitor', 'app.kubernetes.io/part-of': 'circuit-breaker-demo' } },
    spec: { groups },
  };
  const header = [
    '# Generated from prometheus/alerts.yml by deploy/kubernetes/tools/prometheus-rule.ts (the infra suite',
    '# checks that it is up to date): spec.groups is that file\'s groups. After changing the rules:',
    '#   npm run -s k8s:prometheusrule > deploy/kubernetes/overlays/prometheus-operator/prometheusrule.yaml',
  ];
  return `${header.join('\n')}\n${stringify(rule, { lineWidth: 0 })}`;
}

if (require.main === module) {
  process.stdout.write(prometheusRule(readFileSync(path.join(ROOT, 'prometheus/alerts.yml'), 'utf8')));
}
