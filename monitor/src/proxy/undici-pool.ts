/**
 * undici's Pool class alone. undici's entry point loads all of undici (fetch, WebSocket, the cache
 * and mock dispatchers, the proxy agents) before it hands out Pool; the proxy needs none of that.
 * Loading only the pool module keeps 3.3 MB less resident in a Node 24 monitor (idle, five starts
 * each: 82.2-82.8 MB against 85.4-86.5 MB) for the same class: `undici` has no `exports` map, so
 * the path is reachable, and the lockfile pins the version this path is tested with (a moved file
 * fails every proxy test at once, at require time). What the proxy uses is all there: `dispatch`,
 * `close`, `destroy`. undici's entry point is what adds `request`, `stream` and `pipeline` to every
 * dispatcher, so a Pool from here has none of them.
 */
import type { Pool as UndiciPool } from 'undici';

// eslint-disable-next-line @typescript-eslint/no-require-imports -- a CommonJS module without typings of its own
export const Pool: typeof UndiciPool = require('undici/lib/dispatcher/pool');
export type Pool = UndiciPool;
