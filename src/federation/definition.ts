// Federation's runtime parameters and policy keys, checked as RabbitMQ 3.10.8's rabbitmq_federation
// checks them (its texts, its order): federation-upstream/<vhost>/<name> (where to federate from and
// how) and federation-upstream-set/<vhost>/<name> (upstreams by name, each with overrides); a policy
// names the upstreams of its exchanges with federation-upstream-set ("all" or a set),
// federation-upstream (one) or federation-upstream-pattern (a regex over upstream names).
import { parseAmqpUri, type AmqpUri } from '../client/uri.js';
import { binary, boolean, enumOf, erlangTerm, isObject, number, proplist, uri, type Check } from '../server/parameter-validation.js';
import type { PolicyDefinition } from '../server/policies.js';
import type { JsonValue } from '../store/store.js';

import type { AckMode } from '../client/relay.js';

/** What a link needs of its upstream: the parameter's value with an upstream set's overrides. */
export interface Upstream {
  /** The federation-upstream parameter's name. */
  name: string;
  uris: AmqpUri[];
  /** The upstream exchange (default: the federated exchange's own name). */
  exchange: string | null;
  /** The upstream queue of a federated queue (default: its own name), and the link's consumer tag. */
  queue: string | null;
  consumerTag: string | null;
  prefetch: number;
  /** Seconds. */
  reconnectDelay: number;
  maxHops: number;
  /** ms, for the upstream queue (x-expires), or none. */
  expires: number | null;
  messageTtl: number | null;
  ackMode: AckMode;
  trustUserId: boolean;
}

/** An upstream's keys, in 3.10.8's order of checks (uri mandatory). */
const UPSTREAM_KEYS: [string, Check, boolean][] = [
  ['uri', uri, true],
  ['exchange', binary, false],
  ['queue', binary, false],
  ['consumer-tag', binary, false],
  ['prefetch-count', number, false],
  ['reconnect-delay', number, false],
  ['max-hops', number, false],
  ['expires', number, false],
  ['message-ttl', number, false],
  ['trust-user-id', boolean, false],
  ['ack-mode', enumOf(['no-ack', 'on-publish', 'on-confirm']), false],
  ['ha-policy', binary, false],
  ['bind-nowait', boolean, false],
];

export function validateUpstream(name: string, value: JsonValue): string[] {
  if (!isObject(value)) return [`${name} not a list ${erlangTerm(value)}`];
  return proplist(name, UPSTREAM_KEYS, value);
}

/** An upstream set: a list of {upstream: name, …overrides of that upstream's keys}. */
export function validateUpstreamSet(name: string, value: JsonValue): string[] {
  // 3.10.8 fails with a 500 on a value that is not a list.
  if (!Array.isArray(value)) return [`${name} should be list, actually was ${erlangTerm(value)}`];
  const keys: [string, Check, boolean][] = [['upstream', binary, true], ...UPSTREAM_KEYS.filter(([k]) => k !== 'uri').map(([k, c]): [string, Check, boolean] => [k, c, false])];
  const out: string[] = [];
  for (const member of value) {
    if (!isObject(member)) out.push(`${name} not a list ${erlangTerm(member)}`);
    else out.push(...proplist(name, keys, member));
  }
  return out;
}

const FEDERATION_KEYS = ['federation-upstream', 'federation-upstream-set', 'federation-upstream-pattern'];

/** The policy keys, with 3.10.8's texts, and its check that a policy names at most one of them. */
export const POLICY_KEYS: Record<string, [(v: unknown) => boolean, string]> = {
  'federation-upstream-set': [(v) => typeof v === 'string', 'is not a valid federation upstream set name'],
  'federation-upstream': [(v) => typeof v === 'string', 'is not a valid federation upstream name'],
  'federation-upstream-pattern': [(v) => typeof v === 'string', 'is not a valid federation upstream pattern name'],
};

export function policyKeysTogether(d: PolicyDefinition): string | null {
  return FEDERATION_KEYS.filter((k) => k in d).length > 1 ? 'cannot specify federation-upstream, federation-upstream-set or federation-upstream-pattern together' : null;
}

/** What a policy asks for: upstreams by set, name or pattern; null when it asks for none. */
export function federationOf(d: PolicyDefinition | undefined): { set: string } | { name: string } | { pattern: RegExp } | null {
  if (!d) return null;
  if (typeof d['federation-upstream-set'] === 'string') return { set: d['federation-upstream-set'] };
  if (typeof d['federation-upstream'] === 'string') return { name: d['federation-upstream'] };
  if (typeof d['federation-upstream-pattern'] === 'string') {
    try {
      return { pattern: new RegExp(d['federation-upstream-pattern']) };
    } catch {
      return null;
    }
  }
  return null;
}

/** An upstream's value (checked), with overrides from a set member. */
export function parseUpstream(name: string, value: { [k: string]: JsonValue }, overrides: { [k: string]: JsonValue } = {}): Upstream {
  const v = { ...value, ...overrides };
  const num = (k: string, dflt: number): number => (typeof v[k] === 'number' ? (v[k] as number) : dflt);
  const u = v.uri;
  return {
    name,
    uris: (Array.isArray(u) ? u : [u]).map((x) => parseAmqpUri(String(x))),
    exchange: typeof v.exchange === 'string' ? v.exchange : null,
    queue: typeof v.queue === 'string' ? v.queue : null,
    consumerTag: typeof v['consumer-tag'] === 'string' ? v['consumer-tag'] : null,
    prefetch: num('prefetch-count', 1000),
    reconnectDelay: num('reconnect-delay', 5),
    maxHops: num('max-hops', 1),
    expires: typeof v.expires === 'number' ? v.expires : null,
    messageTtl: typeof v['message-ttl'] === 'number' ? v['message-ttl'] : null,
    ackMode: (typeof v['ack-mode'] === 'string' ? v['ack-mode'] : 'on-confirm') as AckMode,
    trustUserId: v['trust-user-id'] === true,
  };
}
