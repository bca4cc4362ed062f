/** Small statistics for benchmark samples: medians and spread, never a single run. */

export interface Summary {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

/** The p-th percentile (0-100) of a sample, linear between the two nearest ranks. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return percentileOfSorted(sorted, p);
}

/** Like percentile, for a sample already sorted ascending (large latency arrays). */
export function percentileOfSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const low = Math.floor(rank);
  const high = Math.ceil(rank);
  const lowValue = sorted[low] as number;
  return lowValue + ((sorted[high] as number) - lowValue) * (rank - low);
}

export function summarize(values: readonly number[]): Summary {
  return {
    median: percentile(values, 50),
    min: values.length === 0 ? NaN : Math.min(...values),
    max: values.length === 0 ? NaN : Math.max(...values),
    n: values.length,
  };
}

/** `median (min-max)` with the given number of decimals. */
export function formatSummary(summary: Summary, decimals = 0): string {
  return `${fixed(summary.median, decimals)} (${fixed(summary.min, decimals)}-${fixed(summary.max, decimals)})`;
}

export function fixed(value: number, decimals = 0): string {
  if (!Number.isFinite(value)) return String(value);
  return value.toLocaleString('en-US', { minimumFractionDigits: decimals, maximumFractionDigits: decimals });
}

/** Fisher-Yates, in place; returns the array. */
export function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}
