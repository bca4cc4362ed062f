/**
 * The upstream's configuration, read once from the environment at the edge. Nothing else reads
 * `process.env`.
 */

export interface UpstreamConfig {
  /** 0 asks the OS for a free port; the real one is printed at start. */
  readonly port: number;
  readonly host: string;
}

export type ConfigResult =
  | { readonly ok: true; readonly config: UpstreamConfig }
  | { readonly ok: false; readonly errors: readonly string[] };

/** Same exit code as the monitor's bad configuration (EX_CONFIG from sysexits.h). */
export const EXIT_BAD_CONFIG = 78;

export function parseConfig(env: Readonly<Record<string, string | undefined>>): ConfigResult {
  const errors: string[] = [];
  const rawPort = env.PORT?.trim() || '3000';
  const port = /^\d+$/.test(rawPort) ? Number(rawPort) : NaN;
  if (!(port >= 0 && port <= 65535)) {
    errors.push(`PORT="${env.PORT}" is not valid: expected an integer 0-65535 (0 = any free port)`);
  }
  const host = env.HOST?.trim() || '0.0.0.0';
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, config: Object.freeze({ port, host }) };
}
