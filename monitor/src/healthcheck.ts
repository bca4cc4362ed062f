/**
 * The container's HEALTHCHECK: exit 0 when the monitor's /healthz answers 200 (its probe loop is
 * alive), 1 otherwise. With the admin server off (ADMIN_PORT=0) there is nothing to ask: healthy.
 */
const port = Number(process.env.ADMIN_PORT ?? '8081');

if (port === 0) {
  process.exit(0);
}

fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2_000) }).then(
  (response) => process.exit(response.ok ? 0 : 1),
  () => process.exit(1),
);
