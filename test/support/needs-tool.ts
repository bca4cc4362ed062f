/** Test blocks that need a program from the machine (nginx, docker-compose). */

const inCi = !['', '0', 'false'].includes(process.env.CI ?? '');

/**
 * `describe` where `tool` is installed. Without it the block is skipped on a developer machine but
 * fails in CI, where a skip would let the run pass without these checks. `missing` says how to
 * install it.
 */
export function describeWithTool(tool: string, installed: boolean, missing: string, name: string, tests: () => void): void {
  if (installed) describe(name, tests);
  else if (inCi) {
    describe(name, () => {
      it(`needs ${tool}`, () => {
        throw new Error(`${missing}; CI is set, so this fails instead of skipping`);
      });
    });
  } else describe.skip(`${name} (skipped: ${missing})`, tests);
}
