/**
 * Style 3: each call goes through `execute` with an invocation timeout and a fallback, and a
 * monitor is alerted when the circuit opens and when it is closed again. The remote call is a
 * function that answers after `delayMs`; it hangs while "down" and answers in 5 ms when "up".
 *
 *   npx ts-node breaker/examples/execute.ts
 */
import { CircuitBreaker, CircuitOpenError, execute, TimeoutError } from '@circuit-breaker-demo/breaker';

let remoteIsUp = false;

/** A remote call that honours its abort signal, as fetch and axios do. */
function quote(symbol: string, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => resolve(`${symbol}: 101.5`), remoteIsUp ? 5 : 60_000);
    signal.addEventListener('abort', () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

const breaker = new CircuitBreaker({ errorThreshold: 2, successThreshold: 1, openWindowMs: 300 });

// the monitor: alerted on open and on reset (closed again)
breaker.onTransition(({ from, to }) => {
  if (to === 'open') console.log(`ALERT: circuit opened (from ${from}); calls fail fast now`);
  if (to === 'closed') console.log('ALERT: circuit closed again; the remote service is back');
});

/** The call: 100 ms to answer, else a timeout; while the circuit is open, the last known price. */
const call = (symbol: string): Promise<string> =>
  execute(breaker, (signal) => quote(symbol, signal), {
    timeoutMs: 100,
    fallback: (error) => `${symbol}: 100.0 (stale; ${error instanceof CircuitOpenError ? 'circuit open' : error instanceof TimeoutError ? error.message : 'failed'})`,
  });

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  for (let i = 0; i < 3; i += 1) console.log(await call('ACME'));
  remoteIsUp = true;
  console.log(await call('ACME'));
  await sleep(350); // the open window ends: the next call is the trial
  console.log(await call('ACME'));
}

void main();

/* prints:
ACME: 100.0 (stale; timeout after 100 ms)
ALERT: circuit opened (from closed); calls fail fast now
ACME: 100.0 (stale; timeout after 100 ms)
ACME: 100.0 (stale; circuit open)
ACME: 100.0 (stale; circuit open)
ALERT: circuit closed again; the remote service is back
ACME: 101.5
*/
