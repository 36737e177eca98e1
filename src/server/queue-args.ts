// Queue arguments (x-message-ttl, x-max-length, dead-lettering, …): validated at declare with a
// 406 that names the argument, as RabbitMQ does, and compared on redeclare (406 on a mismatch).
import { AmqpError, ReplyCode, fromFieldValue, type FieldTable } from '../frames/index.js';
import { argMismatch, argsDiffer } from './arg-mismatch.js';
import { queueTypeOf, type QueueType } from './queue-types/index.js';
import { parseDuration } from './queue-types/stream.js';

export type Overflow = 'drop-head' | 'reject-publish' | 'reject-publish-dlx';

export interface QueueArgs {
  messageTtl?: number;
  expires?: number;
  maxLength?: number;
  maxLengthBytes?: number;
  overflow: Overflow;
  deadLetterExchange?: string;
  deadLetterRoutingKey?: string;
  maxPriority?: number;
  singleActiveConsumer: boolean;
  /** The queue's type (x-queue-type), classic when absent. */
  type: QueueType;
  /** Quorum queues: deliveries past this many returns are dead-lettered or dropped. */
  deliveryLimit?: number;
  /**
   * Quorum queues' x-dead-letter-strategy as configured; at-least-once takes effect only with
   * x-overflow reject-publish and a dead-letter exchange (Queue.configureDeadLettering).
   */
  deadLetterStrategy?: 'at-most-once' | 'at-least-once';
  /** x-consumer-timeout (RabbitMQ 3.12+), or a policy's consumer-timeout: ms a delivery may stay unacked. */
  consumerTimeout?: number;
  /** Streams: x-max-age in ms (retention). */
  maxAge?: number;
  /** Streams: x-stream-max-segment-size-bytes. */
  maxSegmentBytes?: number;
}

const INTEGER_TYPES = new Set(['b', 'B', 's', 'u', 'I', 'i', 'l']);

export function parseQueueArgs(queue: string, vhost: string, t: FieldTable): QueueArgs {
  const invalid = (arg: string, why: string): never => {
    throw new AmqpError(ReplyCode.PreconditionFailed, `invalid arg '${arg}' for queue '${queue}' in vhost '${vhost}': ${why}`, 'channel');
  };
  const int = (arg: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined => {
    const v = t.get(arg);
    if (v === undefined) return undefined;
    if (!INTEGER_TYPES.has(v.type)) invalid(arg, `expected an integer, got a value of type '${v.type}'`);
    const n = Number(fromFieldValue(v));
    if (n < min || n > max) invalid(arg, `${n} is out of range (${min}..${max})`);
    return n;
  };
  const str = (arg: string): string | undefined => {
    const v = t.get(arg);
    if (v === undefined) return undefined;
    if (v.type !== 'S') invalid(arg, `expected a string, got a value of type '${v.type}'`);
    return String(fromFieldValue(v));
  };
  const type = queueTypeOf(queue, vhost, t);
  let overflow = str('x-overflow') ?? 'drop-head';
  if (!['drop-head', 'reject-publish', 'reject-publish-dlx'].includes(overflow)) {
    invalid('x-overflow', `'${overflow}' is not one of drop-head, reject-publish, reject-publish-dlx`);
  }
  // RabbitMQ 3.10 accepts reject-publish-dlx on a quorum queue, logs "Invalid overflow strategy"
  // and applies its default, drop-head (checked on 3.10.8).
  if (type.name === 'quorum' && overflow === 'reject-publish-dlx') overflow = 'drop-head';
  const mode = str('x-queue-mode');
  if (mode !== undefined && mode !== 'default' && mode !== 'lazy') invalid('x-queue-mode', `'${mode}' is not one of default, lazy`);
  const sac = t.get('x-single-active-consumer');
  if (sac !== undefined && sac.type !== 't') invalid('x-single-active-consumer', `expected a boolean, got a value of type '${sac.type}'`);
  const dlrk = str('x-dead-letter-routing-key');
  const dlx = str('x-dead-letter-exchange');
  if (dlrk !== undefined && dlx === undefined) invalid('x-dead-letter-routing-key', 'x-dead-letter-exchange is not set');
  const args: QueueArgs = { overflow: overflow as Overflow, singleActiveConsumer: sac?.value === true, type };
  const put = <K extends keyof QueueArgs>(k: K, v: QueueArgs[K] | undefined): void => {
    if (v !== undefined) args[k] = v;
  };
  put('messageTtl', int('x-message-ttl', 0, 2 ** 32 - 1));
  put('expires', int('x-expires', 1, 2 ** 32 - 1));
  put('maxLength', int('x-max-length', 0));
  put('maxLengthBytes', int('x-max-length-bytes', 0));
  put('maxPriority', int('x-max-priority', 0, 255));
  // 0 turns the timeout off for the queue, as the broker-wide consumer_timeout's 0 does.
  const consumerTimeout = int('x-consumer-timeout', 0);
  if (consumerTimeout !== undefined && consumerTimeout > 0) args.consumerTimeout = consumerTimeout;
  // RabbitMQ 3.10 takes any value here and uses only a non-negative integer (a string was accepted).
  const limit = t.get('x-delivery-limit');
  if (type.countsDeliveries && limit !== undefined && INTEGER_TYPES.has(limit.type) && Number(fromFieldValue(limit)) >= 0) {
    args.deliveryLimit = Number(fromFieldValue(limit));
  }
  put('deadLetterExchange', dlx);
  put('deadLetterRoutingKey', dlrk);
  // The declare checked it (quorum.ts); a policy's value was checked when the policy was set.
  const strategy = t.get('x-dead-letter-strategy');
  if (strategy?.type === 'S') {
    const v = String(fromFieldValue(strategy));
    if (v === 'at-most-once' || v === 'at-least-once') args.deadLetterStrategy = v;
  }
  if (type.name === 'stream') {
    // Checked with RabbitMQ's texts by the stream type at declare (stream.ts), after the arguments
    // it refuses; a policy's values were checked when the policy was set. Read leniently here.
    const age = t.get('x-max-age');
    const ms = age?.type === 'S' ? parseDuration(String(fromFieldValue(age))) : undefined;
    if (ms !== undefined) args.maxAge = ms;
    const seg = t.get('x-stream-max-segment-size-bytes');
    if (seg !== undefined && INTEGER_TYPES.has(seg.type) && Number(fromFieldValue(seg)) >= 0) args.maxSegmentBytes = Number(fromFieldValue(seg));
  }
  return args;
}

/** Everything a declare is checked for: the arguments, then what the queue's type refuses. */
export function checkDeclare(spec: { name: string; durable: boolean; exclusive: boolean; autoDelete: boolean; arguments: FieldTable }, vhost: string): QueueArgs {
  const args = parseQueueArgs(spec.name, vhost, spec.arguments);
  args.type.validate({ ...spec, vhost });
  return args;
}

export interface DeclaredQueue {
  readonly name: string;
  readonly durable: boolean;
  readonly autoDelete: boolean;
  readonly arguments: FieldTable;
}

export function checkEquivalent(q: DeclaredQueue, vhost: string, durable: boolean, autoDelete: boolean, args: FieldTable): void {
  const where = `for queue '${q.name}' in vhost '${vhost}'`;
  const fail = (arg: string, mismatch: string): never => {
    throw new AmqpError(ReplyCode.PreconditionFailed, `inequivalent arg '${arg}' ${where}: ${mismatch}`, 'channel');
  };
  if (q.durable !== durable) fail('durable', `received '${durable}' but current is '${q.durable}'`);
  if (q.autoDelete !== autoDelete) fail('auto_delete', `received '${autoDelete}' but current is '${q.autoDelete}'`);
  // The existing queue's type decides which arguments must match (rabbit_queue_type:arguments).
  for (const k of queueTypeOf(q.name, vhost, q.arguments).comparedArgs) {
    const a = args.get(k);
    const b = q.arguments.get(k);
    if (argsDiffer(a, b)) fail(k, argMismatch(a, b));
  }
}
