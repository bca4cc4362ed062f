/**
 * Preloaded into the monitor by the footprint benchmark (`node --expose-gc -r <this> main.js`):
 * on SIGUSR2, collects garbage and appends one JSON line of process.memoryUsage() to the file named
 * by BENCH_HEAP_REPORT. Plain JavaScript so that nothing else (no ts-node) lands in the process
 * being measured; the monitor itself is unchanged.
 */
const { appendFileSync } = require('node:fs');

const file = process.env.BENCH_HEAP_REPORT;
if (file && typeof global.gc === 'function') {
  process.on('SIGUSR2', () => {
    global.gc();
    global.gc();
    appendFileSync(file, `${JSON.stringify({ at: Date.now(), ...process.memoryUsage() })}\n`);
  });
}
