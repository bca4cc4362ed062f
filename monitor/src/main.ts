/**
 * The monitor's entry point: wiring only. Configuration -> breaker -> probe loop, proxy and admin
 * server, with the logger and the metrics listening. See SPEC "Process" for the signal handling.
 */
import path from 'node:path';
import dotenv from 'dotenv';
import { createAdmin } from './admin/admin';
import { routeSettings } from './admin/route-settings';
import { registerAlertMetrics } from './alerts/alert-metrics';
import { createAlertWebhook } from './alerts/webhook';
import { CircuitBreaker, monotonicClock } from '@circuit-breaker-demo/breaker';
import { describeConfig, parseConfig } from './config';
import { LastOutcome } from './last-outcome';
import { createLogger, formatSeconds, routeLogger } from './logger';
import { ProbeLoop } from './probe/loop';
import { createMetrics } from './metrics';
import { createProbe } from './probe/probe';
import { registerCacheGauges } from './proxy/cache-metrics';
import { createLimiter } from './proxy/concurrency-limit';
import { createProxy } from './proxy/proxy';
import { StaleCache } from './proxy/stale-cache';
import { policyOptions } from './policy-options';
import type { ServerHandle } from './server-handle';
import { logTransition } from './transition-log';

/** Exit code for bad configuration (EX_CONFIG in sysexits.h). */
const EX_CONFIG = 78;
/** SIGTERM/SIGINT must end the process within 1 s, whatever still holds the event loop. */
const SHUTDOWN_DEADLINE_MS = 900;
/** Within that deadline, what the alert webhook's queue gets to flush; the rest is for closing and the stop line. */
const ALERT_FLUSH_MS = 500;

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
  // SPEC "Routes": each route its own breaker, probe loop, last outcome and stale cache; the lines
  // name the route only when there is more than one
  const named = config.routes.length > 1;
  const routes = config.routes.map((route) => {
    const breaker = new CircuitBreaker({
      errorThreshold: route.errorThreshold,
      successThreshold: route.successThreshold,
      openWindowMs: route.timeWindowMs,
      halfOpenMaxCalls: route.halfOpenMaxCalls,
      clock,
      ...policyOptions(route),
    });
    const routeLog = routeLogger(logger, route.name, named);
    breaker.onTransition((transition) => logTransition(routeLog, transition));
    // PROXY_FALLBACK=stale: the proxy keeps the last good answers to serve while the circuit rejects
    const fallbackCache = config.proxyFallback === 'stale' && config.proxyPort !== 0 ? new StaleCache({ maxBytes: config.proxyCacheMaxBytes }) : undefined;
    // the probe loop and the proxy write it, /status reads it
    const lastOutcome = new LastOutcome();
    // MAX_CONCURRENT_CALLS: proxied calls only (probes never take a slot), so none without the proxy
    const limiter = config.proxyPort === 0 ? undefined : createLimiter(route.maxConcurrentCalls, clock);
    return { config: route, breaker, logger: routeLog, fallbackCache, lastOutcome, limiter };
  });
  const first = routes[0]!;
  const metrics = createMetrics(
    routes.map(({ config: route, breaker, limiter }) => ({ name: route.name, breaker, ...(limiter === undefined ? {} : { limiter }) })),
    { defaultMetrics: true },
  );
  // one cache gauge set for the first route's cache: the byte bound is per route
  if (first.fallbackCache !== undefined) registerCacheGauges(metrics.registry, first.fallbackCache);
  const alerts = config.alertWebhook && createAlertWebhook(config.alertWebhook, { logger, upstream: config.upstream, clock });
  if (alerts) {
    for (const { config: route, breaker } of routes) breaker.onTransition(alerts.forRoute(route.name, route.upstream));
    registerAlertMetrics(metrics.registry, alerts);
  }
  const loops = routes.map(({ config: route, breaker, logger: routeLog, lastOutcome }) => {
    const probe = createProbe({ url: route.probeUrl, timeoutMs: route.requestTimeoutMs, acceptClientErrors: route.acceptClientErrors });
    return new ProbeLoop({ breaker, probe, logger: routeLog, clock, observer: metrics.route(route.name), lastOutcome }, route);
  });
  const loop = loops[0]!;
  const servers: { variable: string; name: string; port: number; handle: ServerHandle }[] = [];
  if (config.adminPort !== 0) {
    servers.push({
      variable: 'ADMIN_PORT',
      name: 'admin API',
      port: config.adminPort,
      handle: createAdmin({
        breaker: first.breaker,
        loop,
        lastOutcome: first.lastOutcome,
        metrics,
        config,
        logger,
        clock,
        routes: routes.map(({ config: route, breaker, lastOutcome, limiter }, i) => ({
          name: route.name,
          prefix: route.prefix,
          upstream: route.upstream,
          breaker,
          loop: loops[i]!,
          lastOutcome,
          quietLimitMs: route.probeIntervalMs + route.requestTimeoutMs,
          settings: routeSettings(route),
          ...(limiter === undefined ? {} : { limiter }),
        })),
      }),
    });
  }
  if (config.proxyPort !== 0) {
    servers.push({
      variable: 'PROXY_PORT',
      name: 'guarded proxy',
      port: config.proxyPort,
      handle: createProxy({
        logger,
        routes: routes.map(({ config: route, breaker, lastOutcome, fallbackCache, limiter }) => ({
          name: route.name,
          prefix: route.prefix,
          breaker,
          observer: metrics.route(route.name),
          lastOutcome,
          upstream: route.upstream,
          requestTimeoutMs: route.requestTimeoutMs,
          acceptClientErrors: route.acceptClientErrors,
          ...(fallbackCache === undefined ? {} : { fallbackCache }),
          ...(limiter === undefined ? {} : { limiter }),
        })),
      }),
    });
  }

  const effective = describeConfig(config);
  logger.info(
    `monitor started: probing ${config.routes.map((route) => (named ? `${route.name}=${route.probeUrl}` : route.probeUrl)).join(' ')} every ${formatSeconds(config.probeIntervalMs)} s; ` +
      Object.entries(effective)
        .map(([name, value]) => `${name}=${value}`)
        .join(' '),
    { event: 'start', config: effective },
  );

  let stopping = false;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    setTimeout(() => {
      // something still holds the event loop (a timer or a socket left behind: a bug to find)
      logger.warn(`shutdown not done after ${SHUTDOWN_DEADLINE_MS} ms: exiting anyway`, { event: 'stop', signal, forced: true });
      process.exit(0);
    }, SHUTDOWN_DEADLINE_MS).unref();
    void Promise.all([...loops.map((each) => each.stop()), ...servers.map((server) => server.handle.close()), alerts?.close(ALERT_FLUSH_MS)]).then(() => {
      const states = routes.map(({ config: route, breaker }) => (named ? `${route.name} ${breaker.state}` : breaker.state)).join(', ');
      logger.info(`monitor stopped (${signal}); final state: ${states}`, {
        event: 'stop',
        signal,
        state: first.breaker.state,
        ...(named ? { states: Object.fromEntries(routes.map(({ config: route, breaker }) => [route.name, breaker.state])) } : {}),
      });
      process.exitCode = 0;
    });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.on('unhandledRejection', (reason) => {
    logger.error(`unhandled rejection (a bug): ${String(reason)}`, { event: 'error' });
  });

  // probing starts once every server listens; a port that cannot be bound ends the process
  void Promise.all(
    servers.map(({ variable, name, port, handle }) =>
      handle.listen(port, config.listenAddress).then(
        (bound) => {
          logger.info(`${name} listening on port ${bound.port} at ${config.listenAddress}`, {
            event: 'listen',
            server: variable,
            port: bound.port,
            address: config.listenAddress,
          });
          return true;
        },
        (error: NodeJS.ErrnoException) => {
          logger.error(`${variable}=${port}: cannot listen: ${error.code ?? error.message}${listenHint(error.code, config.listenAddress)}`, {
            event: 'error',
            variable,
            port,
          });
          return false;
        },
      ),
    ),
  ).then((listening) => {
    if (stopping) return;
    if (listening.every(Boolean)) {
      for (const each of loops) each.start();
      return;
    }
    stopping = true;
    process.exitCode = 1;
    for (const server of servers) void server.handle.close();
  });
}

/** What a failed listen's code means here; an address this machine does not have names the variable. */
function listenHint(code: string | undefined, address: string): string {
  if (code === 'EADDRINUSE') return ' (port already in use)';
  if (code === 'EADDRNOTAVAIL' || code === 'EAFNOSUPPORT') return ` (LISTEN_ADDRESS=${address} is not available on this machine)`;
  return '';
}

main();
