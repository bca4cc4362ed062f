/**
 * Style 1: a decorator on the class that calls the remote service. After three failures in a row
 * the method stops calling the service and throws a CircuitOpenError at once.
 *
 *   npx ts-node breaker/examples/decorator.ts
 */
import { CircuitBreaker, CircuitOpenError, guarded } from '@circuit-breaker-demo/breaker';

const breaker = new CircuitBreaker({ errorThreshold: 3, openWindowMs: 20_000 });
breaker.onTransition(({ from, to }) => console.log(`circuit: ${from} -> ${to}`));

class PaymentService {
  calls = 0;

  @guarded(breaker, { timeoutMs: 1_000 })
  async charge(account: string, cents: number): Promise<string> {
    this.calls += 1;
    // the remote side is down: every call fails
    throw new Error(`payment gateway unreachable (charging ${cents} cents to ${account})`);
  }
}

async function main(): Promise<void> {
  const payments = new PaymentService();
  for (let attempt = 1; attempt <= 5; attempt += 1) {
    try {
      await payments.charge('acct-7', 1_250);
    } catch (error) {
      const what = error instanceof CircuitOpenError ? `CircuitOpenError (${error.state}), the service was not called` : (error as Error).message;
      console.log(`attempt ${attempt}: ${what}`);
    }
  }
  console.log(`the service was called ${payments.calls} times`);
}

void main();

/* prints:
attempt 1: payment gateway unreachable (charging 1250 cents to acct-7)
attempt 2: payment gateway unreachable (charging 1250 cents to acct-7)
circuit: closed -> open
attempt 3: payment gateway unreachable (charging 1250 cents to acct-7)
attempt 4: CircuitOpenError (open), the service was not called
attempt 5: CircuitOpenError (open), the service was not called
the service was called 3 times
*/
