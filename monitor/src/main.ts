/**
 * The monitor's entry point: wiring only. Configuration -> breaker -> probe loop, with the
 * logger listening. See SPEC "Process" for the signal handling.
 */
import path from 'node:path';
import dotenv from 'dotenv';
import { CircuitBreaker } from './breaker';
import { monotonicClock } from './clock';
import { describeConfig, parseConfig } from './config';
import { createLogger, formatSeconds } from './logger';
import { ProbeLoop } from './loop';
import { createProbe } from './probe';
import { logTransition } from './transition-log';

/** Exit code for bad configuration (EX_CONFIG in sysexits.h). */
const EX_CONFIG = 78;
/** SIGTERM/SIGINT must end the process within 1 s, whatever still holds the event loop. */
const SHUTDOWN_DEADLINE_MS = 900;

function main(): void {
  // `.env` for local runs: from the directory npm was started in (so `npm start -w monitor` at
  // the root reads the root file), else the working directory. Variables already set win.
  dotenv.config({ path: path.resolve(process.env.INIT_CWD ?? process.cwd(), '.env'), quiet: true });
  const parsed = parseConfig(process.env);
  if (!parsed.ok) {
    for (const error of parsed.errors) process.stderr.write(`configuration error: ${error}\n`);
    process.exitCode = EX_CONFIG;
    return;
  }
  const config = parsed.config;
  const logger = createLogger({ level: config.logLevel, format: config.logFormat });
  const clock = monotonicClock;
  const breaker = new CircuitBreaker(
    {
      errorThreshold: config.errorThreshold,
      successThreshold: config.successThreshold,
      openWindowMs: config.timeWindowMs,
      halfOpenMaxCalls: config.halfOpenMaxCalls,
    },
    clock,
  );
  breaker.onTransition((transition) => logTransition(logger, transition));
  const probe = createProbe({ url: config.probeUrl, timeoutMs: config.requestTimeoutMs, acceptClientErrors: config.acceptClientErrors });
  const loop = new ProbeLoop(breaker, probe, config, logger, clock);

  const effective = describeConfig(config);
  logger.info(
    `monitor started: probing ${config.probeUrl} every ${formatSeconds(config.probeIntervalMs)} s; ` +
      Object.entries(effective)
        .map(([name, value]) => `${name}=${value}`)
        .join(' '),
    { event: 'start', config: effective },
  );

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => process.exit(0), SHUTDOWN_DEADLINE_MS).unref();
    void loop.stop().then(() => {
      logger.info(`monitor stopped (${signal}); final state: ${breaker.state}`, { event: 'stop', signal, state: breaker.state });
      process.exitCode = 0;
    });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.on('unhandledRejection', (reason) => {
    logger.error(`unhandled rejection (a bug): ${String(reason)}`, { event: 'error' });
  });

  loop.start();
}

main();
