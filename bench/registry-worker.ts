/**
 * One measurement of the breaker registry in a fresh process (part 1, issue 23):
 *
 *   node registry-worker.js time <hit|miss|evict>   -> { nsPerGet, gets }
 *   node --expose-gc registry-worker.js memory <keys> <maxKeys>  -> { heapBytes, size }
 *
 * `hit`: get() of a key the registry keeps (the lookup and the recency bump). `miss`: get() of a
 * new key with room left (a breaker made from the template). `evict`: get() of a new key with
 * every slot taken by idle closed breakers (one evicted, one made). `memory`: `keys` distinct keys
 * through a registry of `maxKeys`; the heap it holds is the heap after a full GC with the registry,
 * less the heap after another once it is dropped.
 */
import { BreakerRegistry } from '@circuit-breaker-demo/breaker';

const BUDGET_MS = 400;

function timeGets(kind: string): { nsPerGet: number; gets: number } {
  const keys = Array.from({ length: 100_000 }, (_, i) => `host-${i}.example`);
  const registry = new BreakerRegistry({ maxKeys: kind === 'evict' ? 256 : 200_000, template: { errorThreshold: 5 } });
  if (kind === 'hit') for (let i = 0; i < 256; i++) registry.get(keys[i] as string);
  if (kind === 'evict') for (let i = 0; i < 256; i++) registry.get(`warm-${i}`);
  let sink = 0;
  let gets = 0;
  const started = process.hrtime.bigint();
  // hits cycle over 256 kept keys; misses and evictions walk new keys (each used once)
  // a miss uses each key once: it stops when they run out
  while (Number(process.hrtime.bigint() - started) / 1e6 < BUDGET_MS && !(kind === 'miss' && gets >= keys.length)) {
    for (let i = 0; i < 1_000; i++) {
      const key = kind === 'hit' ? (keys[(gets + i) & 255] as string) : (keys[(gets + i) % keys.length] as string);
      sink += registry.get(key).state.length;
    }
    gets += 1_000;
  }
  const ns = Number(process.hrtime.bigint() - started);
  if (sink === 0) throw new Error('nothing measured');
  return { nsPerGet: ns / gets, gets };
}

function memory(keyCount: number, maxKeys: number): { heapBytes: number; size: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with --expose-gc');
  const keys = Array.from({ length: keyCount }, (_, i) => `host-${i}.example`);
  // the registry lives only inside fill(): once it returns, what the registry held is garbage
  const fill = () => {
    const registry = new BreakerRegistry({ maxKeys });
    for (const key of keys) registry.get(key);
    gc();
    return { kept: process.memoryUsage().heapUsed, size: registry.size };
  };
  const { kept, size } = fill();
  // the same process without the registry: what it held is the difference (code and keys stay on both sides)
  gc();
  return { heapBytes: kept - process.memoryUsage().heapUsed, size };
}

const [measure, a, b] = process.argv.slice(2);
const result = measure === 'time' ? timeGets(a ?? 'hit') : memory(Number(a), Number(b));
process.stdout.write(`${JSON.stringify(result)}\n`);
