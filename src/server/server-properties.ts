// The server-properties table sent in connection.start, with RabbitMQ's capabilities.
import { toFieldTable, type FieldTable } from '../frames/index.js';

export const VERSION = '0.1.0';

export function serverProperties(): FieldTable {
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
    cluster_name: 'warren',
    copyright: 'Copyright (c) the Warren authors',
    information: 'Warren, an AMQP 0-9-1 broker on Node.js',
    platform: `Node.js ${process.version}`,
    product: 'Warren',
    version: VERSION,
  });
}
