import http from 'node:http';

export interface SseEvent {
  readonly name: string;
  readonly data: Record<string, unknown>;
}

/** A Server-Sent Events client on node:http that keeps every event, comment and retry field it gets. */
export class SseClient {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  /** every event's name and every comment (as `: text`), in the order they arrived */
  readonly received: string[] = [];
  retry: number | undefined;
  private buffer = '';
  private waiters: (() => void)[] = [];
  readonly closed: Promise<void>;

  private constructor(
    readonly response: http.IncomingMessage,
    private readonly request: http.ClientRequest,
  ) {
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => this.take(chunk));
    this.closed = new Promise((resolve) => response.on('close', resolve));
  }

  /** Connects and resolves once the answer's headers are in (whatever the status). */
  static connect(port: number, path = '/events'): Promise<SseClient> {
    return new Promise((resolve, reject) => {
      const request = http.get({ host: '127.0.0.1', port, path, agent: false, headers: { Accept: 'text/event-stream' } }, (response) =>
        resolve(new SseClient(response, request)),
      );
      request.on('error', reject);
    });
  }

  get status(): number {
    return this.response.statusCode ?? 0;
  }

  named(name: string): SseEvent[] {
    return this.events.filter((event) => event.name === name);
  }

  /** Resolves with the first event (from index `from` on) that matches. */
  async next(name: string, from = 0, timeoutMs = 2_000): Promise<SseEvent> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(from).find((event) => event.name === name);
      if (found) return found;
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no '${name}' event within ${timeoutMs} ms; got: ${this.events.map((event) => event.name).join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }

  /** Waits until `condition` holds, checked on every chunk that arrives. */
  async until(condition: () => boolean, what: string, timeoutMs = 2_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (!condition()) {
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 50));
        this.waiters.push(() => (clearTimeout(timer), resolve()));
      });
    }
  }

  close(): void {
    this.request.destroy();
  }

  private take(chunk: string): void {
    this.buffer += chunk;
    let end: number;
    while ((end = this.buffer.indexOf('\n\n')) >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let name = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) {
          const comment = line.slice(1).trim();
          this.comments.push(comment);
          this.received.push(`: ${comment}`);
        } else if (line.startsWith('event: ')) name = line.slice(7);
        else if (line.startsWith('data: ')) data.push(line.slice(6));
        else if (line.startsWith('retry: ')) this.retry = Number(line.slice(7));
      }
      if (data.length > 0) {
        this.events.push({ name, data: JSON.parse(data.join('\n')) as Record<string, unknown> });
        this.received.push(name);
      }
    }
    for (const wake of this.waiters.splice(0)) wake();
  }
}
