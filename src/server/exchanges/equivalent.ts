// A redeclare of an existing exchange must match it: RabbitMQ answers a mismatch with 406
// "inequivalent arg …" over AMQP and with 400 carrying the same text through the management API.
import { AmqpError, ReplyCode, type FieldTable } from '../../frames/index.js';
import { argMismatch, argsDiffer } from '../arg-mismatch.js';
import type { Exchange } from './exchange.js';

export interface ExchangeDeclare {
  type: string;
  durable: boolean;
  autoDelete: boolean;
  internal: boolean;
  arguments: FieldTable;
}

/** The exchange arguments RabbitMQ compares on redeclare. */
const COMPARED_ARGS = ['alternate-exchange'];

export function checkExchangeEquivalent(e: Exchange, vhost: string, d: ExchangeDeclare): void {
  const where = `for exchange '${e.name}' in vhost '${vhost}'`;
  const check = (arg: string, received: unknown, current: unknown): void => {
    if (received !== current) {
      throw new AmqpError(ReplyCode.PreconditionFailed, `inequivalent arg '${arg}' ${where}: received '${received}' but current is '${current}'`, 'channel');
    }
  };
  // RabbitMQ's order: the first mismatch is the one reported.
  check('type', d.type, e.type);
  check('durable', d.durable, e.durable);
  check('auto_delete', d.autoDelete, e.autoDelete);
  check('internal', d.internal, e.internal);
  for (const k of COMPARED_ARGS) {
    const received = d.arguments.get(k);
    const current = e.arguments.get(k);
    if (argsDiffer(received, current)) {
      throw new AmqpError(ReplyCode.PreconditionFailed, `inequivalent arg '${k}' ${where}: ${argMismatch(received, current)}`, 'channel');
    }
  }
}
