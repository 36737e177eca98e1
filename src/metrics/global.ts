// rabbitmq_global_* (RabbitMQ's rabbit_global_counters, per protocol and queue type), the message
// size histogram of RabbitMQ 4, and the resource alarms: node-wide, the same on every endpoint.
import type { DeadLetterStrategy, DeliveryCounters } from '../server/global-counters.js';
import { MESSAGE_SIZE_BOUNDS } from '../server/global-counters.js';
import type { DeathReason } from '../server/dead-letter.js';
import type { QueueTypeName } from '../server/queue-types/index.js';
import type { Family, Labels, Sample } from './exposition.js';
import type { Snapshot } from './snapshot.js';

const PROTOCOL = ['protocol', 'amqp091'] as const;
const MODULES: Record<QueueTypeName, string> = { classic: 'rabbit_classic_queue', quorum: 'rabbit_quorum_queue', stream: 'rabbit_stream_queue' };

const one = (name: string, type: 'counter' | 'gauge', help: string, value: number): Family => ({
  name: `rabbitmq_global_${name}`,
  type,
  help,
  samples: [{ labels: [PROTOCOL], value }],
});

const byType = (s: Snapshot, name: string, help: string, value: (d: DeliveryCounters) => number): Family => ({
  name: `rabbitmq_global_${name}`,
  type: 'counter',
  help,
  samples: (Object.keys(MODULES) as QueueTypeName[]).map((t) => ({
    labels: [PROTOCOL, ['queue_type', MODULES[t]]],
    value: value(s.broker.counters.delivery[t]),
  })),
});

/** The (queue type, strategy) pairs RabbitMQ 3.10.8 reports each dead-letter reason for. */
const DEAD_LETTER_SERIES: Record<DeathReason, [QueueTypeName, DeadLetterStrategy][]> = {
  delivery_limit: [
    ['quorum', 'at_least_once'],
    ['quorum', 'at_most_once'],
    ['quorum', 'disabled'],
  ],
  expired: [
    ['classic', 'at_most_once'],
    ['classic', 'disabled'],
    ['quorum', 'at_least_once'],
    ['quorum', 'at_most_once'],
    ['quorum', 'disabled'],
  ],
  maxlen: [
    ['classic', 'at_most_once'],
    ['classic', 'disabled'],
    ['quorum', 'at_most_once'],
    ['quorum', 'disabled'],
  ],
  rejected: [
    ['classic', 'at_most_once'],
    ['classic', 'disabled'],
    ['quorum', 'at_least_once'],
    ['quorum', 'at_most_once'],
    ['quorum', 'disabled'],
  ],
};

const DEAD_LETTER_HELP: Record<DeathReason, string> = {
  delivery_limit: 'Total number of messages dead-lettered due to delivery-limit exceeded',
  expired: 'Total number of messages dead-lettered due to message TTL exceeded',
  maxlen: 'Total number of messages dead-lettered due to overflow drop-head or reject-publish-dlx',
  rejected: 'Total number of messages dead-lettered due to basic.reject or basic.nack',
};

const dlLabels = (t: QueueTypeName, strategy: DeadLetterStrategy): Labels => [
  ['queue_type', MODULES[t]],
  ['dead_letter_strategy', strategy],
];

export function globalFamilies(s: Snapshot): Family[] {
  const c = s.broker.counters;
  const consumers = s.channels.reduce((n, ch) => n + ch.consumers.size, 0);
  const publishers = s.channels.reduce((n, ch) => n + (ch.publishing ? 1 : 0), 0);
  const deadLettered = (Object.keys(DEAD_LETTER_SERIES) as DeathReason[]).map(
    (reason): Family => ({
      name: `rabbitmq_global_messages_dead_lettered_${reason}_total`,
      type: 'counter',
      help: DEAD_LETTER_HELP[reason],
      samples: DEAD_LETTER_SERIES[reason].map(([t, strategy]) => ({ labels: dlLabels(t, strategy), value: c.deadLetteredCount(t, strategy, reason) })),
    }),
  );
  return [
    one('consumers', 'gauge', 'Current number of consumers', consumers),
    byType(s, 'messages_acknowledged_total', 'Total number of messages acknowledged by consumers', (d) => d.acknowledged),
    one('messages_confirmed_total', 'counter', 'Total number of messages confirmed to publishers', s.broker.stats.confirm),
    {
      name: 'rabbitmq_global_messages_dead_lettered_confirmed_total',
      type: 'counter',
      help: 'Total number of messages dead-lettered and confirmed by target queues',
      samples: [{ labels: dlLabels('quorum', 'at_least_once'), value: c.deadLettersConfirmed }],
    },
    ...deadLettered,
    byType(
      s,
      'messages_delivered_consume_auto_ack_total',
      'Total number of messages delivered to consumers using basic.consume with automatic acknowledgment',
      (d) => d.consumeAutoAck,
    ),
    byType(
      s,
      'messages_delivered_consume_manual_ack_total',
      'Total number of messages delivered to consumers using basic.consume with manual acknowledgment',
      (d) => d.consumeManualAck,
    ),
    byType(
      s,
      'messages_delivered_get_auto_ack_total',
      'Total number of messages delivered to consumers using basic.get with automatic acknowledgment',
      (d) => d.getAutoAck,
    ),
    byType(
      s,
      'messages_delivered_get_manual_ack_total',
      'Total number of messages delivered to consumers using basic.get with manual acknowledgment',
      (d) => d.getManualAck,
    ),
    byType(
      s,
      'messages_delivered_total',
      'Total number of messages delivered to consumers',
      (d) => d.consumeAutoAck + d.consumeManualAck + d.getAutoAck + d.getManualAck,
    ),
    byType(s, 'messages_get_empty_total', 'Total number of times basic.get operations fetched no message', (d) => d.getEmpty),
    one('messages_received_confirm_total', 'counter', 'Total number of messages received from publishers expecting confirmations', c.receivedConfirm),
    one('messages_received_total', 'counter', 'Total number of messages received from publishers', c.received),
    byType(s, 'messages_redelivered_total', 'Total number of messages redelivered to consumers', (d) => d.redelivered),
    one('messages_routed_total', 'counter', 'Total number of messages routed to queues or streams', c.routed),
    one(
      'messages_unroutable_dropped_total',
      'counter',
      'Total number of messages published as non-mandatory into an exchange and dropped as unroutable',
      c.unroutableDropped,
    ),
    one(
      'messages_unroutable_returned_total',
      'counter',
      'Total number of messages published as mandatory into an exchange and returned to the publisher as unroutable',
      c.unroutableReturned,
    ),
    one('publishers', 'gauge', 'Current number of publishers', publishers),
  ];
}

/**
 * The le labels of MESSAGE_SIZE_BOUNDS as RabbitMQ 4's dashboard queries them (Prometheus 3
 * normalises bucket bounds to these strings; written so, an older Prometheus stores the same).
 */
const LE = ['100.0', '1000.0', '10000.0', '100000.0', '1e+06', '1e+07', '5e+07', '1e+08'];

/** RabbitMQ 4's histogram of the sizes of message bodies received from publishers. */
export function messageSizeFamily(s: Snapshot): Family {
  const c = s.broker.counters;
  const samples: Sample[] = [];
  let cumulative = 0;
  MESSAGE_SIZE_BOUNDS.forEach((_bound, i) => {
    cumulative += c.sizeBuckets[i]!;
    samples.push({ suffix: '_bucket', labels: [PROTOCOL, ['le', LE[i]!]], value: cumulative });
  });
  cumulative += c.sizeBuckets[MESSAGE_SIZE_BOUNDS.length]!;
  samples.push({ suffix: '_bucket', labels: [PROTOCOL, ['le', '+Inf']], value: cumulative });
  samples.push({ suffix: '_count', labels: [PROTOCOL], value: cumulative });
  samples.push({ suffix: '_sum', labels: [PROTOCOL], value: c.sizeSum });
  return { name: 'rabbitmq_message_size_bytes', type: 'histogram', help: 'Size of messages received from publishers', samples };
}

export function alarmFamilies(s: Snapshot): Family[] {
  const a = s.broker.alarms;
  const alarm = (name: string, help: string, on: boolean): Family => ({ name: `rabbitmq_alarms_${name}`, type: 'untyped', help, samples: [{ labels: [], value: on ? 1 : 0 }] });
  return [
    // Warren has no file descriptor alarm: never in effect.
    alarm('file_descriptor_limit', 'is 1 if file descriptor limit alarm is in effect', false),
    alarm('free_disk_space_watermark', 'is 1 if free disk space watermark alarm is in effect', a.diskAlarm),
    alarm('memory_used_watermark', 'is 1 if VM memory watermark alarm is in effect', a.memoryAlarm),
  ];
}
