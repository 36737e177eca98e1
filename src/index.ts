// Embedding: start a real broker in-process, e.g. in a test suite, in a few milliseconds.
import { Broker } from './server/broker.js';
import type { BrokerOptions } from './server/options.js';

export { Broker } from './server/broker.js';
export type { BrokerOptions } from './server/options.js';

export interface RunningBroker {
  /** The port it listens on (useful with port 0). */
  port: number;
  /** The amqps port, 0 without TLS. */
  tlsPort: number;
  /** The management HTTP port (0 unless managementPort was given; -1 asks for any free port). */
  managementPort: number;
  broker: Broker;
  /** Closes client connections (320), flushes the store and stops listening. */
  close(): Promise<void>;
}

/** Starts a broker. Without dataDir it runs in memory; logs only errors unless told otherwise. */
export async function startBroker(options: Partial<BrokerOptions> = {}): Promise<RunningBroker> {
  const broker = new Broker({ port: 0, host: '127.0.0.1', logLevel: 'error', managementPort: 0, managementHost: '127.0.0.1', ...options });
  const port = await broker.start();
  return { port, tlsPort: broker.tlsPort, managementPort: broker.managementPort, broker, close: () => broker.close() };
}
