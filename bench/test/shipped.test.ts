/** The benchmarks start the monitor as its image does: flags and environment read from its Dockerfile. */
import { shippedMonitor } from '../support/shipped';

const DOCKERFILE = [
  'FROM node:24-bookworm-slim AS build',
  'ENV NODE_OPTIONS=--build-stage-only',
  'FROM node:24-bookworm-slim',
  'ENV NODE_ENV=production',
  '# why',
  'ENV NODE_OPTIONS="--max-semi-space-size=4 --v8-pool-size=2" MALLOC_ARENA_MAX=2',
  'CMD ["node", "--stack-size=900", "monitor/dist/main.js"]',
].join('\n');

describe('the monitor as shipped', () => {
  it("takes node flags from the final stage's NODE_OPTIONS and CMD, and its other ENV as the environment", () => {
    expect(shippedMonitor(DOCKERFILE)).toEqual({
      nodeFlags: ['--max-semi-space-size=4', '--v8-pool-size=2', '--stack-size=900'],
      env: { NODE_ENV: 'production', MALLOC_ARENA_MAX: '2' },
      nodeMajor: 24,
    });
  });

  it('reads the real monitor/Dockerfile', () => {
    const shipped = shippedMonitor();
    expect(shipped.nodeMajor).toBeGreaterThanOrEqual(20);
    expect(shipped.env.NODE_ENV).toBe('production');
  });
});
