// JSON views of broker objects, shaped (field names, nesting) like RabbitMQ's management API.
import { Buffer } from 'node:buffer';
import { TLSSocket } from 'node:tls';
import { fromFieldValue, type BasicProperties, type FieldTable, type PlainValue } from '../frames/index.js';
import type { Channel } from '../server/channel.js';
import type { Connection } from '../server/connection.js';
import type { Binding, Exchange } from '../server/exchanges/exchange.js';
import type { Broker } from '../server/broker.js';
import type { Queue } from '../server/queue.js';
import type { MessageStats } from '../server/stats.js';
import type { VHost } from '../server/vhost.js';
import type { StoredUser } from '../store/store.js';
import type { RateSampler } from './rates.js';
import { vhostMessageCounts, type VHostTotals } from './vhost-stats.js';
import { effectiveDefinition } from '../server/policies.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json } | undefined;
export type JsonObject = { [k: string]: Json };

/** Field tables as plain JSON (bigints become numbers, buffers strings). */
export function tableJson(t: FieldTable | undefined): JsonObject {
  if (!t) return {};
  const out: JsonObject = {};
  for (const [k, v] of t) out[k] = jsonValue(fromFieldValue(v));
  return out;
}

function jsonValue(v: PlainValue): Json {
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(jsonValue);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonValue(x)]));
  return v;
}

/**
 * message_stats as RabbitMQ 3.10.8 shows it. `overview`: every counter. A queue or channel shows, as
 * 3.10.8, the publishing group once it has published (a channel's adds confirm, drop_unroutable,
 * return_unroutable) and the delivering group once something was delivered, fetched or acked;
 * neither: no message_stats (undefined). deliver and get count only the deliveries that needed an
 * ack; deliver_no_ack and get_no_ack the others; deliver_get all four.
 */
export function messageStatsView(
  s: MessageStats,
  rates?: RateSampler,
  key?: object,
  kind: 'overview' | 'queue' | 'channel' = 'overview',
  /** The counters' rates from elsewhere (a vhost's, sampled as gauges). */
  rateOf?: (name: keyof MessageStats) => number,
): JsonObject | undefined {
  const r = rateOf ?? ((name: keyof MessageStats): number => rates?.rate(key ?? s, name) ?? 0);
  const out: JsonObject = {};
  const put = (name: string, value: number, rate: number): void => {
    out[name] = value;
    out[`${name}_details`] = { rate };
  };
  const published = kind === 'overview' || s.publish > 0;
  const delivered = kind === 'overview' || s.deliver > 0 || s.get > 0 || s.getEmpty > 0 || s.ack > 0;
  if (delivered) {
    put('ack', s.ack, r('ack'));
    put('deliver', s.deliver - s.deliverNoAck, Math.max(0, r('deliver') - r('deliverNoAck')));
    put('deliver_get', s.deliver + s.get, r('deliver') + r('get'));
    put('deliver_no_ack', s.deliverNoAck, r('deliverNoAck'));
    put('get', s.get - s.getNoAck, Math.max(0, r('get') - r('getNoAck')));
    put('get_empty', s.getEmpty, r('getEmpty'));
    put('get_no_ack', s.getNoAck, r('getNoAck'));
    put('redeliver', s.redeliver, r('redeliver'));
  }
  if (published) {
    if (kind !== 'queue') put('confirm', s.confirm, r('confirm'));
    if (kind !== 'queue') put('drop_unroutable', s.dropUnroutable, r('dropUnroutable'));
    put('publish', s.publish, r('publish'));
    if (kind !== 'queue') put('return_unroutable', s.returnUnroutable, r('returnUnroutable'));
  }
  if (!published && !delivered) return undefined;
  // Sorted by name, as RabbitMQ lists them.
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** RabbitMQ's churn_rates counters (the overview), from the broker's churn counters. */
export function churnCounts(broker: Broker): Record<string, number> {
  const c = broker.counters;
  return {
    channel_closed: c.channelsClosed,
    channel_created: c.channelsOpened,
    connection_closed: c.connectionsClosed,
    connection_created: c.connectionsOpened,
    queue_created: c.queuesCreated,
    queue_declared: c.queuesDeclared,
    queue_deleted: c.queuesDeleted,
  };
}

/** Every queue's messages summed (the overview's global queue_totals). */
export function queueTotals(broker: Broker): { messages: number; messages_ready: number; messages_unacknowledged: number } {
  let ready = 0;
  let unacked = 0;
  let owed = 0;
  for (const v of broker.vhosts.values()) {
    for (const q of v.queues.values()) {
      ready += q.readyCount;
      unacked += q.unackedTotal;
      owed += q.deadLetterCount;
    }
  }
  return { messages: ready + unacked + owed, messages_ready: ready, messages_unacknowledged: unacked };
}

/**
 * Messages written to the store and read back from it by every classic queue, deleted ones too
 * (the overview's message_stats disk_writes and disk_reads, which 3.10.8 never lowers; quorum
 * queues and streams keep their own logs and count in neither, as a queue's own columns show).
 */
export function diskTotals(broker: Broker): { disk_reads: number; disk_writes: number } {
  let reads = broker.counters.diskReadsOfDeleted;
  let writes = broker.counters.diskWritesOfDeleted;
  for (const v of broker.vhosts.values()) {
    for (const q of v.queues.values()) {
      if (q.type.name !== 'classic') continue;
      reads += q.diskReads;
      writes += q.diskWrites;
    }
  }
  return { disk_reads: reads, disk_writes: writes };
}

/** The overview's message_stats: every counter, and the queues' disk_reads and disk_writes, sorted by name as 3.10.8's. */
export function overviewMessageStats(broker: Broker, rates?: RateSampler): JsonObject {
  const out = messageStatsView(broker.stats, rates, broker.stats) ?? {};
  for (const [name, value] of Object.entries(diskTotals(broker))) {
    out[name] = value;
    out[`${name}_details`] = { rate: Math.max(0, rates?.gaugeRate(broker.stats, name) ?? 0) };
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** The exchange types, as the overview and the node list them. */
export const EXCHANGE_TYPES: JsonObject[] = [
  ...['direct', 'fanout', 'headers', 'topic'].map((t) => ({
    name: t,
    description: `AMQP ${t} exchange, as per the AMQP specification`,
    enabled: true,
  })),
  // As 3.10.8 with rabbitmq_consistent_hash_exchange, rabbitmq_federation,
  // rabbitmq_random_exchange and rabbitmq_recent_history_exchange lists them, by name.
  { name: 'x-consistent-hash', description: 'Consistent Hashing Exchange', enabled: true },
  // As the community rabbitmq_delayed_message_exchange plugin names itself.
  { name: 'x-delayed-message', description: 'Delayed Message Exchange.', enabled: true },
  { name: 'x-federation-upstream', description: 'Federation upstream helper exchange', internal_purpose: 'federation', enabled: true },
  { name: 'x-random', description: 'Randomly picks a binding (queue) to route via (to).', enabled: true },
  { name: 'x-recent-history', description: 'Recent History Exchange.', enabled: true },
];

/** The SASL mechanisms connection.start offers (auth.ts), as 3.10.8's node lists them. */
export const AUTH_MECHANISMS: JsonObject[] = [
  { name: 'PLAIN', description: 'SASL PLAIN authentication mechanism', enabled: true },
  { name: 'AMQPLAIN', description: 'QPid AMQPLAIN mechanism', enabled: true },
];

/** Counters with their `*_details.rate` (the change per second over the last sample of `key`). */
export function withRates(values: Record<string, number>, rates: RateSampler | undefined, key: object): JsonObject {
  const out: JsonObject = {};
  for (const [k, v] of Object.entries(values)) {
    out[k] = v;
    out[`${k}_details`] = { rate: rates?.gaugeRate(key, k) ?? 0 };
  }
  return out;
}

/** The levels whose rates of change a queue shows (messages_details and the like). */
export function queueLevels(q: Queue): { messages: number; messages_ready: number; messages_unacknowledged: number } {
  const ready = q.messageCount;
  return { messages: ready + q.unackedTotal + q.deadLetterCount, messages_ready: ready, messages_unacknowledged: q.unackedTotal };
}

/** node: the name of the node this broker is, where a queue without a placement of its own runs. */
export function queueView(q: Queue, node: string, rates?: RateSampler): JsonObject {
  const ready = q.messageCount;
  const args = tableJson(q.arguments);
  const effective = effectiveDefinition(q.policy, q.operatorPolicy) as JsonObject;
  return {
    name: q.name,
    vhost: q.vhost.name,
    durable: q.durable,
    auto_delete: q.autoDelete,
    exclusive: q.exclusiveOwner !== null,
    arguments: args,
    type: q.type.name,
    // RabbitMQ 3.10: null and {} when no policy applies.
    policy: q.policy?.name ?? null,
    operator_policy: q.operatorPolicy?.name ?? null,
    effective_policy_definition: effective,
    ...placementView(q, node),
    // RabbitMQ 3.10.8 counts a quorum queue's at-least-once dead letters in messages (not in
    // messages_ready) and shows them as messages_dlx; classic queues and streams have no such field.
    messages: ready + q.unackedTotal + q.deadLetterCount,
    messages_ready: ready,
    messages_unacknowledged: q.unackedTotal,
    ...(q.type.name === 'quorum' ? { messages_dlx: q.deadLetterCount, message_bytes_dlx: q.deadLetterBytes } : {}),
    message_bytes_ready: q.readyBytes,
    // RabbitMQ's names for where the messages are: in memory (ready and unacked, as 3.10.8 counts
    // them) or only on disk.
    messages_ram: q.readyCount - q.pagedOut.count + q.unackedTotal,
    messages_paged_out: q.pagedOut.count,
    message_bytes_ram: q.readyBytes - q.pagedOut.bytes + Math.max(0, q.unackedBytes),
    message_bytes_paged_out: q.pagedOut.bytes,
    // Rates of change of the levels above, sampled with the message rates (every 5 s).
    messages_details: { rate: rates?.gaugeRate(q, 'messages') ?? 0 },
    messages_ready_details: { rate: rates?.gaugeRate(q, 'messages_ready') ?? 0 },
    messages_unacknowledged_details: { rate: rates?.gaugeRate(q, 'messages_unacknowledged') ?? 0 },
    consumers: q.consumerCount,
    ...queueExtrasView(q),
    ...queueTypeView(q, q.placement?.node || node, rates, args, effective),
    message_stats: messageStatsView(q.stats, rates, q.stats, 'queue'),
  };
}

/** Queue fields 3.10.8's API has not (pids, disk counters): given when asked for as columns (warren ctl list_queues). */
export const QUEUE_ASKED_COLUMNS = ['pid', 'owner_pid', 'exclusive_consumer_pid', 'disk_reads', 'disk_writes'] as const;

/**
 * One of QUEUE_ASKED_COLUMNS, as rabbitmqctl 3.10.8 prints it: the queue's own pid (Warren's:
 * the node it runs on, 0 where a connection's id goes, a number of its own), the exclusive owner's
 * connection and the exclusive consumer's channel pids ("" when none); messages written to the
 * store and read back from it, by a classic queue ("" for a quorum queue or a stream, which keep
 * their own logs). node: this broker's name, where a queue without a placement runs.
 */
export function queueAskedView(q: Queue, column: (typeof QUEUE_ASKED_COLUMNS)[number], node: string): JsonObject {
  const classic = q.type.name === 'classic';
  switch (column) {
    case 'pid':
      return { pid: `<${q.placement?.node || node}.0.${q.serial}>` };
    case 'owner_pid':
      return { owner_pid: q.exclusiveOwner?.pid ?? '' };
    case 'exclusive_consumer_pid':
      return { exclusive_consumer_pid: q.consumers.find((c) => c.exclusive)?.channel.pid ?? '' };
    case 'disk_reads':
      return { disk_reads: classic ? q.diskReads : '' };
    case 'disk_writes':
      return { disk_writes: classic ? q.diskWrites : '' };
  }
}

/**
 * RabbitMQ 3.10.8's further queue fields. message_bytes* and head_message_timestamp are exact;
 * memory is the bytes of message bodies held in memory (no per-queue heap measure exists in
 * Node); consumer_utilisation/consumer_capacity are 1 with a consumer and 0 without (RabbitMQ
 * measures the share of time consumers could take more).
 */
function queueExtrasView(q: Queue): JsonObject {
  const head = q.ready.peek();
  const unackedBytes = Math.max(0, q.unackedBytes);
  const capacity = q.consumerCount > 0 ? 1 : 0;
  const exclusive = q.consumers.find((c) => c.exclusive);
  const persistent = q.persistentTotals;
  const out: JsonObject = {
    exclusive_consumer_tag: exclusive?.tag ?? null,
    single_active_consumer_tag: singleActiveTag(q),
    messages_ready_ram: q.readyCount - q.pagedOut.count,
    messages_unacknowledged_ram: q.unackedTotal,
    message_bytes: q.readyBytes + unackedBytes,
    message_bytes_unacknowledged: unackedBytes,
    memory: q.readyBytes - q.pagedOut.bytes + unackedBytes,
    consumer_utilisation: capacity,
    consumer_capacity: capacity,
    head_message_timestamp: head ? (head.msg.decoded().timestamp ?? null) : null,
  };
  // Persistent messages of a durable queue (every message of a quorum queue); 3.10.8 has no such
  // fields on a stream.
  if (!q.stream) {
    out.messages_persistent = persistent.count;
    out.message_bytes_persistent = persistent.bytes;
  }
  return out;
}

/** The active consumer's tag of a single-active-consumer queue; null for others. */
const singleActiveTag = (q: Queue): string | null => (q.args.singleActiveConsumer ? (q.consumers[0]?.tag ?? null) : null);

/**
 * The fields 3.10.8 gives one queue type only (checked): a classic queue's recoverable_slaves
 * (null: no mirrors) and idle_since (idle-since.ts; quorum queues and streams never have it), a
 * quorum queue's open_files per member and its single active consumer as single_active_consumer_ctag,
 * a stream's readers (its consumers) per member. at: the node the queue runs on.
 */
function queueTypeView(q: Queue, at: string, rates: RateSampler | undefined, args: JsonObject, effective: JsonObject): JsonObject {
  switch (q.type.name) {
    case 'classic':
      return { recoverable_slaves: null, ...(q.idle.since > 0 ? { idle_since: isoTime(q.idle.since) } : {}), backing_queue_status: backingQueueStatus(q, rates, args, effective) };
    case 'quorum':
      return { open_files: { [at]: 0 }, single_active_consumer_ctag: singleActiveTag(q) };
    case 'stream':
      return { readers: { [at]: q.consumerCount } };
  }
}

/**
 * A classic queue's backing_queue_status, in RabbitMQ 3.10.8's shape (checked: five messages, two
 * taken, one acked: len 3, next_seq_id 5, next_deliver_seq_id 2, q4 3; a lazy queue's message in
 * delta as ["delta", 0, 1, 1, 1]; x-queue-version 2 as version 2). Warren's figures: len the ready
 * messages, q4 those in memory, delta the paged part (its transient ones fourth), the sequence ids
 * counted from the messages taken in this run and recovered at its start, and the averages the
 * queue's sampled publish, deliver/get, acked-mode deliver/get and ack rates. Warren keeps no lazy
 * mode (x-queue-mode is shown as declared) and one queue index (the version is shown as declared).
 */
/** args and policy: the queue's arguments and effective policy definition, as queueView has them. */
function backingQueueStatus(q: Queue, rates: RateSampler | undefined, args: JsonObject, policy: JsonObject): JsonObject {
  const len = q.messageCount;
  const paged = q.pagedOut.count;
  const next = Math.max(q.stats.publish + q.recoveredCount, len);
  const rate = (c: Parameters<RateSampler['rate']>[1]): number => rates?.rate(q.stats, c) ?? 0;
  return {
    avg_ack_egress_rate: rate('ack'),
    avg_ack_ingress_rate: Math.max(0, rate('deliver') - rate('deliverNoAck')) + Math.max(0, rate('get') - rate('getNoAck')),
    avg_egress_rate: rate('deliver') + rate('get'),
    avg_ingress_rate: rate('publish'),
    delta: paged > 0 ? ['delta', next - paged, paged, q.pagedOutTransient, next] : ['delta', 'undefined', 0, 0, 'undefined'],
    len,
    mode: String(args['x-queue-mode'] ?? policy['queue-mode'] ?? 'default'),
    next_deliver_seq_id: next - len,
    next_seq_id: next,
    q1: 0,
    q2: 0,
    q3: 0,
    q4: len - paged,
    target_ram_count: 'infinity',
    version: Number(args['x-queue-version'] ?? policy['queue-version'] ?? 1),
  };
}

export function exchangeView(e: Exchange, vhost: string, rates?: RateSampler): JsonObject {
  return {
    name: e.name,
    vhost,
    type: e.type,
    durable: e.durable,
    auto_delete: e.autoDelete,
    internal: e.internal,
    arguments: tableJson(e.arguments),
    user_who_performed_action: e.user,
    // RabbitMQ 3.10 has the field only when a policy applies.
    ...(e.policy ? { policy: e.policy.name } : {}),
    // As 3.10.8: message_stats only once something was published to it.
    ...(e.publishIn > 0
      ? {
          message_stats: {
            publish_in: e.publishIn,
            publish_in_details: { rate: Math.max(0, rates?.gaugeRate(e, 'publish_in') ?? 0) },
            publish_out: e.publishOut,
            publish_out_details: { rate: Math.max(0, rates?.gaugeRate(e, 'publish_out') ?? 0) },
          },
        }
      : {}),
  };
}

/** RabbitMQ names a binding by its routing key and arguments: the "properties key". */
export function propertiesKey(b: Pick<Binding, 'routingKey' | 'arguments'>): string {
  if (b.arguments.size === 0) return b.routingKey === '' ? '~' : encodeURIComponent(b.routingKey);
  const hash = Buffer.from(JSON.stringify(tableJson(b.arguments))).toString('base64url').slice(0, 22);
  return `${encodeURIComponent(b.routingKey)}~${hash}`;
}

export function bindingView(b: Binding, vhost: string): JsonObject {
  return {
    source: b.source.name,
    vhost,
    destination: b.destination.name,
    destination_type: 'ready' in b.destination ? 'queue' : 'exchange',
    routing_key: b.routingKey,
    arguments: tableJson(b.arguments),
    properties_key: propertiesKey(b),
  };
}

/** The implicit binding of a queue from the default exchange, as RabbitMQ 3.10.8 lists it. */
export function defaultBindingView(queue: string, vhost: string): JsonObject {
  return { source: '', vhost, destination: queue, destination_type: 'queue', routing_key: queue, arguments: {}, properties_key: queue };
}

export function connectionName(c: Connection): string {
  return c.name;
}

/**
 * pid: add the connection's pid (its connection.created event's), asked for as a column
 * (`columns=…,pid`): 3.10.8's API strips pids, so its objects do not have one otherwise. `warren
 * ctl list_connections pid` prints it and `close_connection <pid>` takes it, as rabbitmqctl's do.
 */
export function connectionView(c: Connection, rates?: RateSampler, pid = false): JsonObject {
  // A direct connection (a shovel's) has no socket of its own: 3.10.8 lists these fields only.
  if (c.direct) {
    return {
      client_properties: tableJson(c.clientProperties),
      connected_at: c.connectedAt,
      name: c.name,
      node: c.broker.nodeName,
      ...(pid ? { pid: c.pid } : {}),
      protocol: 'Direct 0-9-1',
      type: 'direct',
      user: c.user,
      user_who_performed_action: c.user,
      vhost: c.vhost?.name ?? null,
    };
  }
  return {
    name: connectionName(c),
    node: c.broker.nodeName,
    ...(pid ? { pid: c.pid } : {}),
    user: c.user,
    vhost: c.vhost?.name ?? null,
    state: c.stateName,
    channels: c.channels.size,
    protocol: 'AMQP 0-9-1',
    peer_host: c.socket.remoteAddress ?? null,
    peer_port: c.socket.remotePort ?? null,
    host: c.socket.localAddress ?? null,
    port: c.socket.localPort ?? null,
    frame_max: c.frameMax,
    channel_max: c.channelMax,
    timeout: c.heartbeat,
    client_properties: tableJson(c.clientProperties),
    connected_at: c.connectedAt,
    // The socket's byte counts (RabbitMQ 3.10.8's recv_oct/send_oct).
    recv_oct: c.socket.bytesRead,
    recv_oct_details: { rate: Math.max(0, rates?.gaugeRate(c, 'recv_oct') ?? 0) },
    send_oct: c.socket.bytesWritten,
    send_oct_details: { rate: Math.max(0, rates?.gaugeRate(c, 'send_oct') ?? 0) },
    // Socket reads and writes (3.10.8's recv_cnt/send_cnt, its socket's receive and send counts).
    recv_cnt: c.recvCnt,
    send_cnt: c.writer.sends,
    // Bytes written and not yet taken by the kernel.
    send_pend: c.socket.writableLength,
    type: 'network',
    ssl: 'encrypted' in c.socket,
    ...tlsView(c),
    auth_mechanism: c.authMechanism,
    user_who_performed_action: c.user,
  };
}

/** RabbitMQ 3.10.8's TLS fields of a connection: null on a plain socket. */
function tlsView(c: Connection): JsonObject {
  const out: JsonObject = { peer_cert_issuer: null, peer_cert_subject: null, peer_cert_validity: null, ssl_cipher: null, ssl_hash: null, ssl_key_exchange: null, ssl_protocol: null };
  if (!(c.socket instanceof TLSSocket)) return out;
  const cipher = c.socket.getCipher();
  // 3.10.8 writes 'tlsv1.3'; Node 'TLSv1.3'.
  out.ssl_protocol = c.socket.getProtocol()?.toLowerCase() ?? null;
  out.ssl_cipher = cipher?.name ?? null;
  const cert = c.socket.getPeerCertificate();
  if (cert && Object.keys(cert).length > 0) {
    const dn = (o: object): string => Object.entries(o).map(([k, v]) => `${k}=${String(v)}`).join(',');
    out.peer_cert_subject = dn(cert.subject);
    out.peer_cert_issuer = dn(cert.issuer);
    out.peer_cert_validity = `${cert.valid_from} - ${cert.valid_to}`;
  }
  return out;
}

/** A time as RabbitMQ's API writes idle_since: 2026-12-07T14:59:13.203+00:00. */
const isoTime = (ms: number): string => new Date(ms).toISOString().replace('Z', '+00:00');

export function channelView(ch: Channel, rates?: RateSampler): JsonObject {
  const uncommitted = ch.uncommitted;
  const out: JsonObject = {
    name: `${connectionName(ch.conn)} (${ch.id})`,
    number: ch.id,
    user: ch.conn.user,
    vhost: ch.conn.vhost?.name ?? null,
    node: ch.conn.broker.nodeName,
    consumer_count: ch.consumers.size,
    messages_unacknowledged: ch.unackedCount,
    prefetch_count: ch.prefetch,
    global_prefetch_count: ch.prefetchGlobal,
    confirm: ch.confirmMode,
    transactional: ch.transactional,
    state: 'running',
    messages_unconfirmed: ch.unconfirmedCount,
    messages_uncommitted: uncommitted.messages,
    acks_uncommitted: uncommitted.acks,
    message_stats: messageStatsView(ch.messageStats, rates, ch.messageStats, 'channel'),
    user_who_performed_action: ch.conn.user,
    // Quorum queue commands in flight: Warren's quorum queues are not Raft groups.
    pending_raft_commands: 0,
    connection_details: { name: connectionName(ch.conn), peer_host: ch.conn.socket.remoteAddress ?? null, peer_port: ch.conn.socket.remotePort ?? null },
  };
  // As 3.10.8: only while the channel is idle (its process hibernated; idle-since.ts).
  if (ch.idle.since > 0) out.idle_since = isoTime(ch.idle.since);
  return out;
}

/**
 * A vhost as /api/vhosts shows it; with live, also its traffic as 3.10.8 does (message_stats once
 * something happened, recv_oct/send_oct, the rates of each and of its message counts,
 * cluster_state, whether the firehose tracer is on).
 */
export function vhostView(v: VHost, live?: { totals: VHostTotals; rates: RateSampler; node: string }): JsonObject {
  const counts = vhostMessageCounts(v);
  const out: JsonObject = { ...vhostMetadataView(v), ...counts };
  if (!live) return out;
  const r = (name: string): number => live.rates.gaugeRate(v, name);
  for (const k of Object.keys(counts)) out[`${k}_details`] = { rate: r(k) };
  const stats = messageStatsView(live.totals.stats, undefined, undefined, 'channel', (n) => Math.max(0, r(n)));
  if (stats) out.message_stats = stats;
  out.recv_oct = live.totals.recvOct;
  out.recv_oct_details = { rate: Math.max(0, r('recv_oct')) };
  out.send_oct = live.totals.sendOct;
  out.send_oct_details = { rate: Math.max(0, r('send_oct')) };
  out.cluster_state = { [live.node]: 'running' };
  out.tracing = v.tracing;
  return out;
}

/**
 * A vhost's description, tags and default queue type as RabbitMQ 3.12 shows them: each at the top
 * level and together in `metadata`; an unset default queue type is `"undefined"` at the top level
 * (rabbit_vhost's info item, vhost:get_default_queue_type/1) and absent from `metadata`.
 */
export function vhostMetadataView(v: VHost): JsonObject {
  const metadata: JsonObject = { description: v.description, tags: [...v.tags] };
  if (v.defaultQueueType !== undefined) metadata.default_queue_type = v.defaultQueueType;
  return { name: v.name, description: v.description, tags: [...v.tags], default_queue_type: v.defaultQueueType ?? 'undefined', metadata };
}

/**
 * RabbitMQ's state/node of a queue, and its leader/members/online: 3.10.8 gives a quorum queue all
 * three and a stream members and online (on one node, that node); a cluster's replicated queue,
 * its owner and its stream's members.
 */
function placementView(q: Queue, node: string): JsonObject {
  const p = q.placement;
  if (!p) {
    const type = q.type.name;
    if (type === 'quorum') return { state: 'running', node, leader: node, members: [node], online: [node] };
    if (type === 'stream') return { state: 'running', node, members: [node], online: [node] };
    return { state: 'running', node };
  }
  const v: JsonObject = { state: p.node === '' ? 'down' : 'running', node: p.node };
  if (p.members) {
    v.leader = p.node;
    v.members = p.members;
    v.online = p.online ?? p.members;
    v.nats_leader = p.leader ?? null;
  }
  return v;
}

export function consumersView(connections: Iterable<Connection>): JsonObject[] {
  const out: JsonObject[] = [];
  for (const conn of connections) {
    for (const ch of conn.channels.values()) {
      for (const c of ch.consumers.values()) {
        // With x-single-active-consumer only the queue's first consumer gets messages (3.10.8:
        // active true and 'single_active' for it, false and 'waiting' for the others).
        const single = c.queue.args.singleActiveConsumer === true;
        const active = !single || c.queue.consumers[0] === c;
        out.push({
          consumer_tag: c.tag,
          queue: { name: c.queue.name, vhost: c.queue.vhost.name },
          // 3.10.8's keys, in its order.
          channel_details: {
            connection_name: connectionName(conn),
            name: `${connectionName(conn)} (${ch.id})`,
            node: conn.broker.nodeName,
            number: ch.id,
            peer_host: conn.socket.remoteAddress ?? null,
            peer_port: conn.socket.remotePort ?? null,
            user: conn.user,
          },
          ack_required: !c.noAck,
          exclusive: c.exclusive,
          prefetch_count: c.prefetch,
          arguments: c.priority !== 0 ? { 'x-priority': c.priority } : {},
          active,
          activity_status: !single ? 'up' : active ? 'single_active' : 'waiting',
        });
      }
    }
  }
  return out;
}

/** A user as 3.10.8's API shows one, its limits included (`{}` when it has none). */
export function userView(u: StoredUser, limits: JsonObject): JsonObject {
  return { name: u.name, password_hash: u.passwordHash, hashing_algorithm: 'rabbit_password_hashing_sha256', tags: u.tags, limits };
}

/** Message properties as the management API shows them. */
export function propertiesView(p: BasicProperties): JsonObject {
  const out: JsonObject = {};
  if (p.contentType !== undefined) out.content_type = p.contentType;
  if (p.contentEncoding !== undefined) out.content_encoding = p.contentEncoding;
  if (p.headers !== undefined) out.headers = tableJson(p.headers);
  if (p.deliveryMode !== undefined) out.delivery_mode = p.deliveryMode;
  if (p.priority !== undefined) out.priority = p.priority;
  if (p.correlationId !== undefined) out.correlation_id = p.correlationId;
  if (p.replyTo !== undefined) out.reply_to = p.replyTo;
  if (p.expiration !== undefined) out.expiration = p.expiration;
  if (p.messageId !== undefined) out.message_id = p.messageId;
  if (p.timestamp !== undefined) out.timestamp = p.timestamp;
  if (p.type !== undefined) out.type = p.type;
  if (p.userId !== undefined) out.user_id = p.userId;
  if (p.appId !== undefined) out.app_id = p.appId;
  if (p.clusterId !== undefined) out.cluster_id = p.clusterId;
  return out;
}

