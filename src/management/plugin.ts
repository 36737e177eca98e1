// The management API and definitions at boot as BrokerPlugins: the entry (index.ts, broker-main.ts)
// composes them onto the broker, which does not import the management code.
//
// The API's server (fastify, its schemas, the UI) is imported only when the API is on: its modules
// took ~100 ms of a ~550 ms start (`node dist/cli.js` until the AMQP port accepts) with the API off.
import { readFileSync } from 'node:fs';
import type { Broker } from '../server/broker.js';
import type { BrokerPlugin, Listener, RunningPlugin } from '../server/plugin.js';

export interface ManagementOptions {
  /** Port of the management HTTP API and UI: 0 turns it off, -1 picks any free port. */
  managementPort: number;
  managementHost: string;
  /**
   * The same API and UI over HTTPS (RabbitMQ's management.ssl.*): port (0 = off, -1 = any free
   * port), address (managementHost when unset), PEM certificate chain, key and CA bundle.
   */
  managementTlsPort: number;
  managementTlsHost?: string | undefined;
  managementTlsCert?: string | undefined;
  managementTlsKey?: string | undefined;
  managementTlsCa?: string | undefined;
  /** A definitions file (RabbitMQ's JSON format) imported at boot, before listening. */
  loadDefinitions?: string | undefined;
}

export const managementDefaults: ManagementOptions = {
  managementPort: 15672,
  managementHost: '0.0.0.0',
  managementTlsPort: 0,
};

/** The API over HTTP and/or HTTPS, or null when both are off. */
function managementPlugin(options: Partial<ManagementOptions>): BrokerPlugin | null {
  const o: ManagementOptions = { ...managementDefaults, ...options };
  const tls =
    o.managementTlsPort !== 0 && o.managementTlsCert && o.managementTlsKey
      ? { port: o.managementTlsPort === -1 ? 0 : o.managementTlsPort, host: o.managementTlsHost ?? o.managementHost, cert: o.managementTlsCert, key: o.managementTlsKey, ca: o.managementTlsCa }
      : null;
  const http = o.managementPort === 0 ? null : { port: o.managementPort === -1 ? 0 : o.managementPort, host: o.managementHost };
  if (!http && !tls) return null;
  return {
    async start(broker: Broker): Promise<RunningPlugin> {
      // Loaded only now, once the AMQP listener is up (plugins start after it): its modules (fastify,
      // the schemas' Ajv, prom-client; ~260 ms here) used to load while the store opened, and the
      // store's open, then the AMQP listener, waited for them on the one thread (the default start
      // accepted AMQP after ~700 ms, the API right after it). Now AMQP comes first and the API
      // no later than before. Scripts wait for the API itself (ctl await_startup, waitForApi).
      const { startManagement } = await import('./server.js');
      // GET /api/environment shows these beside the broker's own settings (they were BrokerOptions once).
      const server = await startManagement(broker, http, tls, o);
      const listeners: Listener[] = [];
      if (http && server.port > 0) listeners.push({ protocol: 'http', port: server.port, ip: http.host });
      if (tls && server.tlsPort > 0) listeners.push({ protocol: 'https', port: server.tlsPort, ip: tls.host, tls: { certFile: tls.cert, caFile: tls.ca ?? null } });
      return { listeners, close: () => server.close() };
    },
  };
}

/** Imports a definitions file at boot, all or nothing: a file that does not import stops the boot. */
function definitionsAtBoot(file: string): BrokerPlugin {
  return {
    async beforeListen(broker: Broker): Promise<void> {
      try {
        const { importDefinitions } = await import('./definitions.js');
        await importDefinitions(broker, JSON.parse(readFileSync(file, 'utf8')) as unknown);
      } catch (e) {
        // The same all-or-nothing check as the API's import: a bad file stops the boot, unapplied.
        throw new Error(`cannot load definitions from ${file}: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
      broker.log.info({ file }, 'definitions loaded');
    },
  };
}

/** The plugins these options ask for, in the order they start. */
export function managementPlugins(options: Partial<ManagementOptions>): BrokerPlugin[] {
  const out: BrokerPlugin[] = [];
  if (options.loadDefinitions) out.push(definitionsAtBoot(options.loadDefinitions));
  const api = managementPlugin(options);
  if (api) out.push(api);
  return out;
}
