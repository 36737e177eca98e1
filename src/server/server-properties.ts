// The server-properties table sent in connection.start, with RabbitMQ's capabilities.
import { toFieldTable, type FieldTable } from '../frames/index.js';

/** Warren's own version (the management API's product_version). */
export const VERSION = '0.1.0';
/** The RabbitMQ version Warren answers as: here, in the management API, definitions and metrics. */
export const RABBITMQ_VERSION = '3.12.0';

/** clusterName: the global parameter cluster_name, or its default (global-parameters.ts). */
export function serverProperties(clusterName: string): FieldTable {
  return toFieldTable({
    capabilities: {
      publisher_confirms: true,
      exchange_exchange_bindings: true,
      'basic.nack': true,
      consumer_cancel_notify: true,
      'connection.blocked': true,
      consumer_priorities: true,
      authentication_failure_close: true,
      per_consumer_qos: true,
      direct_reply_to: true,
    },
    cluster_name: clusterName,
    copyright: 'Copyright (c) the Warren authors',
    information: `Warren ${VERSION}, an AMQP 0-9-1 broker on Node.js that answers as RabbitMQ ${RABBITMQ_VERSION}`,
    platform: `Node.js ${process.version}`,
    // 'RabbitMQ', because clients decide by it what the broker's basic.qos means. kombu (Celery's
    // transport) takes any other product for the AMQP spec's semantics and then sends
    // basic.qos(global=false) to raise the prefetch of a consumer it already has, which RabbitMQ's
    // semantics (Warren's) apply only to new consumers: a Celery worker holding countdown/ETA tasks
    // then stopped taking tasks at its first prefetch (2 of 5 scheduled, RabbitMQ 3.10.8 5 of 5).
    // Seen as RabbitMQ, it sends global=true, as it does to RabbitMQ. `information` and
    // `warren_version` say what the broker is.
    product: 'RabbitMQ',
    version: RABBITMQ_VERSION,
    warren_version: VERSION,
  });
}
