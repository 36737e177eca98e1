// Queue arguments (x-message-ttl, x-max-length, dead-lettering, …): validated at declare with a
// 406 that names the argument, as RabbitMQ does, and compared on redeclare (406 on a mismatch).
import { AmqpError, FIELD_TYPE_NAMES, ReplyCode, fromFieldValue, type FieldTable, type FieldValue } from '../frames/index.js';
import { MAX_EXPIRY_MS } from './message.js';
import { argMismatch, argsDiffer } from './arg-mismatch.js';
import { checkTypeArguments, queueTypeOf, type QueueType } from './queue-types/index.js';
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
/**
 * The arguments in effect, checked as RabbitMQ 3.10.8 checks a declare's: those the queue's type
 * takes, in its order (x-expires, x-message-ttl, x-dead-letter-routing-key, the lengths,
 * x-max-priority, x-overflow, x-queue-mode, x-single-active-consumer), each refusal a 406
 * "invalid arg 'K' for queue 'Q' in vhost 'V': " and the reason as RabbitMQ prints its Erlang term
 * ({value_negative,-5}, "expected integer, got longstr", invalid_overflow …). Those the type does
 * not take are refused after these, for a new queue only (checkNewQueue).
 */
export function parseQueueArgs(queue: string, vhost: string, t: FieldTable): QueueArgs {
  const invalid = (arg: string, why: string): never => {
    throw new AmqpError(ReplyCode.PreconditionFailed, `invalid arg '${arg}' for queue '${queue}' in vhost '${vhost}': ${why}`, 'channel');
  };
  const unacceptable = (arg: string, v: FieldValue): never => invalid(arg, `{unacceptable_type,${FIELD_TYPE_NAMES[v.type]}}`);
  const type = queueTypeOf(queue, vhost, t);
  const int = (arg: string): number | undefined => {
    const v = t.get(arg);
    if (v === undefined || type.refusedArgs.includes(arg)) return undefined;
    if (!INTEGER_TYPES.has(v.type)) invalid(arg, `"expected integer, got ${FIELD_TYPE_NAMES[v.type]}"`);
    return Number(fromFieldValue(v));
  };
  const nonNegative = (arg: string): number | undefined => {
    const n = int(arg);
    if (n !== undefined && n < 0) invalid(arg, `{value_negative,${n}}`);
    return n;
  };
  /** rabbit_misc:check_expiry, and x-expires refuses 0 first. */
  const expiry = (arg: string, zero: boolean): number | undefined => {
    const n = int(arg);
    if (n === undefined) return undefined;
    if (n === 0 && !zero) invalid(arg, '{value_zero,0}');
    if (n < 0) invalid(arg, `{value_negative,${n}}`);
    if (n > MAX_EXPIRY_MS) invalid(arg, `{value_too_large,${n}}`);
    return n;
  };
  const str = (arg: string): string | undefined => {
    const v = t.get(arg);
    if (v === undefined || type.refusedArgs.includes(arg)) return undefined;
    if (v.type !== 'S') unacceptable(arg, v);
    return String(fromFieldValue(v));
  };
  const expires = expiry('x-expires', false);
  const messageTtl = expiry('x-message-ttl', true);
  const dlx = str('x-dead-letter-exchange');
  const dlrk = str('x-dead-letter-routing-key');
  if (dlrk !== undefined && dlx === undefined) invalid('x-dead-letter-routing-key', 'routing_key_but_no_dlx_defined');
  const maxLength = nonNegative('x-max-length');
  const maxLengthBytes = nonNegative('x-max-length-bytes');
  // Quorum queues take these (and ignore them here: every message stays where it is).
  nonNegative('x-max-in-memory-length');
  nonNegative('x-max-in-memory-bytes');
  const maxPriority = nonNegative('x-max-priority');
  if (maxPriority !== undefined && maxPriority > 255) invalid('x-max-priority', `{max_value_exceeded,${maxPriority}}`);
  let overflow = str('x-overflow') ?? 'drop-head';
  if (!['drop-head', 'reject-publish', 'reject-publish-dlx'].includes(overflow)) invalid('x-overflow', 'invalid_overflow');
  // RabbitMQ 3.10 accepts reject-publish-dlx on a quorum queue, logs "Invalid overflow strategy"
  // and applies its default, drop-head (checked on 3.10.8).
  if (type.name === 'quorum' && overflow === 'reject-publish-dlx') overflow = 'drop-head';
  const mode = str('x-queue-mode');
  if (mode !== undefined && mode !== 'default' && mode !== 'lazy') invalid('x-queue-mode', `"unsupported queue mode '${mode}'"`);
  const sac = type.refusedArgs.includes('x-single-active-consumer') ? undefined : t.get('x-single-active-consumer');
  if (sac !== undefined && sac.type !== 't') unacceptable('x-single-active-consumer', sac);
  const args: QueueArgs = { overflow: overflow as Overflow, singleActiveConsumer: sac?.value === true, type };
  const put = <K extends keyof QueueArgs>(k: K, v: QueueArgs[K] | undefined): void => {
    if (v !== undefined) args[k] = v;
  };
  put('messageTtl', messageTtl);
  put('expires', expires);
  put('maxLength', maxLength);
  put('maxLengthBytes', maxLengthBytes);
  put('maxPriority', maxPriority);
  // RabbitMQ 3.12's; 3.10.8 takes any value (it does not know it). 0 turns the timeout off for
  // the queue, as the broker-wide consumer_timeout's 0 does.
  const consumerTimeout = nonNegative('x-consumer-timeout');
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

/**
 * What a client's declare (AMQP, the API, a definitions file) is checked for before the queue is
 * made, in 3.10.8's order: x-dead-letter-exchange's type (rabbit_channel checks it first, in its
 * own words), the values of the arguments the type takes, then the arguments it does not take;
 * the queue's constructor then runs checkDeclare (the type's own checks). A queue restored from
 * the store skips this, so one an earlier version took still starts.
 */
export function checkNewQueue(name: string, vhost: string, args: FieldTable): void {
  const dlx = args.get('x-dead-letter-exchange');
  if (dlx !== undefined && dlx.type !== 'S') {
    throw new AmqpError(ReplyCode.PreconditionFailed, `invalid type '${FIELD_TYPE_NAMES[dlx.type]}' for arg 'x-dead-letter-exchange' in queue '${name}' in vhost '${vhost}'`, 'channel');
  }
  parseQueueArgs(name, vhost, args);
  checkTypeArguments(name, vhost, args);
}

/** The checks every queue passes when made (restored ones too): its arguments' values, then its type's own. */
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
