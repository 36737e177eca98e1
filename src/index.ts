// Embedding: start a real broker in-process, e.g. in a test suite, in a few milliseconds.
import { Broker } from './server/broker.js';
import type { BrokerOptions } from './server/options.js';
import { startPrometheus, type PrometheusOptions } from './metrics/server.js';
import { managementPlugins, type ManagementOptions } from './management/plugin.js';
import { shovelPlugin } from './shovel/index.js';
import { federationPlugin } from './federation/index.js';

export { Broker } from './server/broker.js';
/** RabbitMQ's event exchange, to pass in plugins (`plugins: [eventExchangePlugin()]`). */
export { eventExchangePlugin } from './events/index.js';
export type { BrokerOptions } from './server/options.js';
export type { PrometheusOptions } from './metrics/server.js';
export type { ManagementOptions } from './management/plugin.js';

export interface RunningBroker {
  /** The port it listens on (useful with port 0). */
  port: number;
  /** The amqps port, 0 without TLS. */
  tlsPort: number;
  /** The management HTTP port (0 unless managementPort was given; -1 asks for any free port). */
  managementPort: number;
  /** The management HTTPS port (0 unless managementTlsPort was given with its certificate and key). */
  managementTlsPort: number;
  /** The Prometheus endpoint's port (0 unless prometheusPort was given; 0 asks for any free port). */
  prometheusPort: number;
  broker: Broker;
  /** Closes client connections (320), flushes the store and stops listening. */
  close(): Promise<void>;
}

/**
 * Starts a broker. Without dataDir it runs in memory; logs only errors unless told otherwise. The
 * Prometheus endpoint is off unless prometheusPort is given (0: any free port).
 */
export async function startBroker(
  options: Partial<BrokerOptions> & Partial<ManagementOptions> & Partial<PrometheusOptions> = {},
): Promise<RunningBroker> {
  const {
    prometheusPort = -1,
    prometheusHost = '127.0.0.1',
    prometheusPerObject = false,
    managementPort = 0,
    managementHost = '127.0.0.1',
    managementTlsPort,
    managementTlsHost,
    managementTlsCert,
    managementTlsKey,
    managementTlsCa,
    loadDefinitions,
    ...brokerOptions
  } = options;
  const management = managementPlugins({ managementPort, managementHost, managementTlsPort, managementTlsHost, managementTlsCert, managementTlsKey, managementTlsCa, loadDefinitions });
  const broker = new Broker({ port: 0, host: '127.0.0.1', logLevel: 'error', ...brokerOptions, plugins: [shovelPlugin(), federationPlugin(), ...management, ...(brokerOptions.plugins ?? [])] });
  const port = await broker.start();
  const prometheus = prometheusPort === -1 ? null : await startPrometheus(broker, { prometheusPort, prometheusHost, prometheusPerObject });
  return {
    port,
    tlsPort: broker.tlsPort,
    managementPort: broker.listenerPort('http'),
    managementTlsPort: broker.listenerPort('https'),
    prometheusPort: prometheus?.port ?? 0,
    broker,
    close: async () => {
      await prometheus?.close();
      await broker.close();
    },
  };
}
