// Listening for a server of any kind (AMQP, amqps, management HTTP(S), Prometheus): resolves once it
// listens, rejects with the bind error (a port in use) instead of emitting it.
import type { AddressInfo } from 'node:net';

interface Listenable {
  listen(port: number, host: string, callback: () => void): unknown;
  once(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
  address(): AddressInfo | string | null;
}

export function listenOn(server: Listenable, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The port a server is bound to (the one it was given when it is not listening). */
export function boundPort(server: Pick<Listenable, 'address'>, fallback = 0): number {
  const addr = server.address();
  return addr && typeof addr === 'object' ? addr.port : fallback;
}
