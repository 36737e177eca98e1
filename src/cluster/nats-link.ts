// The node's connection to its NATS servers: core publish/subscribe for the hot paths, JetStream
// management and KV for the shared state. Reconnects forever: a node whose nats-server restarts
// carries on once it is back (or once the client has moved to another server of the list).
import { Buffer } from 'node:buffer';
import { connect, type JetStreamClient, type JetStreamManager, type NatsConnection } from 'nats';

export interface NatsLink {
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly jsm: JetStreamManager;
  /** The server_name of the NATS server this node is connected to (stream leaders are named so). */
  serverName(): string;
}

export async function openNatsLink(servers: string[], name: string): Promise<NatsLink> {
  const nc = await connect({
    servers,
    name: `warren:${name}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // Keep the first server in the list (the node's own) preferred: stream ownership follows it.
    noRandomize: true,
    pingInterval: 2_000,
    maxPingOut: 2,
  });
  // A server just (re)started may take a while to rejoin JetStream's meta group: keep asking.
  const jsm = await retrying(() => nc.jetstreamManager({ timeout: 5_000 }), 60_000);
  const js = nc.jetstream({ timeout: 5_000 });
  return { nc, js, jsm, serverName: () => nc.info?.server_name ?? '' };
}

/** Whether err is a JetStream answer worth retrying: no leader yet (503) or no answer in time. */
export function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '503' || code === 'TIMEOUT' || code === 'REQUEST_TIMEOUT' || code === 503;
}

/**
 * isTransient, or JetStream not seeing enough servers for a replicated bucket yet: a node started
 * while its NATS cluster is still forming (the servers' routes not all up) was told "no suitable
 * peers for placement" for its R3 buckets and exited (the differential's cluster start, now and then).
 */
export function isTransientAtStart(err: unknown): boolean {
  return isTransient(err) || /no suitable peers/i.test(String((err as Error | null)?.message ?? ''));
}

/** Opens a shared KV bucket at a node's start, waiting for up to a minute for JetStream to take it. */
export function openBucket<T>(op: () => Promise<T>): Promise<T> {
  return retrying(op, 60_000, isTransientAtStart);
}

/**
 * Runs op until it succeeds, retrying while JetStream has no leader for it (a stream just made,
 * or electing after a server died: nats-server 2.9 takes up to ~8 s), for at most timeoutMs.
 */
export async function retrying<T>(op: () => Promise<T>, timeoutMs = 20_000, transient: (err: unknown) => boolean = isTransient): Promise<T> {
  const until = Date.now() + timeoutMs;
  let wait = 50;
  for (;;) {
    try {
      return await op();
    } catch (err) {
      if (!transient(err) || Date.now() > until) throw err;
      await new Promise((r) => setTimeout(r, wait));
      wait = Math.min(wait * 2, 500);
    }
  }
}

/**
 * A JetStream API request as JSON, its error answer thrown (with its code); asked again while
 * JetStream has no leader for it (retrying), or once with once's timeout (its caller asks again).
 */
export function jsApi<T>(nc: NatsConnection, subject: string, body: unknown, once?: { timeoutMs: number }): Promise<T> {
  const ask = async (): Promise<T> => {
    const r = await nc.request(subject, Buffer.from(JSON.stringify(body ?? {})), { timeout: once?.timeoutMs ?? 5_000 });
    const reply = JSON.parse(Buffer.from(r.data).toString() || '{}') as T & { error?: { code: number; description: string } };
    if (reply.error) throw Object.assign(new Error(reply.error.description), { code: String(reply.error.code) });
    return reply;
  };
  return once ? ask() : retrying(ask);
}
