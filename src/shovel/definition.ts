// A dynamic shovel's definition (the value of the runtime parameter shovel/<vhost>/<name>): checked
// as RabbitMQ 3.10.8's rabbit_shovel_parameters checks it, with its texts and in its order (the
// source/destination checks first, then each key's, last constraint first, unknown keys at the
// top), and read into what the worker needs. AMQP 0-9-1 only: src-protocol/dest-protocol amqp10
// are refused, not accepted and ignored.
import type { JsonValue } from '../store/store.js';
import { parseAmqpUri, type AmqpUri } from '../client/uri.js';
import { binary, boolean, enumOf, erlangTerm, isObject, number, proplist, table, uri, type Check } from '../server/parameter-validation.js';

import type { AckMode } from '../client/relay.js';

export interface ShovelDefinition {
  srcUris: AmqpUri[];
  destUris: AmqpUri[];
  srcQueue: string | null;
  srcExchange: string | null;
  srcExchangeKey: string;
  srcQueueArgs: { [k: string]: JsonValue };
  srcConsumerArgs: { [k: string]: JsonValue };
  destQueue: string | null;
  destExchange: string | null;
  destExchangeKey: string | null;
  destQueueArgs: { [k: string]: JsonValue };
  prefetch: number;
  ackMode: AckMode;
  /** Seconds between a failure and the next attempt. */
  reconnectDelay: number;
  /** 'never', 'queue-length' (what the queue held at start), or a count of messages. */
  deleteAfter: 'never' | 'queue-length' | number;
  addForwardHeaders: boolean;
  addTimestampHeader: boolean;
  /** dest-publish-properties: basic properties set on every message (AMQP names, snake_case). */
  publishProperties: { [k: string]: JsonValue };
  /** The value as given (the x-shovelled header lists its keys). */
  raw: { [k: string]: JsonValue };
}

const deleteAfter: Check = (k, v) =>
  v === 'never' || v === 'queue-length' || (typeof v === 'number' && Number.isInteger(v) && v >= 0)
    ? null
    : `${k} should be a number greater than or equal to 0, "never" or "queue-length", actually was ${erlangTerm(v)}`;
/** basic properties dest-publish-properties may set, in P_basic's order, and their checks. */
const PROPERTIES: [string, Check][] = [
  ['content_type', binary],
  ['content_encoding', binary],
  ['delivery_mode', number],
  ['priority', number],
  ['correlation_id', binary],
  ['reply_to', binary],
  ['expiration', binary],
  ['message_id', binary],
  ['timestamp', number],
  ['type', binary],
  ['user_id', binary],
  ['app_id', binary],
  ['cluster_id', binary],
];

const properties: Check = (k, v) => {
  if (!isObject(v)) return `${k} not a list ${erlangTerm(v)}`;
  return proplist(k, PROPERTIES.map(([p, c]) => [p, c, false]), v).join('\n') || null;
};

/** Every key a definition may have, in 3.10.8's order of checks; true: mandatory. */
const CONSTRAINTS: [string, Check, boolean][] = [
  ['reconnect-delay', number, false],
  ['ack-mode', enumOf(['no-ack', 'on-publish', 'on-confirm']), false],
  ['src-protocol', enumOf(['amqp10', 'amqp091']), false],
  ['dest-protocol', enumOf(['amqp10', 'amqp091']), false],
  ['src-uri', uri, true],
  ['src-exchange', binary, false],
  ['src-exchange-key', binary, false],
  ['src-queue', binary, false],
  ['src-queue-args', table, false],
  ['src-consumer-args', table, false],
  ['prefetch-count', number, false],
  ['src-prefetch-count', number, false],
  ['delete-after', deleteAfter, false],
  ['src-delete-after', deleteAfter, false],
  ['dest-uri', uri, true],
  ['dest-exchange', binary, false],
  ['dest-exchange-key', binary, false],
  ['dest-queue', binary, false],
  ['dest-queue-args', table, false],
  ['add-forward-headers', boolean, false],
  ['add-timestamp-header', boolean, false],
  ['dest-add-forward-headers', boolean, false],
  ['dest-add-timestamp-header', boolean, false],
  ['publish-properties', properties, false],
  ['dest-publish-properties', properties, false],
];

/** What is wrong with a definition, in 3.10.8's words and order; empty when nothing is. */
export function validateShovel(name: string, value: JsonValue): string[] {
  if (!isObject(value)) return [`${name} not a list ${erlangTerm(value)}`];
  const out: string[] = [];
  const both = (a: string, b: string): number => Number(a in value) + Number(b in value);
  const src = both('src-exchange', 'src-queue');
  if (src === 0) out.push("Must specify 'src-exchange' or 'src-queue'");
  if (src === 2) out.push("Cannot specify 'src-exchange' and 'src-queue'");
  if (both('dest-exchange', 'dest-queue') === 2) out.push("Cannot specify 'dest-exchange' and 'dest-queue'");
  const after = value['src-delete-after'] ?? value['delete-after'];
  if (typeof after === 'number' && value['ack-mode'] === 'no-ack') out.push("Cannot specify 'no-ack' and numerical 'delete-after'");
  out.push(...proplist(name, CONSTRAINTS, value));
  if (out.length > 0) return out;
  // Warren's own refusal: an AMQP 1.0 shovel would need an AMQP 1.0 client and endpoint.
  for (const k of ['src-protocol', 'dest-protocol']) {
    if (value[k] === 'amqp10') out.push(`${k} amqp10 is not supported: Warren shovels speak AMQP 0-9-1 only`);
  }
  return out;
}

const uris = (v: JsonValue): AmqpUri[] => (Array.isArray(v) ? v : [v]).map((u) => parseAmqpUri(String(u)));

/** Reads a definition validateShovel found nothing wrong with. */
export function parseShovel(value: { [k: string]: JsonValue }): ShovelDefinition {
  const str = (k: string): string | null => (typeof value[k] === 'string' ? (value[k] as string) : null);
  const pick = (modern: string, legacy: string): JsonValue | undefined => value[modern] ?? value[legacy];
  const obj = (k: string): { [k: string]: JsonValue } => (isObject(value[k]) ? (value[k] as { [k: string]: JsonValue }) : {});
  const after = pick('src-delete-after', 'delete-after') ?? 'never';
  const props = pick('dest-publish-properties', 'publish-properties');
  return {
    srcUris: uris(value['src-uri']!),
    destUris: uris(value['dest-uri']!),
    srcQueue: str('src-queue'),
    srcExchange: str('src-exchange'),
    srcExchangeKey: str('src-exchange-key') ?? '',
    srcQueueArgs: obj('src-queue-args'),
    srcConsumerArgs: obj('src-consumer-args'),
    destQueue: str('dest-queue'),
    destExchange: str('dest-exchange'),
    destExchangeKey: str('dest-exchange-key'),
    destQueueArgs: obj('dest-queue-args'),
    prefetch: Number(pick('src-prefetch-count', 'prefetch-count') ?? 1000),
    ackMode: (str('ack-mode') ?? 'on-confirm') as AckMode,
    reconnectDelay: Number(value['reconnect-delay'] ?? 5),
    deleteAfter: after === 'never' || after === 'queue-length' ? after : Number(after),
    addForwardHeaders: pick('dest-add-forward-headers', 'add-forward-headers') === true,
    addTimestampHeader: pick('dest-add-timestamp-header', 'add-timestamp-header') === true,
    publishProperties: isObject(props) ? props : {},
    raw: value,
  };
}
