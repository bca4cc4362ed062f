/**
 * Preloaded into the monitor by the footprint benchmark (`node --expose-gc -r <this> main.js`):
 * on SIGUSR2, notes the size of each V8 heap space, collects garbage, and appends one JSON line to
 * the file named by BENCH_HEAP_REPORT: process.memoryUsage() after the collection, and the spaces'
 * physical sizes before and after it (where the heap's share of RSS sits: young generation, old
 * generation, code). Plain JavaScript so that nothing else (no ts-node) lands in the process being
 * measured; the monitor itself is unchanged.
 */
const { appendFileSync } = require('node:fs');
const v8 = require('node:v8');

const file = process.env.BENCH_HEAP_REPORT;
const spaces = () => Object.fromEntries(v8.getHeapSpaceStatistics().map((space) => [space.space_name, space.physical_space_size]));
if (file && typeof global.gc === 'function') {
  process.on('SIGUSR2', () => {
    const spacesBeforeGc = spaces();
    global.gc();
    global.gc();
    appendFileSync(file, `${JSON.stringify({ at: Date.now(), ...process.memoryUsage(), spacesBeforeGc, spacesAfterGc: spaces() })}\n`);
  });
}
