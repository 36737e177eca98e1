// One Warren node of a cluster: its NATS link, the shared topology (ClusterStore), who is up
// (Membership), which node owns each queue (beside its stream's leader; takeover, hand-over), and
// the owners' counts. The traffic between nodes about queues is QueueTraffic's (queue-traffic.ts).
import { Buffer } from 'node:buffer';
import type { Msg, Subscription } from 'nats';
import type { Logger } from 'pino';
import type { Broker } from '../server/broker.js';
import { Message, type Entry } from '../server/message.js';
import type { QueueSpec } from '../server/queue.js';
import { REPLY_TO_PREFIX, type RemoteReplies, type ReplyReceiver } from '../server/direct-reply-to.js';
import type { VHost, QueueFactory } from '../server/vhost.js';
import type { Store, StoredQueue } from '../store/store.js';
import { queueKey } from '../store/store.js';
import { ClusterQueue } from './cluster-queue.js';
import { ClusterStreamQueue, isStreamSpec } from './streams/stream-queue.js';
import type { StreamLogHost } from './streams/jet-stream-log.js';
import { QueueTraffic } from './queue-traffic.js';
import { DeliveredMarks } from './delivered-marks.js';
import { Membership, type NodeRecord, type NodeState } from './membership.js';
import { isTransient, type NatsLink } from './nats-link.js';
import { PubAckInbox, QueueStream, streamNameOf } from './queue-stream.js';
import { applyTopologyEvent } from './topology-apply.js';
import { ClusterStore, type TopologyEvent } from './topology-store.js';
import { decodeWire, encodeWire, inboxOf, STATS_SUBJECT } from './wire.js';

/** A queue record in the shared topology: where the queue lives, and whether it is transient. */
export interface ClusterQueueRecord extends StoredQueue {
  home?: string;
  /** A non-durable or exclusive queue: in its home node's memory, gone with that node. */
  transient?: boolean;
  exclusive?: boolean;
}

/** Publishes forwarded to an owner and unanswered this long go again (NATS core may drop one). */
const PUB_STALL_MS = 10_000;
/** How long a declare waits for another node to say it has applied it (a dead node never will). */
const TOPOLOGY_SEEN_MS = 3_000;

export class ClusterNode {
  readonly store: ClusterStore;
  readonly membership: Membership;
  broker: Broker | null = null;
  /** Where each queue lives, as the topology says, by queueKey. */
  private readonly homes = new Map<string, string>();
  private readonly queues = new Map<string, ClusterQueue>();
  /** Queue traffic with the other nodes: publishes, consumers, gets, settlements (queue-traffic.ts). */
  readonly traffic: QueueTraffic;
  /** Which messages of the quorum queues this node owns are out to consumers (delivered-marks.ts). */
  readonly marks: DeliveredMarks;
  private inbox: Subscription | null = null;
  private statsSub: Subscription | null = null;
  private statsTimer: NodeJS.Timeout | null = null;
  readonly startedAt = Date.now();
  private readonly acks: PubAckInbox;
  /**
   * Stream writes not yet acknowledged, of every queue, owned or not any more: a confirm (or an
   * answer to another node's publish) waits for all of them, and is a nack if one of them failed
   * (the queue changed hands under it).
   */
  private readonly puts = new Set<Promise<void>>();
  /** Replicated queues by their stream's name (leader advisories name streams). */
  private readonly byStream = new Map<string, ClusterQueue>();
  /** Home resolutions in progress, by queue. */
  private readonly resolving = new Map<ClusterQueue, Promise<void>>();
  private advisories: Subscription | null = null;
  private sweepTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly name: string,
    readonly link: NatsLink,
    local: Store,
    readonly log: Logger,
    /** Replicas of the shared KV buckets and the most a queue's stream gets: 3, or fewer in a smaller cluster. */
    readonly maxReplicas: number,
    private readonly self: () => Omit<NodeRecord, 'name' | 'server' | 'startedAt'>,
  ) {
    this.store = new ClusterStore(link, local, log, maxReplicas, this);
    this.membership = new Membership(link, () => ({ ...this.self(), name, server: link.serverName(), startedAt: this.startedAt }), log, maxReplicas);
    this.acks = new PubAckInbox(link.nc, name);
    this.traffic = new QueueTraffic(this);
    this.marks = new DeliveredMarks(link, maxReplicas, log);
  }

  /** The largest body that can travel between nodes (set at join: NATS's max_payload less a margin). */
  maxBody = Infinity;

  /** Stream queues: served by every node from their JetStream stream, no owner (streams/). */
  private readonly streams = new Map<string, ClusterStreamQueue>();

  private streamHost(): StreamLogHost {
    return {
      name: this.name,
      startedAt: this.startedAt,
      nc: this.link.nc,
      js: this.link.js,
      inbox: this.acks,
      puts: this.puts,
      log: this.log,
      maxReplicas: this.maxReplicas,
      maxBody: this.maxBody,
      nodeOf: (server) => this.membership.nodeOf(server),
    };
  }

  readonly queueFactory: QueueFactory = (vhost: VHost, spec: QueueSpec) => {
    const key = queueKey(vhost.name, spec.name);
    if (isStreamSpec(spec)) {
      const s = new ClusterStreamQueue(vhost, spec, this.streamHost(), (gone) => this.streams.get(key) === gone && this.streams.delete(key));
      this.streams.set(key, s);
      return s;
    }
    const replicated = spec.durable && spec.exclusiveOwner === null;
    // A replicated queue lives beside its stream's leader: unknown ('') until that is found out.
    const home = replicated ? '' : (this.homes.get(key) ?? this.name);
    const q = new ClusterQueue(vhost, spec, this, home);
    this.queues.set(key, q);
    if (replicated) {
      this.byStream.set(streamNameOf(vhost.name, spec.name), q);
      // Declared here (no record yet): ClusterStore.putQueue makes the stream. Otherwise find its leader.
      if (this.homes.has(key) && this.broker) this.resolveHome(q);
    } else if (home === this.name) this.store.announceTransient(q);
    return q;
  };

  /** Makes a new queue's stream and finds who owns it (awaited by the declare's flush). */
  async createStream(v: string, name: string): Promise<void> {
    const stream = this.streams.get(queueKey(v, name));
    if (stream) return stream.log.create();
    const q = this.queues.get(queueKey(v, name));
    if (!q || !q.replicated) return;
    const s = new QueueStream(this.name, this.link.nc, this.acks, this.puts, v, name, this.log);
    const tag = q.replicas === 1 ? `warren-node:${this.link.serverName()}` : undefined;
    try {
      await s.create(q.replicas, tag);
    } catch (err) {
      // Servers without warren-node tags: a classic queue's stream goes where NATS puts it.
      if (!tag || !/placement|no suitable peers|tags/i.test(String((err as Error).message))) throw err;
      await s.create(q.replicas);
    }
    await this.resolveHome(q);
  }

  /**
   * Deletes a queue's stream (the node that deleted the queue does it); the delete-ok waits for
   * it: a declare of the same name right after made a stream that this delete then removed.
   */
  destroyStream(v: string, name: string): Promise<void> {
    const s = new QueueStream(this.name, this.link.nc, this.acks, this.puts, v, name, this.log);
    this.marks.remove(s.name);
    return s.destroy();
  }

  /** The stream of a queue this node owns, if it is replicated. */
  streamFor(v: string, name: string): QueueStream | null {
    const q = this.queues.get(queueKey(v, name));
    return q && q.owned ? q.js : null;
  }

  /**
   * Waits for every stream write so far, those held for queues being taken over included (one
   * holdWrites for each, settled once they are written); rejects if one of them failed. The
   * writes are taken as they are now: a queue that moves meanwhile hands its unwritten messages
   * to the new owner and takes their writes out of puts (they settle by its answer). (It waited
   * for every takeover under way first, then took them: the wait missed those, and confirms went
   * out for messages nobody had written, 33 lost in a rebalance; and one slow takeover held every
   * confirm of the node, for every queue.)
   */
  ownedFlushed(): Promise<void> {
    return this.puts.size > 0 ? Promise.all([...this.puts]).then(() => undefined) : Promise.resolve();
  }

  /**
   * A write to come (messages held during a takeover): flushes wait for it, and fail if it fails.
   * detach: flushes from now on no longer wait for it (its messages went to another owner, whose
   * answer settles it; see QueueStream.handBack).
   */
  holdWrites(): { done(ok: boolean): void; detach(): void } {
    let settle!: (ok: boolean) => void;
    const p: Promise<void> = new Promise<void>((resolve, reject) => {
      settle = (ok) => (ok ? resolve() : reject(new Error('queue changed hands before its messages were written')));
    }).finally(() => this.puts.delete(p));
    p.catch(() => undefined);
    this.puts.add(p);
    return { done: settle, detach: () => this.puts.delete(p) };
  }

  /**
   * The message again under a seq of this node's, now: one created here before this node owned
   * the queue (held during its takeover, or sent to the old owner and unanswered) carries a seq
   * from before the takeover raised nextSeq past the stream's, and may equal a message's already
   * in it. Seq names a message in the stream (acks delete by it): it must be unique there.
   */
  restamp(msg: Message): Message {
    const b = this.broker;
    if (!b) return msg;
    return new Message(b.nextSeq++, msg.exchange, msg.routingKey, msg.properties, msg.body, msg.persistent);
  }

  advanceSeq(maxSeq: number): void {
    if (this.broker && this.broker.nextSeq <= maxSeq) this.broker.nextSeq = maxSeq + 1;
  }

  isReplicated(v: string, name: string): boolean {
    return this.queues.get(queueKey(v, name))?.replicated ?? false;
  }

  /**
   * Finds who should own a replicated queue: the running node beside its stream's leader. If the
   * leader's node is down, the lowest-named running node asks the leader to step down, so the
   * stream moves to a server with a Warren beside it.
   */
  resolveHome(q: ClusterQueue): Promise<void> {
    let r = this.resolving.get(q);
    if (r) return r;
    r = (async () => {
      const s = new QueueStream(this.name, this.link.nc, this.acks, this.puts, q.vhost.name, q.name, this.log);
      // Short questions, again every 150 ms for a few seconds while the stream is not there or
      // not answering: a queue just declared on another node is in the topology before its stream
      // exists ('stream not found'), and a question sent while it was being made went unanswered
      // now and then. (One question with a 5 s timeout, then one a second, held consumers and
      // purges through other nodes back for up to 5 s after the declare-ok.)
      let info: Awaited<ReturnType<QueueStream['info']>>;
      for (let attempt = 0; ; attempt++) {
        try {
          info = await s.info({ timeoutMs: 1_000 });
          break;
        } catch (err) {
          if (q.deleted || attempt >= 20 || !(isTransient(err) || /not found/i.test(String(err)))) throw err;
          await new Promise((r) => setTimeout(r, 150));
        }
      }
      if (q.deleted || !info.leader) return;
      // An earlier owner's last write that landed after this owner's fence shows only here when
      // nothing is written after it: the queue is read again rather than leave it in the stream.
      if (q.owned) q.js?.noteStreamLast(info.last);
      q.members = info.servers.map((srv) => this.membership.nodeBeside(srv) ?? srv).sort();
      const owner = this.membership.nodeBeside(info.leader);
      if (owner) {
        this.setHome(q, owner);
        return;
      }
      if (this.membership.firstRunning() === this.name) {
        this.log.info({ queue: q.name, stream: s.name, leader: info.leader }, 'stream leader has no Warren beside it: asking it to step down');
        await this.link.nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${s.name}`, new Uint8Array(0), { timeout: 5_000 }).catch(() => undefined);
      }
    })()
      .catch((err: unknown) => {
        // No answer yet (a leader being elected, a stream being made): asked again within a second.
        if (isTransient(err)) this.log.debug({ err: String(err), queue: q.name }, 'the owner of a queue is not known yet');
        else this.log.warn({ err: String(err), queue: q.name }, 'could not find the owner of a queue');
      })
      .finally(() => this.resolving.delete(q));
    this.resolving.set(q, r);
    return r;
  }

  /** A replicated queue's owner is now `home`: take it over, release it, or follow it. */
  setHome(q: ClusterQueue, home: string): void {
    if (q.home === home || q.deleted) return;
    const was = q.home;
    this.log.info({ queue: q.name, vhost: q.vhost.name, from: was || null, to: home }, 'queue owner');
    if (was === this.name) {
      this.traffic.dropRemoteConsumers(q);
      q.release();
    }
    q.home = home;
    // Answers the old owner still sends are ignored: what is unanswered goes to the new one.
    q.gen++;
    if (home === this.name) {
      const stream = new QueueStream(this.name, this.link.nc, this.acks, this.puts, q.vhost.name, q.name, this.log);
      stream.onFenced = () => {
        // Someone else wrote to it: find out who owns it now (this node again: read it anew).
        if (q.home === this.name && q.js === stream) this.giveUp(q);
        void this.resolveHome(q);
      };
      q.takeOver(stream).catch((err: unknown) => {
        this.log.error({ err: String(err), queue: q.name }, 'taking a queue over failed');
        // Only if this takeover is still the queue's (not one superseded by a newer one).
        if (q.home === this.name && q.js === stream) this.giveUp(q);
        setTimeout(() => void this.resolveHome(q), 500).unref();
      });
    } else q.resend();
  }

  /**
   * This node stops owning q without another owner known (its stream was written by another
   * node, or its takeover failed): it finds the owner again, most often itself. The other nodes'
   * consumers are told to subscribe again, to whoever that is: their home does not change, so
   * nothing else would tell them, and the owner that reads the stream anew has no consumers of theirs.
   */
  private giveUp(q: ClusterQueue): void {
    this.traffic.dropRemoteConsumers(q, true);
    q.home = '';
    q.release();
  }

  /** Where a queue record says the queue lives (set before the record's queue is made). */
  noteHome(rec: ClusterQueueRecord): void {
    this.homes.set(queueKey(rec.vhost, rec.name), rec.home ?? this.name);
  }

  /** Runs once the broker has recovered: starts the inbox, membership and topology events. */
  async attach(broker: Broker): Promise<void> {
    this.broker = broker;
    const nc = this.link.nc;
    this.inbox = nc.subscribe(inboxOf(this.name), { callback: (err, m) => (err ? this.log.error({ err }, 'inbox') : this.traffic.received(m)) });
    this.statsSub = nc.subscribe(STATS_SUBJECT, { callback: (err, m) => !err && this.receivedStats(m) });
    this.membership.onChange = (node, running) => this.nodeChanged(node, running);
    await this.membership.start();
    this.store.startEvents((e: TopologyEvent) => applyTopologyEvent(broker, this.store, this.log, e));
    this.statsTimer = setInterval(() => this.publishStats(), 1_000);
    this.statsTimer.unref();
    this.advisories = nc.subscribe('$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.*', {
      callback: (err, m) => {
        if (err) return;
        try {
          const a = JSON.parse(Buffer.from(m.data).toString()) as { stream?: string; leader?: string };
          const q = a.stream ? this.byStream.get(a.stream) : undefined;
          if (!q || !a.leader) return;
          const owner = this.membership.nodeBeside(a.leader);
          if (owner) this.setHome(q, owner);
          else void this.resolveHome(q);
        } catch {
          // not an advisory of ours
        }
      },
    });
    // Queues recovered from the topology, and any whose owner is unknown or down, find their owner.
    for (const q of this.queues.values()) if (q.replicated) void this.resolveHome(q);
    let sweeps = 0;
    this.sweepTimer = setInterval(() => {
      // Every 5 s an owner looks at its streams again (their members change as servers come and go).
      const refresh = ++sweeps % 5 === 0;
      const now = Date.now();
      for (const q of this.queues.values()) {
        if (q.resendIfStalled(now, PUB_STALL_MS)) this.log.warn({ queue: q.name, owner: q.home }, 'publishes unanswered by the owner: sending them again');
        if (!q.replicated || q.deleted) continue;
        if (q.home === '' || !this.membership.get(q.home)?.running || (refresh && q.owned)) void this.resolveHome(q);
      }
    }, 1_000);
    this.sweepTimer.unref();
  }

  /** Direct reply-to names of other nodes: replies to them travel there (see wire 'reply'). */
  readonly remoteReplies = (vhost: string): RemoteReplies => ({
    nodeTag: Buffer.from(this.name).toString('base64url'),
    lookup: (name: string): ReplyReceiver | undefined => {
      const rest = name.slice(REPLY_TO_PREFIX.length);
      const dot = rest.indexOf('.');
      if (dot <= 0) return undefined;
      const node = Buffer.from(rest.slice(0, dot), 'base64url').toString();
      if (node === this.name || !this.membership.get(node)?.running) return undefined;
      return {
        deliverReply: (rk: string, msg: Message) =>
          this.traffic.send(node, { t: 'reply', v: vhost, rk, ex: msg.exchange, pl: msg.properties.length }, msg.properties, msg.body),
      };
    },
  });

  nodes(): NodeState[] {
    return this.membership.list();
  }

  /** Resolves once every other running node has applied the shared topology up to revision rev. */
  topologySeen(rev: number): Promise<void> {
    const asks: Promise<void>[] = [];
    for (const n of this.membership.list()) if (n.running && n.name !== this.name) asks.push(this.traffic.askSeen(n.name, rev, TOPOLOGY_SEEN_MS));
    return Promise.all(asks).then(() => undefined);
  }

  /** Resolves once every publish forwarded so far has been answered by the queues' owners. */
  published(): Promise<void> | undefined {
    let waits: Promise<void>[] | null = null;
    for (const q of this.queues.values()) {
      const w = q.published();
      if (w) (waits ??= []).push(w);
    }
    return waits ? Promise.all(waits).then(() => undefined) : undefined;
  }

  forget(q: ClusterQueue): void {
    const key = queueKey(q.vhost.name, q.name);
    if (this.queues.get(key) === q) {
      this.queues.delete(key);
      this.homes.delete(key);
      this.byStream.delete(streamNameOf(q.vhost.name, q.name));
    }
    q.js?.closeDeleted();
    this.traffic.forgetQueue(q);
    if (q.owned && (!q.durable || q.exclusiveOwner !== null)) this.store.withdrawTransient(q);
  }

  /** The deliveries of q this node's channels hold unacked. */
  unackedHere(q: ClusterQueue): Entry[] {
    const out: Entry[] = [];
    for (const conn of this.broker?.connections ?? []) for (const ch of conn.channels.values()) for (const e of ch.unackedOf(q)) out.push(e);
    return out;
  }

  queueAt(v: string, q: string): ClusterQueue | undefined {
    return this.queues.get(queueKey(v, q));
  }

  private publishStats(): void {
    const qs: [string, string, number, number, number, string[]][] = [];
    for (const q of this.queues.values()) if (q.owned && !q.deleted) qs.push([q.vhost.name, q.name, q.readyCount, q.unackedCount, q.consumers.length, q.members]);
    // A stream has no owner to count its consumers: each node tells the others of its own.
    const ss: [string, string, number, number][] = [];
    for (const s of this.streams.values()) if (s.consumers.length > 0 && !s.deleted) ss.push([s.vhost.name, s.name, s.consumers.length, s.unackedCount]);
    if (qs.length > 0 || ss.length > 0) this.link.nc.publish(STATS_SUBJECT, encodeWire(ss.length > 0 ? { t: 'stats', from: this.name, qs, ss } : { t: 'stats', from: this.name, qs }));
  }

  private receivedStats(m: Msg): void {
    let w;
    try {
      w = decodeWire(m.data);
    } catch {
      return;
    }
    if (w.h.t !== 'stats' || w.h.from === this.name) return;
    for (const [v, name, messages, unacked, consumers, members] of w.h.qs) {
      const q = this.queueAt(v, name);
      if (!q || q.owned) continue;
      q.remote = { messages, unacked, consumers };
      // The owner's view of the stream's members (it looks every 5 s) and of who owns it.
      if (q.replicated) q.members = members;
    }
    for (const [v, name, consumers, unacked] of w.h.ss ?? []) this.streams.get(queueKey(v, name))?.heardFrom(w.h.from, consumers, unacked);
  }

  /** A node went down or came (back) up. */
  private nodeChanged(node: string, running: boolean): void {
    if (node === this.name) return;
    if (!running) {
      this.traffic.nodeDown(node);
      // Its replicated queues: the publishes and subscriptions sent to it died with it. Nobody is
      // known to own them until their stream says who (the sweep asks); then what is unanswered
      // goes again and consumers subscribe again (setHome from ''), even to the same node
      // restarted, which knows nothing of them (setHome to the unchanged home would do nothing).
      for (const q of this.queues.values()) {
        if (q.replicated && q.home === node && !q.deleted) {
          q.home = '';
          q.gen++;
        }
      }
      // Its transient queues went with it, and with them their bindings.
      const broker = this.broker;
      if (broker) {
        const gone: ClusterQueue[] = [];
        for (const q of [...this.queues.values()]) {
          if (q.home === node && (!q.durable || q.exclusiveOwner !== null)) {
            gone.push(q);
            this.store.quietly(() => q.vhost.deleteQueue(q));
          }
        }
        // Their records go too, removed by one node (the first running), so that a node started
        // later does not make them again for a node that may never come back.
        if (gone.length > 0 && this.membership.firstRunning() === this.name) void this.store.dropTransient(gone.map((q) => [q.vhost.name, q.name]));
      }
      return;
    }
    // (Back) up: what it has not answered is sent again; consumers subscribe again. A replicated
    // queue whose stream leader is beside it moves to it.
    for (const q of this.queues.values()) {
      if (q.replicated) void this.resolveHome(q);
      else if (q.home === node) q.resend();
      // If it was judged down here (it restarted, or wrongly: a stall, the bucket electing), its
      // consumers of the queues owned here were dropped, and it does not know: it subscribes them
      // again (and sends again what is unanswered) when told the queue moved.
      if (q.owned && !q.deleted) this.traffic.send(node, { t: 'moved', v: q.vhost.name, q: q.name, gen: -1 });
    }
  }

  /**
   * A planned stop: this node leaves the membership, then every queue it owns is handed over (its
   * stream's leader steps down to a server with a Warren beside it) before clients are closed, so
   * they see no stall beyond a reconnect. Waits at most timeoutMs.
   */
  async handOver(timeoutMs = 15_000): Promise<void> {
    await this.membership.stop();
    const owned = [...this.queues.values()].filter((q) => q.replicated && q.owned && !q.deleted);
    if (owned.length === 0) return;
    this.log.info({ queues: owned.length }, 'handing queues over before stopping');
    const until = Date.now() + timeoutMs;
    // A step-down fails while no other replica is current (a server that just restarted is
    // catching up): ask again until the queue has moved.
    let lastAsk = 0;
    while (Date.now() < until && owned.some((q) => q.owned && !q.deleted)) {
      if (Date.now() - lastAsk > 2_000) {
        lastAsk = Date.now();
        for (const q of owned) {
          if (!q.owned || q.deleted) continue;
          const name = streamNameOf(q.vhost.name, q.name);
          void this.link.nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${name}`, new Uint8Array(0), { timeout: 5_000 }).then(
            (m) => this.log.info({ queue: q.name, answer: Buffer.from(m.data).toString() }, 'stream step-down'),
            () => undefined,
          );
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    const left = owned.filter((q) => q.owned && !q.deleted).length;
    if (left > 0) this.log.warn({ queues: left }, 'some queues found no other owner in time');
  }

  /**
   * RabbitMQ's queue rebalance, with what JetStream offers: a queue's owner is the node beside its
   * stream's leader, and a leader asked to step down hands over to another current replica, of
   * JetStream's choosing (this NATS server has no way to name one). So each round asks the queues
   * a node owns beyond its share (replicated queues over running nodes, rounded up for the nodes
   * owning most) to step down, waits until they have moved, and counts again: a few rounds bring the
   * nodes within one queue of each other, or as near as the replicas' places allow (a queue moves
   * only to a node holding a replica). The last queues to move go to the wrong node as often as
   * not (of two other replicas, either may win the election), so rounds are many: ten of them
   * left the nodes two queues apart now and then (six wrong moves in a row of one queue).
   */
  async rebalance(rounds = 30, movedMs = 10_000): Promise<void> {
    for (let round = 0; round < rounds; round++) {
      const running = this.nodes()
        .filter((n) => n.running)
        .map((n) => n.name);
      if (running.length < 2) return;
      const byNode = new Map<string, ClusterQueue[]>(running.map((n) => [n, []]));
      for (const q of this.queues.values()) if (q.replicated && !q.deleted) byNode.get(q.home)?.push(q);
      // Each node's share: the total over the nodes, one more for the nodes that own most now.
      const owned = [...byNode.values()].sort((a, b) => b.length - a.length);
      const total = owned.reduce((n, qs) => n + qs.length, 0);
      if (owned[0]!.length - owned[owned.length - 1]!.length <= 1) return;
      const base = Math.floor(total / owned.length);
      const moving = owned.flatMap((qs, i) => qs.slice(base + (i < total % owned.length ? 1 : 0)));
      this.log.info({ round, queues: moving.length, share: base }, 'rebalancing queues');
      const from = new Map(moving.map((q) => [q, q.home]));
      for (const q of moving) {
        void this.link.nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${streamNameOf(q.vhost.name, q.name)}`, new Uint8Array(0), { timeout: 5_000 }).catch(() => undefined);
      }
      // Counted again once every queue asked has a new owner (an election under load takes
      // seconds), or after movedMs: a step-down with no other current replica moves nothing.
      const until = Date.now() + movedMs;
      while (Date.now() < until && moving.some((q) => !q.deleted && (q.home === '' || q.home === from.get(q)))) {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  async close(): Promise<void> {
    if (this.statsTimer) clearInterval(this.statsTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.advisories?.unsubscribe();
    this.acks.close();
    this.marks.close();
    await this.membership.stop();
    this.inbox?.unsubscribe();
    this.statsSub?.unsubscribe();
    await this.link.nc.drain().catch(() => undefined);
  }
}
