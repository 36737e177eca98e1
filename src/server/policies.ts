// Policies, as RabbitMQ 3.10 has them: per vhost, a name, a regex pattern matched against queue and
// exchange names, what they apply to, a priority and a definition. The highest-priority matching
// policy applies to each queue and exchange, and changing or clearing a policy changes the
// queues and exchanges it matches at once. This module validates policies (RabbitMQ's texts),
// picks the one that applies, and merges it with a queue's declared arguments; queue.ts and
// vhost.ts only call applyPolicy / policyFor.
import { toFieldValue, fromFieldValue, type FieldTable, type PlainValue } from '../frames/index.js';
import { missingKeysText } from './missing-keys.js';

export const APPLY_TO = ['queues', 'exchanges', 'all', 'classic_queues', 'quorum_queues', 'streams'] as const;
export type ApplyTo = (typeof APPLY_TO)[number];

export type PolicyDefinition = { [key: string]: PlainValue };

export interface Policy {
  vhost: string;
  name: string;
  pattern: string;
  'apply-to': ApplyTo;
  definition: PolicyDefinition;
  priority: number;
}

/** A policy RabbitMQ would refuse; message is RabbitMQ's reason text. */
export class PolicyError extends Error {}

/** Erlang's rendering of a JSON value in RabbitMQ's validation messages (<<"x">> for strings). */
function erl(v: unknown): string {
  if (typeof v === 'string') return `<<"${v}">>`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map(erl).join(',')}]`;
  if (typeof v === 'object') {
    return `#{${Object.entries(v as object)
      .map(([k, x]) => `${erl(k)} => ${erl(x)}`)
      .join(',')}}`;
  }
  return String(v);
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
const nonNegInt = (v: unknown): boolean => isInt(v) && v >= 0;
const str = (v: unknown): boolean => typeof v === 'string';
const oneOf =
  (...xs: string[]) =>
  (v: unknown): boolean =>
    typeof v === 'string' && xs.includes(v);
/** RabbitMQ's max-age: a number and a unit, Y M D h m s. */
const maxAge = (v: unknown): boolean => typeof v === 'string' && /^\d+[YMDhms]$/.test(v);

/** Every key RabbitMQ 3.10.8 recognises in a policy (without plugins: registerPolicyKeys adds theirs), and its check. */
const KEYS: Record<string, [(v: unknown) => boolean, string]> = {
  'alternate-exchange': [str, 'is not a valid alternate exchange name'],
  'dead-letter-exchange': [str, 'is not a valid dead letter exchange name'],
  'dead-letter-routing-key': [str, 'is not a valid dead letter routing key'],
  'dead-letter-strategy': [oneOf('at-most-once', 'at-least-once'), 'is not a valid dead letter strategy'],
  'message-ttl': [nonNegInt, 'is not a valid message TTL'],
  expires: [(v) => isInt(v) && v >= 1, 'is not a valid queue expiry'],
  'max-length': [nonNegInt, 'is not a valid maximum length'],
  'max-length-bytes': [nonNegInt, 'is not a valid maximum length in bytes'],
  'max-in-memory-length': [nonNegInt, 'is not a valid maximum memory length'],
  'max-in-memory-bytes': [nonNegInt, 'is not a valid maximum memory in bytes'],
  'delivery-limit': [nonNegInt, 'is not a valid delivery limit'],
  // RabbitMQ 3.12+ (3.10.8 has only the broker-wide consumer_timeout).
  'consumer-timeout': [nonNegInt, 'is not a valid consumer timeout'],
  'queue-mode': [oneOf('default', 'lazy'), 'is not a valid queue-mode value'],
  overflow: [oneOf('drop-head', 'reject-publish', 'reject-publish-dlx'), 'is not a valid overflow value'],
  'max-age': [maxAge, 'is not a valid max age'],
  'stream-max-segment-size-bytes': [nonNegInt, 'is not a valid segment size'],
  'queue-leader-locator': [oneOf('client-local', 'balanced', 'random', 'least-leaders'), 'is not a valid queue leader locator value'],
  'initial-cluster-size': [nonNegInt, 'is not a valid cluster size'],
  'queue-master-locator': [oneOf('min-masters', 'client-local', 'random'), 'invalid queue-master-locator value'],
  'ha-mode': [oneOf('all', 'exactly', 'nodes'), 'is not a valid ha-mode value'],
  'ha-params': [() => true, ''],
  'ha-sync-mode': [() => true, ''],
  'ha-sync-batch-size': [(v) => isInt(v) && v > 0, 'is not a valid ha-sync-batch-size value'],
  'ha-promote-on-shutdown': [oneOf('always', 'when-synced'), 'is not a valid ha-promote-on-shutdown value'],
  'ha-promote-on-failure': [oneOf('always', 'when-synced'), 'is not a valid ha-promote-on-failure value'],
};

/** Checks across several keys that plugins add: each returns RabbitMQ's text, or null. */
const CROSS_CHECKS: ((d: PolicyDefinition) => string | null)[] = [];

/**
 * A plugin's policy keys (federation's), each with its check and RabbitMQ's words for a bad value,
 * and a check across them; policies using them are taken from then on.
 */
export function registerPolicyKeys(keys: Record<string, [(v: unknown) => boolean, string]>, across?: (d: PolicyDefinition) => string | null): void {
  Object.assign(KEYS, keys);
  if (across) CROSS_CHECKS.push(across);
}

/**
 * What an operator policy may set (RabbitMQ 3.10.8 refuses any other key as "not recognised"):
 * limits only, each merged with the user policy's value by taking the lower one.
 */
const OPERATOR_KEYS = ['expires', 'message-ttl', 'max-length', 'max-length-bytes', 'max-in-memory-length', 'max-in-memory-bytes', 'delivery-limit'];

/** The problem RabbitMQ's validation reports first in a definition, or null when it is valid. */
export function definitionProblem(d: PolicyDefinition, operator = false): string | null {
  const keys = Object.keys(d);
  if (keys.length === 0) return 'no policy provided';
  const unknown = keys.filter((k) => !Object.hasOwn(KEYS, k) || (operator && !OPERATOR_KEYS.includes(k))).sort();
  if (unknown.length > 0) return `[${unknown.map((k) => `{${erl(k)},${erl(d[k])}}`).join(',')}] are not recognised policy settings`;
  for (const k of keys) {
    const [ok, why] = KEYS[k]!;
    if (!ok(d[k])) return `${erl(d[k])} ${why}`;
  }
  // Classic mirroring's keys, checked together as rabbit_mirror_queue_misc does.
  const mode = d['ha-mode'];
  if (mode === undefined) {
    if (['ha-params', 'ha-sync-mode', 'ha-promote-on-shutdown', 'ha-promote-on-failure', 'ha-sync-batch-size'].some((k) => k in d)) {
      return 'ha-mode must be specified to specify ha-params, ha-sync-mode or ha-promote-on-shutdown';
    }
  } else {
    const params = d['ha-params'];
    if (mode === 'exactly' && !(isInt(params) && params > 0)) {
      return `ha-mode="exactly" takes an integer, ${params === undefined ? 'none' : erl(params)} given`;
    }
    if (mode === 'nodes' && !(Array.isArray(params) && params.length > 0 && params.every(str))) {
      return `ha-mode="nodes" takes a list of strings, ${params === undefined ? 'none' : erl(params)} given`;
    }
    if (mode === 'all' && params !== undefined) return 'ha-mode="all" does not take parameters, ' + erl(params) + ' given';
    const sync = d['ha-sync-mode'];
    if (sync !== undefined && sync !== 'manual' && sync !== 'automatic') return `ha-sync-mode must be "manual" or "automatic", got ${erl(sync)}`;
  }
  for (const check of CROSS_CHECKS) {
    const why = check(d);
    if (why !== null) return why;
  }
  return null;
}

/**
 * Checks a policy as given to PUT /api/policies/{vhost}/{name} or in a definitions file, and
 * returns it with RabbitMQ's defaults (apply-to all, priority 0). Throws PolicyError with
 * RabbitMQ's reason text.
 */
export function parsePolicy(vhost: string, name: string, body: Record<string, unknown>, operator = false): Policy {
  // Both named when both are missing, as 3.10.8.
  const missing = missingKeysText(body, ['pattern', 'definition']);
  if (missing !== null) throw new PolicyError(missing);
  const failed = (why: string): never => {
    throw new PolicyError(`Validation failed\n\n${why}\n`);
  };
  const { pattern, definition } = body;
  const applyTo = body['apply-to'] ?? 'all';
  const priority = body.priority ?? 0;
  if (typeof pattern !== 'string') return failed(`pattern should be a binary but was ${erl(pattern)}`);
  try {
    new RegExp(pattern);
  } catch (e) {
    failed(`pattern should be regular expression but is invalid: ${(e as Error).message}`);
  }
  if (typeof applyTo !== 'string' || !(APPLY_TO as readonly string[]).includes(applyTo)) {
    failed(`apply-to '${String(applyTo)}' unrecognised; should be 'queues', 'classic_queues', 'quorum_queues', 'streams', 'exchanges' or 'all'`);
  }
  if (typeof priority !== 'number') failed(`priority should be a number, actually was ${erl(priority)}`);
  if (typeof definition !== 'object' || definition === null || Array.isArray(definition)) return failed(`definition should be a JSON object but was ${erl(definition)}`);
  const problem = definitionProblem(definition as PolicyDefinition, operator);
  if (problem) failed(problem);
  return { vhost, name, pattern, 'apply-to': applyTo as ApplyTo, definition: definition as PolicyDefinition, priority: priority as number };
}

export type PolicyTarget = { kind: 'exchange'; name: string } | { kind: 'queue'; name: string; type: string };

function appliesTo(p: Policy, t: PolicyTarget): boolean {
  switch (p['apply-to']) {
    case 'all':
      return true;
    case 'exchanges':
      return t.kind === 'exchange';
    case 'queues':
      return t.kind === 'queue';
    case 'classic_queues':
      return t.kind === 'queue' && t.type === 'classic';
    case 'quorum_queues':
      return t.kind === 'queue' && t.type === 'quorum';
    case 'streams':
      return t.kind === 'queue' && t.type === 'stream';
  }
}

const regexes = new Map<string, RegExp>();
function regex(pattern: string): RegExp {
  let r = regexes.get(pattern);
  if (!r) {
    if (regexes.size > 10_000) regexes.clear();
    regexes.set(pattern, (r = new RegExp(pattern)));
  }
  return r;
}

/**
 * The policy that applies to a queue or exchange: the highest priority among those matching its
 * name. RabbitMQ breaks ties by its table's hash order, which nobody can rely on (3.10.8 picked
 * 'b' over 'a' and 'c', then 'aa' over all three); Warren picks the first name in code-point order.
 * As in RabbitMQ, amq.* exchanges and the default exchange match too.
 */
export function matchPolicy(policies: Iterable<Policy>, target: PolicyTarget): Policy | null {
  let best: Policy | null = null;
  for (const p of policies) {
    if (!appliesTo(p, target) || !regex(p.pattern).test(target.name)) continue;
    if (!best || p.priority > best.priority || (p.priority === best.priority && p.name < best.name)) best = p;
  }
  return best;
}

/**
 * How RabbitMQ 3.10 resolves a key set both by an argument and by the policy: for classic and
 * quorum queues (rabbit_amqqueue_process: res_min / res_arg; rabbit_quorum_queue: the same) the
 * lower number wins for TTLs, expiry and lengths, the argument for the rest; for streams
 * (rabbit_stream_queue: policy_precedence) the policy wins. A key set by only one of them comes
 * from that one.
 */
type Rule = 'min' | 'arg' | 'policy';
const QUEUE_KEYS: Record<string, Rule> = {
  'message-ttl': 'min',
  expires: 'min',
  'max-length': 'min',
  'max-length-bytes': 'min',
  // Quorum queues only (classic ones ignore x-delivery-limit); RabbitMQ 3.10.8 took the lower value.
  'delivery-limit': 'min',
  // RabbitMQ 3.12+: the lower of the argument's and the policy's.
  'consumer-timeout': 'min',
  'dead-letter-exchange': 'arg',
  'dead-letter-routing-key': 'arg',
  // Quorum queues only; RabbitMQ 3.10.8: an argument at-most-once kept a policy's at-least-once away.
  'dead-letter-strategy': 'arg',
  overflow: 'arg',
  'queue-mode': 'arg',
};
/**
 * Streams: RabbitMQ 3.10.8 took the policy's value over the argument's for all three, lower or
 * higher (a policy max-age 1h kept an x-max-age 1s stream whole; a policy max-length-bytes 1 GB
 * kept a 20 kB x-max-length-bytes stream whole).
 */
const STREAM_KEYS: Record<string, Rule> = {
  'max-length-bytes': 'policy',
  'max-age': 'policy',
  'stream-max-segment-size-bytes': 'policy',
};
/** Queue arguments hold at most these (queue-args.ts' ranges). */
const MAX: Record<string, number> = { 'message-ttl': 2 ** 32 - 1, expires: 2 ** 32 - 1 };

/**
 * What applies to a queue from its policy and its operator policy (RabbitMQ's
 * effective_policy_definition): every key of either, the lower value where both set one.
 */
export function effectiveDefinition(policy: Policy | null, operator: Policy | null): PolicyDefinition {
  if (!operator) return policy?.definition ?? {};
  const out: PolicyDefinition = { ...(policy?.definition ?? {}) };
  for (const [k, v] of Object.entries(operator.definition)) {
    const mine = out[k];
    out[k] = typeof mine === 'number' && typeof v === 'number' ? Math.min(mine, v) : v;
  }
  return out;
}

/**
 * A queue's arguments in effect: its declared ones, with its effective policy definition merged in
 * by the rules of its type (queue-types/: classic, quorum, stream).
 */
export function effectiveQueueArguments(declared: FieldTable, definition: PolicyDefinition, type: string): FieldTable {
  if (Object.keys(definition).length === 0) return declared;
  const out: FieldTable = new Map(declared);
  const rules = type === 'stream' ? STREAM_KEYS : QUEUE_KEYS;
  for (const [key, rule] of Object.entries(rules)) {
    const pv = definition[key];
    if (pv === undefined) continue;
    const arg = `x-${key}`;
    const av = declared.get(arg);
    let v = pv;
    if (av !== undefined && rule !== 'policy') {
      if (rule === 'arg') continue;
      v = Math.min(Number(fromFieldValue(av)), Number(pv));
    }
    if (typeof v === 'number' && MAX[key] !== undefined) v = Math.min(v, MAX[key]);
    out.set(arg, toFieldValue(v));
  }
  // A routing key without an exchange has nothing to apply to (queue-args.ts refuses the pair).
  if (out.has('x-dead-letter-routing-key') && !out.has('x-dead-letter-exchange')) out.delete('x-dead-letter-routing-key');
  return out;
}

/** An exchange's alternate exchange: its argument wins over its policy, as rabbit_policy:get_arg. */
export function alternateExchangeOf(args: FieldTable, policy: Policy | null): string | undefined {
  const a = args.get('alternate-exchange');
  if (a?.type === 'S') return a.value.toString('utf8');
  const p = policy?.definition['alternate-exchange'];
  return typeof p === 'string' ? p : undefined;
}

/** RabbitMQ's order in lists (GET /api/policies, list_policies): priority, then name. */
export function sortPolicies(ps: Policy[]): Policy[] {
  return ps.sort((a, b) => a.priority - b.priority || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) || (a.vhost < b.vhost ? -1 : 1));
}
