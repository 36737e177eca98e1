// Queue arguments (x-message-ttl, x-max-length, dead-lettering, …): validated at declare with a
// 406 that names the argument, as RabbitMQ does, and compared on redeclare (406 on a mismatch).
import { AmqpError, ReplyCode, fromFieldValue, type FieldTable } from '../frames/index.js';
import { argMismatch, argsDiffer } from './arg-mismatch.js';

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
}

/** The arguments RabbitMQ checks for equivalence on redeclare. */
const COMPARED_ARGS = [
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
];

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
  const overflow = str('x-overflow') ?? 'drop-head';
  if (!['drop-head', 'reject-publish', 'reject-publish-dlx'].includes(overflow)) {
    invalid('x-overflow', `'${overflow}' is not one of drop-head, reject-publish, reject-publish-dlx`);
  }
  const type = str('x-queue-type');
  if (type !== undefined && type !== 'classic') {
    if (type === 'quorum' || type === 'stream') invalid('x-queue-type', `queue type '${type}' is not supported by this broker yet; use 'classic'`);
    invalid('x-queue-type', `unknown queue type '${type}'`);
  }
  const mode = str('x-queue-mode');
  if (mode !== undefined && mode !== 'default' && mode !== 'lazy') invalid('x-queue-mode', `'${mode}' is not one of default, lazy`);
  const sac = t.get('x-single-active-consumer');
  if (sac !== undefined && sac.type !== 't') invalid('x-single-active-consumer', `expected a boolean, got a value of type '${sac.type}'`);
  const dlrk = str('x-dead-letter-routing-key');
  const dlx = str('x-dead-letter-exchange');
  if (dlrk !== undefined && dlx === undefined) invalid('x-dead-letter-routing-key', 'x-dead-letter-exchange is not set');
  const args: QueueArgs = { overflow: overflow as Overflow, singleActiveConsumer: sac?.value === true };
  const put = <K extends keyof QueueArgs>(k: K, v: QueueArgs[K] | undefined): void => {
    if (v !== undefined) args[k] = v;
  };
  put('messageTtl', int('x-message-ttl', 0, 2 ** 32 - 1));
  put('expires', int('x-expires', 1, 2 ** 32 - 1));
  put('maxLength', int('x-max-length', 0));
  put('maxLengthBytes', int('x-max-length-bytes', 0));
  put('maxPriority', int('x-max-priority', 0, 255));
  put('deadLetterExchange', dlx);
  put('deadLetterRoutingKey', dlrk);
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
  for (const k of COMPARED_ARGS) {
    const a = args.get(k);
    const b = q.arguments.get(k);
    if (argsDiffer(a, b)) fail(k, argMismatch(a, b));
  }
}
