/**
 * The webhook's figures in /metrics: alerts by how they ended, and the queue's length. Read from
 * the webhook at each scrape; registered only when ALERT_WEBHOOK_URL is set.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { AlertWebhook, WebhookCounts } from './webhook';

const OUTCOMES: readonly (keyof WebhookCounts)[] = ['sent', 'failed', 'dropped'];

export function registerAlertMetrics(registry: Registry, webhook: AlertWebhook): void {
  const reported: WebhookCounts = { sent: 0, failed: 0, dropped: 0 };
  const alerts: Counter<'outcome'> = new Counter({
    name: 'circuit_breaker_alerts_total',
    help:
      'Transition alerts by how they ended: sent (the webhook answered 2xx); failed (given up: a 3xx/4xx answer, ' +
      'or every try failed on a network error, timeout, 5xx, 408 or 429); dropped (never sent to the end: the queue was full, or shutdown)',
    labelNames: ['outcome'],
    registers: [registry],
    collect: (): void => {
      const totals = webhook.totals;
      for (const outcome of OUTCOMES) {
        const delta = totals[outcome] - reported[outcome];
        if (delta > 0) alerts.inc({ outcome }, delta);
        reported[outcome] = totals[outcome];
      }
    },
  });
  for (const outcome of OUTCOMES) alerts.inc({ outcome }, 0);
  const queued: Gauge = new Gauge({
    name: 'circuit_breaker_alerts_queued',
    help: 'Transition alerts waiting to be sent to the webhook (the one being sent not included)',
    registers: [registry],
    collect: (): void => queued.set(webhook.queued),
  });
}
