// The stream queue type on a single node, as RabbitMQ 3.10 (rabbit_stream_queue) behaves for AMQP
// 0-9-1 clients: durable, non-exclusive, not auto-delete; an append-only log (stream-log.ts) that
// consumers read from an offset without removing anything. Replication is not built.
import { AmqpError, FIELD_TYPE_NAMES, ReplyCode, fromFieldValue, type FieldValue } from '../../frames/index.js';
import type { DeclareSpec, QueueType } from './index.js';

/** Arguments RabbitMQ 3.10.8 refuses on a stream (checked there). */
const REFUSED_ARGS = [
  'x-max-priority',
  'x-queue-mode',
  'x-dead-letter-exchange',
  'x-dead-letter-routing-key',
  'x-message-ttl',
  'x-max-length',
  'x-overflow',
  'x-single-active-consumer',
  'x-expires',
  'x-delivery-limit',
  'x-queue-version',
  'x-dead-letter-strategy',
  'x-max-in-memory-length',
  'x-max-in-memory-bytes',
  'x-quorum-initial-group-size',
  'x-queue-master-locator',
];

const fail = (text: string): never => {
  throw new AmqpError(ReplyCode.PreconditionFailed, text, 'channel');
};

const UNIT_MS: Record<string, number> = { Y: 365 * 86_400_000, M: 30 * 86_400_000, D: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 };

/** "7D", "1h", "30s" … in ms (RabbitMQ's x-max-age and x-stream-offset intervals), or undefined. */
export function parseDuration(s: string): number | undefined {
  const m = /^(\d+)([YMDhms])$/.exec(s);
  return m ? Number(m[1]) * UNIT_MS[m[2]!]! : undefined;
}

/** x-max-age in ms, validated with RabbitMQ 3.10.8's texts. */
export function maxAgeOf(name: string, vhost: string, v: FieldValue | undefined): number | undefined {
  if (v === undefined) return undefined;
  const where = `invalid arg 'x-max-age' for queue '${name}' in vhost '${vhost}'`;
  if (v.type !== 'S') return fail(`${where}: {unacceptable_type,${FIELD_TYPE_NAMES[v.type]}}`);
  const ms = parseDuration(String(fromFieldValue(v)));
  if (ms === undefined) return fail(`${where}: invalid_max_age`);
  return ms;
}

export const stream: QueueType = {
  name: 'stream',
  module: 'rabbit_stream_queue',
  refusedArgs: REFUSED_ARGS,
  validate(s: DeclareSpec): void {
    const where = `for queue '${s.name}' in vhost '${s.vhost}'`;
    maxAgeOf(s.name, s.vhost, s.arguments.get('x-max-age'));
    const seg = s.arguments.get('x-stream-max-segment-size-bytes');
    if (seg !== undefined && (!['b', 'B', 's', 'u', 'I', 'i', 'l'].includes(seg.type) || Number(fromFieldValue(seg)) < 0)) {
      fail(`invalid arg 'x-stream-max-segment-size-bytes' ${where}: {unacceptable_type,${FIELD_TYPE_NAMES[seg.type]}}`);
    }
    if (s.autoDelete) fail(`invalid property 'auto-delete' ${where}`);
    if (s.exclusive) fail(`invalid property 'exclusive-owner' ${where}`);
    if (!s.durable) fail(`invalid property 'non-durable' ${where}`);
  },
  // RabbitMQ 3.10.8 compares x-max-length-bytes before x-queue-type (a bare redeclare of a stream
  // with x-max-length-bytes was refused naming x-max-length-bytes).
  comparedArgs: ['x-max-length-bytes', 'x-max-age', 'x-stream-max-segment-size-bytes', 'x-initial-cluster-size', 'x-queue-leader-locator', 'x-queue-type'],
  persistsAll: true,
  countsDeliveries: false,
  refusesGlobalQos: false,
  serverNamed: false,
  rejectsOverLimit: false,
  refusesConditionalDelete: false,
};
