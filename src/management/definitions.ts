// Definitions export and import in RabbitMQ's JSON format (GET/POST /api/definitions, rabbitmqctl
// export_definitions / import_definitions, load_definitions at boot), so files move between the two.
import { toFieldTable } from '../frames/index.js';
import type { Broker } from '../server/broker.js';
import { Exchange } from '../server/exchanges/exchange.js';
import { parsePolicy } from '../server/policies.js';
import type { LimitValues } from '../server/limits.js';
import type { JsonValue } from '../store/store.js';
import { RABBITMQ_VERSION, VERSION } from '../server/server-properties.js';
import { DefinitionsError, checkDefinitions, definedVHostMetadata, type DefinitionsJson } from './definitions-check.js';
import { tableJson, vhostMetadataView, type JsonObject } from './views.js';

export { DefinitionsError, type DefinitionsJson } from './definitions-check.js';

/**
 * What RabbitMQ 3.10 exports: every queue but exclusive ones (transient ones too), every exchange
 * but the default and amq.* ones, and the bindings whose destination is exported — so that an
 * export always imports again.
 */
export function exportDefinitions(broker: Broker): JsonObject {
  const queues: JsonObject[] = [];
  const exchanges: JsonObject[] = [];
  const bindings: JsonObject[] = [];
  for (const v of broker.vhosts.values()) {
    for (const q of v.queues.values()) {
      if (q.exclusiveOwner) continue;
      queues.push({ name: q.name, vhost: v.name, durable: q.durable, auto_delete: q.autoDelete, arguments: tableJson(q.arguments) });
    }
    for (const e of v.exchanges.values()) {
      if (e.name === '' || e.name.startsWith('amq.')) continue;
      exchanges.push({ name: e.name, vhost: v.name, type: e.type, durable: e.durable, auto_delete: e.autoDelete, internal: e.internal, arguments: tableJson(e.arguments) });
    }
    for (const e of v.exchanges.values()) {
      for (const b of e.bindings.values()) {
        const d = b.destination;
        if (!(d instanceof Exchange) && d.exclusiveOwner) continue;
        bindings.push({
          source: e.name,
          vhost: v.name,
          destination: d.name,
          destination_type: d instanceof Exchange ? 'exchange' : 'queue',
          routing_key: b.routingKey,
          arguments: tableJson(b.arguments),
        });
      }
    }
  }
  return {
    rabbit_version: RABBITMQ_VERSION,
    rabbitmq_version: RABBITMQ_VERSION,
    product_name: 'Warren',
    product_version: VERSION,
    users: [...broker.access.users.values()].map((u) => ({
      name: u.name,
      password_hash: u.passwordHash,
      hashing_algorithm: 'rabbit_password_hashing_sha256',
      tags: u.tags,
      limits: broker.limits.of('user', u.name),
    })),
    // RabbitMQ 3.12's shape: description, tags and default_queue_type (when set), also in metadata.
    vhosts: [...broker.vhosts.values()].map((v) => {
      const { default_queue_type, ...rest } = vhostMetadataView(v);
      return v.defaultQueueType !== undefined ? { ...rest, default_queue_type } : rest;
    }),
    permissions: broker.access.listPermissions().map((p) => ({ ...p })),
    topic_permissions: broker.access.listTopicPermissions().map((p) => ({ ...p })),
    // RabbitMQ keeps operator policies as runtime parameters, and exports them so.
    parameters: [...broker.vhosts.values()].flatMap((v) => vhostParameters(broker, v.name)),
    global_parameters: broker.globalParameters.list().map((p) => ({ name: p.name, value: p.value })),
    policies: [...broker.vhosts.values()].flatMap((v) =>
      [...v.policies.values()].map((p) => ({ vhost: p.vhost, name: p.name, pattern: p.pattern, 'apply-to': p['apply-to'], definition: p.definition as JsonObject, priority: p.priority })),
    ),
    queues,
    exchanges,
    bindings,
  };
}

/**
 * A vhost's runtime parameters as RabbitMQ exports them: its operator policies, and its limits as
 * the parameter vhost-limits/limits.
 */
export function vhostParameters(broker: Broker, vhost: string): JsonObject[] {
  const v = broker.vhosts.get(vhost);
  const out: JsonObject[] = [...(v?.operatorPolicies.values() ?? [])].map((p) => ({
    value: { pattern: p.pattern, definition: p.definition as JsonObject, priority: p.priority, 'apply-to': p['apply-to'] },
    vhost: p.vhost,
    component: 'operator_policy',
    name: p.name,
  }));
  const limits = broker.limits.of('vhost', vhost);
  if (Object.keys(limits).length > 0) out.push({ value: { ...limits }, vhost, component: 'vhost-limits', name: 'limits' });
  // Plugins' parameters (shovels).
  for (const p of broker.parameters.list(undefined, vhost)) out.push({ value: p.value, vhost: p.vhost, component: p.component, name: p.name });
  return out;
}

const withoutVHost = (o: JsonObject): JsonObject => Object.fromEntries(Object.entries(o).filter(([k]) => k !== 'vhost'));

/** GET /api/definitions/{vhost}: RabbitMQ 3.10.8's shape, the vhost's objects without their vhost key. */
export function exportVHostDefinitions(broker: Broker, vhost: string): JsonObject {
  const all = exportDefinitions(broker);
  const mine = (key: string): JsonObject[] => {
    const list = all[key];
    return Array.isArray(list) ? (list as JsonObject[]).filter((x) => x.vhost === vhost).map(withoutVHost) : [];
  };
  return { rabbit_version: all.rabbit_version, parameters: mine('parameters'), policies: mine('policies'), queues: mine('queues'), exchanges: mine('exchanges'), bindings: mine('bindings') };
}

/** POST /api/definitions/{vhost}: a vhost export's lists, each object put in that vhost. */
export function intoVHost(file: unknown, vhost: string): unknown {
  if (typeof file !== 'object' || file === null || Array.isArray(file)) return file;
  const out: { [k: string]: unknown } = {};
  for (const [k, list] of Object.entries(file)) {
    out[k] = ['parameters', 'policies', 'queues', 'exchanges', 'bindings'].includes(k) && Array.isArray(list) ? list.map((x: unknown) => (typeof x === 'object' && x !== null ? { ...x, vhost } : x)) : list;
  }
  return out;
}

/**
 * Imports definitions, all or nothing: the whole file is checked first and a DefinitionsError names
 * every problem. Objects that exist already (and are equivalent) are left as they are: RabbitMQ's
 * import is a merge. Calls progress with how many of the total objects are done, for long imports.
 */
export async function importDefinitions(
  broker: Broker,
  file: unknown,
  progress?: (done: number, total: number) => void,
  /** Who imports them (the API's user); the broker itself for the file loaded at start. */
  user?: string,
): Promise<void> {
  const problems = checkDefinitions(broker, file);
  if (problems.length > 0) throw new DefinitionsError(problems);
  const d = file as DefinitionsJson;
  const total =
    (d.vhosts?.length ?? 0) + (d.users?.length ?? 0) + (d.permissions?.length ?? 0) + (d.topic_permissions?.length ?? 0) + (d.global_parameters?.length ?? 0) + (d.policies?.length ?? 0) + (d.parameters?.length ?? 0) + (d.exchanges?.length ?? 0) + (d.queues?.length ?? 0) + (d.bindings?.length ?? 0);
  let done = 0;
  const step = (): void => {
    done++;
    if (progress && (done % 1000 === 0 || done === total)) progress(done, total);
  };
  for (const v of d.vhosts ?? []) {
    // checkDefinitions checked the metadata; an existing vhost takes the file's tags and default queue type.
    const meta = definedVHostMetadata(v);
    const existing = broker.vhosts.get(v.name);
    if (!existing) broker.addVHost(v.name, v.description ?? v.metadata?.description ?? '', meta);
    else if (meta.tags !== undefined || meta.defaultQueueType !== undefined) broker.addVHost(v.name, existing.description, meta);
    if (v.limits !== undefined && Object.keys(v.limits).length > 0) broker.limits.setAll('vhost', v.name, limitValues(v.limits));
    step();
  }
  for (const u of d.users ?? []) {
    const tags = Array.isArray(u.tags) ? u.tags : (u.tags ?? '').split(',').map((t) => t.trim()).filter(Boolean);
    if (u.password_hash !== undefined) {
      broker.access.putUser(u.name, null, tags, u.password_hash);
    } else {
      broker.access.putUser(u.name, u.password ?? null, tags);
    }
    if (u.limits !== undefined && Object.keys(u.limits).length > 0) broker.limits.setAll('user', u.name, limitValues(u.limits));
    step();
  }
  for (const p of d.permissions ?? []) {
    broker.access.setPermissions({ user: p.user, vhost: p.vhost, configure: p.configure, write: p.write, read: p.read });
    step();
  }
  for (const p of d.topic_permissions ?? []) {
    broker.access.setTopicPermission({ user: p.user, vhost: p.vhost, exchange: p.exchange, write: p.write, read: p.read });
    step();
  }
  for (const p of d.global_parameters ?? []) {
    broker.globalParameters.set(p.name, p.value);
    step();
  }
  for (const p of d.policies ?? []) {
    // checkDefinitions parsed each one already.
    broker.vhost(p.vhost).setPolicy(p.name, parsePolicy(p.vhost, p.name, p));
    step();
  }
  for (const p of d.parameters ?? []) {
    // checkDefinitions let through only operator policies, vhost limits and registered components' values.
    if (p.component === 'vhost-limits') broker.limits.setAll('vhost', p.vhost, limitValues(p.value));
    else if (p.component === 'operator_policy') broker.vhost(p.vhost).setPolicy(p.name, parsePolicy(p.vhost, p.name, p.value, true), true, true);
    else broker.parameters.set(p.component, p.vhost, p.name, p.value as JsonValue);
    step();
  }
  for (const e of d.exchanges ?? []) {
    const v = broker.vhost(e.vhost);
    if (!v.exchanges.has(e.name)) {
      v.addExchange({
        name: e.name,
        type: e.type,
        durable: e.durable ?? true,
        autoDelete: e.auto_delete ?? false,
        internal: e.internal ?? false,
        arguments: toFieldTable(e.arguments ?? {}),
        user,
      });
    }
    step();
  }
  for (const q of d.queues ?? []) {
    const v = broker.vhost(q.vhost);
    if (!v.queues.has(q.name)) {
      v.addQueue({ name: q.name, durable: q.durable ?? true, exclusiveOwner: null, autoDelete: q.auto_delete ?? false, arguments: toFieldTable(q.arguments ?? {}) });
    }
    step();
  }
  for (const b of d.bindings ?? []) {
    const v = broker.vhost(b.vhost);
    const source = v.exchanges.get(b.source);
    const dest = b.destination_type === 'exchange' ? v.exchanges.get(b.destination) : v.queues.get(b.destination);
    // checkDefinitions made sure both exist.
    if (!source || !dest) throw new Error(`binding ${b.source} -> ${b.destination}: source or destination missing after the check`);
    v.addBinding(source, dest, b.routing_key ?? '', toFieldTable(b.arguments ?? {}));
    step();
  }
  await broker.store.flush();
}

/** A checked limits object (checkDefinitions refused anything but integer values). */
function limitValues(o: object): LimitValues {
  return Object.fromEntries(Object.entries(o).filter((e): e is [string, number] => typeof e[1] === 'number'));
}
