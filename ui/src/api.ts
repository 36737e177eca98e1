// The management HTTP API: basic auth with credentials kept in localStorage, so a login holds
// across tabs (and logging out in one tab logs out the others: see main.ts's storage listener).

const KEY = 'warren.auth';

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export function credentials(): { user: string; header: string } | null {
  const raw = localStorage.getItem(KEY);
  if (!raw) return null;
  try {
    const { user, header } = JSON.parse(raw) as { user: string; header: string };
    return { user, header };
  } catch {
    return null;
  }
}

const basic = (user: string, pass: string): string => 'Basic ' + btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${pass}`)));

/** Checks the credentials against the API and keeps them for this browser (every tab). */
export async function login(user: string, pass: string): Promise<void> {
  const header = basic(user, pass);
  me = await request<Me>('GET', '/api/whoami', undefined, header);
  localStorage.setItem(KEY, JSON.stringify({ user, header }));
}

export function logout(): void {
  localStorage.removeItem(KEY);
  me = null;
}

// ---- who is logged in: the tags decide which actions the pages offer (the API checks anyway)

export interface Me {
  name: string;
  tags: string[];
}
let me: Me | null = null;

export type PermissionKind = 'configure' | 'write' | 'read';
/** The user's vhost permissions, compiled ('' grants nothing, as in RabbitMQ). */
let perms = new Map<string, Record<PermissionKind, RegExp | null>>();
const compile = (re: string): RegExp | null => {
  if (re === '') return null;
  try {
    return new RegExp(re);
  } catch {
    return null;
  }
};

/** Who is logged in, and (read again at every navigation) the vhost permissions they have. */
export async function whoami(): Promise<Me> {
  if (!me || me.name !== credentials()?.user) me = await get<Me>('/api/whoami');
  const mine = await get<{ vhost: string; configure: string; write: string; read: string }[]>('/api/whoami/permissions');
  perms = new Map(mine.map((p) => [p.vhost, { configure: compile(p.configure), write: compile(p.write), read: compile(p.read) }]));
  return me;
}

/**
 * Whether the user's permissions in the vhost allow `kind` on the named queue or exchange, as the
 * API checks them for AMQP-level actions (administrators too need permissions in the vhost).
 */
export const permits = (vhost: string, kind: PermissionKind, resource: string): boolean => perms.get(vhost)?.[kind]?.test(resource) ?? false;
/** The vhosts in which `kind` is granted on some names (the forms that name a new object offer these). */
export const vhostsAllowing = (kind: PermissionKind): string[] => [...perms.entries()].filter(([, p]) => p[kind] !== null).map(([v]) => v);
/** The logged-in user's name. */
export const myName = (): string => me?.name ?? '';

const tagged = (...tags: string[]): boolean => !!me && me.tags.some((t) => tags.includes(t));
/** Users, vhosts, permissions, definitions: administrators only (the API answers others 401). */
export const canAdmin = (): boolean => tagged('administrator');
/** Policies: administrators in any vhost, policymakers in the vhosts they have permissions in. */
export const canPolicy = (vhost?: string): boolean => tagged('administrator') || (tagged('policymaker') && (vhost === undefined ? perms.size > 0 : perms.has(vhost)));
/** Closing a connection: administrators any, everyone else their own. */
export const canClose = (user: string): boolean => tagged('administrator') || user === me?.name;

async function request<T>(method: string, path: string, body?: unknown, header = credentials()?.header, extra: Record<string, string> = {}): Promise<T> {
  const headers: Record<string, string> = { ...extra };
  if (header) headers.authorization = header;
  if (body !== undefined) headers['content-type'] = 'application/json';
  // credentials 'omit': the Authorization header is ours; the browser must not answer the API's
  // WWW-Authenticate challenge with its own login dialog (or cached HTTP auth).
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store', credentials: 'omit' });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON */
  }
  if (!res.ok) {
    const reason = (json as { reason?: string } | undefined)?.reason ?? (text || res.statusText);
    throw new ApiError(res.status, res.status === 401 ? 'Login failed' : `${res.status}: ${reason}`);
  }
  return json as T;
}

export const enc = encodeURIComponent;
export const get = <T>(path: string): Promise<T> => request<T>('GET', path);
export const put = (path: string, body: unknown): Promise<unknown> => request('PUT', path, body);
export const post = <T>(path: string, body: unknown): Promise<T> => request<T>('POST', path, body);
export const del = (path: string, headers: Record<string, string> = {}): Promise<unknown> => request('DELETE', path, undefined, undefined, headers);

// ---- the shapes the UI reads

export interface Rate {
  rate: number;
  /** With ?msg_rates_age / ?lengths_age: the broker-kept history, newest first. */
  samples?: { sample: number; timestamp: number }[];
}
/** A queue's or channel's counters: RabbitMQ 3.10.8 shows each group only once it was used. */
export interface MessageStats {
  publish?: number;
  publish_details?: Rate;
  deliver_get?: number;
  deliver_get_details?: Rate;
  ack?: number;
  ack_details?: Rate;
  redeliver?: number;
  redeliver_details?: Rate;
  confirm?: number;
  confirm_details?: Rate;
  drop_unroutable?: number;
  return_unroutable?: number;
  get_empty?: number;
}
export interface Overview {
  product_name: string;
  product_version: string;
  cluster_name: string;
  node: string;
  uptime: number;
  object_totals: { connections: number; channels: number; exchanges: number; queues: number; consumers: number };
  queue_totals: {
    messages: number;
    messages_ready: number;
    messages_unacknowledged: number;
    messages_details?: Rate;
    messages_ready_details?: Rate;
    messages_unacknowledged_details?: Rate;
  };
  message_stats: MessageStats;
  listeners: { protocol: string; ip_address: string; port: number }[];
}
export interface QueueInfo {
  name: string;
  vhost: string;
  durable: boolean;
  auto_delete: boolean;
  exclusive: boolean;
  arguments: Record<string, unknown>;
  type: string;
  policy: string | null;
  operator_policy: string | null;
  effective_policy_definition: Record<string, unknown>;
  state: string;
  messages: number;
  messages_ready: number;
  messages_unacknowledged: number;
  message_bytes_ready: number;
  messages_details?: Rate;
  messages_ready_details?: Rate;
  messages_unacknowledged_details?: Rate;
  message_bytes?: number;
  messages_persistent?: number;
  message_bytes_persistent?: number;
  consumers: number;
  message_stats?: MessageStats;
  /** One queue's answer: its consumers. */
  consumer_details?: ConsumerInfo[];
}
export interface ExchangeInfo {
  name: string;
  vhost: string;
  type: string;
  durable: boolean;
  auto_delete: boolean;
  internal: boolean;
  arguments: Record<string, unknown>;
  policy?: string;
  message_stats?: { publish_in: number; publish_in_details?: Rate; publish_out: number; publish_out_details?: Rate };
}
export interface PolicyInfo {
  vhost: string;
  name: string;
  pattern: string;
  'apply-to': string;
  definition: Record<string, unknown>;
  priority: number;
}
export interface BindingInfo {
  source: string;
  vhost: string;
  destination: string;
  destination_type: string;
  routing_key: string;
  arguments: Record<string, unknown>;
  properties_key: string;
}
export interface ConsumerInfo {
  consumer_tag: string;
  queue: { name: string; vhost: string };
  channel_details: { name: string; number: number; connection_name: string; user: string };
  ack_required: boolean;
  exclusive: boolean;
  prefetch_count: number;
  arguments: Record<string, unknown>;
  active: boolean;
}
export interface ConnectionInfo {
  name: string;
  user: string;
  vhost: string | null;
  state: string;
  channels: number;
  protocol: string;
  peer_host: string | null;
  peer_port: number | null;
  timeout: number;
  client_properties: Record<string, unknown>;
  connected_at: number;
  host?: string | null;
  port?: number | null;
  frame_max?: number;
  channel_max?: number;
  recv_oct?: number;
  recv_oct_details?: Rate;
  send_oct?: number;
  send_oct_details?: Rate;
}
export interface ChannelInfo {
  name: string;
  number: number;
  user: string;
  vhost: string | null;
  consumer_count: number;
  messages_unacknowledged: number;
  prefetch_count: number;
  confirm: boolean;
  transactional: boolean;
  global_prefetch_count?: number;
  messages_unconfirmed?: number;
  message_stats?: MessageStats;
  /** One channel's answer: its consumers. */
  consumer_details?: ConsumerInfo[];
  connection_details: { name: string; peer_host: string | null; peer_port: number | null };
}
export interface UserInfo {
  name: string;
  tags: string[];
}
export interface VhostInfo {
  name: string;
  description: string;
  /** A queue type, or "undefined" when none is set (RabbitMQ 3.12's shape). */
  default_queue_type?: string;
  /** Whether the firehose tracer is on (amq.rabbitmq.trace gets a copy of every publish and delivery). */
  tracing?: boolean;
  messages: number;
  messages_ready: number;
  messages_unacknowledged: number;
}
export interface PermissionInfo {
  user: string;
  vhost: string;
  configure: string;
  write: string;
  read: string;
}
/** A topic permission: on a topic exchange, the routing keys the user may publish (write) and bind (read) with. */
export interface TopicPermissionInfo {
  user: string;
  vhost: string;
  exchange: string;
  write: string;
  read: string;
}
export interface GotMessage {
  payload_bytes: number;
  redelivered: boolean;
  exchange: string;
  routing_key: string;
  message_count: number;
  properties: Record<string, unknown>;
  payload: string;
  payload_encoding: string;
}
export interface NodeInfo {
  name: string;
  running: boolean;
  uptime: number;
  listeners: { protocol: string; ip_address: string; port: number }[];
  mem_used?: number;
  mem_limit?: number;
  mem_alarm?: boolean;
  mem_total?: number;
  disk_free?: number | null;
  disk_free_limit?: number;
  disk_free_alarm?: boolean;
  fd_used?: number | null;
  fd_total?: number | null;
  sockets_used?: number;
  processors?: number;
  os_pid?: string;
  alarms?: string[];
  memory?: Record<string, number | Record<string, number>>;
  mem_used_details?: Rate;
}

/** A runtime parameter (GET /api/parameters/shovel). */
export interface ParameterInfo {
  value: { [k: string]: unknown };
  vhost: string;
  component: string;
  name: string;
}

/** A dynamic shovel's status (GET /api/shovels). */
export interface ShovelInfo {
  node: string;
  timestamp: string;
  name: string;
  vhost: string;
  type: string;
  state: string;
  src_uri?: string;
  dest_uri?: string;
  src_queue?: string;
  src_exchange?: string;
  src_exchange_key?: string;
  dest_queue?: string;
  dest_exchange?: string;
  dest_exchange_key?: string;
}
