// A vhost's default queue type (RabbitMQ 3.11+: `default_queue_type` in the vhost's metadata).
// A queue declared without x-queue-type in such a vhost gets the default — but only where that type
// can hold the queue, as rabbit_amqqueue:augment_declare_args decides (RabbitMQ 3.12/3.13): quorum
// queues and streams are durable, non-exclusive and not auto-delete (rabbit_quorum_queue /
// rabbit_stream_queue is_compatible/3), so an exclusive, auto-delete or non-durable declare stays
// classic. The default is written into the declare's arguments, so the queue shows x-queue-type,
// stores it, and a redeclare is compared with it exactly as RabbitMQ compares it.
import { Buffer } from 'node:buffer';
import type { FieldTable } from '../frames/index.js';
import { queueTypeNamed } from './queue-types/index.js';

/** Whether name is a queue type a vhost may default to: a registered one (classic, quorum, …). */
export function isQueueTypeName(name: string): boolean {
  return queueTypeNamed(name) !== undefined;
}

/** rabbit_queue_type:is_compatible/4: classic holds any queue; the replicated types only durable, shared, kept ones. */
function compatible(type: string, durable: boolean, exclusive: boolean, autoDelete: boolean): boolean {
  return type === 'classic' || (durable && !exclusive && !autoDelete);
}

/**
 * The declare's arguments with the vhost's default x-queue-type added where RabbitMQ adds it;
 * the same table when nothing is added (no default, an explicit x-queue-type, an incompatible declare).
 */
export function augmentDeclareArgs(defaultType: string | undefined, durable: boolean, exclusive: boolean, autoDelete: boolean, args: FieldTable): FieldTable {
  if (defaultType === undefined || args.has('x-queue-type')) return args;
  if (!compatible(defaultType, durable, exclusive, autoDelete)) return args;
  const out: FieldTable = new Map(args);
  out.set('x-queue-type', { type: 'S', value: Buffer.from(defaultType, 'utf8') });
  return out;
}
