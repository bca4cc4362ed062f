/**
 * One POST of an alert to the webhook, bounded in time, classified for the retry rule: a 2xx is
 * delivered; a network error, a timeout, a 5xx, 408 or 429 is worth another try; any other answer
 * (3xx, 4xx) will not change by trying again. It never throws.
 */
import http from 'node:http';
import https from 'node:https';

export type Delivery =
  | { readonly kind: 'sent'; readonly status: number }
  | { readonly kind: 'retry'; readonly reason: string }
  | { readonly kind: 'refused'; readonly reason: string }
  /** stopped by the caller (shutdown) */
  | { readonly kind: 'aborted' };

/** POSTs `body`; gives up after `timeoutMs` (the whole exchange, to the answer's headers). */
export type Post = (body: string, timeoutMs: number, signal: AbortSignal) => Promise<Delivery>;

export interface PostOptions {
  readonly url: string;
  readonly authorization?: string;
}

/** What a status means for the retry rule. 408 and 429 are the receiver asking us to come back. */
export function classifyAnswer(status: number): Delivery {
  if (status >= 200 && status < 300) return { kind: 'sent', status };
  const reason = `HTTP ${status}`;
  return status >= 500 || status === 408 || status === 429 ? { kind: 'retry', reason } : { kind: 'refused', reason };
}

export function createPost(options: PostOptions): Post {
  const url = new URL(options.url);
  const client = url.protocol === 'https:' ? https : http;
  const baseHeaders: Record<string, string> = {
    'Content-Type': 'application/json',
    'User-Agent': 'circuit-breaker-monitor',
    ...(options.authorization === undefined ? {} : { Authorization: options.authorization }),
  };

  return (body, timeoutMs, signal) =>
    new Promise((resolve) => {
      if (signal.aborted) {
        resolve({ kind: 'aborted' });
        return;
      }
      let settled = false;
      const settle = (delivery: Delivery): void => {
        if (settled) return;
        settled = true;
        resolve(delivery);
      };
      // a fresh connection each time (agent: false): nothing stays open between alerts
      const request = client.request(url, {
        method: 'POST',
        agent: false,
        headers: { ...baseHeaders, 'Content-Length': Buffer.byteLength(body) },
      });
      // the timer also covers a body the receiver never finishes: the socket is cut either way
      const timer = setTimeout(() => {
        settle({ kind: 'retry', reason: `timeout after ${timeoutMs} ms` });
        request.destroy();
      }, timeoutMs);
      const onAbort = (): void => {
        settle({ kind: 'aborted' });
        request.destroy();
      };
      signal.addEventListener('abort', onAbort, { once: true });
      request.on('response', (response) => {
        settle(classifyAnswer(response.statusCode ?? 0));
        // what the receiver says is not read, only drained, so the connection can end
        response.resume();
      });
      request.on('error', (error: NodeJS.ErrnoException) => settle({ kind: 'retry', reason: error.code ?? error.message }));
      request.on('close', () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        settle({ kind: 'retry', reason: 'connection closed without an answer' });
      });
      request.end(body);
    });
}
