// A stream queue (x-queue-type: stream) as a node of a cluster sees it: the same on every node.
// Its log is the replicated JetStream stream (jet-stream-log.ts), which every node appends to and
// reads from, so nothing is forwarded to an owner: publishes, consumers and their acks stay on the
// node the client is connected to, as RabbitMQ serves a stream from the node's local replica.
import type { QueuePlacement, QueueSpec } from '../../server/queue.js';
import { Queue } from '../../server/queue.js';
import type { VHost } from '../../server/vhost.js';
import { JetStreamLog, type StreamLogHost } from './jet-stream-log.js';

/** Stats older than this are dropped (they come once a second). */
const STATS_FRESH_MS = 3_000;

/** Whether a declare makes a cluster stream: x-queue-type stream (only durable, shared ones validate). */
export function isStreamSpec(spec: QueueSpec): boolean {
  const t = spec.arguments.get('x-queue-type');
  return t !== undefined && t.type === 'S' && String(t.value) === 'stream' && spec.durable && spec.exclusiveOwner === null;
}

export class ClusterStreamQueue extends Queue {
  readonly log: JetStreamLog;

  constructor(
    vhost: VHost,
    spec: QueueSpec,
    private readonly host: StreamLogHost,
    /** Called once the queue is deleted (the node forgets it). */
    private readonly onDestroy: (q: ClusterStreamQueue) => void,
  ) {
    let made: JetStreamLog | null = null;
    super(vhost, spec, (q) => (made = new JetStreamLog(q, host)));
    // Queue's constructor made it (the type is stream: isStreamSpec).
    this.log = made!;
  }

  /** Served by every node; the management API names the node beside the stream's leader, and its members. */
  override get placement(): QueuePlacement {
    this.log.refreshSoon();
    const leader = this.log.leader ? this.host.nodeOf(this.log.leader) : undefined;
    const nodes = this.log.servers.map((s) => this.host.nodeOf(s) ?? { name: s, running: false });
    return {
      node: leader?.running ? leader.name : this.host.name,
      leader: this.log.leader,
      members: nodes.map((n) => n.name),
      online: nodes.filter((n) => n.running).map((n) => n.name),
    };
  }

  /** Other nodes' consumers of the stream and what they hold, as their stats last said (once a second). */
  private readonly elsewhere = new Map<string, { consumers: number; unacked: number; at: number }>();

  heardFrom(node: string, consumers: number, unacked: number): void {
    this.elsewhere.set(node, { consumers, unacked, at: Date.now() });
  }

  /** What the other nodes said within the last 3 s (a node whose consumers went says nothing more). */
  private fromElsewhere(pick: (e: { consumers: number; unacked: number }) => number): number {
    const now = Date.now();
    let n = 0;
    for (const [node, e] of this.elsewhere) {
      if (now - e.at > STATS_FRESH_MS) this.elsewhere.delete(node);
      else n += pick(e);
    }
    return n;
  }

  override get consumerCount(): number {
    return this.consumers.length + this.fromElsewhere((e) => e.consumers);
  }

  override get unackedTotal(): number {
    return this.unackedCount + this.fromElsewhere((e) => e.unacked);
  }

  /** Every message is a JetStream write: as large as a NATS message holds. */
  override get maxBody(): number {
    return this.host.maxBody;
  }

  /** A declare-ok counts the stream as JetStream has it now. */
  override freshCounts(): Promise<void> | undefined {
    return this.deleted ? undefined : this.log.refresh().catch(() => undefined);
  }

  override destroy(): { count: number; stored: boolean } {
    const r = super.destroy();
    this.onDestroy(this);
    return r;
  }
}
