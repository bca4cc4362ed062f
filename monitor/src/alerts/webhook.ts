/**
 * The alert webhook: one POST per transition, off the probe's and the proxy's path.
 *
 * A transition only builds its alert and puts it in a bounded queue (synchronously, no I/O); one
 * sender works through the queue in order, one POST at a time, each bounded by a timeout, retried
 * with exponential backoff when worth it, then given up. When the queue is full the oldest waiting
 * alert is dropped: the newest says most about the circuit now. Nothing the receiver does (down,
 * slow, hanging, garbage) reaches the breaker. On shutdown the queue gets a bounded flush.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { Clock, Transition } from '@circuit-breaker-demo/breaker';
import type { AlertWebhookConfig } from '../config';
import { formatSeconds, type Logger } from '../logger';
import { alertBody, alertOf, type Alert } from './alert';
import { createPost, type Delivery, type Post } from './post';
import { realTimers, type Timers } from '../timers';


export interface WebhookPolicy {
  /** alerts waiting to be sent, besides the one being sent */
  readonly capacity: number;
  /** one POST, to the answer's headers */
  readonly timeoutMs: number;
  /** tries per alert, the first included */
  readonly attempts: number;
  /** wait before the first retry; doubled before each next one */
  readonly backoffMs: number;
}

/** 4 tries in about 7 s (+ timeouts): outlasts a receiver's restart, not an outage. */
export const WEBHOOK_POLICY: WebhookPolicy = { capacity: 100, timeoutMs: 5_000, attempts: 4, backoffMs: 1_000 };

/** How alerts ended: sent (a 2xx), failed (given up: tries used up or a 4xx), dropped (queue full, or shutdown). */
export interface WebhookCounts {
  sent: number;
  failed: number;
  dropped: number;
}

export interface WebhookDeps {
  readonly logger: Logger;
  /** HTTP_CLIENT, named in each alert */
  readonly upstream: string;
  readonly post?: Post;
  readonly timers?: Timers;
  /** monotonic ms, for the shutdown deadline */
  readonly clock?: Clock;
  /** wall-clock ms, for the alert's `at` */
  readonly wallClock?: () => number;
  readonly host?: string;
  readonly newId?: () => string;
  readonly policy?: Partial<WebhookPolicy>;
}

interface Queued {
  readonly alert: Alert;
  readonly body: string;
}

export class AlertWebhook {
  private readonly queue: Queued[] = [];
  private readonly counts: WebhookCounts = { sent: 0, failed: 0, dropped: 0 };
  private readonly policy: WebhookPolicy;
  private readonly post: Post;
  private readonly timers: Timers;
  private readonly clock: Clock;
  private readonly wallClock: () => number;
  private readonly host: string;
  private readonly newId: () => string;
  private readonly logger: Logger;
  /** the latest drain, for close() to wait on */
  private sending: Promise<void> | undefined;
  private draining = false;
  private closing: Promise<void> | undefined;
  private kick: unknown;
  /** ends the backoff wait in progress: shutdown cuts it short */
  private wake: (() => void) | undefined;
  /** aborts the POST in flight at the shutdown deadline */
  private readonly stop = new AbortController();
  /** set once close() is called: monotonic ms by which the flush must end */
  private deadline: number | undefined;

  constructor(
    private readonly config: AlertWebhookConfig,
    private readonly deps: WebhookDeps,
  ) {
    this.policy = { ...WEBHOOK_POLICY, ...deps.policy };
    this.post = deps.post ?? createPost({ url: config.url, authorization: config.authorization });
    this.timers = deps.timers ?? realTimers;
    this.clock = deps.clock ?? { now: () => performance.now() };
    this.wallClock = deps.wallClock ?? Date.now;
    this.host = deps.host ?? os.hostname();
    this.newId = deps.newId ?? randomUUID;
    this.logger = deps.logger;
  }

  /** The breaker's transition listener (the one route, `default`): queues the alert and returns at once. Never throws. */
  readonly transition = (transition: Transition): void => this.alert(transition, 'default', this.deps.upstream);

  /** The transition listener of one route's breaker (SPEC "Routes": the alert says which). */
  forRoute(route: string, upstream: string): (transition: Transition) => void {
    return (transition) => this.alert(transition, route, upstream);
  }

  private alert(transition: Transition, route: string, upstream: string): void {
    try {
      const alert = alertOf(transition, { upstream, route, host: this.host, wallTimeMs: this.wallClock(), id: this.newId() });
      this.enqueue({ alert, body: alertBody(alert, this.config.format) });
    } catch (error) {
      // a bug of ours must not break the breaker's caller (a probe, a proxied request)
      this.logger.error(`alert not queued: ${String(error)}`, { event: 'alert' });
    }
  }

  /** sent, failed and dropped so far */
  get totals(): Readonly<WebhookCounts> {
    return { ...this.counts };
  }

  /** alerts waiting, the one being sent not included */
  get queued(): number {
    return this.queue.length;
  }

  /**
   * Stops taking alerts and gives those queued until `budgetMs` to go out: a backoff wait is cut
   * short, a POST gets what is left of the budget. Then the POST in flight is aborted, and what is
   * left is counted as dropped. Resolves when nothing of the webhook is left running.
   */
  close(budgetMs: number): Promise<void> {
    this.closing ??= this.flush(budgetMs);
    return this.closing;
  }

  private async flush(budgetMs: number): Promise<void> {
    this.deadline = this.clock.now() + budgetMs;
    if (this.kick !== undefined) {
      this.timers.clearTimeout(this.kick);
      this.kick = undefined;
      if (this.queue.length > 0) this.startSending();
    }
    const droppedBefore = this.counts.dropped;
    const cutoff = this.timers.setTimeout(() => this.stop.abort(), budgetMs);
    this.wake?.();
    await this.sending;
    this.timers.clearTimeout(cutoff);
    this.counts.dropped += this.queue.splice(0).length;
    const dropped = this.counts.dropped - droppedBefore;
    if (dropped > 0) {
      this.logger.warn(`alert webhook: ${dropped} alert${dropped === 1 ? '' : 's'} not sent within the shutdown budget of ${budgetMs} ms`, {
        event: 'alert',
        outcome: 'dropped',
        dropped,
      });
    }
  }

  private enqueue(item: Queued): void {
    if (this.deadline !== undefined) {
      this.counts.dropped += 1;
      return;
    }
    if (this.queue.length >= this.policy.capacity) {
      const oldest = this.queue.shift() as Queued;
      this.counts.dropped += 1;
      this.logger.warn(`alert dropped: ${describe(oldest.alert)}: ${this.policy.capacity} alerts waiting, the oldest gives way`, {
        event: 'alert',
        ...fields(oldest.alert),
        outcome: 'dropped',
      });
    }
    this.queue.push(item);
    // sent from a timer of its own, never from inside the breaker's caller
    if (!this.draining && this.kick === undefined) {
      this.kick = this.timers.setTimeout(() => {
        this.kick = undefined;
        this.startSending();
      }, 0);
    }
  }

  private startSending(): void {
    this.sending = this.drain();
  }

  /** Sends the queue in order until it is empty. */
  private async drain(): Promise<void> {
    this.draining = true;
    for (let next = this.queue.shift(); next !== undefined; next = this.queue.shift()) {
      if (this.stop.signal.aborted) {
        this.counts.dropped += 1;
        continue;
      }
      await this.deliver(next);
    }
    // in the same tick as the last look at the queue: an alert queued after it starts a new drain
    this.draining = false;
  }

  /** Tries one alert until it is sent, refused, out of tries, or the shutdown deadline comes. */
  private async deliver({ alert, body }: Queued): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const delivery = await this.tryPost(body);
      if (delivery.kind === 'sent') {
        this.counts.sent += 1;
        this.logger.debug(`alert sent: ${describe(alert)} (HTTP ${delivery.status}, try ${attempt})`, { event: 'alert', ...fields(alert), outcome: 'sent', attempt });
        return;
      }
      if (delivery.kind === 'aborted') {
        this.counts.dropped += 1;
        return;
      }
      const waitMs = this.policy.backoffMs * 2 ** (attempt - 1);
      const left = this.deadline === undefined ? Infinity : this.deadline - this.clock.now();
      if (delivery.kind === 'refused' || attempt >= this.policy.attempts || left <= 0) {
        this.counts.failed += 1;
        const why = delivery.kind === 'refused' ? `${delivery.reason}, not retried` : `${delivery.reason} (try ${attempt} of ${this.policy.attempts})`;
        this.logger.warn(`alert not delivered: ${describe(alert)}: ${why}`, { event: 'alert', ...fields(alert), outcome: 'failed', reason: delivery.reason, attempt });
        return;
      }
      this.logger.debug(`alert POST failed: ${describe(alert)}: ${delivery.reason}; retry in ${formatSeconds(waitMs)} s`, {
        event: 'alert',
        ...fields(alert),
        outcome: 'retry',
        reason: delivery.reason,
        attempt,
      });
      // during the flush there is no time to wait: try again at once
      if (this.deadline === undefined) await this.sleep(waitMs);
    }
  }

  private tryPost(body: string): Promise<Delivery> {
    const left = this.deadline === undefined ? this.policy.timeoutMs : Math.min(this.policy.timeoutMs, this.deadline - this.clock.now());
    if (left <= 0 || this.stop.signal.aborted) return Promise.resolve({ kind: 'aborted' });
    // a Post never throws; if one does, it is a bug of ours, counted like a network error
    return this.post(body, left, this.stop.signal).catch((error: unknown) => ({ kind: 'retry', reason: String(error) }));
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.timers.clearTimeout(handle);
        this.wake = undefined;
        resolve();
      };
      const handle = this.timers.setTimeout(wake, ms);
      this.wake = wake;
    });
  }
}

function describe(alert: Alert): string {
  return `${alert.from} -> ${alert.to} (id ${alert.id})`;
}

function fields(alert: Alert): Record<string, unknown> {
  return { id: alert.id, from: alert.from, to: alert.to };
}

export function createAlertWebhook(config: AlertWebhookConfig, deps: WebhookDeps): AlertWebhook {
  return new AlertWebhook(config, deps);
}
