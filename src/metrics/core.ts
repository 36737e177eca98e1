// rabbitmq_prometheus' core families (its prometheus_rabbitmq_core_metrics_collector), those Warren
// has a value for: node figures, churn, logins, queues, channels and connections. Each family is
// one group of RabbitMQ's (the `family` of /metrics/detailed). Aggregated (/metrics) a group sums its
// objects into one unlabelled sample; per object it labels each one as RabbitMQ does.
import type { Channel } from '../server/channel.js';
import type { Connection } from '../server/connection.js';
import type { Queue } from '../server/queue.js';
import type { Family, Labels, MetricType } from './exposition.js';
import type { Snapshot } from './snapshot.js';

interface Metric<T> {
  name: string;
  type: MetricType;
  help: string;
  /** undefined: no sample (Warren does not know it here). */
  value: (x: T) => number | undefined;
}

interface Group<T> {
  /** RabbitMQ's name for the group: what /metrics/detailed?family= selects. */
  family: string;
  /** Groups of queues are the ones a vhost filter applies to. */
  byQueue?: boolean;
  /** The objects, each with its labels when reported per object. */
  objects: (s: Snapshot, vhosts: Set<string> | null) => { labels: Labels; x: T }[];
  /** Labels of the one sample when aggregated (a node-wide group keeps its own). */
  aggregateLabels?: Labels;
  metrics: Metric<T>[];
}

const node = (s: Snapshot): { labels: Labels; x: Snapshot }[] => [{ labels: [], x: s }];

const queueObjects = (s: Snapshot, vhosts: Set<string> | null): { labels: Labels; x: Queue }[] =>
  s.queues.filter((q) => !vhosts || vhosts.has(q.vhost.name)).map((q) => ({ labels: [['vhost', q.vhost.name], ['queue', q.name]], x: q }));

/** The management API's names for connections and channels; RabbitMQ labels both `channel`. */
export const connectionLabel = (c: Connection): string => c.name;
const channelObjects = (s: Snapshot): { labels: Labels; x: Channel }[] => s.channels.map((ch) => ({ labels: [['channel', `${connectionLabel(ch.conn)} (${ch.id})`]], x: ch }));
const connectionObjects = (s: Snapshot): { labels: Labels; x: Connection }[] => s.connections.map((c) => ({ labels: [['channel', connectionLabel(c)]], x: c }));

const group = <T>(g: Group<T>): Group<unknown> => g as Group<unknown>;

/** In RabbitMQ's order. */
export const CORE_GROUPS: Group<unknown>[] = [
  group<Snapshot>({
    family: 'connection_churn_metrics',
    objects: node,
    metrics: [
      { name: 'connections_opened_total', type: 'counter', help: 'Total number of connections opened', value: (s) => s.broker.counters.connectionsOpened },
      { name: 'connections_closed_total', type: 'counter', help: 'Total number of connections closed or terminated', value: (s) => s.broker.counters.connectionsClosed },
      { name: 'channels_opened_total', type: 'counter', help: 'Total number of channels opened', value: (s) => s.broker.counters.channelsOpened },
      { name: 'channels_closed_total', type: 'counter', help: 'Total number of channels closed', value: (s) => s.broker.counters.channelsClosed },
      { name: 'queues_declared_total', type: 'counter', help: 'Total number of queues declared', value: (s) => s.broker.counters.queuesDeclared },
      { name: 'queues_created_total', type: 'counter', help: 'Total number of queues created', value: (s) => s.broker.counters.queuesCreated },
      { name: 'queues_deleted_total', type: 'counter', help: 'Total number of queues deleted', value: (s) => s.broker.counters.queuesDeleted },
    ],
  }),
  group<Snapshot>({
    family: 'node_coarse_metrics',
    objects: node,
    metrics: [
      { name: 'process_open_fds', type: 'gauge', help: 'Open file descriptors', value: (s) => s.node.openFds },
      { name: 'process_open_tcp_sockets', type: 'gauge', help: 'Open TCP sockets', value: (s) => s.node.sockets },
      { name: 'process_resident_memory_bytes', type: 'gauge', help: 'Memory used in bytes', value: (s) => s.node.memoryUsed },
      { name: 'disk_space_available_bytes', type: 'gauge', help: 'Disk space available in bytes', value: (s) => s.node.diskFree },
    ],
  }),
  group<Snapshot>({
    family: 'node_metrics',
    objects: node,
    metrics: [
      { name: 'process_max_fds', type: 'gauge', help: 'Open file descriptors limit', value: (s) => s.node.maxFds },
      { name: 'process_max_tcp_sockets', type: 'gauge', help: 'Open TCP sockets limit', value: (s) => s.node.maxSockets },
      { name: 'resident_memory_limit_bytes', type: 'gauge', help: 'Memory high watermark in bytes', value: (s) => s.node.memoryLimit },
      { name: 'disk_space_available_limit_bytes', type: 'gauge', help: 'Free disk space low watermark in bytes', value: (s) => s.node.diskFreeLimit },
      { name: 'erlang_uptime_seconds', type: 'gauge', help: 'Node uptime', value: (s) => s.node.uptimeSeconds },
    ],
  }),
  group<Snapshot>({
    family: 'auth_attempt_metrics',
    objects: (s) => [{ labels: [['protocol', 'amqp091']], x: s }],
    aggregateLabels: [['protocol', 'amqp091']],
    metrics: [
      {
        name: 'auth_attempts_total',
        type: 'counter',
        help: 'Total number of authorization attempts',
        value: (s) => s.broker.counters.authSucceeded + s.broker.counters.authFailed,
      },
      { name: 'auth_attempts_succeeded_total', type: 'counter', help: 'Total number of successful authentication attempts', value: (s) => s.broker.counters.authSucceeded },
      { name: 'auth_attempts_failed_total', type: 'counter', help: 'Total number of failed authentication attempts', value: (s) => s.broker.counters.authFailed },
    ],
  }),
  group<Queue>({
    family: 'queue_coarse_metrics',
    byQueue: true,
    objects: queueObjects,
    metrics: [
      { name: 'queue_messages_ready', type: 'gauge', help: 'Messages ready to be delivered to consumers', value: (q) => q.messageCount },
      { name: 'queue_messages_unacked', type: 'gauge', help: 'Messages delivered to consumers but not yet acknowledged', value: (q) => q.unackedTotal },
      {
        name: 'queue_messages',
        type: 'gauge',
        help: 'Sum of ready and unacknowledged messages - total queue depth',
        // As RabbitMQ 3.10.8: a quorum queue's at-least-once dead letters count here too.
        value: (q) => q.messageCount + q.unackedTotal + q.deadLetterCount,
      },
    ],
  }),
  group<Queue>({
    family: 'queue_consumer_count',
    byQueue: true,
    objects: queueObjects,
    metrics: [{ name: 'queue_consumers', type: 'gauge', help: 'Consumers on a queue', value: (q) => q.consumerCount }],
  }),
  group<Queue>({
    family: 'queue_metrics',
    byQueue: true,
    objects: queueObjects,
    metrics: [
      { name: 'queue_consumers', type: 'gauge', help: 'Consumers on a queue', value: (q) => q.consumerCount },
      {
        name: 'queue_messages_ram',
        type: 'gauge',
        help: 'Ready and unacknowledged messages stored in memory',
        value: (q) => q.readyCount - q.pagedOut.count + q.unackedTotal,
      },
      { name: 'queue_messages_ready_ram', type: 'gauge', help: 'Ready messages stored in memory', value: (q) => q.readyCount - q.pagedOut.count },
      { name: 'queue_messages_unacked_ram', type: 'gauge', help: 'Unacknowledged messages stored in memory', value: (q) => q.unackedTotal },
      {
        name: 'queue_messages_ram_bytes',
        type: 'gauge',
        help: 'Size of ready and unacknowledged messages stored in memory',
        value: (q) => q.readyBytes - q.pagedOut.bytes + Math.max(0, q.unackedBytes),
      },
      // Persistent messages of a durable queue (all of a quorum queue's), ready and unacked.
      { name: 'queue_messages_persistent', type: 'gauge', help: 'Persistent messages', value: (q) => q.persistentTotals.count },
      { name: 'queue_messages_persistent_bytes', type: 'gauge', help: 'Size in bytes of persistent messages', value: (q) => q.persistentTotals.bytes },
      { name: 'queue_messages_bytes', type: 'gauge', help: 'Size in bytes of ready and unacknowledged messages', value: (q) => q.readyBytes + Math.max(0, q.unackedBytes) },
      { name: 'queue_messages_ready_bytes', type: 'gauge', help: 'Size in bytes of ready messages', value: (q) => q.readyBytes },
      { name: 'queue_messages_unacked_bytes', type: 'gauge', help: 'Size in bytes of all unacknowledged messages', value: (q) => Math.max(0, q.unackedBytes) },
      { name: 'queue_messages_paged_out', type: 'gauge', help: 'Messages paged out to disk', value: (q) => q.pagedOut.count },
      { name: 'queue_messages_paged_out_bytes', type: 'gauge', help: 'Size in bytes of messages paged out to disk', value: (q) => q.pagedOut.bytes },
    ],
  }),
  group<Channel>({
    family: 'channel_metrics',
    objects: channelObjects,
    metrics: [
      { name: 'channel_consumers', type: 'gauge', help: 'Consumers on a channel', value: (ch) => ch.consumers.size },
      { name: 'channel_messages_unacked', type: 'gauge', help: 'Delivered but not yet acknowledged messages', value: (ch) => ch.unackedCount },
      { name: 'channel_messages_unconfirmed', type: 'gauge', help: 'Published but not yet confirmed messages', value: (ch) => ch.unconfirmedCount },
      {
        name: 'channel_messages_uncommitted',
        type: 'gauge',
        help: 'Messages received in a transaction but not yet committed',
        value: (ch) => ch.uncommitted.messages,
      },
      {
        name: 'channel_acks_uncommitted',
        type: 'gauge',
        help: 'Message acknowledgements in a transaction not yet committed',
        value: (ch) => ch.uncommitted.acks,
      },
      { name: 'consumer_prefetch', type: 'gauge', help: 'Limit of unacknowledged messages for each consumer', value: (ch) => ch.prefetch },
      {
        name: 'channel_prefetch',
        type: 'gauge',
        help: 'Total limit of unacknowledged messages for all consumers on a channel',
        value: (ch) => ch.prefetchGlobal,
      },
    ],
  }),
  group<Connection>({
    family: 'connection_coarse_metrics',
    objects: connectionObjects,
    metrics: [
      { name: 'connection_incoming_bytes_total', type: 'counter', help: 'Total number of bytes received on a connection', value: (c) => c.socket.bytesRead },
      { name: 'connection_outgoing_bytes_total', type: 'counter', help: 'Total number of bytes sent on a connection', value: (c) => c.socket.bytesWritten },
    ],
  }),
  group<Connection>({
    family: 'connection_metrics',
    objects: connectionObjects,
    metrics: [{ name: 'connection_channels', type: 'gauge', help: 'Channels on a connection', value: (c) => c.channels.size }],
  }),
];

export const CORE_FAMILIES = new Set(CORE_GROUPS.map((g) => g.family));

/**
 * The families of the groups given, named prefix + metric. perObject labels every object; else
 * one sample sums them all. vhosts (per object only) keeps the queues of those vhosts.
 */
export function coreFamilies(s: Snapshot, groups: Group<unknown>[], prefix: string, perObject: boolean, vhosts: Set<string> | null = null): Family[] {
  // queue_consumer_count is the part of queue_metrics a scrape may ask for alone (as RabbitMQ).
  const skipConsumerCount = groups.some((g) => g.family === 'queue_metrics');
  const out: Family[] = [];
  for (const g of groups) {
    if (skipConsumerCount && g.family === 'queue_consumer_count') continue;
    const objects = g.objects(s, perObject ? vhosts : null);
    for (const m of g.metrics) {
      const f: Family = { name: prefix + m.name, type: m.type, help: m.help, samples: [] };
      if (perObject) {
        for (const o of objects) {
          const v = m.value(o.x);
          if (v !== undefined) f.samples.push({ labels: o.labels, value: v });
        }
      } else {
        let sum = 0;
        let any = objects.length === 0;
        for (const o of objects) {
          const v = m.value(o.x);
          if (v !== undefined) {
            sum += v;
            any = true;
          }
        }
        if (any) f.samples.push({ labels: g.aggregateLabels ?? [], value: sum });
      }
      out.push(f);
    }
  }
  return out;
}

/** RabbitMQ's totals: objects that exist now, on /metrics and /metrics/per-object. */
export function totals(s: Snapshot): Family[] {
  const consumers = s.channels.reduce((n, ch) => n + ch.consumers.size, 0);
  const gauge = (name: string, help: string, value: number): Family => ({ name, type: 'gauge', help, samples: [{ labels: [], value }] });
  return [
    gauge('rabbitmq_connections', 'Connections currently open', s.connections.length),
    gauge('rabbitmq_channels', 'Channels currently open', s.channels.length),
    gauge('rabbitmq_consumers', 'Consumers currently connected', consumers),
    gauge('rabbitmq_queues', 'Queues available', s.queues.length),
  ];
}
