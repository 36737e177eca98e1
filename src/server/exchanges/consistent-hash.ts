// RabbitMQ's x-consistent-hash exchange (the rabbitmq_consistent_hash_exchange plugin, as 3.10.8
// has it). A binding's key is its weight: that many buckets for its destination, appended in
// binding order; removing it removes them and moves the later ones down. A message goes to one bucket, chosen
// by jump consistent hash of its routing key, or of a header (`hash-header`) or a property
// (`hash-property`: message_id, correlation_id or timestamp), computed as the Erlang VM does
// (erlang-hash.ts), so a key reaches the same queue as on RabbitMQ with the same bindings.
import { Buffer } from 'node:buffer';
import type { FieldTable, FieldValue } from '../../frames/index.js';
import type { Message } from '../message.js';
import { FIELD_TYPE_NAMES } from '../../frames/index.js';
import { jumpConsistentHash, type ErlTerm } from './erlang-hash.js';
import { erlangBinary } from '../erlang-print.js';
import { Exchange, type Binding, type Destination } from './exchange.js';

const PROPERTIES = ['correlation_id', 'message_id', 'timestamp'] as const;
type HashProperty = (typeof PROPERTIES)[number];

const UNDEFINED: ErlTerm = { atom: 'undefined' };

const text = (v: FieldValue | undefined): string | undefined => (v?.type === 'S' ? v.value.toString('utf8') : undefined);

/**
 * The refusal of a declare's arguments, with 3.10.8's text, or undefined. A hash-header or
 * hash-property that is not a string crashes 3.10.8 (541 INTERNAL_ERROR on the connection);
 * Warren refuses it as the other mistakes.
 */
export function checkConsistentHashArgs(args: FieldTable): string | undefined {
  const header = args.get('hash-header');
  const property = args.get('hash-property');
  for (const [name, v] of [['hash-header', header], ['hash-property', property]] as const) {
    if (v !== undefined && v.type !== 'S') return `${name} must be a string, not ${FIELD_TYPE_NAMES[v.type]}`;
  }
  if (header !== undefined && property !== undefined) return 'hash-header and hash-property are mutually exclusive';
  const p = text(property);
  if (p !== undefined && !(PROPERTIES as readonly string[]).includes(p)) return `Unsupported property: ${p}`;
  return undefined;
}

/** A binding's key is a weight: an integer of at least 1 (Erlang's list_to_integer: '+5' is 5). */
export function checkWeightKey(routingKey: string): string | undefined {
  if (!/^[+-]?[0-9]+$/.test(routingKey)) return `The binding key must be an integer: ${erlangBinary(routingKey)}`;
  return Number(routingKey) < 1 ? 'The binding key must be greater than 0' : undefined;
}

/** A field value as the plugin hashes it: the {Type, Value} tuple rabbit_misc:table_lookup returns. */
function fieldTerm(v: FieldValue): ErlTerm {
  const type: ErlTerm = { atom: FIELD_TYPE_NAMES[v.type] };
  switch (v.type) {
    case 'S':
    case 'x':
      return { tuple: [type, v.value] };
    case 't':
      return { tuple: [type, { atom: String(v.value) }] };
    case 'b':
    case 'B':
    case 's':
    case 'u':
    case 'I':
    case 'i':
      return { tuple: [type, { int: v.value }] };
    case 'l':
    case 'T':
      // Within 28 bits, as the VM hashes small integers; beyond that it hashes bignums, which
      // erlang-hash.ts does not: such values still go to one bucket each, not RabbitMQ's.
      return { tuple: [type, Number(v.value) === Number(BigInt.asIntN(28, v.value)) ? { int: Number(v.value) } : Buffer.from(String(v.value))] };
    default:
      // Floats, decimals, tables, arrays, void: one bucket per value, not necessarily RabbitMQ's.
      return { tuple: [type, Buffer.from(JSON.stringify(v.value, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x instanceof Map ? [...x] : x)) ?? '')] };
  }
}

export class ConsistentHashExchange extends Exchange {
  /** Bucket i's destination. */
  private readonly buckets: Destination[] = [];
  /**
   * Each destination's weight, in the order they were first bound: where its buckets are. As
   * 3.10.8 keeps them per destination, a second binding to one adds no buckets, and unbinding
   * either of them takes the destination's buckets away (seen on its node).
   */
  private readonly spans: { d: Destination; weight: number }[] = [];
  private readonly header = text(this.arguments.get('hash-header'));
  private readonly property = text(this.arguments.get('hash-property')) as HashProperty | undefined;
  override readonly readsHeaders = this.header !== undefined;

  protected addRoute(b: Binding): void {
    if (this.spans.some((s) => s.d === b.destination)) return;
    const weight = Number(b.routingKey);
    this.spans.push({ d: b.destination, weight });
    for (let i = 0; i < weight; i++) this.buckets.push(b.destination);
  }

  protected removeRoute(b: Binding): void {
    let start = 0;
    for (let i = 0; i < this.spans.length; i++) {
      const s = this.spans[i]!;
      if (s.d === b.destination) {
        this.buckets.splice(start, s.weight);
        this.spans.splice(i, 1);
        return;
      }
      start += s.weight;
    }
  }

  route(routingKey: string, headers: FieldTable | undefined, out: Destination[], msg?: Message, extra = false): void {
    const n = this.buckets.length;
    // The plugin hashes the first of a message's routing keys only (CC and BCC go nowhere more).
    if (n === 0 || extra) return;
    out.push(this.buckets[jumpConsistentHash(this.keyOf(routingKey, headers, msg), n)]!);
  }

  private keyOf(routingKey: string, headers: FieldTable | undefined, msg: Message | undefined): ErlTerm {
    if (this.header !== undefined) {
      const v = headers?.get(this.header);
      return v === undefined ? UNDEFINED : fieldTerm(v);
    }
    if (this.property !== undefined) {
      const props = msg?.decoded();
      const v = this.property === 'message_id' ? props?.messageId : this.property === 'correlation_id' ? props?.correlationId : props?.timestamp;
      return v === undefined ? UNDEFINED : Buffer.from(String(v));
    }
    return Buffer.from(routingKey);
  }
}
