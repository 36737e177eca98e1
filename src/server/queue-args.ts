// Queue redeclaration must match the original (spec 1.7.2.1 "passive"/equivalence): RabbitMQ
// compares durable, auto_delete and the arguments it acts on, and refuses a mismatch with 406.
import { AmqpError, ReplyCode, fromFieldValue, type FieldTable, type FieldValue } from '../frames/index.js';
import type { Queue } from './queue.js';

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

const show = (v: FieldValue | undefined): string => (v === undefined ? 'none' : `'${String(fromFieldValue(v))}'`);

export function checkEquivalent(q: Queue, durable: boolean, autoDelete: boolean, args: FieldTable): void {
  const where = `for queue '${q.name}' in vhost '${q.vhost.name}'`;
  const fail = (arg: string, received: string, current: string): never => {
    throw new AmqpError(
      ReplyCode.PreconditionFailed,
      `inequivalent arg '${arg}' ${where}: received ${received} but current is ${current}`,
      'channel',
    );
  };
  if (q.durable !== durable) fail('durable', `'${durable}'`, `'${q.durable}'`);
  if (q.autoDelete !== autoDelete) fail('auto_delete', `'${autoDelete}'`, `'${q.autoDelete}'`);
  for (const k of COMPARED_ARGS) {
    const a = args.get(k);
    const b = q.arguments.get(k);
    if (show(a) !== show(b)) fail(k, show(a), show(b));
  }
}
