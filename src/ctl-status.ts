// `warren ctl status`: rabbitmqctl 3.10.8's status report, its sections, line names and units, from
// the management API (the overview, the node with its memory breakdown, the vhosts). Lines about
// Erlang itself (processes, schedulers, net_ticktime, crypto library) have no counterpart and are
// left out; the runtime's version is said as "Node.js version".
import process from 'node:process';
import { erlangFloat } from './server/erlang-print.js';

type Row = Record<string, unknown>;

/** The units rabbitmqctl status --unit takes (it names three in its error, and takes kb and tb too). */
export const STATUS_UNITS = ['bytes', 'kb', 'mb', 'gb', 'tb'] as const;
export type StatusUnit = (typeof STATUS_UNITS)[number];
const POWER: Record<StatusUnit, number> = { bytes: 0, kb: 3, mb: 6, gb: 9, tb: 12 };

/** rabbitmqctl's words for a unit it does not take (an argument validation error). */
export const unitRefusal = (u: string): string => `unit '${u}' is not supported. Please use one of: bytes, mb, gb`;

/** Bytes in the unit, as rabbitmqctl prints them: decimal multiples rounded to 4 places, Erlang's float form. */
export function inUnit(bytes: number, unit: StatusUnit): string {
  if (unit === 'bytes') return `${Math.round(bytes)} bytes`;
  return `${erlangFloat(Math.round((bytes / 10 ** POWER[unit]) * 1e4) / 1e4)} ${unit}`;
}

const percent = (part: number, whole: number): string => erlangFloat(whole > 0 ? Math.round((part / whole) * 1e4) / 100 : 0);
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));
/** Section titles are bold, escape codes and all, even into a pipe (as 3.10.8's are). */
const title = (s: string): string => `\x1b[1m${s}\x1b[0m`;

export interface StatusInput {
  overview: Row;
  node: Row;
  vhostCount: number;
}

/** The node API's memory breakdown by Node's own measures, which partition the process's RSS. */
const RSS_PARTS = ['heap_used', 'heap_unused', 'binary', 'external_other', 'other_rss'] as const;

/** A listener as rabbitmqctl names its protocol's purpose. */
const PURPOSE: Record<string, string> = {
  amqp: 'AMQP 0-9-1 and AMQP 1.0',
  'amqp/ssl': 'AMQP 0-9-1 and AMQP 1.0 over TLS',
  http: 'HTTP API',
  https: 'HTTP API over TLS (HTTPS)',
  prometheus: 'Prometheus exporter API over HTTP',
  clustering: 'inter-node and CLI tool communication',
};

function alarmLines(node: Row, name: string): string[] {
  const out: string[] = [];
  if (node.mem_alarm === true) out.push(`Memory alarm on node ${name}`);
  if (node.disk_free_alarm === true) out.push(`Free disk space alarm on node ${name}`);
  return out;
}

function watermarkLine(node: Row, unit: StatusUnit): string {
  const w = node.vm_memory_high_watermark as { relative?: number; absolute?: number } | undefined;
  const limit = inUnit(num(node.mem_limit), unit);
  if (w?.absolute !== undefined) return `Memory high watermark setting: ${inUnit(w.absolute, unit)}, computed to: ${limit}`;
  return `Memory high watermark setting: ${erlangFloat(w?.relative ?? 0.4)} of available memory, computed to: ${limit}`;
}

/** The report's lines (the banner "Status of node … ..." is the caller's, left out under -q). */
export function statusLines(s: StatusInput, unit: StatusUnit): string[] {
  const { overview: ov, node } = s;
  const name = String(ov.node);
  const mem = (node.memory ?? {}) as Row;
  const rss = num((mem.total as Row | undefined)?.rss);
  // The parts that add up to the RSS (the API's code, other_proc and other_system, RabbitMQ's
  // names for the UI, cover the same bytes again).
  const parts = RSS_PARTS.map((k) => [k, num(mem[k])] as const).sort((a, b) => b[1] - a[1]);
  const totals = (ov.object_totals ?? {}) as Row;
  const listeners = (ov.listeners ?? []) as Row[];
  return [
    title('Runtime'),
    '',
    `OS PID: ${String(node.os_pid)}`,
    `OS: ${process.platform === 'linux' ? 'Linux' : process.platform}`,
    `Uptime (seconds): ${Math.floor(num(node.uptime) / 1000)}`,
    `Is under maintenance?: ${String(node.being_drained === true)}`,
    `RabbitMQ version: ${String(ov.rabbitmq_version)}`,
    `Node name: ${name}`,
    `Node.js version: ${String(node.node_version ?? '')}`,
    '',
    title('Plugins'),
    '',
    'Enabled plugins:',
    '',
    ...((node.enabled_plugins ?? ['rabbitmq_management']) as string[]).map((p) => ` * ${p}`),
    '',
    title('Data directory'),
    '',
    `Node data directory: ${String(node.db_dir ?? '')}`,
    '',
    title('Config files'),
    '',
    '', // no config file: 3.10.8 leaves the list empty, a blank line
    title('Log file(s)'),
    '',
    ...((node.log_files ?? []) as string[]).map((f) => ` * ${f}`),
    '',
    title('Alarms'),
    '',
    ...(alarmLines(node, name).length > 0 ? alarmLines(node, name) : ['(none)']),
    '',
    title('Memory'),
    '',
    `Total memory used: ${inUnit(num(node.mem_used), unit)}`,
    'Calculation strategy: heap_and_buffers',
    watermarkLine(node, unit),
    '',
    ...parts.map(([k, v]) => `${k}: ${inUnit(v, unit)} (${percent(v, rss)} %)`),
    '',
    title('File Descriptors'),
    '',
    `Total: ${String(node.fd_used ?? 0)}, limit: ${String(node.fd_total ?? 0)}`,
    `Sockets: ${String(node.sockets_used ?? 0)}, limit: ${String(node.sockets_total ?? 0)}`,
    '',
    title('Free Disk Space'),
    '',
    `Low free disk space watermark: ${inUnit(num(node.disk_free_limit), unit)}`,
    `Free disk space: ${inUnit(num(node.disk_free), unit)}`,
    '',
    title('Totals'),
    '',
    `Connection count: ${String(totals.connections ?? 0)}`,
    `Queue count: ${String(totals.queues ?? 0)}`,
    `Virtual host count: ${s.vhostCount}`,
    '',
    title('Listeners'),
    '',
    ...listeners.map((l) => {
      const p = String(l.protocol);
      return `Interface: ${String(l.ip_address)}, port: ${String(l.port)}, protocol: ${p}, purpose: ${PURPOSE[p] ?? p}`;
    }),
  ];
}

/** --formatter json: rabbitmqctl's keys, those Warren has a value for. */
export function statusJson(s: StatusInput): Row {
  const { overview: ov, node } = s;
  const name = String(ov.node);
  const mem = (node.memory ?? {}) as Row;
  const totals = (ov.object_totals ?? {}) as Row;
  const alarms = [
    ...(node.mem_alarm === true ? [{ node: name, resource: 'memory', type: 'resource_limit' }] : []),
    ...(node.disk_free_alarm === true ? [{ node: name, resource: 'disk', type: 'resource_limit' }] : []),
  ];
  return {
    active_plugins: node.enabled_plugins ?? ['rabbitmq_management'],
    alarms,
    config_files: [],
    data_directory: node.db_dir ?? null,
    disk_free: num(node.disk_free),
    disk_free_limit: num(node.disk_free_limit),
    file_descriptors: {
      sockets_limit: node.sockets_total ?? null,
      sockets_used: node.sockets_used ?? 0,
      total_limit: node.fd_total ?? null,
      total_used: node.fd_used ?? null,
    },
    is_under_maintenance: node.being_drained === true,
    listeners: ((ov.listeners ?? []) as Row[]).map((l) => ({
      interface: l.ip_address,
      node: l.node,
      port: l.port,
      protocol: l.protocol,
      purpose: PURPOSE[String(l.protocol)] ?? l.protocol,
    })),
    log_files: node.log_files ?? [],
    memory: { ...mem, strategy: 'heap_and_buffers' },
    node: name,
    os: process.platform === 'linux' ? 'Linux' : process.platform,
    pid: Number(node.os_pid),
    product_name: ov.product_name,
    product_version: ov.product_version,
    rabbitmq_version: ov.rabbitmq_version,
    totals: { virtual_host_count: s.vhostCount, connection_count: totals.connections ?? 0, queue_count: totals.queues ?? 0 },
    uptime: Math.floor(num(node.uptime) / 1000),
    vm_memory_calculation_strategy: 'heap_and_buffers',
    vm_memory_high_watermark_limit: num(node.mem_limit),
    vm_memory_high_watermark_setting: node.vm_memory_high_watermark ?? null,
    // Warren's own, kept from its earlier status: the overview's totals.
    object_totals: ov.object_totals,
    queue_totals: ov.queue_totals,
  };
}
