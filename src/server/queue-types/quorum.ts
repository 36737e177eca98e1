// The quorum queue type on a single node, as RabbitMQ 3.10 (rabbit_quorum_queue) behaves for AMQP
// 0-9-1 clients: durable, non-exclusive, not auto-delete; every message stored; returns counted
// (x-delivery-count, x-delivery-limit); no global qos; reject-publish refuses once over the limit.
// Replication (a Raft group per queue) is not built: the type is the seam it will go behind.
import { AmqpError, ReplyCode, fromFieldValue } from '../../frames/index.js';
import type { DeclareSpec, QueueType } from './index.js';

/** Arguments of other queue types that RabbitMQ 3.10.8 refuses on a quorum queue (checked there). */
const REFUSED_ARGS = [
  'x-max-priority',
  'x-queue-mode',
  'x-queue-version',
  'x-queue-master-locator',
  'x-max-age',
  'x-stream-max-segment-size-bytes',
  'x-initial-cluster-size',
];

const fail = (text: string): never => {
  throw new AmqpError(ReplyCode.PreconditionFailed, text, 'channel');
};

export const quorum: QueueType = {
  name: 'quorum',
  module: 'rabbit_quorum_queue',
  refusedArgs: REFUSED_ARGS,
  validate(s: DeclareSpec): void {
    const where = `for queue '${s.name}' in vhost '${s.vhost}'`;
    const strategy = s.arguments.get('x-dead-letter-strategy');
    if (strategy !== undefined) {
      const v = strategy.type === 'S' ? String(fromFieldValue(strategy)) : '';
      if (v !== 'at-most-once' && v !== 'at-least-once') fail(`invalid arg 'x-dead-letter-strategy' ${where}: invalid_dlx_strategy`);
    }
    // rabbit_quorum_queue:declare checks these in this order.
    if (s.autoDelete) fail(`invalid property 'auto-delete' ${where}`);
    if (s.exclusive) fail(`invalid property 'exclusive-owner' ${where}`);
    if (!s.durable) fail(`invalid property 'non-durable' ${where}`);
  },
  comparedArgs: [
    'x-dead-letter-exchange',
    'x-dead-letter-routing-key',
    'x-dead-letter-strategy',
    'x-expires',
    'x-max-in-memory-length',
    'x-max-in-memory-bytes',
    'x-max-length',
    'x-max-length-bytes',
    'x-message-ttl',
    'x-delivery-limit',
    'x-overflow',
    'x-queue-type',
    'x-quorum-initial-group-size',
    'x-single-active-consumer',
  ],
  persistsAll: true,
  countsDeliveries: true,
  refusesGlobalQos: true,
  serverNamed: false,
  rejectsOverLimit: true,
  refusesConditionalDelete: true,
};
