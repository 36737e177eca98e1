// The classic queue type: Warren's queue as it always was (RabbitMQ's rabbit_classic_queue).
import type { QueueType } from './index.js';

export const classic: QueueType = {
  name: 'classic',
  module: 'rabbit_classic_queue',
  validate: () => undefined,
  // The other types' arguments (checked on 3.10.8).
  refusedArgs: [
    'x-max-in-memory-length',
    'x-max-in-memory-bytes',
    'x-quorum-initial-group-size',
    'x-max-age',
    'x-stream-max-segment-size-bytes',
    'x-initial-cluster-size',
    'x-queue-leader-locator',
    'x-delivery-limit',
    'x-dead-letter-strategy',
  ],
  comparedArgs: [
    'x-expires',
    'x-message-ttl',
    'x-dead-letter-exchange',
    'x-dead-letter-routing-key',
    'x-max-length',
    'x-max-length-bytes',
    'x-max-priority',
    'x-overflow',
    'x-queue-mode',
    'x-queue-type',
    'x-single-active-consumer',
  ],
  persistsAll: false,
  countsDeliveries: false,
  refusesGlobalQos: false,
  serverNamed: true,
  rejectsOverLimit: false,
  refusesConditionalDelete: false,
};
