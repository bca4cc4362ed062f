/** Gauges of the stale-answer cache (PROXY_FALLBACK=stale), read at each scrape. */
import { Gauge, type Registry } from 'prom-client';
import type { StaleCache } from './stale-cache';

export function registerCacheGauges(registry: Registry, cache: StaleCache): void {
  const registers = [registry];
  const entries = new Gauge({
    name: 'circuit_breaker_fallback_cache_entries',
    help: 'Answers held by the stale-answer cache of PROXY_FALLBACK=stale',
    registers,
    collect(): void {
      entries.set(cache.size);
    },
  });
  const bytes = new Gauge({
    name: 'circuit_breaker_fallback_cache_bytes',
    help: 'Bytes (headers and bodies) held by the stale-answer cache; at most PROXY_CACHE_MAX_BYTES',
    registers,
    collect(): void {
      bytes.set(cache.bytes);
    },
  });
}
