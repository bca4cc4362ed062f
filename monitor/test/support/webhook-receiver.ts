import type http from 'node:http';
import { startServer, type TestServer } from './http-server';

export interface ReceivedPost {
  /** performance.now() when the whole body had arrived */
  readonly at: number;
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** the response, for a receiver that answers later (or never) */
  readonly response: http.ServerResponse;
}

export interface Receiver extends TestServer {
  readonly posts: readonly ReceivedPost[];
  /** the bodies parsed as JSON */
  readonly alerts: readonly Record<string, unknown>[];
}

/**
 * A real webhook receiver on loopback. `answer` is called with each request once its body has
 * arrived, and its position (1 for the first); it answers with `response`, or leaves it hanging.
 */
export async function startReceiver(answer: (post: ReceivedPost, index: number) => void): Promise<Receiver> {
  const posts: ReceivedPost[] = [];
  const server = await startServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const post = { at: performance.now(), method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString(), response: res };
      posts.push(post);
      answer(post, posts.length);
    });
  });
  return {
    port: server.port,
    url: server.url,
    close: () => server.close(),
    get closedSockets() {
      return server.closedSockets;
    },
    posts,
    get alerts() {
      return posts.map((post) => JSON.parse(post.body) as Record<string, unknown>);
    },
  };
}

/** Answers every POST at once with `status`. */
export const answerWith =
  (status: number) =>
  (post: ReceivedPost): void => {
    post.response.writeHead(status, { 'Content-Type': 'text/plain' }).end(`${status}\n`);
  };
