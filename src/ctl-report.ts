// `warren ctl report`: rabbitmqctl 3.10.8's report, the output of other commands one after another,
// each followed by a blank line, with every column its lists show (taken from 3.10.8 on a node
// with a connection, a channel, a consumer and two vhosts).
//
// Left out, having no counterpart: the "Command line arguments" section (an Erlang VM's init
// arguments) and "RabbitMQ-specific environment variables" (the broker's own environment is not in
// the management API; its settings are, and `environment` prints them where 3.10.8 prints the
// Erlang application environment).

/** The columns 3.10.8's report lists, in its order. */
export const REPORT_COLUMNS = {
  list_connections: [
    'pid', 'name', 'port', 'host', 'peer_port', 'peer_host', 'ssl', 'ssl_protocol', 'ssl_key_exchange', 'ssl_cipher',
    'ssl_hash', 'peer_cert_subject', 'peer_cert_issuer', 'peer_cert_validity', 'state', 'channels', 'protocol',
    'auth_mechanism', 'user', 'vhost', 'timeout', 'frame_max', 'channel_max', 'client_properties', 'recv_oct',
    'recv_cnt', 'send_oct', 'send_cnt', 'send_pend', 'connected_at',
  ],
  list_channels: [
    'pid', 'connection', 'name', 'number', 'user', 'vhost', 'transactional', 'confirm', 'consumer_count',
    'messages_unacknowledged', 'messages_uncommitted', 'acks_uncommitted', 'messages_unconfirmed', 'prefetch_count',
    'global_prefetch_count',
  ],
  list_queues: [
    'name', 'durable', 'auto_delete', 'arguments', 'policy', 'pid', 'owner_pid', 'exclusive', 'exclusive_consumer_pid',
    'exclusive_consumer_tag', 'messages_ready', 'messages_unacknowledged', 'messages', 'messages_ready_ram',
    'messages_unacknowledged_ram', 'messages_ram', 'messages_persistent', 'message_bytes', 'message_bytes_ready',
    'message_bytes_unacknowledged', 'message_bytes_ram', 'message_bytes_persistent', 'head_message_timestamp',
    'disk_reads', 'disk_writes', 'consumers', 'consumer_utilisation', 'consumer_capacity', 'memory', 'slave_pids',
    'synchronised_slave_pids', 'state', 'type', 'leader', 'members', 'online',
  ],
  list_exchanges: ['name', 'type', 'durable', 'auto_delete', 'internal', 'arguments', 'policy'],
  list_bindings: ['source_name', 'source_kind', 'destination_name', 'destination_kind', 'routing_key', 'arguments'],
} as const;

/** One command of the report: its name and positional arguments (columns). */
type Step = [action: string, args: readonly string[]];

const NODE_STEPS: Step[] = [
  ['status', []],
  ['cluster_status', []],
  ['environment', []],
  ['list_connections', REPORT_COLUMNS.list_connections],
  ['list_channels', REPORT_COLUMNS.list_channels],
];

/** Each vhost's part, in 3.10.8's order (the global parameters come again with every vhost). */
const VHOST_STEPS: Step[] = [
  ['list_queues', REPORT_COLUMNS.list_queues],
  ['list_exchanges', REPORT_COLUMNS.list_exchanges],
  ['list_bindings', REPORT_COLUMNS.list_bindings],
  ['list_permissions', []],
  ['list_policies', []],
  ['list_global_parameters', []],
  ['list_parameters', []],
];

export interface ReportIo {
  node: () => Promise<string>;
  vhosts: () => Promise<string[]>;
  /** Runs a ctl command as `warren ctl` would, in that vhost; its exit code. */
  run: (action: string, args: readonly string[], vhost?: string) => Promise<number>;
  /** An informational line (not with -q or a machine-readable formatter). */
  say: (line: string) => void;
}

/** Runs the report's commands in order; stops at the first that fails, with its exit code. */
export async function runReport(io: ReportIo): Promise<number> {
  io.say(`Reporting server status of node ${await io.node()} ...`);
  io.say('');
  const steps: Array<[Step, string | undefined]> = NODE_STEPS.map((s) => [s, undefined]);
  for (const vhost of await io.vhosts()) for (const s of VHOST_STEPS) steps.push([s, vhost]);
  for (const [[action, args], vhost] of steps) {
    const code = await io.run(action, args, vhost);
    if (code !== 0) return code;
    io.say('');
  }
  return 0;
}
