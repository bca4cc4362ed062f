/**
 * How long a client may take over its request, on every server the monitor runs (the proxy and the
 * admin API), so a slow or silent client cannot hold a connection (SPEC "Guarded reverse proxy":
 * limits on header time). Node enforces both times only every connectionsCheckingIntervalMs: its
 * default, 30 s, would let a silent client stay up to ~29 s past the header time.
 */
export const CLIENT_LIMITS = {
  /** a client must send its request headers within this time, in ms, or get 408 */
  headersTimeoutMs: 10_000,
  /** a client must send its whole request, headers and body, within this time of its first byte, in ms */
  clientRequestTimeoutMs: 30_000,
  /** how often Node checks the two times above, in ms */
  connectionsCheckingIntervalMs: 1_000,
} as const;
