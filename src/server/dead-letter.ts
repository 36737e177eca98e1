// Dead-lettering (RabbitMQ's x-dead-letter-exchange): a message rejected without requeue, expired
// or pushed out by x-max-length is republished to the queue's dead-letter exchange, with the
// x-death header recording why, where and how often, as RabbitMQ writes it. This is the
// at-most-once way; a quorum queue's at-least-once dead-lettering (dead-letter-owed.ts) records
// the death the same way and routes with the same cycle detection.
import {
  Writer,
  encodeBasicProperties,
  type FieldTable,
  type FieldValue,
} from '../frames/index.js';
import type { Exchange } from './exchanges/exchange.js';
import { Message, ccKeysOf, type Entry } from './message.js';
import type { Queue } from './queue.js';
import type { VHost } from './vhost.js';

export type DeathReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

const str = (s: string): FieldValue => ({ type: 'S', value: Buffer.from(s) });
const text = (v: FieldValue | undefined): string | undefined => (v?.type === 'S' ? v.value.toString('utf8') : undefined);

/**
 * A message with its death recorded (x-death, x-first-death-*; expiration removed), not yet routed:
 * at-most-once routes it at once, at-least-once keeps it until its targets have taken it.
 */
export interface DeadMessage {
  /** The properties with the death recorded, encoded as they are delivered. */
  properties: Buffer;
  /** The same headers decoded: what a headers exchange routes on, and cycle detection reads. */
  headers: FieldTable;
  body: Buffer;
  persistent: boolean;
  /** The routing key it was published with: used when the queue has no dead-letter routing key. */
  routingKey: string;
}

/** Records msg's death in queue for reason, as RabbitMQ writes x-death. */
export function recordDeath(queue: Queue, msg: Message, reason: DeathReason): DeadMessage {
  const props = { ...msg.decoded() };
  const headers: FieldTable = new Map(props.headers ?? []);
  const deaths = headers.get('x-death');
  const list: FieldValue[] = deaths?.type === 'A' ? [...deaths.value] : [];
  const i = list.findIndex((d) => d.type === 'F' && text(d.value.get('queue')) === queue.name && text(d.value.get('reason')) === reason);
  if (i >= 0) {
    const old = list.splice(i, 1)[0]!;
    const t = new Map((old as { type: 'F'; value: FieldTable }).value);
    const c = t.get('count');
    t.set('count', { type: 'l', value: (c?.type === 'l' ? c.value : 0n) + 1n });
    t.set('time', { type: 'T', value: BigInt(Math.floor(Date.now() / 1000)) });
    list.unshift({ type: 'F', value: t });
  } else {
    const death: FieldTable = new Map([
      ['count', { type: 'l', value: 1n }],
      ['reason', str(reason)],
      ['queue', str(queue.name)],
      ['time', { type: 'T', value: BigInt(Math.floor(Date.now() / 1000)) }],
      ['exchange', str(msg.exchange)],
      ['routing-keys', { type: 'A', value: [msg.routingKey, ...ccKeysOf(msg)].map(str) }],
    ]);
    if (props.expiration !== undefined) death.set('original-expiration', str(props.expiration));
    list.unshift({ type: 'F', value: death });
  }
  headers.set('x-death', { type: 'A', value: list });
  if (!headers.has('x-first-death-reason')) {
    headers.set('x-first-death-reason', str(reason));
    headers.set('x-first-death-queue', str(queue.name));
    headers.set('x-first-death-exchange', str(msg.exchange));
  }
  props.headers = headers;
  // The expiration has done its work; RabbitMQ removes it so the message does not expire again.
  delete props.expiration;
  const w = new Writer(256);
  encodeBasicProperties(w, props);
  return { properties: Buffer.from(w.take()), headers, body: msg.body, persistent: msg.persistent, routingKey: msg.routingKey };
}

/** The queues dead reaches from dlx with routingKey, and those left out as cycles. */
export function deadLetterTargets(vhost: VHost, dlx: Exchange, routingKey: string, dead: DeadMessage): { targets: Queue[]; cycles: Queue[] } {
  const reached: Queue[] = [];
  vhost.route(dlx, routingKey, dead.headers, reached, vhost.newMark());
  const deaths = dead.headers.get('x-death');
  const list = deaths?.type === 'A' ? deaths.value : [];
  // Cycle detection as in RabbitMQ: a queue the message already died in is skipped, unless a
  // client rejected it somewhere on the way, so that expiry cycles cannot loop for ever.
  const rejected = list.some((d) => d.type === 'F' && text(d.value.get('reason')) === 'rejected');
  const targets: Queue[] = [];
  const cycles: Queue[] = [];
  for (const q of reached) {
    if (!rejected && list.some((d) => d.type === 'F' && text(d.value.get('queue')) === q.name)) cycles.push(q);
    else targets.push(q);
  }
  return { targets, cycles };
}

/**
 * At-most-once: republishes the message of entry from queue to its dead-letter exchange, if it has
 * one, and forgets it whatever the targets answer.
 */
export function deadLetter(queue: Queue, entry: Entry, reason: DeathReason): void {
  const dlxName = queue.args.deadLetterExchange;
  if (dlxName === undefined) return;
  const vhost = queue.vhost;
  const dlx = vhost.exchanges.get(dlxName);
  if (!dlx) return; // RabbitMQ drops the message when the dead-letter exchange does not exist
  const dead = recordDeath(queue, entry.msg, reason);
  const routingKey = queue.args.deadLetterRoutingKey ?? dead.routingKey;
  const msg = new Message(vhost.nextSeq(), dlxName, routingKey, dead.properties, dead.body, dead.persistent);
  for (const q of deadLetterTargets(vhost, dlx, routingKey, dead).targets) q.enqueue(msg);
}
