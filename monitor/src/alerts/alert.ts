/**
 * The alert a transition becomes (SPEC "Alerts"), and the bytes POSTed for it: the alert object
 * itself (`json`), or a one-line `{"text": ...}` for Slack-style incoming webhooks (`slack`).
 */
import type { State, Transition, TransitionCause } from '@circuit-breaker-demo/breaker';
import type { AlertFormat } from '../config';
import { transitionMessage } from '../transition-log';

export interface Alert {
  /** unique per transition, the same on every retry: a receiver drops duplicates by it */
  readonly id: string;
  readonly from: State;
  readonly to: State;
  /** why, as a word: failures, window_elapsed, trial_failed, trials_succeeded, manual */
  readonly cause: TransitionCause['kind'];
  /** the last failure's reason (`ECONNREFUSED`, `HTTP 502`...) when a failure caused it, else null */
  readonly reason: string | null;
  /** the log line for the transition, for people */
  readonly message: string;
  /** wall-clock time of the transition, ISO-8601 */
  readonly at: string;
  /** the upstream of the route that changed (HTTP_CLIENT without a routes file) */
  readonly upstream: string;
  /** the route that changed (`default` without a routes file) */
  readonly route: string;
  /** the monitor's host name (the container id under compose) */
  readonly host: string;
  /** when `to` is open: seconds until the trial, else null */
  readonly retryInSeconds: number | null;
}

export interface AlertContext {
  readonly upstream: string;
  readonly route: string;
  readonly host: string;
  /** wall-clock ms of the transition (the breaker's own clock is monotonic) */
  readonly wallTimeMs: number;
  readonly id: string;
}

export function alertOf(transition: Transition, context: AlertContext): Alert {
  const { cause } = transition;
  return {
    id: context.id,
    from: transition.from,
    to: transition.to,
    cause: cause.kind,
    reason: 'lastReason' in cause ? cause.lastReason : null,
    message: transitionMessage(transition),
    at: new Date(context.wallTimeMs).toISOString(),
    upstream: context.upstream,
    route: context.route,
    host: context.host,
    retryInSeconds: transition.openForMs === undefined ? null : transition.openForMs / 1000,
  };
}

/** Slack shows these shortcodes as coloured circles; the state is in the words too. */
const MARK: Record<State, string> = {
  closed: ':large_green_circle:',
  half_open: ':large_yellow_circle:',
  open: ':red_circle:',
  isolated: ':no_entry:',
};

/** The request body for the alert, in the configured format. */
export function alertBody(alert: Alert, format: AlertFormat): string {
  if (format === 'json') return JSON.stringify(alert);
  return JSON.stringify({ text: `${MARK[alert.to]} ${alert.route === 'default' ? '' : `route ${alert.route}: `}${alert.message}: upstream ${alert.upstream}, monitor ${alert.host}, at ${alert.at}` });
}
