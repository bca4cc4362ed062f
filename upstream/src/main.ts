/**
 * Wiring only: configuration from the environment, the server, logs to stdout, signals.
 */
import { EXIT_BAD_CONFIG, parseConfig } from './config';
import { createUpstreamServer } from './server';

/** The contract: exit 0 within 1 s of SIGTERM, whatever clients are doing. */
const SHUTDOWN_GRACE_MS = 500;
const SHUTDOWN_LIMIT_MS = 900;

async function main(): Promise<void> {
  const parsed = parseConfig(process.env);
  if (!parsed.ok) {
    for (const error of parsed.errors) console.error(error);
    process.exit(EXIT_BAD_CONFIG);
  }
  const { port, host } = parsed.config;
  const upstream = createUpstreamServer({ log: (line) => console.log(line) });

  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    console.log(`${new Date().toISOString()} ${signal} received, shutting down`);
    // Once closed, nothing is left to keep the event loop alive and node exits 0 by itself, after
    // the last requests' log lines. Should something stall, this still exits on time.
    setTimeout(() => process.exit(0), SHUTDOWN_LIMIT_MS).unref();
    void upstream.close(SHUTDOWN_GRACE_MS).then(() => console.log(`${new Date().toISOString()} upstream stopped`));
  };
  // Before listening: a signal that arrives as soon as the port is announced must find its handler,
  // not node's default action (killed by the signal, no exit code).
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);

  const address = await upstream.listen(port, host);
  if (stopping) {
    // The signal came while binding: stop() found nothing to close yet.
    await upstream.close(0);
    return;
  }
  console.log(`${new Date().toISOString()} upstream listening on http://${address.address}:${address.port} (fault mode ${upstream.fault().mode})`);
}

main().catch((error: unknown) => {
  console.error(`upstream failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
