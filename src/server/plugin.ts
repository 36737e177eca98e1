// What the entry composes onto the broker (the management API, definitions loaded at boot): the
// core knows only this interface, never the plugins themselves (ARCHITECTURE: the entry composes).
import type { Broker } from './broker.js';

/** A listening socket, with its protocol as rabbit_networking names it (amqp, amqp/ssl, http, https). */
export interface Listener {
  protocol: string;
  port: number;
  /** The address it is bound to, as configured (0.0.0.0: every interface). */
  ip: string;
  /** A TLS listener's certificate and CA files (the certificate-expiration health check reads them). */
  tls?: { certFile: string; caFile: string | null };
}

/** A started plugin: what it listens on, and how the broker stops it at shutdown. */
export interface RunningPlugin {
  readonly listeners: readonly Listener[];
  close(): Promise<void>;
}

export interface BrokerPlugin {
  /**
   * After the store is recovered, before the AMQP listeners open: a failure stops the boot (as a
   * definitions file that does not import does in RabbitMQ).
   */
  beforeListen?(broker: Broker): Promise<void>;
  /** Once the AMQP listeners are open. */
  start?(broker: Broker): Promise<RunningPlugin | null>;
}
