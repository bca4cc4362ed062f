// One jest run from the root covers every package. Each suite is a project, so
// `jest --selectProjects monitor` narrows a run. ts-jest compiles with TypeScript 6
// (TypeScript 7 has no JavaScript compiler API); `isolatedModules` keeps it fast and
// `npm run typecheck` does the type checking.
const tsJest = ['ts-jest', { tsconfig: '<rootDir>/tsconfig.json' }];

/** @param {string} name @param {string[]} testMatch @param {object} [extra] */
const project = (name, testMatch, extra = {}) => ({
  displayName: name,
  rootDir: __dirname,
  testEnvironment: 'node',
  testMatch: testMatch.map((glob) => `<rootDir>/${glob}`),
  transform: { '^.+\\.ts$': tsJest },
  ...extra,
});

module.exports = {
  projects: [
    project('monitor', ['monitor/test/**/*.test.ts']),
    project('upstream', ['upstream/test/**/*.test.ts']),
    // the benchmarks' own helpers (the benchmarks themselves are scripts: npm run bench)
    project('bench', ['bench/test/**/*.test.ts']),
    // compose file, Dockerfiles and nginx config checked statically and with `nginx -t`
    project('infra', ['test/infra/**/*.test.ts']),
    // real processes: nginx, upstream and monitor on loopback
    project('e2e-local', ['test/e2e/local/**/*.test.ts']),
    // the compose stack on a real Docker engine
    project('e2e-compose', ['test/e2e/compose/**/*.test.ts']),
  ],
};
