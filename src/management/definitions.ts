// Definitions export and import in RabbitMQ's JSON format (GET/POST /api/definitions, rabbitmqctl
// export_definitions / import_definitions, load_definitions at boot), so files move between the two.
import { toFieldTable, type PlainValue } from '../frames/index.js';
import type { Broker } from '../server/broker.js';
import { Exchange } from '../server/exchanges/exchange.js';
import { isExchangeType } from '../server/exchanges/types.js';
import { VERSION } from '../server/server-properties.js';
import { badRequest } from './http-errors.js';
import { tableJson, type JsonObject } from './views.js';

type Args = { [k: string]: PlainValue };

export interface DefinitionsJson {
  rabbit_version?: string;
  product_name?: string;
  product_version?: string;
  users?: { name: string; password_hash?: string; password?: string; hashing_algorithm?: string; tags?: string | string[] }[];
  vhosts?: { name: string; description?: string }[];
  permissions?: { user: string; vhost: string; configure: string; write: string; read: string }[];
  queues?: { name: string; vhost: string; durable?: boolean; auto_delete?: boolean; arguments?: Args }[];
  exchanges?: { name: string; vhost: string; type: string; durable?: boolean; auto_delete?: boolean; internal?: boolean; arguments?: Args }[];
  bindings?: { source: string; vhost: string; destination: string; destination_type: 'queue' | 'exchange'; routing_key?: string; arguments?: Args }[];
  [other: string]: unknown;
}

export function exportDefinitions(broker: Broker): JsonObject {
  const queues: JsonObject[] = [];
  const exchanges: JsonObject[] = [];
  const bindings: JsonObject[] = [];
  for (const v of broker.vhosts.values()) {
    for (const q of v.queues.values()) {
      if (!q.durable || q.exclusiveOwner) continue;
      queues.push({ name: q.name, vhost: v.name, durable: true, auto_delete: q.autoDelete, arguments: tableJson(q.arguments) });
    }
    for (const e of v.exchanges.values()) {
      if (e.name === '' || e.name.startsWith('amq.')) continue;
      exchanges.push({ name: e.name, vhost: v.name, type: e.type, durable: e.durable, auto_delete: e.autoDelete, internal: e.internal, arguments: tableJson(e.arguments) });
    }
    for (const e of v.exchanges.values()) {
      for (const b of e.bindings.values()) {
        const d = b.destination;
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
    rabbit_version: '3.12.0',
    rabbitmq_version: '3.12.0',
    product_name: 'Warren',
    product_version: VERSION,
    users: [...broker.access.users.values()].map((u) => ({
      name: u.name,
      password_hash: u.passwordHash,
      hashing_algorithm: 'rabbit_password_hashing_sha256',
      tags: u.tags,
      limits: {},
    })),
    vhosts: [...broker.vhosts.values()].map((v) => ({ name: v.name, description: v.description, metadata: { description: v.description, tags: [] } })),
    permissions: broker.access.listPermissions().map((p) => ({ ...p })),
    topic_permissions: [],
    parameters: [],
    global_parameters: [],
    policies: [],
    queues,
    exchanges,
    bindings,
  };
}

/**
 * Imports definitions; objects that exist already are left as they are (RabbitMQ's import is a
 * merge). Calls progress with how many of the total objects are done, for long imports.
 */
export async function importDefinitions(broker: Broker, d: DefinitionsJson, progress?: (done: number, total: number) => void): Promise<void> {
  const total =
    (d.vhosts?.length ?? 0) + (d.users?.length ?? 0) + (d.permissions?.length ?? 0) + (d.exchanges?.length ?? 0) + (d.queues?.length ?? 0) + (d.bindings?.length ?? 0);
  let done = 0;
  const step = (): void => {
    done++;
    if (progress && (done % 1000 === 0 || done === total)) progress(done, total);
  };
  for (const v of d.vhosts ?? []) {
    if (!broker.vhosts.has(v.name)) broker.addVHost(v.name, v.description ?? '');
    step();
  }
  for (const u of d.users ?? []) {
    const tags = Array.isArray(u.tags) ? u.tags : (u.tags ?? '').split(',').map((t) => t.trim()).filter(Boolean);
    if (u.password_hash !== undefined) {
      const algo = u.hashing_algorithm ?? 'rabbit_password_hashing_sha256';
      if (algo !== 'rabbit_password_hashing_sha256') throw badRequest(`user '${u.name}': unsupported hashing_algorithm '${algo}'`);
      broker.access.putUser(u.name, null, tags, u.password_hash);
    } else {
      broker.access.putUser(u.name, u.password ?? null, tags);
    }
    step();
  }
  for (const p of d.permissions ?? []) {
    if (!broker.vhosts.has(p.vhost)) throw badRequest(`permission for user '${p.user}': vhost '${p.vhost}' does not exist`);
    broker.access.setPermissions({ user: p.user, vhost: p.vhost, configure: p.configure, write: p.write, read: p.read });
    step();
  }
  for (const e of d.exchanges ?? []) {
    const v = broker.vhost(e.vhost);
    if (!isExchangeType(e.type)) throw badRequest(`exchange '${e.name}': unknown type '${e.type}'`);
    if (!v.exchanges.has(e.name)) {
      v.addExchange({
        name: e.name,
        type: e.type,
        durable: e.durable ?? true,
        autoDelete: e.auto_delete ?? false,
        internal: e.internal ?? false,
        arguments: toFieldTable(e.arguments ?? {}),
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
    if (!source || !dest) throw badRequest(`binding ${b.source} -> ${b.destination}: source or destination does not exist`);
    v.addBinding(source, dest, b.routing_key ?? '', toFieldTable(b.arguments ?? {}));
    step();
  }
  await broker.store.flush();
}
