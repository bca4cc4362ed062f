/** Turns the breaker's transition events into log lines (SPEC "Logs": the exact transition phrase). */
import type { Transition } from '@circuit-breaker-demo/breaker';
import { formatSeconds, type Logger } from './logger';

/** `Circuit changed from <from> to <to> (<context>)`. */
export function transitionMessage(transition: Transition): string {
  return `Circuit changed from ${transition.from} to ${transition.to} (${context(transition)})`;
}

function context(transition: Transition): string {
  const { cause, openForMs, retryAfterMs } = transition;
  const asked = retryAfterMs === undefined ? '' : ", as the upstream's Retry-After asked";
  const trialIn = `trial in ${formatSeconds(openForMs ?? 0)} s${asked}`;
  switch (cause.kind) {
    case 'failures':
      return `${cause.failures} consecutive failures, last: ${cause.lastReason}; ${trialIn}`;
    case 'failure_rate':
      return `${rateWords(cause.ratePercent, cause.calls, cause.windowMs)}, last: ${cause.lastReason}; ${trialIn}`;
    case 'trial_failed':
      return `trial failed: ${cause.lastReason}; ${trialIn}`;
    case 'window_elapsed':
      return 'open window ended; sending trial calls';
    case 'trials_succeeded':
      return `${cause.successes} consecutive trial successes`;
    case 'manual':
      return transition.to === 'isolated' ? 'manual: isolated until reset' : 'manual: reset';
  }
}

/** `failure rate 60% over the last 20 calls`, or `... over the last 60 s (25 calls)` for a time window. */
export function rateWords(ratePercent: number, calls: number, windowMs: number | undefined): string {
  const rate = `failure rate ${Math.round(ratePercent * 10) / 10}%`;
  return windowMs === undefined ? `${rate} over the last ${calls} calls` : `${rate} over the last ${formatSeconds(windowMs)} s (${calls} calls)`;
}

/** Logs one line per transition: warn when the circuit opens, info otherwise. */
export function logTransition(logger: Logger, transition: Transition): void {
  const fields = {
    event: 'transition' as const,
    from: transition.from,
    to: transition.to,
    cause: transition.cause.kind,
    ...('failures' in transition.cause ? { failures: transition.cause.failures } : {}),
    ...('lastReason' in transition.cause ? { reason: transition.cause.lastReason } : {}),
    ...(transition.cause.kind === 'failure_rate'
      ? { failureRatePercent: transition.cause.ratePercent, windowCalls: transition.cause.calls, windowFailures: transition.cause.failures }
      : {}),
    ...(transition.openForMs === undefined ? {} : { retryInSeconds: transition.openForMs / 1000 }),
    ...(transition.retryAfterMs === undefined ? {} : { retryAfterSeconds: transition.retryAfterMs / 1000 }),
  };
  if (transition.to === 'open') logger.warn(transitionMessage(transition), fields);
  else logger.info(transitionMessage(transition), fields);
}
