// What each endpoint of rabbitmq_prometheus serves: /metrics (aggregated), /metrics/per-object and
// /metrics/detailed (only the families asked for, optionally only some vhosts' queues).
import type { Broker } from '../server/broker.js';
import { CORE_FAMILIES, CORE_GROUPS, coreFamilies, totals } from './core.js';
import type { Family } from './exposition.js';
import { alarmFamilies, globalFamilies, messageSizeFamily } from './global.js';
import { identityFamilies } from './identity.js';
import { processStartSeconds } from './process.js';
import { snapshot, type Snapshot } from './snapshot.js';

/** RabbitMQ 4's queue_info: 1 per queue, with its type (and this node leads every queue it reports). */
function queueInfo(s: Snapshot, prefix: string, vhosts: Set<string> | null): Family {
  return {
    name: `${prefix}queue_info`,
    type: 'gauge',
    help: "A metric with a constant '1' value and labels that provide some queue details",
    samples: s.queues
      .filter((q) => !vhosts || vhosts.has(q.vhost.name))
      .map((q) => ({
        labels: [
          ['vhost', q.vhost.name],
          ['queue', q.name],
          ['queue_type', q.type.module],
          ['membership', 'leader'],
        ],
        value: 1,
      })),
  };
}

/** GET /metrics: every core family summed over its objects (or per object, if so configured). */
export async function metricsEndpoint(broker: Broker, perObject: boolean): Promise<Family[]> {
  const s = await snapshot(broker);
  return [
    {
      name: 'process_start_time_seconds',
      type: 'gauge',
      help: 'Start time of the process since unix epoch in seconds.',
      samples: [{ labels: [], value: processStartSeconds() }],
    },
    ...alarmFamilies(s),
    ...coreFamilies(s, CORE_GROUPS, 'rabbitmq_', perObject),
    ...totals(s),
    ...(perObject ? [queueInfo(s, 'rabbitmq_', null)] : []),
    ...identityFamilies(s, perObject ? 'per-object' : 'aggregated'),
    ...globalFamilies(s),
    messageSizeFamily(s),
  ];
}

/** GET /metrics/per-object: every core family with one sample per queue, channel or connection. */
export async function perObjectEndpoint(broker: Broker): Promise<Family[]> {
  const s = await snapshot(broker);
  return [
    ...coreFamilies(s, CORE_GROUPS, 'rabbitmq_', true),
    ...totals(s),
    queueInfo(s, 'rabbitmq_', null),
    ...identityFamilies(s, 'per-object'),
    ...globalFamilies(s),
    messageSizeFamily(s),
  ];
}

/** The families /metrics/detailed knows besides the core ones (RabbitMQ's METRICS_CLUSTER). */
const CLUSTER_FAMILIES = ['vhost_status', 'exchange_bindings', 'exchange_names'] as const;

export const DETAILED_FAMILIES = new Set<string>([...CORE_FAMILIES, ...CLUSTER_FAMILIES]);

function clusterFamilies(s: Snapshot, wanted: Set<string>): Family[] {
  const out: Family[] = [];
  const vhosts = [...s.broker.vhosts.values()];
  if (wanted.has('vhost_status')) {
    out.push({
      name: 'rabbitmq_cluster_vhost_status',
      type: 'gauge',
      help: 'Whether a given vhost is running',
      samples: vhosts.map((v) => ({ labels: [['vhost', v.name]], value: 1 })),
    });
  }
  // As RabbitMQ: neither internal exchanges nor the default exchange.
  const exchanges = vhosts.flatMap((v) => [...v.exchanges.values()].filter((e) => !e.internal && e.name !== '').map((e) => ({ v, e })));
  if (wanted.has('exchange_bindings')) {
    out.push({
      name: 'rabbitmq_cluster_exchange_bindings',
      type: 'gauge',
      help: 'Number of bindings for an exchange. This value is cluster-wide.',
      samples: exchanges.map(({ v, e }) => ({
        labels: [
          ['vhost', v.name],
          ['exchange', e.name],
          ['type', e.type],
        ],
        value: e.bindings.size,
      })),
    });
  }
  if (wanted.has('exchange_names')) {
    out.push({
      name: 'rabbitmq_cluster_exchange_name',
      type: 'gauge',
      help: 'Enumerates exchanges without any additional info. This value is cluster-wide. A cheaper alternative to `exchange_bindings`',
      samples: exchanges.map(({ v, e }) => ({
        labels: [
          ['vhost', v.name],
          ['exchange', e.name],
          ['type', e.type],
        ],
        value: 1,
      })),
    });
  }
  return out;
}

export interface DetailedQuery {
  /** Values of `family`; unknown ones are ignored, as RabbitMQ ignores them. */
  families: string[];
  /** Values of `vhost`: only these vhosts' queues (those that exist); null without any. */
  vhosts: string[] | null;
}

/** GET /metrics/detailed?family=…&vhost=…: only what was asked for, named rabbitmq_detailed_*. */
export async function detailedEndpoint(broker: Broker, query: DetailedQuery): Promise<Family[]> {
  const s = await snapshot(broker);
  const wanted = new Set(query.families);
  const vhosts = query.vhosts ? new Set(query.vhosts.filter((v) => broker.vhosts.has(v))) : null;
  const groups = CORE_GROUPS.filter((g) => wanted.has(g.family));
  const queueGroups = groups.some((g) => g.byQueue);
  return [
    ...coreFamilies(s, groups, 'rabbitmq_detailed_', true, vhosts),
    ...clusterFamilies(s, wanted),
    ...(queueGroups ? [queueInfo(s, 'rabbitmq_detailed_', vhosts)] : []),
    ...identityFamilies(s, 'detailed'),
  ];
}
