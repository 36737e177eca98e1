// The exchange types a vhost can declare, by their AMQP type names.
import type { FieldTable } from '../../frames/index.js';
import { checkConsistentHashArgs, checkWeightKey, ConsistentHashExchange } from './consistent-hash.js';
import { checkDelayedArgs, DelayedMessageExchange, delayedTypeOf } from './delayed-message.js';
import { DirectExchange } from './direct.js';
import type { Exchange, ExchangeSpec } from './exchange.js';
import { FanoutExchange } from './fanout.js';
import { FederationUpstreamExchange } from './federation-upstream.js';
import { HeadersExchange } from './headers.js';
import { RandomExchange } from './random.js';
import { checkRecentHistoryArgs, RecentHistoryExchange } from './recent-history.js';
import { TopicExchange } from './topic.js';

type ExchangeClass = new (spec: ExchangeSpec) => Exchange;

const types: Record<string, ExchangeClass> = {
  direct: DirectExchange,
  fanout: FanoutExchange,
  topic: TopicExchange,
  headers: HeadersExchange,
  // Federation's upstream side (federation-upstream.ts): a RabbitMQ or Warren downstream declares it here.
  'x-federation-upstream': FederationUpstreamExchange,
  // Exchange types RabbitMQ's bundled plugins add, always on here.
  'x-consistent-hash': ConsistentHashExchange,
  'x-random': RandomExchange,
  'x-recent-history': RecentHistoryExchange,
};

/** A type's refusal (406 PRECONDITION_FAILED, its text) of a new exchange's arguments, or undefined. */
export function checkExchangeArguments(type: string, args: FieldTable): string | undefined {
  if (type === 'x-consistent-hash') return checkConsistentHashArgs(args);
  if (type === 'x-recent-history') return checkRecentHistoryArgs(args);
  if (type !== DELAYED) return undefined;
  // The plugin checks its own argument, then the arguments as its x-delayed-type would.
  const delayed = checkDelayedArgs(args, isExchangeType);
  if (delayed !== undefined) return delayed;
  return checkExchangeArguments(delayedTypeOf(args) ?? '', args);
}

/**
 * A type's refusal (406 PRECONDITION_FAILED, its text) of a binding key from an exchange of that
 * type, or undefined: a consistent-hash exchange's keys are weights.
 */
export function checkBindingKey(type: string, routingKey: string, args?: FieldTable): string | undefined {
  if (type === DELAYED) {
    const inner = delayedTypeOf(args);
    return inner === undefined ? undefined : checkBindingKey(inner, routingKey);
  }
  return type === 'x-consistent-hash' ? checkWeightKey(routingKey) : undefined;
}

/** The community plugin's delayed-message exchange: an exchange of its x-delayed-type inside. */
const DELAYED = 'x-delayed-message';

export function isExchangeType(type: string): boolean {
  return Object.hasOwn(types, type) || type === DELAYED;
}

/**
 * RabbitMQ's refusal of a type it does not have, over AMQP (503) and the API (400). 3.10.8 says
 * "invalid" when the name happens to be an atom of its Erlang VM ('', 'foo', 'test', 'none'…) and
 * "unknown" otherwise ('x-jms-topic' without its plugin, 'topics', 'bogus'). Warren cannot
 * know that VM's atoms: '' is "invalid", every other name "unknown", which is RabbitMQ's answer for
 * plugin types and typos, the names people actually send.
 */
export function unknownExchangeTypeText(type: string): string {
  return `${type === '' ? 'invalid' : 'unknown'} exchange type '${type}'`;
}

export function createExchange(spec: ExchangeSpec): Exchange {
  if (spec.type === DELAYED) {
    return new DelayedMessageExchange(spec, createExchange({ ...spec, type: delayedTypeOf(spec.arguments) ?? 'direct' }));
  }
  return new types[spec.type]!(spec);
}
