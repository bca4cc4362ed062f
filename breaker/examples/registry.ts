/**
 * One breaker per host, from a registry: a failing host opens its own breaker and the others keep
 * being called (fault isolation). The breakers come from a template, one host has settings of its
 * own, and a bound on the number of hosts never forgets a tripped one.
 *
 *   npx ts-node breaker/examples/registry.ts
 */
import { BreakerRegistry, CircuitOpenError, execute } from '@circuit-breaker-demo/breaker';

const down = new Set(['reviews.internal', 'payments.internal']);

/** `catalog.internal` answers; the other two are down. Stands in for fetch(`https://${host}/...`). */
function callHost(host: string): Promise<string> {
  return down.has(host) ? Promise.reject(new Error(`connect ECONNREFUSED ${host}`)) : Promise.resolve(`200 from ${host}`);
}

const breakers = new BreakerRegistry({
  template: { errorThreshold: 3, openWindowMs: 10_000 },
  overrides: { 'payments.internal': { errorThreshold: 1 } },
  maxKeys: 256,
});
breakers.on('transition', ({ key, from, to }) => console.log(`  [${key}] ${from} -> ${to}`));

/** Every call to a host goes through that host's breaker. */
async function get(host: string): Promise<string> {
  try {
    return await execute(breakers.get(host), () => callHost(host));
  } catch (error) {
    return error instanceof CircuitOpenError ? `rejected at once: ${host} is open` : `failed: ${(error as Error).message}`;
  }
}

async function main(): Promise<void> {
  for (let round = 1; round <= 4; round++) {
    console.log(`round ${round}`);
    for (const host of ['catalog.internal', 'reviews.internal']) console.log(`  ${host}: ${await get(host)}`);
  }
  console.log('payments.internal, errorThreshold 1 (its override)');
  console.log(`  payments.internal: ${await get('payments.internal')}`);

  // a flood of new hosts: idle closed breakers make room, the open one stays
  for (let i = 0; i < 10_000; i++) breakers.get(`host-${i}.example`);
  console.log(`after 10,000 more hosts: ${breakers.size} kept (maxKeys 256), reviews.internal ${breakers.has('reviews.internal') ? breakers.get('reviews.internal').state : 'forgotten'}, catalog.internal ${breakers.has('catalog.internal') ? 'kept' : 'evicted (idle and closed)'}`);
}

void main();

/* prints:
round 1
  catalog.internal: 200 from catalog.internal
  reviews.internal: failed: connect ECONNREFUSED reviews.internal
round 2
  catalog.internal: 200 from catalog.internal
  reviews.internal: failed: connect ECONNREFUSED reviews.internal
round 3
  catalog.internal: 200 from catalog.internal
  [reviews.internal] closed -> open
  reviews.internal: failed: connect ECONNREFUSED reviews.internal
round 4
  catalog.internal: 200 from catalog.internal
  reviews.internal: rejected at once: reviews.internal is open
payments.internal, errorThreshold 1 (its override)
  [payments.internal] closed -> open
  payments.internal: failed: connect ECONNREFUSED payments.internal
after 10,000 more hosts: 256 kept (maxKeys 256), reviews.internal open, catalog.internal evicted (idle and closed)
*/
