/**
 * Slow calls: a success that took longer than the threshold counts as a failure, with the reason
 * `slow: <ms> ms`. Undefined when the call was not slow (or no threshold is set).
 */
export function slowReason(durationMs: number, thresholdMs: number | undefined): string | undefined {
  if (thresholdMs === undefined || !(durationMs > thresholdMs)) return undefined;
  return `slow: ${Math.round(durationMs)} ms`;
}
