// The management HTTP API: basic auth with credentials kept in sessionStorage.

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
  const raw = sessionStorage.getItem(KEY);
  if (!raw) return null;
  try {
    const { user, header } = JSON.parse(raw) as { user: string; header: string };
    return { user, header };
  } catch {
    return null;
  }
}

const basic = (user: string, pass: string): string => 'Basic ' + btoa(String.fromCharCode(...new TextEncoder().encode(`${user}:${pass}`)));

/** Checks the credentials against the API and keeps them for this browser tab. */
export async function login(user: string, pass: string): Promise<void> {
  const header = basic(user, pass);
  await request('GET', '/api/whoami', undefined, header);
  sessionStorage.setItem(KEY, JSON.stringify({ user, header }));
}

export function logout(): void {
  sessionStorage.removeItem(KEY);
}

async function request<T>(method: string, path: string, body?: unknown, header = credentials()?.header): Promise<T> {
  const headers: Record<string, string> = {};
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
export const del = (path: string): Promise<unknown> => request('DELETE', path);

// ---- the shapes the UI reads

export interface Rate {
  rate: number;
}
export interface MessageStats {
  publish?: number;
  publish_details?: Rate;
  deliver_get?: number;
  deliver_get_details?: Rate;
  ack?: number;
  ack_details?: Rate;
  redeliver_details?: Rate;
}
export interface Overview {
  product_name: string;
  product_version: string;
  cluster_name: string;
  node: string;
  uptime: number;
  object_totals: { connections: number; channels: number; exchanges: number; queues: number; consumers: number };
  queue_totals: { messages: number; messages_ready: number; messages_unacknowledged: number };
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
  consumers: number;
  message_stats: MessageStats;
}
export interface ExchangeInfo {
  name: string;
  vhost: string;
  type: string;
  durable: boolean;
  auto_delete: boolean;
  internal: boolean;
  arguments: Record<string, unknown>;
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
