// Dead-lettering (RabbitMQ's x-dead-letter-exchange): a message rejected without requeue, expired
// or pushed out by x-max-length is republished to the queue's dead-letter exchange, with the
// x-death header recording why, where and how often, as RabbitMQ writes it. This is the
// at-most-once way; a quorum queue's at-least-once dead-lettering (dead-letter-owed.ts) records
// the death the same way and routes with the same cycle detection.
import { Buffer } from 'node:buffer';
import {
  Writer,
  encodeBasicProperties,
  type FieldTable,
  type FieldValue,
} from '../frames/index.js';
import type { Exchange } from './exchanges/exchange.js';
import { Message, ccKeysOf, routingKeysOf, type Entry } from './message.js';
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
  /** Its BCC keys, routed too when the queue has no dead-letter routing key (Message.bccKeys). */
  bccKeys: readonly string[] | null;
}

type Table = { type: 'F'; value: FieldTable };

const isDeath = (d: FieldValue, queue: string | undefined, reason: string | undefined): boolean =>
  d.type === 'F' && text(d.value.get('queue')) === queue && text(d.value.get('reason')) === reason;

/**
 * RabbitMQ's group_by_queue_and_reason (for x-death arrays written before deaths were counted,
 * one entry per death): one entry per queue and reason, the first of its group, given the group's
 * size as its count when it has none; in reverse order of first appearance, as its fold leaves
 * them. A single entry stays as it is.
 */
function groupDeaths(list: readonly FieldValue[]): FieldValue[] {
  if (list.length <= 1) return [...list];
  const seen = new Set<string>();
  const out: FieldValue[] = [];
  for (const d of list) {
    if (d.type !== 'F') continue;
    const q = text(d.value.get('queue'));
    const r = text(d.value.get('reason'));
    const key = `${q}\0${r}`;
    if (seen.has(key)) continue;
    seen.add(key);
    let t: FieldValue = d;
    if (!d.value.has('count')) {
      const n = list.filter((e) => isDeath(e, q, r)).length;
      t = { type: 'F', value: new Map([['count', { type: 'l', value: BigInt(n) }], ...d.value]) };
    }
    out.unshift(t);
  }
  return out;
}

/** A table with its keys in order, as RabbitMQ's sort_field_table leaves one. */
const sortedTable = (t: FieldTable): FieldTable => new Map([...t].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
const sorted = (t: FieldTable): FieldValue => ({ type: 'F', value: sortedTable(t) });

/**
 * Records msg's death in queue for reason, as RabbitMQ 3.10.8 writes x-death
 * (rabbit_dead_letter:update_x_death_header): the first death adds the x-first-death-* headers
 * and an entry in the order RabbitMQ builds it; a later one counts on the entry of the same queue
 * and reason (its time unchanged) or adds one, with its keys sorted, in front of the others.
 */
export function recordDeath(queue: Queue, msg: Message, reason: DeathReason): DeadMessage {
  const props = { ...msg.decoded() };
  const headers: FieldTable = new Map(props.headers ?? []);
  const info: FieldTable = new Map([
    ['count', { type: 'l', value: 1n }],
    ['reason', str(reason)],
    ['queue', str(queue.name)],
    ['time', { type: 'T', value: BigInt(Math.floor(Date.now() / 1000)) }],
    ['exchange', str(msg.exchange)],
    ['routing-keys', { type: 'A', value: [msg.routingKey, ...ccKeysOf(msg)].map(str) }],
  ]);
  if (props.expiration !== undefined) info.set('original-expiration', str(props.expiration));
  const deaths = headers.get('x-death');
  if (deaths === undefined) {
    headers.set('x-first-death-reason', str(reason));
    headers.set('x-first-death-queue', str(queue.name));
    headers.set('x-first-death-exchange', str(msg.exchange));
    headers.set('x-death', { type: 'A', value: [{ type: 'F', value: info }] });
  } else if (deaths.type === 'A') {
    const grouped = groupDeaths(deaths.value);
    const i = grouped.findIndex((d) => isDeath(d, queue.name, reason));
    let entry = info;
    if (i >= 0) {
      entry = new Map((grouped.splice(i, 1)[0] as Table).value);
      const c = entry.get('count');
      entry.set('count', { type: 'l', value: c === undefined ? 1n : BigInt(Number(c.value)) + 1n });
    }
    headers.set('x-death', { type: 'A', value: [sorted(entry), ...grouped] });
  } else {
    // Not an array (a client re-published it with its headers turned into strings): RabbitMQ
    // starts the list again.
    headers.set('x-death', { type: 'A', value: [{ type: 'F', value: info }] });
  }
  // With a dead-letter routing key the message goes on under that key alone: RabbitMQ drops its CC
  // header (rabbit_dead_letter), which would otherwise route it to the CC keys again.
  if (queue.args.deadLetterRoutingKey !== undefined) headers.delete('CC');
  // RabbitMQ's set_table_value sorts the headers it writes x-death into.
  props.headers = sortedTable(headers);
  // The expiration has done its work; RabbitMQ removes it so the message does not expire again.
  delete props.expiration;
  const w = new Writer(256);
  encodeBasicProperties(w, props);
  const bccKeys = queue.args.deadLetterRoutingKey === undefined ? (msg.bccKeys ?? null) : null;
  return { properties: Buffer.from(w.take()), headers, body: msg.body, persistent: msg.persistent, routingKey: msg.routingKey, bccKeys };
}

/** The queues dead reaches from dlx with routingKey, and those left out as cycles. */
export function deadLetterTargets(vhost: VHost, dlx: Exchange, routingKey: string, dead: DeadMessage): { targets: Queue[]; cycles: Queue[] } {
  const reached: Queue[] = [];
  // Without a dead-letter routing key, RabbitMQ routes with the keys it was published with: its
  // own, its CC and its BCC keys (recordDeath dropped the CC header and the BCC keys when there is one).
  const cc = dead.headers.get('CC');
  const extra = cc || dead.bccKeys ? [...routingKeysOf(cc), ...(dead.bccKeys ?? [])] : undefined;
  vhost.route(dlx, routingKey, dead.headers, reached, vhost.newMark(), undefined, extra);
  const deaths = dead.headers.get('x-death');
  const list = deaths?.type === 'A' ? deaths.value : [];
  const targets: Queue[] = [];
  const cycles: Queue[] = [];
  for (const q of reached) (isDeathCycle(list, q.name) ? cycles : targets).push(q);
  return { targets, cycles };
}

/**
 * RabbitMQ's is_death_cycle: a queue the message already died in is skipped when every death
 * from the latest back to that queue's was automatic (no 'rejected' among them), so that expiry
 * cycles cannot loop for ever while a client's rejections may send it round again.
 */
function isDeathCycle(deaths: readonly FieldValue[], queue: string): boolean {
  const i = deaths.findIndex((d) => d.type === 'F' && text(d.value.get('queue')) === queue);
  if (i < 0) return false;
  for (let k = 0; k <= i; k++) {
    const d = deaths[k]!;
    if (d.type !== 'F' || text(d.value.get('reason')) === 'rejected') return false;
  }
  return true;
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
