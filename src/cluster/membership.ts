// Who is in the cluster: each node writes a heartbeat record to a KV bucket every second and
// watches everyone's; a node not heard from for DOWN_AFTER_MS is down. Liveness is judged by when
// a beat arrived here, not by the writer's clock. (KV in nats-server 2.9 sends no event when a key
// expires, so the bucket's TTL only tidies up; the judgement is this timer's.)
import type { KV } from 'nats';
import type { Logger } from 'pino';
import { openBucket, retrying, type NatsLink } from './nats-link.js';
import { decodeRecord, encodeRecord } from './record-codec.js';

export const NODES_BUCKET = 'warren_nodes';
const BEAT_MS = 1_000;
export const DOWN_AFTER_MS = 3_500;

export interface NodeRecord {
  name: string;
  /** server_name of the NATS server beside it. */
  server: string;
  amqpPort: number;
  managementPort: number;
  host: string;
  startedAt: number;
  /** Set on a planned shutdown: down at once, not after the timeout. */
  stopping?: boolean;
}

export interface NodeState extends NodeRecord {
  running: boolean;
  lastSeen: number;
}

export class Membership {
  private kv: KV | null = null;
  private readonly nodes = new Map<string, { rec: NodeRecord; lastSeen: number; running: boolean }>();
  private beat: NodeJS.Timeout | null = null;
  private stopped = false;
  private lastOwnBeat = 0;
  /** When this node's own beats last came through again after failing (or first did). */
  private resumedAt = 0;
  private check: NodeJS.Timeout | null = null;
  /** Called when a node is judged down (timeout, planned stop) or comes (back) up. */
  onChange: ((name: string, running: boolean) => void) | null = null;

  constructor(
    private readonly link: NatsLink,
    private readonly self: () => NodeRecord,
    private readonly log: Logger,
    private readonly replicas: number,
  ) {}

  async start(): Promise<void> {
    const kv = await openBucket(() => this.link.js.views.kv(NODES_BUCKET, { history: 1, replicas: this.replicas, ttl: 60_000 }));
    this.kv = kv;
    const watch = await retrying(() => kv.watch());
    void (async () => {
      for await (const e of watch) {
        if (e.operation !== 'PUT') continue;
        this.seen(decodeRecord<NodeRecord>(e.value));
      }
    })().catch((err: unknown) => this.log.error({ err }, 'membership watch ended'));
    await retrying(() => this.put());
    this.beat = setInterval(() => void this.put().catch((err: unknown) => this.log.warn({ err: String(err) }, 'heartbeat failed')), BEAT_MS);
    this.beat.unref();
    this.check = setInterval(() => this.sweep(), 250);
    this.check.unref();
  }

  private async put(extra: Partial<NodeRecord> = {}): Promise<void> {
    const rec = { ...this.self(), ...extra };
    await this.kv!.put(`node.${Buffer.from(rec.name).toString('base64url')}`, encodeRecord(rec));
    const now = Date.now();
    if (now - this.lastOwnBeat > DOWN_AFTER_MS - BEAT_MS) this.resumedAt = now;
    this.lastOwnBeat = now;
  }

  private seen(rec: NodeRecord): void {
    const was = this.nodes.get(rec.name);
    const running = !rec.stopping;
    if (was?.running && was.rec.startedAt !== rec.startedAt && rec.name !== this.self().name) {
      // Restarted before it was judged down (kill -9, back within DOWN_AFTER_MS): its earlier
      // incarnation is gone all the same, with what others sent it (subscriptions, publishes,
      // deliveries it held). Down, then up.
      was.running = false;
      this.log.warn({ node: rec.name }, 'cluster node restarted');
      this.onChange?.(rec.name, false);
    }
    this.nodes.set(rec.name, { rec, lastSeen: Date.now(), running });
    if (!was || was.running !== running) this.onChange?.(rec.name, running);
  }

  private sweep(): void {
    const now = Date.now();
    // While this node cannot write its own beat (the bucket is electing a leader, or this node is
    // cut off), silence says nothing about the others: judge nobody.
    if (now - this.lastOwnBeat > DOWN_AFTER_MS - BEAT_MS) return;
    // Nor while this node's watch lags behind (its own beats are written but not seen back: the
    // bucket's consumer is recovering): the others' beats are as late as its own.
    const own = this.nodes.get(this.self().name);
    if (own && now - own.lastSeen > DOWN_AFTER_MS - BEAT_MS) return;
    for (const [name, n] of this.nodes) {
      // Nor does it for a while after: the others' beats failed too (the bucket was electing) and
      // come through again a beat later. Judged down then, a live node would lose its consumers.
      if (n.running && now - Math.max(n.lastSeen, this.resumedAt) > DOWN_AFTER_MS) {
        n.running = false;
        this.log.warn({ node: name }, 'cluster node down');
        this.onChange?.(name, false);
      }
    }
  }

  list(): NodeState[] {
    return [...this.nodes.values()].map((n) => ({ ...n.rec, running: n.running, lastSeen: n.lastSeen })).sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): NodeState | undefined {
    const n = this.nodes.get(name);
    return n ? { ...n.rec, running: n.running, lastSeen: n.lastSeen } : undefined;
  }

  /** The running node beside NATS server `server`, if any. */
  nodeBeside(server: string): string | undefined {
    for (const [name, n] of this.nodes) if (n.running && n.rec.server === server) return name;
    return undefined;
  }

  /** The node, running or not, that was last seen beside NATS server `server`. */
  nodeOf(server: string): { name: string; running: boolean } | undefined {
    let found: { name: string; running: boolean } | undefined;
    for (const [name, n] of this.nodes) if (n.rec.server === server && (!found || n.running)) found = { name, running: n.running };
    return found;
  }

  /** The running node that comes first by name: the one that acts for all where one must. */
  firstRunning(): string | undefined {
    return this.list().find((n) => n.running)?.name;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.beat) clearInterval(this.beat);
    if (this.check) clearInterval(this.check);
    await this.put({ stopping: true }).catch(() => undefined);
  }
}
