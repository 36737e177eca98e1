// Dead-lettering (RabbitMQ's x-dead-letter-exchange): a message rejected without requeue, expired
// or pushed out by x-max-length is republished to the queue's dead-letter exchange, with the
// x-death header recording why, where and how often, as RabbitMQ writes it.
import {
  Writer,
  encodeBasicProperties,
  type FieldTable,
  type FieldValue,
} from '../frames/index.js';
import { Message, ccKeysOf, type Entry } from './message.js';
import type { Queue } from './queue.js';

export type DeathReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

const str = (s: string): FieldValue => ({ type: 'S', value: Buffer.from(s) });
const text = (v: FieldValue | undefined): string | undefined => (v?.type === 'S' ? v.value.toString('utf8') : undefined);

/** Republishes the message of entry from queue to its dead-letter exchange, if it has one. */
export function deadLetter(queue: Queue, entry: Entry, reason: DeathReason): void {
  const dlxName = queue.args.deadLetterExchange;
  if (dlxName === undefined) return;
  const vhost = queue.vhost;
  const dlx = vhost.exchanges.get(dlxName);
  if (!dlx) return; // RabbitMQ drops the message when the dead-letter exchange does not exist
  const msg = entry.msg;
  const routingKey = queue.args.deadLetterRoutingKey ?? msg.routingKey;
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
  const dead = new Message(vhost.nextSeq(), dlxName, routingKey, Buffer.from(w.take()), msg.body, msg.persistent);
  const targets = new Set<Queue>();
  vhost.route(dlx, routingKey, headers, targets);
  // Cycle detection as in RabbitMQ: a queue the message already died in is skipped, unless a
  // client rejected it somewhere on the way, so that expiry cycles cannot loop for ever.
  const rejected = list.some((d) => d.type === 'F' && text(d.value.get('reason')) === 'rejected');
  for (const q of targets) {
    if (!rejected && list.some((d) => d.type === 'F' && text(d.value.get('queue')) === q.name)) continue;
    q.enqueue(dead);
  }
}
