import http from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the upstream received, for fidelity assertions. */
export interface Received {
  readonly method: string;
  readonly url: string;
  readonly rawHeaders: readonly string[];
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/** Answers one received request; the default echoes it as JSON. */
export type Answer = (received: Received, res: http.ServerResponse) => void;

export interface CountingUpstream {
  readonly port: number;
  /** base URL, e.g. http://127.0.0.1:1234 */
  readonly url: string;
  /** TCP connections accepted so far */
  readonly connections: number;
  /** requests whose headers arrived so far (bodies may still be streaming) */
  readonly requests: number;
  /** requests fully received, in order */
  readonly received: readonly Received[];
  /** requests whose client went away before the answer was sent */
  readonly abandoned: number;
  /** requests held (see hold) and not yet answered */
  readonly held: number;
  /** how later requests are answered */
  answer(answer: Answer): void;
  /** later requests wait, unanswered, until release */
  hold(): void;
  /** answers every held request with `answer`, and stops holding */
  release(answer?: Answer): void;
  close(): Promise<void>;
}

export const echo: Answer = (received, res) => {
  const body = JSON.stringify(received);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-upstream': 'yes' });
  res.end(body);
};

export const status =
  (code: number, body = `{"status":${code}}`): Answer =>
  (_received, res) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(body);
  };

/** A real HTTP upstream on an ephemeral loopback port that counts what reaches it and echoes it. */
export async function startCountingUpstream(initial: Answer = echo): Promise<CountingUpstream> {
  let connections = 0;
  let requests = 0;
  let abandoned = 0;
  let answer = initial;
  let holding = false;
  const received: Received[] = [];
  const held: { received: Received; res: http.ServerResponse }[] = [];

  const server = http.createServer((req, res) => {
    requests += 1;
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('error', () => undefined);
    res.on('close', () => {
      if (!res.writableFinished) abandoned += 1;
    });
    req.on('end', () => {
      const entry: Received = {
        method: req.method ?? '',
        url: req.url ?? '',
        rawHeaders: req.rawHeaders,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      received.push(entry);
      if (holding) held.push({ received: entry, res });
      else answer(entry, res);
    });
  });
  server.on('connection', () => (connections += 1));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get connections() {
      return connections;
    },
    get requests() {
      return requests;
    },
    get received() {
      return received;
    },
    get abandoned() {
      return abandoned;
    },
    get held() {
      return held.filter(({ res }) => !res.destroyed).length;
    },
    answer: (next) => (answer = next),
    hold: () => (holding = true),
    release: (with_ = answer) => {
      holding = false;
      for (const { received: entry, res } of held.splice(0)) if (!res.destroyed) with_(entry, res);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
