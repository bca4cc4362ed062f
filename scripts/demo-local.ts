/**
 * `npm run demo:local`: the demo without Docker. Starts the local stack (real nginx from Debian's
 * nginx-light, the built upstream and monitor on loopback), prints every line, and takes commands
 * on stdin to move the breaker:
 *
 *   stop            stop nginx (SIGQUIT, as `docker compose stop nginx` does)
 *   start           start nginx again
 *   fault <mode>    flip the upstream's fault switch through nginx (normal, error, client-error, hang, reset, slow, flaky; with a query: fault slow?ms=1800)
 *   status          the monitor's /status
 *   quit            stop everything (Ctrl-C does too)
 */
import { createInterface } from 'node:readline';
import { startLocalStack } from '../test/support/local-stack';

async function main(): Promise<void> {
  const monitorEnv = Object.fromEntries(
    ['ERROR_THRESHOLD', 'TIME_WINDOW', 'ACCEPT_CLIENT_ERRORS', 'LOG_LEVEL', 'PROBE_INTERVAL', 'PROBE_PATH', 'REQUEST_TIMEOUT', 'SUCCESS_THRESHOLD', 'HALF_OPEN_MAX_CALLS', 'LOG_FORMAT']
      .filter((name) => process.env[name] !== undefined)
      .map((name) => [name, process.env[name] as string]),
  );
  const stack = await startLocalStack({
    monitorEnv,
    onLine: (service, line) => process.stdout.write(`${service.padEnd(8)} | ${line}\n`),
  });
  const say = (line: string) => process.stdout.write(`demo     | ${line}\n`);
  say(`nginx ${stack.nginx.url}  proxy ${stack.proxyUrl}  admin ${stack.adminUrl}/status`);
  say('commands: stop | start | fault <normal|error|client-error|hang|reset|slow|flaky>[?query] | status | quit');

  let quitting = false;
  const quit = async () => {
    if (quitting) return;
    quitting = true;
    await stack.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void quit());
  process.on('SIGTERM', () => void quit());

  const input = createInterface({ input: process.stdin });
  input.on('close', () => void quit());
  for await (const raw of input) {
    const [command, argument] = raw.trim().split(/\s+/);
    try {
      if (command === 'stop') await stack.nginx.stop();
      else if (command === 'start') await stack.nginx.start();
      else if (command === 'fault') {
        const response = await fetch(`${stack.nginx.url}/fault/${argument ?? 'normal'}`, { method: 'PUT' });
        say(`fault switch: HTTP ${response.status} ${await response.text()}`);
      } else if (command === 'status') say(await (await fetch(`${stack.adminUrl}/status`)).text());
      else if (command === 'quit') await quit();
      else if (command) say(`unknown command: ${command}`);
    } catch (error) {
      say(`${command} failed: ${(error as Error).message}`);
    }
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`demo:local failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
