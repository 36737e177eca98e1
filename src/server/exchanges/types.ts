// The exchange types a vhost can declare, by their AMQP type names.
import { DirectExchange } from './direct.js';
import type { Exchange, ExchangeSpec } from './exchange.js';
import { FanoutExchange } from './fanout.js';
import { HeadersExchange } from './headers.js';
import { TopicExchange } from './topic.js';

const types: Record<string, new (spec: ExchangeSpec) => Exchange> = {
  direct: DirectExchange,
  fanout: FanoutExchange,
  topic: TopicExchange,
  headers: HeadersExchange,
};

export function isExchangeType(type: string): boolean {
  return Object.hasOwn(types, type);
}

export function createExchange(spec: ExchangeSpec): Exchange {
  return new types[spec.type]!(spec);
}
