// RabbitMQ's x-recent-history exchange (the rabbitmq_recent_history_exchange plugin, as 3.10.8 has
// it): it routes as a fanout and keeps the last messages that passed through it (20, or its
// x-recent-history-length argument), except those whose x-recent-history-no-store header is true.
// Every new binding gets them at once: a queue oldest first, an exchange newest first (3.10.8 routes
// its list, which it keeps newest first, through the exchange). Kept in memory only, per node.
import { fromFieldValue, type FieldTable } from '../../frames/index.js';
import type { Message } from '../message.js';
import { erlangValue } from '../erlang-print.js';
import { Exchange, type Binding, type Destination } from './exchange.js';

const DEFAULT_LENGTH = 20;
const INTEGER_TYPES = new Set(['b', 'B', 's', 'u', 'I', 'i', 'l']);

/** The refusal of a declare's arguments, with 3.10.8's text, or undefined. */
export function checkRecentHistoryArgs(args: FieldTable): string | undefined {
  const v = args.get('x-recent-history-length');
  if (v === undefined || (INTEGER_TYPES.has(v.type) && Number(fromFieldValue(v)) > 0)) return undefined;
  return `Invalid argument ${erlangValue(v)}, 'x-recent-history-length' must be a positive integer`;
}

export class RecentHistoryExchange extends Exchange {
  /** The messages kept, oldest first. */
  private readonly kept: Message[] = [];
  private readonly length = ((): number => {
    const v = this.arguments.get('x-recent-history-length');
    return v === undefined ? DEFAULT_LENGTH : Number(fromFieldValue(v));
  })();

  protected addRoute(_b: Binding): void {}
  protected removeRoute(_b: Binding): void {}

  route(_routingKey: string, _headers: FieldTable | undefined, out: Destination[], msg?: Message, extra = false): void {
    for (const b of this.bindings.values()) out.push(b.destination);
    // Kept once, not once per CC key.
    if (!msg || extra) return;
    const noStore = msg.decoded().headers?.get('x-recent-history-no-store');
    if (noStore?.type === 't' && noStore.value) return;
    this.kept.push(msg);
    if (this.kept.length > this.length) this.kept.shift();
  }

  override replayFor(b: Binding): readonly Message[] {
    return b.destination instanceof Exchange ? [...this.kept].reverse() : [...this.kept];
  }
}
