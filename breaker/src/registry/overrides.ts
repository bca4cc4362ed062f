import type { BreakerOptions } from '../breaker';
import type { SlidingWindowOptions } from '../policies/sliding-window';

/** A breaker's settings without its clock: a registry gives all its breakers one clock. */
export type BreakerSettings = Omit<BreakerOptions, 'clock'>;

/**
 * A sliding window over another: `{ calls }` or `{ timeMs }` sets a window of its own; `{ buckets }`
 * alone changes a time window's buckets and keeps its length.
 */
export type SlidingWindowOverride = { readonly calls: number } | { readonly timeMs?: number; readonly buckets?: number };

/** Settings for some keys, each over the template's: any breaker setting, the sliding window field by field. */
export type BreakerOverrides = Omit<BreakerSettings, 'slidingWindow'> & { readonly slidingWindow?: SlidingWindowOverride };

/**
 * The template with `overrides` over it, field by field: a field the overrides leave out (or set to
 * undefined) is the template's, and a sliding window of the same kind is merged field by field too.
 * Throws a RangeError for buckets over a count window (buckets split a time window).
 */
export function mergeSettings(template: BreakerSettings, overrides: BreakerOverrides | undefined): BreakerSettings {
  if (overrides === undefined) return template;
  const merged: Record<string, unknown> = { ...template };
  for (const [field, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    merged[field] = field === 'slidingWindow' ? mergeWindow(template.slidingWindow, value as SlidingWindowOverride) : value;
  }
  return merged as BreakerSettings;
}

function mergeWindow(template: SlidingWindowOptions | undefined, overrides: SlidingWindowOverride): SlidingWindowOptions | undefined {
  if ('calls' in overrides && overrides.calls !== undefined) return { calls: overrides.calls };
  const { timeMs, buckets } = overrides as { readonly timeMs?: number; readonly buckets?: number };
  if (timeMs === undefined && buckets === undefined) return template;
  const timed = template !== undefined && 'timeMs' in template ? template : undefined;
  // a time window in place of a count window starts from the breaker's default buckets, not the template's
  const length = timeMs ?? timed?.timeMs;
  if (length === undefined) throw new RangeError(`slidingWindow.buckets (${buckets}) needs a timeMs: the template's window counts calls`);
  const split = buckets ?? timed?.buckets;
  return split === undefined ? { timeMs: length } : { timeMs: length, buckets: split };
}
