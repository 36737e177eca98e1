// Queue types, as RabbitMQ's rabbit_queue_type: a queue is of one type, chosen at declare by
// x-queue-type, and the type decides what a declare may ask for and how the queue behaves where
// types differ (what it stores, how redeliveries count, what overflow means). The Queue class asks
// its type through the flags and hooks below, precomputed at declare, so the classic hot path
// costs a boolean test and no allocation. A later replicated type implements the same interface.
import { AmqpError, FIELD_TYPE_NAMES, ReplyCode, fromFieldValue, type FieldTable } from '../../frames/index.js';
import { classic } from './classic.js';
import { quorum } from './quorum.js';
import { stream } from './stream.js';

export type QueueTypeName = 'classic' | 'quorum' | 'stream';

/** What a declare asks for, as far as the type checks it. */
export interface DeclareSpec {
  name: string;
  vhost: string;
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
  arguments: FieldTable;
}

export interface QueueType {
  readonly name: QueueTypeName;
  /** RabbitMQ's module name, used in its error texts (`of queue type rabbit_quorum_queue`). */
  readonly module: string;
  /** Throws RabbitMQ's 406 for a property or argument value this type refuses. */
  validate(spec: DeclareSpec): void;
  /** Queue arguments RabbitMQ 3.10.8 knows but this type does not take (406 at declare, checkTypeArguments). */
  readonly refusedArgs: readonly string[];
  /** The arguments a redeclare must match (RabbitMQ: the type's queue_arguments capability). */
  readonly comparedArgs: readonly string[];
  /** Every message is stored, whatever its delivery_mode (quorum: the Raft log holds them all). */
  readonly persistsAll: boolean;
  /** Returns count as deliveries: x-delivery-count header, x-delivery-limit. */
  readonly countsDeliveries: boolean;
  /** Consumers on it refuse a channel's global prefetch (basic.qos global=true). */
  readonly refusesGlobalQos: boolean;
  /** Whether a server-named queue (declare with an empty name) may be of this type. */
  readonly serverNamed: boolean;
  /**
   * x-overflow reject-publish: refuse only once the queue is over its limit, and keep refusing
   * until it is back to at most 80% of it (rabbit_fifo), rather than refusing at the limit (classic).
   */
  readonly rejectsOverLimit: boolean;
  /** queue.delete with if-unused or if-empty is refused (rabbit_quorum_queue: 540, deleteRefusal). */
  readonly refusesConditionalDelete: boolean;
}

/**
 * Why a queue.delete with these flags is refused by the queue's type, as RabbitMQ 3.10.8 words it
 * (if-unused named first when both are set), or null when the type takes it. The channel closes the
 * connection with 540 and this text; the management API answers 400 with it.
 */
export function deleteRefusal(type: QueueType, queue: string, vhost: string, ifUnused: boolean, ifEmpty: boolean): string | null {
  if (!type.refusesConditionalDelete || !(ifUnused || ifEmpty)) return null;
  const flag = ifUnused ? 'if-unused' : 'if-empty';
  return `cannot delete queue '${queue}' in vhost '${vhost}'. queue.delete operations with ${flag} flag set are not supported by ${type.name} queues`;
}

const TYPES: Record<QueueTypeName, QueueType> = { classic, quorum, stream };

/** The type x-queue-type names (classic when absent); 406 as RabbitMQ for an unknown one. */
export function queueTypeOf(queue: string, vhost: string, args: FieldTable): QueueType {
  const v = args.get('x-queue-type');
  if (v === undefined) return classic;
  const where = `invalid arg 'x-queue-type' for queue '${queue}' in vhost '${vhost}'`;
  if (v.type !== 'S') throw new AmqpError(ReplyCode.PreconditionFailed, `${where}: {unacceptable_type,${FIELD_TYPE_NAMES[v.type]}}`, 'channel');
  const name = String(fromFieldValue(v));
  if (name === 'classic' || name === 'quorum' || name === 'stream') return TYPES[name];
  throw new AmqpError(ReplyCode.PreconditionFailed, `${where}: "unsupported queue type '${name}'"`, 'channel');
}

/**
 * A new queue's arguments against its type, before their values are checked (as 3.10.8 orders
 * them): the first one the type does not take, in the declare's order, is a 406. Only for declares:
 * a queue restored from the store keeps what an earlier version accepted.
 */
export function checkTypeArguments(queue: string, vhost: string, args: FieldTable): void {
  const type = queueTypeOf(queue, vhost, args);
  for (const k of args.keys()) {
    if (type.refusedArgs.includes(k)) {
      throw new AmqpError(ReplyCode.PreconditionFailed, `invalid arg '${k}' for queue '${queue}' in vhost '${vhost}' of queue type ${type.module}`, 'channel');
    }
  }
}

/** The registered queue type of that name (x-queue-type's value), if there is one. */
export function queueTypeNamed(name: string): QueueType | undefined {
  return Object.prototype.hasOwnProperty.call(TYPES, name) ? TYPES[name as QueueTypeName] : undefined;
}

/** A declare of a server-named queue: RabbitMQ refuses it for types that cannot have one. */
export function checkServerNamed(vhost: string, args: FieldTable): void {
  const t = queueTypeOf('', vhost, args);
  if (!t.serverNamed) throw new AmqpError(ReplyCode.PreconditionFailed, `Cannot declare a server-named queue for type ${t.module}`, 'channel');
}
