// What each `warren ctl list_*` command reads from the management API and which columns it can
// print. Column names are rabbitmqctl's info keys where Warren has the value (so scripts written
// for rabbitmqctl keep working), plus a few of the API's own fields; any other name is an error,
// as in rabbitmqctl ("Info key(s) … are not supported"), instead of a silently empty column.

import { FieldTableCell, FloatCell, Proplist, TupleCell } from './ctl-format.js';

export type Row = Record<string, unknown>;
type Column = (r: Row) => unknown;

export interface ListSpec {
  /** Management API path; `{vhost}` is replaced by the encoded -p vhost, `{arg}` by the argument. */
  path: string;
  /** The informational line printed before the rows (suppressed by -q); arg: the positional argument. */
  banner: (vhost: string, arg: string) => string;
  /**
   * The command takes one positional argument (list_user_permissions' user) instead of columns;
   * the text rabbitmqctl prints when the API does not know it (exit 69).
   */
  argument?: { notFound: (arg: string) => string };
  /**
   * A missing -p vhost is an error (rabbitmqctl 3.10.8's line alone, exit 65), not an empty list:
   * list_permissions, list_parameters, list_policies, list_topic_permissions. Other lists of a
   * missing vhost (list_queues …) are empty.
   */
  vhostMustExist?: boolean;
  /** rabbitmqctl 3.10.8 prints no header line above these rows (list_user_topic_permissions). */
  headerless?: boolean;
  /** rabbitmqctl prints "Timeout: N seconds ..." first, N being -t or this default (list_queues). */
  defaultTimeout?: number;
  columns: Record<string, Column>;
  defaults: string[];
  /** rabbitmqctl's list_users and list_permissions take no column arguments. */
  takesColumns: boolean;
  /** Keeps only some rows: those of the -p vhost, for API paths that list every vhost; unresponsive queues. */
  filter?: (r: Row, vhost: string) => boolean;
}

const field =
  (name: string): Column =>
  (r) => r[name];
const fields = (...names: string[]): Record<string, Column> => Object.fromEntries(names.map((n) => [n, field(n)]));
/** A field table column (arguments, client_properties), printed as rabbitmqctl prints one. */
const fieldTable =
  (name: string): Column =>
  (r) => {
    const t = r[name];
    return t && typeof t === 'object' && !Array.isArray(t) ? new FieldTableCell(t as Row) : t;
  };
const nested = (r: Row, a: string, b: string): unknown => {
  const o = r[a];
  return o && typeof o === 'object' ? (o as Row)[b] : undefined;
};

/** list_policies and list_operator_policies: the definition as JSON text in every formatter (rabbitmqctl's json one too). */
const policyList = (path: string, what: string): ListSpec => ({
  path,
  vhostMustExist: true,
  banner: (v) => `Listing ${what} for vhost "${v}" ...`,
  columns: { ...fields('vhost', 'name', 'pattern', 'apply-to'), definition: (r) => JSON.stringify(r.definition), priority: field('priority') },
  defaults: ['vhost', 'name', 'pattern', 'apply-to', 'definition', 'priority'],
  takesColumns: false,
});

/** A runtime parameter's value as JSON text, in every formatter (rabbitmqctl's json one too). */
const jsonText = (r: Row): string => JSON.stringify(r.value);

/**
 * list_queues' columns that are the API's queue fields of the same name: rabbitmqctl's info keys
 * where Warren has the value. The API gives the pids and disk counters only when asked for them.
 */
const QUEUE_FIELDS = [
  'name',
  'vhost',
  'durable',
  'auto_delete',
  'exclusive',
  'type',
  'state',
  'messages',
  'messages_ready',
  'messages_unacknowledged',
  'message_bytes_ready',
  'messages_ram',
  'message_bytes_ram',
  'messages_paged_out',
  'message_bytes_paged_out',
  'consumers',
  // rabbitmqctl's further info keys, as the management API has them.
  'messages_ready_ram',
  'messages_unacknowledged_ram',
  'messages_persistent',
  'message_bytes',
  'message_bytes_unacknowledged',
  'message_bytes_persistent',
  'head_message_timestamp',
  'consumer_utilisation',
  'consumer_capacity',
  'memory',
  'policy',
  'exclusive_consumer_tag',
  'pid',
  'owner_pid',
  'exclusive_consumer_pid',
  'disk_reads',
  'disk_writes',
];
/** Every API field list_queues reads: its fields, and those the other columns are made of. */
const QUEUE_API_COLUMNS = [...QUEUE_FIELDS, 'arguments', 'node', 'leader', 'members', 'online'];

/** list_connections' columns: rabbitmqctl 3.10.8's info keys, which the API's connection objects have, and pid. */
const CONNECTION_COLUMNS = [
  'pid',
  'name',
  'user',
  'vhost',
  'state',
  'channels',
  'protocol',
  'peer_host',
  'peer_port',
  'host',
  'port',
  'frame_max',
  'channel_max',
  'timeout',
  'client_properties',
  'connected_at',
  'auth_mechanism',
  'ssl',
  'ssl_protocol',
  'ssl_cipher',
  'ssl_hash',
  'ssl_key_exchange',
  'peer_cert_subject',
  'peer_cert_issuer',
  'peer_cert_validity',
  'recv_oct',
  'recv_cnt',
  'send_oct',
  'send_cnt',
  'send_pend',
];

/** 'AMQP 0-9-1' as rabbitmqctl prints a connection's protocol: {0,9,1}. */
const protocol: Column = (r) => {
  const m = typeof r.protocol === 'string' ? /^AMQP (\d+)-(\d+)-(\d+)$/.exec(r.protocol) : null;
  return m ? new TupleCell([Number(m[1]), Number(m[2]), Number(m[3])]) : r.protocol;
};

/** consumer_utilisation and consumer_capacity as rabbitmqctl prints them (see FloatCell). */
const consumerRatio = (name: string): Column => (r) => {
  const v = r[name];
  return typeof v === 'number' && Number(r.consumers) > 0 ? new FloatCell(v) : v;
};

/**
 * The list_queues columns rabbitmqctl 3.10.8 prints empty for a quorum queue and for a stream
 * (checked, each with a ready message): their info has no such keys, though the API gives some
 * of them values (a quorum queue's message_bytes, messages_persistent).
 */
const EMPTY_FOR_TYPE: Record<string, ReadonlySet<string>> = (() => {
  const both = ['message_bytes_ready', 'messages_ready_ram', 'messages_unacknowledged_ram', 'messages_persistent', 'message_bytes', 'message_bytes_unacknowledged', 'message_bytes_persistent', 'head_message_timestamp', 'consumer_utilisation', 'consumer_capacity', 'exclusive'];
  return { quorum: new Set(both), stream: new Set([...both, 'messages_ram', 'message_bytes_ram', 'pid']) };
})();

/** Columns that print empty for a queue type as rabbitmqctl 3.10.8 prints them (EMPTY_FOR_TYPE). */
const emptyForType = (columns: Record<string, Column>): Record<string, Column> =>
  Object.fromEntries(Object.entries(columns).map(([name, col]) => [name, (r: Row) => (EMPTY_FOR_TYPE[String(r.type)]?.has(name) ? '' : col(r))]));

export const LISTS: Record<string, ListSpec> = {
  list_queues: {
    // The fields 3.10.8's API strips or lacks (pid, owner_pid, exclusive_consumer_pid,
    // disk_reads, disk_writes) come only when asked for as columns: every column is asked for.
    path: `/api/queues/{vhost}?columns=${QUEUE_API_COLUMNS.join(',')}`,
    defaultTimeout: 60,
    banner: (v) => `Listing queues for vhost ${v} ...`,
    columns: emptyForType({
      ...fields(...QUEUE_FIELDS),
      arguments: fieldTable('arguments'),
      // A quorum queue's and a stream's; a classic queue's are empty ("" in json). The API gives a
      // stream no leader, where rabbitmqctl 3.10.8 prints its node.
      leader: (r) => r.leader ?? (r.members ? r.node : ''),
      members: (r) => r.members ?? '',
      online: (r) => r.online ?? '',
      // Floats in RabbitMQ once the queue has a consumer (1.0), the integer 0 without (3.10.8).
      consumer_utilisation: consumerRatio('consumer_utilisation'),
      consumer_capacity: consumerRatio('consumer_capacity'),
      // No queue has mirrors: 3.10.8 prints these empty for a queue without.
      slave_pids: () => '',
      synchronised_slave_pids: () => '',
    }),
    defaults: ['name', 'messages'],
    takesColumns: true,
  },
  list_unresponsive_queues: {
    // A queue that does not answer: in a cluster, one whose owner is down (the API's state 'down');
    // a node's own queues always answer. rabbitmqctl's --queue-timeout has nothing to bound here
    // and is not taken.
    path: '/api/queues/{vhost}?columns=name,durable,auto_delete,arguments,state,node',
    banner: (v) => `Listing unresponsive queues for vhost ${v} ...`,
    columns: { ...fields('name', 'durable', 'auto_delete'), arguments: fieldTable('arguments'), recoverable_slaves: () => '' },
    defaults: ['name'],
    takesColumns: true,
    filter: (r) => r.state !== 'running',
  },
  list_exchanges: {
    path: '/api/exchanges/{vhost}',
    banner: (v) => `Listing exchanges for vhost ${v} ...`,
    columns: {
      ...fields('name', 'vhost', 'type', 'durable', 'auto_delete', 'internal'),
      arguments: fieldTable('arguments'),
      // The API has it only when a policy applies; rabbitmqctl prints it empty otherwise.
      policy: (r) => r.policy ?? '',
    },
    defaults: ['name', 'type'],
    takesColumns: true,
  },
  list_bindings: {
    path: '/api/bindings/{vhost}',
    banner: (v) => `Listing bindings for vhost ${v}...`,
    columns: {
      source_name: field('source'),
      // Only exchanges are binding sources in AMQP 0-9-1.
      source_kind: () => 'exchange',
      destination_name: field('destination'),
      destination_kind: field('destination_type'),
      routing_key: field('routing_key'),
      arguments: fieldTable('arguments'),
      // The management API's names for the same values.
      ...fields('source', 'destination', 'destination_type', 'vhost', 'properties_key'),
    },
    defaults: ['source_name', 'source_kind', 'destination_name', 'destination_kind', 'routing_key', 'arguments'],
    takesColumns: true,
  },
  list_connections: {
    // pid only comes when asked for (3.10.8's API has none); the other columns are whole objects' fields.
    path: `/api/connections?columns=${CONNECTION_COLUMNS.join(',')}`,
    banner: () => 'Listing connections ...',
    columns: { ...fields(...CONNECTION_COLUMNS), protocol, client_properties: fieldTable('client_properties') },
    defaults: ['name', 'user', 'peer_host', 'peer_port', 'state'],
    takesColumns: true,
  },
  list_consumers: {
    path: '/api/consumers',
    banner: (v) => `Listing consumers in vhost ${v} ...`,
    columns: {
      queue_name: (r) => nested(r, 'queue', 'name'),
      // rabbitmqctl prints the channel's Erlang pid; the channel's name is what identifies it here.
      channel_pid: (r) => nested(r, 'channel_details', 'name'),
      ...fields('consumer_tag', 'ack_required', 'prefetch_count', 'active', 'activity_status', 'exclusive'),
      arguments: fieldTable('arguments'),
    },
    defaults: ['queue_name', 'channel_pid', 'consumer_tag', 'ack_required', 'prefetch_count', 'active', 'arguments'],
    takesColumns: true,
    filter: (r, v) => nested(r, 'queue', 'vhost') === v,
  },
  list_channels: {
    path: '/api/channels',
    banner: () => 'Listing channels ...',
    columns: {
      // rabbitmqctl prints the channel's Erlang pid; the channel's name is what identifies it here.
      pid: field('name'),
      connection: (r) => nested(r, 'connection_details', 'name'),
      ...fields(
        'name',
        'number',
        'user',
        'vhost',
        'transactional',
        'confirm',
        'consumer_count',
        'messages_unacknowledged',
        'messages_unconfirmed',
        'messages_uncommitted',
        'acks_uncommitted',
        'prefetch_count',
        'global_prefetch_count',
      ),
    },
    defaults: ['pid', 'user', 'consumer_count', 'messages_unacknowledged'],
    takesColumns: true,
  },
  list_users: {
    path: '/api/users',
    banner: () => 'Listing users ...',
    columns: { user: field('name'), tags: field('tags') },
    defaults: ['user', 'tags'],
    takesColumns: false,
  },
  list_vhosts: {
    path: '/api/vhosts',
    banner: () => 'Listing vhosts ...',
    columns: {
      ...fields('name', 'description', 'tags', 'default_queue_type', 'tracing'),
      cluster_state: (r) => (r.cluster_state && typeof r.cluster_state === 'object' ? new Proplist(r.cluster_state as Row) : undefined),
      ...fields('messages', 'messages_ready', 'messages_unacknowledged'),
    },
    defaults: ['name'],
    takesColumns: true,
  },
  list_policies: policyList('/api/policies/{vhost}', 'policies'),
  list_operator_policies: policyList('/api/operator-policies/{vhost}', 'operator policy overrides'),
  list_permissions: {
    path: '/api/permissions',
    banner: (v) => `Listing permissions for vhost "${v}" ...`,
    vhostMustExist: true,
    columns: fields('user', 'configure', 'write', 'read'),
    defaults: ['user', 'configure', 'write', 'read'],
    takesColumns: false,
    filter: (r, v) => r.vhost === v,
  },
  list_user_permissions: {
    path: '/api/users/{arg}/permissions',
    banner: (_v, user) => `Listing permissions for user "${user}" ...`,
    argument: { notFound: (user) => `{:no_such_user, "${user}"}` },
    columns: fields('vhost', 'configure', 'write', 'read'),
    defaults: ['vhost', 'configure', 'write', 'read'],
    takesColumns: false,
  },
  list_parameters: {
    path: '/api/parameters',
    banner: (v) => `Listing runtime parameters for vhost "${v}" ...`,
    vhostMustExist: true,
    columns: { ...fields('component', 'name'), value: jsonText },
    defaults: ['component', 'name', 'value'],
    takesColumns: false,
    filter: (r, v) => r.vhost === v,
  },
  list_feature_flags: {
    path: '/api/feature-flags',
    banner: () => 'Listing feature flags ...',
    columns: fields('name', 'state', 'stability', 'provided_by', 'desc', 'doc_url'),
    defaults: ['name', 'state'],
    takesColumns: true,
  },
  list_global_parameters: {
    path: '/api/global-parameters',
    banner: () => 'Listing global runtime parameters ...',
    columns: { name: field('name'), value: jsonText },
    defaults: ['name', 'value'],
    takesColumns: false,
  },
  list_topic_permissions: {
    path: '/api/vhosts/{vhost}/topic-permissions',
    banner: (v) => `Listing topic permissions for vhost "${v}" ...`,
    vhostMustExist: true,
    columns: fields('user', 'exchange', 'write', 'read'),
    defaults: ['user', 'exchange', 'write', 'read'],
    takesColumns: false,
  },
  list_user_topic_permissions: {
    path: '/api/users/{arg}/topic-permissions',
    banner: (_v, user) => `Listing topic permissions for user "${user}" ...`,
    argument: { notFound: (user) => `{:no_such_user, "${user}"}` },
    headerless: true,
    columns: fields('vhost', 'exchange', 'write', 'read'),
    defaults: ['vhost', 'exchange', 'write', 'read'],
    takesColumns: false,
  },
};
