/**
 * The container's HEALTHCHECK: exit 0 when the monitor's /healthz answers 200 (its probe loop is
 * alive), 1 otherwise. With the admin server off (ADMIN_PORT=0) there is nothing to ask: healthy.
 * It asks where the monitor listens (LISTEN_ADDRESS): loopback when that is every interface.
 */
const port = Number(process.env.ADMIN_PORT ?? '8081');
const address = process.env.LISTEN_ADDRESS?.trim() || '127.0.0.1';

if (port === 0) {
  process.exit(0);
}

const host = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '[::1]' : address.includes(':') ? `[${address.replace('%', '%25')}]` : address;

fetch(`http://${host}:${port}/healthz`, { signal: AbortSignal.timeout(2_000) }).then(
  (response) => process.exit(response.ok ? 0 : 1),
  () => process.exit(1),
);
