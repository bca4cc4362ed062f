/**
 * The lifecycle the admin server and the proxy share: listen on a port, and close fast. Tests and
 * main.ts drive both servers through this one handle.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServerHandle {
  /** Resolves with the bound port (useful with port 0); rejects when the port cannot be bound (EADDRINUSE...). */
  listen(port: number, host?: string): Promise<{ port: number }>;
  /** Stops accepting and destroys every connection, idle or in flight, so shutdown stays well under 1 s. */
  close(): Promise<void>;
}

/**
 * Wraps a server. `onError` hears the server's errors once it listens (a failed listen rejects
 * instead); without a listener such an error would crash the process.
 */
export function serverHandle<Request extends typeof http.IncomingMessage, Response extends typeof http.ServerResponse<InstanceType<Request>>>(
  server: http.Server<Request, Response>,
  onError: (error: Error) => void,
): ServerHandle {
  return {
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        const onListenError = (error: Error): void => {
          server.off('listening', onListening);
          reject(error);
        };
        const onListening = (): void => {
          server.off('error', onListenError);
          server.on('error', onError);
          resolve({ port: (server.address() as AddressInfo).port });
        };
        server.once('error', onListenError);
        server.once('listening', onListening);
        server.listen(port, host);
      }),
    close: () =>
      new Promise((resolve) => {
        if (server.listening) server.close(() => resolve());
        else resolve();
        // close() alone waits for in-flight requests; a shutdown does not
        server.closeAllConnections();
      }),
  };
}
