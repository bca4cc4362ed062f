import { PassThrough } from 'node:stream';
import { createLogger } from '../src/logger';
import type { LogFormat, LogLevel } from '../src/config';

function capture(format: LogFormat, level: LogLevel = 'info') {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk.toString()));
  const logger = createLogger({ level, format, stream });
  const lines = async () => {
    await new Promise((resolve) => setImmediate(resolve));
    return chunks.join('').split('\n').filter(Boolean);
  };
  return { logger, lines };
}

it('text: one line, `<ISO-8601 time> <level> <message>`', async () => {
  const { logger, lines } = capture('text');
  logger.warn('Circuit changed from closed to open (3 consecutive failures, last: ENOTFOUND; trial in 10 s)', {
    event: 'transition',
    from: 'closed',
    to: 'open',
  });
  expect(await lines()).toEqual([
    expect.stringMatching(
      /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z warn Circuit changed from closed to open \(3 consecutive failures, last: ENOTFOUND; trial in 10 s\)$/,
    ),
  ]);
});

it('json: one object per line with time, level, msg, event and the fields', async () => {
  const { logger, lines } = capture('json');
  logger.info('probe ok: HTTP 200 in 3 ms', { event: 'probe', status: 200, latencyMs: 3 });
  const [line] = await lines();
  expect(JSON.parse(line ?? '')).toEqual({
    time: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/),
    level: 'info',
    msg: 'probe ok: HTTP 200 in 3 ms',
    event: 'probe',
    status: 200,
    latencyMs: 3,
  });
});

it('drops lines below LOG_LEVEL', async () => {
  const { logger, lines } = capture('text', 'warn');
  logger.info('not shown', { event: 'probe' });
  logger.debug('not shown', { event: 'probe' });
  logger.warn('shown', { event: 'probe' });
  logger.error('shown too', { event: 'error' });
  expect((await lines()).map((line) => line.split(' ').slice(1).join(' '))).toEqual(['warn shown', 'error shown too']);
});

it('debug level shows debug lines', async () => {
  const { logger, lines } = capture('text', 'debug');
  logger.debug('details', { event: 'skip' });
  expect(await lines()).toEqual([expect.stringMatching(/ debug details$/)]);
});
