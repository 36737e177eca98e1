// Applies a change another node made to the shared topology to this node's broker, through the
// same methods a local declare uses, without writing it back (ClusterStore.quietly). Applying is
// idempotent: what is already as the record says is left alone.
import { Buffer } from 'node:buffer';
import type { Logger } from 'pino';
import type { Broker } from '../server/broker.js';
import { readTableBytes } from '../server/table-bytes.js';
import type { Policy } from '../server/policies.js';
import type { StoredBinding, StoredExchange, StoredGlobalParameter, StoredLimits, StoredParameter, StoredPermission, StoredTopicPermission, StoredUser, StoredVHost } from '../store/store.js';
import type { ClusterQueueRecord } from './cluster-node.js';
import { ELSEWHERE } from './cluster-queue.js';
import type { ClusterStore, TopologyEvent } from './topology-store.js';

/** vhost\0name ids (exchanges, queues, policies, permissions as vhost\0user). */
const split = (id: string): [string, string] => {
  const i = id.indexOf('\0');
  return [id.slice(0, i), id.slice(i + 1)];
};

export function applyTopologyEvent(broker: Broker, store: ClusterStore, log: Logger, e: TopologyEvent): void {
  try {
    store.quietly(() => (e.op === 'put' ? applyPut(broker, e.kind, e.value) : applyDelete(broker, e.kind, e.id)));
  } catch (err) {
    log.warn({ err, kind: e.kind, op: e.op }, 'could not apply a change from the cluster');
  }
}

function applyPut(broker: Broker, kind: TopologyEvent['kind'], value: unknown): void {
  switch (kind) {
    case 'vhost': {
      const v = value as StoredVHost;
      const meta: { tags?: string[]; defaultQueueType?: string } = { tags: v.tags ?? [] };
      if (v.defaultQueueType !== undefined) meta.defaultQueueType = v.defaultQueueType;
      broker.addVHost(v.name, v.description, meta);
      return;
    }
    case 'user': {
      const u = value as StoredUser;
      broker.access.putUser(u.name, null, u.tags, u.passwordHash);
      return;
    }
    case 'permission':
      broker.access.setPermissions(value as StoredPermission, false);
      return;
    case 'topicPermission':
      broker.access.setTopicPermission(value as StoredTopicPermission, false);
      return;
    case 'globalParameter': {
      const p = value as StoredGlobalParameter;
      broker.globalParameters.set(p.name, p.value, false);
      return;
    }
    case 'limits':
      broker.limits.apply(value as StoredLimits);
      return;
    case 'parameter': {
      const p = value as StoredParameter;
      broker.parameters.set(p.component, p.vhost, p.name, p.value, false);
      return;
    }
    case 'policy':
    case 'operatorPolicy': {
      const p = value as Policy;
      broker.vhost(p.vhost).setPolicy(p.name, p, false, kind === 'operatorPolicy');
      return;
    }
    case 'exchange': {
      const x = value as StoredExchange;
      const vhost = broker.vhost(x.vhost);
      if (vhost.exchanges.has(x.name)) return;
      vhost.addExchange({ name: x.name, type: x.type, durable: x.durable !== false, autoDelete: x.autoDelete, internal: x.internal, arguments: readTableBytes(x.arguments), user: x.user }, false);
      return;
    }
    case 'binding': {
      const b = value as StoredBinding;
      const vhost = broker.vhost(b.vhost);
      const source = vhost.exchanges.get(b.source);
      const dest = b.destinationKind === 'queue' ? vhost.queues.get(b.destination) : vhost.exchanges.get(b.destination);
      if (!source || !dest) return;
      const args = readTableBytes(b.arguments);
      if (!vhost.findBinding(source, dest, b.routingKey, args)) vhost.addBinding(source, dest, b.routingKey, args, false);
      return;
    }
    case 'queue': {
      const q = value as ClusterQueueRecord;
      const vhost = broker.vhost(q.vhost);
      if (vhost.queues.has(q.name)) return;
      const spec = { name: q.name, durable: !q.transient, exclusiveOwner: q.exclusive ? ELSEWHERE : null, autoDelete: q.autoDelete, arguments: readTableBytes(q.arguments) };
      vhost.addQueue(spec, false).startTimers();
      return;
    }
  }
}

function applyDelete(broker: Broker, kind: TopologyEvent['kind'], id: string): void {
  switch (kind) {
    case 'vhost':
      broker.deleteVHost(id);
      return;
    case 'user':
      broker.access.deleteUser(id);
      return;
    case 'globalParameter':
      broker.globalParameters.clear(id, false);
      return;
    case 'parameter': {
      // vhost\0component\0name; a name may hold anything after the component.
      const [vhost, rest] = split(id);
      const [component, name] = split(rest);
      broker.parameters.clear(component, vhost, name, false);
      return;
    }
    case 'limits': {
      const [scope, name] = split(id);
      broker.limits.apply({ scope: scope === 'user' ? 'user' : 'vhost', name, value: {} });
      return;
    }
    case 'permission': {
      const [vhost, user] = split(id);
      broker.access.clearPermissions(user, vhost);
      return;
    }
    case 'topicPermission': {
      // vhost\0user\0exchange
      const [vhost, rest] = split(id);
      const [user, exchange] = split(rest);
      broker.access.clearTopicPermissions(user, vhost, exchange);
      return;
    }
    case 'policy':
    case 'operatorPolicy': {
      const [vhost, name] = split(id);
      broker.vhosts.get(vhost)?.setPolicy(name, null, false, kind === 'operatorPolicy');
      return;
    }
    case 'exchange': {
      const [vhost, name] = split(id);
      const v = broker.vhosts.get(vhost);
      const x = v?.exchanges.get(name);
      if (v && x) v.deleteExchange(x);
      return;
    }
    case 'binding': {
      const [vhost, source, destinationKind, destination, routingKey, args] = id.split('\0') as [string, string, string, string, string, string];
      const v = broker.vhosts.get(vhost);
      const src = v?.exchanges.get(source);
      const dest = destinationKind === 'queue' ? v?.queues.get(destination) : v?.exchanges.get(destination);
      if (!v || !src || !dest) return;
      const b = v.findBinding(src, dest, routingKey, readTableBytes(Buffer.from(args, 'base64')));
      if (b) v.removeBinding(b);
      return;
    }
    case 'queue': {
      const [vhost, name] = split(id);
      const v = broker.vhosts.get(vhost);
      const q = v?.queues.get(name);
      if (v && q) v.deleteQueue(q);
      return;
    }
  }
}
