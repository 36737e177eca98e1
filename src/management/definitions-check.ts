// Checks a whole definitions file against the broker before anything of it is applied, so an
// import is all or nothing, and names every problem at once. Whatever Warren cannot apply
// (parameters other than operator policies and vhost limits …) is a problem, never silently dropped.
import { checkLimitName, checkLimitValue, type LimitScope } from '../server/limits.js';
import { AmqpError, toFieldTable, type FieldTable, type PlainValue } from '../frames/index.js';
import type { Broker } from '../server/broker.js';
import { checkExchangeEquivalent } from '../server/exchanges/equivalent.js';
import { checkBindingKey, checkExchangeArguments, isExchangeType } from '../server/exchanges/types.js';
import { missingKeysText } from '../server/missing-keys.js';
import { PolicyError, parsePolicy } from '../server/policies.js';
import { checkDeclare, checkEquivalent, checkNewQueue } from '../server/queue-args.js';
import { isQueueTypeName } from '../server/default-queue-type.js';
import { STANDARD_EXCHANGES } from '../server/vhost.js';
import type { JsonValue } from '../store/store.js';

type Args = { [k: string]: PlainValue };

export interface DefinitionsJson {
  rabbit_version?: string;
  rabbitmq_version?: string;
  product_name?: string;
  product_version?: string;
  users?: { name: string; password_hash?: string; password?: string; hashing_algorithm?: string; tags?: string | string[]; limits?: object }[];
  vhosts?: DefinedVHost[];
  permissions?: { user: string; vhost: string; configure: string; write: string; read: string }[];
  topic_permissions?: { user: string; vhost: string; exchange: string; write: string; read: string }[];
  queues?: { name: string; vhost: string; durable?: boolean; auto_delete?: boolean; arguments?: Args }[];
  exchanges?: { name: string; vhost: string; type: string; durable?: boolean; auto_delete?: boolean; internal?: boolean; arguments?: Args }[];
  parameters?: { vhost: string; component: string; name: string; value: { [k: string]: unknown } }[];
  policies?: { vhost: string; name: string; pattern: string; 'apply-to'?: string; definition: { [k: string]: PlainValue }; priority?: number }[];
  bindings?: { source: string; vhost: string; destination: string; destination_type: 'queue' | 'exchange'; routing_key?: string; arguments?: Args }[];
  global_parameters?: { name: string; value: JsonValue }[];
  [other: string]: unknown;
}

/** A vhost in a definitions file: RabbitMQ 3.11+ put description, tags and default_queue_type in metadata too. */
export interface DefinedVHost {
  name: string;
  description?: string;
  tags?: string[] | string;
  default_queue_type?: string;
  metadata?: { description?: string; tags?: string[] | string; default_queue_type?: string };
  limits?: object;
}

/** The tags and default queue type a file gives a vhost (top level first, then metadata); undefined when left out. */
export function definedVHostMetadata(v: DefinedVHost): { tags?: string[]; defaultQueueType?: string } {
  const out: { tags?: string[]; defaultQueueType?: string } = {};
  const tags = v.tags ?? v.metadata?.tags;
  if (tags !== undefined) out.tags = (Array.isArray(tags) ? tags : tags.split(',')).map((t) => t.trim()).filter(Boolean);
  const dqt = [v.default_queue_type, v.metadata?.default_queue_type].find((x) => x !== undefined && x !== 'undefined');
  if (dqt !== undefined) out.defaultQueueType = dqt;
  return out;
}

/** What an import refused: every problem found in the file. */
export class DefinitionsError extends Error {
  constructor(readonly problems: string[]) {
    super(`definitions not imported (${problems.length} problem${problems.length === 1 ? '' : 's'}): ${problems.join('; ')}`);
  }
}

const OBJECT_LISTS = ['users', 'vhosts', 'permissions', 'topic_permissions', 'policies', 'queues', 'exchanges', 'bindings'] as const;
/** RabbitMQ writes these; Warren has nothing to apply them to, so only empty lists import. */
const UNSUPPORTED_LISTS: Record<string, { why: string; one: string }> = {
  parameters: { why: 'runtime parameters of a component Warren does not have are not supported', one: 'parameter' },
};
/** Version stamps RabbitMQ and Warren write; nothing to apply. */
const STAMPS = ['rabbit_version', 'rabbitmq_version', 'product_name', 'product_version'];

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const text = (e: unknown): string => (e instanceof AmqpError || e instanceof Error ? e.message : String(e));
const inVHost = (name: unknown, vhost: unknown): string => `'${String(name)}' in vhost '${String(vhost)}'`;

export function checkDefinitions(broker: Broker, d: unknown): string[] {
  if (!isRecord(d)) return ['the definitions must be a JSON object'];
  const problems: string[] = [];
  const fail = (p: string): void => {
    problems.push(p);
  };

  for (const key of Object.keys(d)) {
    if (STAMPS.includes(key) || key === 'global_parameters' || key in UNSUPPORTED_LISTS || (OBJECT_LISTS as readonly string[]).includes(key)) continue;
    fail(`unknown key '${key}'`);
  }
  const notLists = [...OBJECT_LISTS, 'global_parameters', ...Object.keys(UNSUPPORTED_LISTS)].filter((k) => d[k] !== undefined && !Array.isArray(d[k]));
  for (const key of notLists) fail(`'${key}' must be a list`);
  if (notLists.length > 0) return problems;
  const list = (key: string): Record<string, unknown>[] => {
    const out: Record<string, unknown>[] = [];
    ((d[key] as unknown[] | undefined) ?? []).forEach((x, i) => {
      if (isRecord(x)) out.push(x);
      else fail(`${key}[${i}] must be an object`);
    });
    return out;
  };

  for (const [key, { why, one }] of Object.entries(UNSUPPORTED_LISTS)) {
    for (const x of list(key)) {
      // Operator policies are runtime parameters of the component 'operator_policy' in RabbitMQ's files.
      if (key === 'parameters' && x.component === 'operator_policy') continue;
      // A vhost's limits are the runtime parameter vhost-limits/limits in RabbitMQ's files.
      if (key === 'parameters' && x.component === 'vhost-limits') {
        for (const m of limitProblems('vhost', x.value)) fail(`vhost-limits of vhost '${String(x.vhost)}': ${m}`);
        continue;
      }
      // A plugin's component (shovel): its own checks, as a PUT of the parameter makes them.
      const component = typeof x.component === 'string' ? broker.parameters.component(x.component) : undefined;
      if (key === 'parameters' && component && typeof x.name === 'string' && typeof x.vhost === 'string') {
        for (const m of component.validate(x.vhost, x.name, (x.value ?? null) as JsonValue, '')) fail(`${component.name} ${inVHost(x.name, x.vhost)}: ${m}`);
        continue;
      }
      fail(`${why}: ${one} ${inVHost(x.name ?? x.user, x.vhost)}`);
    }
  }
  // Any name, any JSON value: imported as 3.10.8 imports them (cluster_name and internal_cluster_id too).
  for (const p of list('global_parameters')) {
    if (typeof p.name !== 'string') fail('a global parameter without a name');
    else if (!('value' in p)) fail(`global parameter '${p.name}': [{key_missing,value}]`);
  }

  const vhosts = new Set(broker.vhosts.keys());
  for (const v of list('vhosts')) {
    if (typeof v.name !== 'string') fail('a vhost without a name');
    else vhosts.add(v.name);
    for (const m of limitProblems('vhost', v.limits ?? {})) fail(`vhost '${String(v.name)}': ${m}`);
    const meta = isRecord(v.metadata) ? v.metadata : {};
    if (v.metadata !== undefined && !isRecord(v.metadata)) fail(`vhost '${String(v.name)}': metadata must be an object`);
    for (const dqt of [v.default_queue_type, meta.default_queue_type]) {
      // 'undefined' is what RabbitMQ 3.12 shows for an unset default; anything else must be a registered type.
      if (dqt !== undefined && dqt !== 'undefined' && (typeof dqt !== 'string' || !isQueueTypeName(dqt))) fail(`vhost '${String(v.name)}': unsupported default_queue_type ${JSON.stringify(dqt)}`);
    }
    for (const tags of [v.tags, meta.tags]) {
      if (tags !== undefined && typeof tags !== 'string' && !(Array.isArray(tags) && tags.every((t) => typeof t === 'string'))) fail(`vhost '${String(v.name)}': tags must be a list of strings`);
    }
  }
  const users = new Set(broker.access.users.keys());
  for (const u of list('users')) {
    if (typeof u.name !== 'string') {
      fail('a user without a name');
      continue;
    }
    users.add(u.name);
    if (u.password_hash === undefined && u.password === undefined) fail(`user '${u.name}': no password_hash or password`);
    const algo = u.hashing_algorithm ?? 'rabbit_password_hashing_sha256';
    if (u.password_hash !== undefined && algo !== 'rabbit_password_hashing_sha256') fail(`user '${u.name}': unsupported hashing_algorithm '${String(algo)}'`);
    for (const m of limitProblems('user', u.limits ?? {})) fail(`user '${u.name}': ${m}`);
  }
  const needVHost = (what: string, vhost: unknown): boolean => {
    if (typeof vhost === 'string' && vhosts.has(vhost)) return true;
    fail(`${what}: vhost '${String(vhost)}' does not exist`);
    return false;
  };
  /**
   * A permission or topic permission: its vhost and user must exist, and every key be there
   * (3.10.8 refuses the file; a missing pattern would otherwise compile to an empty one, which
   * grants everything), a string, and the patterns regular expressions.
   */
  const checkPermission = (what: string, p: Record<string, unknown>, keys: string[], patterns: string[]): void => {
    needVHost(what, p.vhost);
    if (typeof p.user !== 'string' || !users.has(p.user)) fail(`${what}: user '${String(p.user)}' does not exist`);
    const missing = missingKeysText(p, keys);
    if (missing !== null) fail(`${what}: ${missing}`);
    for (const key of keys) {
      if (p[key] === undefined) continue;
      if (typeof p[key] !== 'string') fail(`${what}: ${key} must be a string`);
      if (!patterns.includes(key)) continue;
      try {
        new RegExp(String(p[key]));
      } catch {
        fail(`${what}: invalid regular expression '${String(p[key])}' for ${key}`);
      }
    }
  };
  for (const p of list('permissions')) {
    const patterns = ['configure', 'write', 'read'];
    checkPermission(`permission of user '${String(p.user)}' in vhost '${String(p.vhost)}'`, p, patterns, patterns);
  }
  for (const p of list('topic_permissions')) {
    const what = `topic permission of user '${String(p.user)}' in vhost '${String(p.vhost)}' on exchange '${String(p.exchange)}'`;
    checkPermission(what, p, ['exchange', 'write', 'read'], ['write', 'read']);
  }

  const operatorPolicies = list('parameters')
    .filter((x) => x.component === 'operator_policy')
    .map((x) => ({ ...(isRecord(x.value) ? x.value : {}), name: x.name, vhost: x.vhost, operator: true }));
  for (const p of [...list('policies'), ...operatorPolicies]) {
    const what = `${p.operator === true ? 'operator policy' : 'policy'} ${inVHost(p.name, p.vhost)}`;
    if (!needVHost(what, p.vhost)) continue;
    if (typeof p.name !== 'string' || p.name === '') {
      fail(`${what}: a policy needs a name`);
      continue;
    }
    try {
      parsePolicy(String(p.vhost), p.name, p, p.operator === true);
    } catch (e) {
      if (!(e instanceof PolicyError)) throw e;
      fail(`${what}: ${e.message.replace(/^Validation failed\n\n/, '').trim()}`);
    }
  }

  // vhost → names of the exchanges and queues that will exist after the import.
  const exchanges = new Map<string, Set<string>>();
  const queues = new Map<string, Set<string>>();
  const names = (m: Map<string, Set<string>>, vhost: string): Set<string> => {
    let s = m.get(vhost);
    if (!s) m.set(vhost, (s = new Set()));
    return s;
  };
  /** The file's exchanges' types and arguments, by vhost and name (a binding's key may depend on them). */
  const types = new Map<string, { type: string; args: FieldTable }>();
  for (const e of list('exchanges')) {
    const what = `exchange ${inVHost(e.name, e.vhost)}`;
    if (!needVHost(what, e.vhost)) continue;
    const vhost = String(e.vhost);
    const name = String(e.name ?? '');
    names(exchanges, vhost).add(name);
    if (!isExchangeType(String(e.type))) {
      fail(`${what}: unknown type '${String(e.type)}'`);
      continue;
    }
    const existing = broker.vhosts.get(vhost)?.exchanges.get(name);
    if (existing) {
      try {
        checkExchangeEquivalent(existing, vhost, {
          type: String(e.type),
          durable: e.durable !== false,
          autoDelete: e.auto_delete === true,
          internal: e.internal === true,
          arguments: toFieldTable(isRecord(e.arguments) ? (e.arguments as Args) : {}),
        });
      } catch (err) {
        fail(text(err));
      }
    } else if (name === '' || name.startsWith('amq.')) fail(`${what}: the name has the reserved prefix 'amq.'`);
    else {
      const refused = checkExchangeArguments(String(e.type), toFieldTable(isRecord(e.arguments) ? (e.arguments as Args) : {}));
      if (refused !== undefined) fail(`${what}: ${refused}`);
    }
    types.set(`${vhost}\0${name}`, { type: String(e.type), args: toFieldTable(isRecord(e.arguments) ? (e.arguments as Args) : {}) });
  }
  for (const q of list('queues')) {
    const what = `queue ${inVHost(q.name, q.vhost)}`;
    if (!needVHost(what, q.vhost)) continue;
    const vhost = String(q.vhost);
    const name = String(q.name ?? '');
    names(queues, vhost).add(name);
    try {
      const args = toFieldTable(isRecord(q.arguments) ? (q.arguments as Args) : {});
      checkNewQueue(name, vhost, args);
      checkDeclare({ name, durable: q.durable !== false, exclusive: false, autoDelete: q.auto_delete === true, arguments: args }, vhost);
      const existing = broker.vhosts.get(vhost)?.queues.get(name);
      if (existing) checkEquivalent(existing, vhost, q.durable !== false, q.auto_delete === true, args);
      else if (name.startsWith('amq.')) fail(`${what}: the name has the reserved prefix 'amq.'`);
    } catch (err) {
      fail(text(err));
    }
  }
  const exists = (m: Map<string, Set<string>>, kind: 'queues' | 'exchanges', vhost: string, name: string): boolean => {
    if (m.get(vhost)?.has(name)) return true;
    // A vhost the file creates has the standard exchanges too.
    if (kind === 'exchanges' && STANDARD_EXCHANGES.some(([n]) => n === name)) return true;
    const v = broker.vhosts.get(vhost);
    return v !== undefined && v[kind].has(name);
  };
  for (const b of list('bindings')) {
    const what = `binding from exchange '${String(b.source)}' to ${String(b.destination_type)} '${String(b.destination)}' in vhost '${String(b.vhost)}'`;
    if (!needVHost(what, b.vhost)) continue;
    const vhost = String(b.vhost);
    if (b.destination_type !== 'queue' && b.destination_type !== 'exchange') {
      fail(`${what}: destination_type must be 'queue' or 'exchange'`);
      continue;
    }
    if (!exists(exchanges, 'exchanges', vhost, String(b.source)) || b.source === '') fail(`${what}: exchange '${String(b.source)}' does not exist`);
    const existing = broker.vhosts.get(vhost)?.exchanges.get(String(b.source));
    const source = types.get(`${vhost}\0${String(b.source)}`) ?? (existing && { type: existing.type, args: existing.arguments });
    const refused = source === undefined ? undefined : checkBindingKey(source.type, String(b.routing_key ?? ''), source.args);
    if (refused !== undefined) fail(`${what}: ${refused}`);
    const kind = b.destination_type === 'queue' ? 'queues' : 'exchanges';
    if (!exists(kind === 'queues' ? queues : exchanges, kind, vhost, String(b.destination))) fail(`${what}: ${b.destination_type} '${String(b.destination)}' does not exist`);
  }
  return problems;
}

/** What is wrong with a vhost's or user's limits object (unknown names, values not integers). */
export function limitProblems(scope: LimitScope, value: unknown): string[] {
  if (!isRecord(value)) return ['limits must be an object'];
  const out: string[] = [];
  for (const [k, n] of Object.entries(value)) {
    if (checkLimitName(scope, k, n) !== null) out.push(`${k} is not a valid ${scope}-limits key`);
    else if (!checkLimitValue(n)) out.push(`${k} should be a number, actually was ${JSON.stringify(n)}`);
  }
  return out;
}
