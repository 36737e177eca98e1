// One Warren node of a cluster: its NATS link, the shared topology (ClusterStore), who is up
// (Membership), and the queue traffic between nodes (wire.ts): publishes to queues owned
// elsewhere, consumers and gets on them, settlements, and the owners' counts.
import type { Msg, Subscription } from 'nats';
import type { Logger } from 'pino';
import type { Broker } from '../server/broker.js';
import type { Consumer } from '../server/consumer.js';
import { deliveryModeOf, Message, type Entry } from '../server/message.js';
import type { QueueSpec } from '../server/queue.js';
import { REPLY_TO_PREFIX, type RemoteReplies, type ReplyReceiver } from '../server/direct-reply-to.js';
import type { VHost, QueueFactory } from '../server/vhost.js';
import type { Store, StoredQueue } from '../store/store.js';
import { queueKey } from '../store/store.js';
import { ClusterQueue } from './cluster-queue.js';
import { Membership, type NodeRecord, type NodeState } from './membership.js';
import type { NatsLink } from './nats-link.js';
import { RemoteConsumer, type RemoteSender } from './remote-consumer.js';
import { PubAckInbox, QueueStream, streamNameOf } from './queue-stream.js';
import { applyTopologyEvent } from './topology-apply.js';
import { ClusterStore, type TopologyEvent } from './topology-store.js';
import { decodeWire, encodeWire, inboxOf, STATS_SUBJECT, type WireHeader } from './wire.js';

/** A queue record in the shared topology: where the queue lives, and whether it is transient. */
export interface ClusterQueueRecord extends StoredQueue {
  home?: string;
  /** A non-durable or exclusive queue: in its home node's memory, gone with that node. */
  transient?: boolean;
  exclusive?: boolean;
}

/** Deliveries out to a node without a prefetch (or no-ack) are bounded by this window. */
const DEFAULT_CREDIT = 1_000;

export class ClusterNode implements RemoteSender {
  readonly store: ClusterStore;
  readonly membership: Membership;
  broker: Broker | null = null;
  /** Where each queue lives, as the topology says, by queueKey. */
  private readonly homes = new Map<string, string>();
  private readonly queues = new Map<string, ClusterQueue>();
  /** This node's consumers on queues owned elsewhere, by cid. */
  private readonly localByCid = new Map<string, { q: ClusterQueue; c: Consumer }>();
  /** Other nodes' consumers on queues owned here, by cid. */
  private readonly remoteByCid = new Map<string, RemoteConsumer>();
  /** Deliveries from another node's queue, for settling them there. */
  private readonly origin = new WeakMap<Entry, { q: ClusterQueue; cid: string; did: number }>();
  private readonly settles = new Map<string, { op: 'ack' | 'requeue' | 'drop'; d: [string, number][] }>();
  private settleScheduled = false;
  private nextCid = 1;
  private nextRid = 1;
  private readonly gets = new Map<number, (e: Entry | undefined, did: number, count: number) => void>();
  /** pub answers owed per (node, queue): sent after the store has what they carry. */
  private readonly owed = new Map<string, { node: string; v: string; q: string; upTo: number; gen: number; epoch: number; rej?: number[] }>();
  /** Per (sender, queue): the highest generation of pubs refused (answered moved). */
  private readonly refused = new Map<string, number>();
  private owedScheduled = false;
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
  }

  readonly queueFactory: QueueFactory = (vhost: VHost, spec: QueueSpec) => {
    const key = queueKey(vhost.name, spec.name);
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

  /** Deletes a queue's stream (the node that deleted the queue does it). */
  destroyStream(v: string, name: string): void {
    const s = new QueueStream(this.name, this.link.nc, this.acks, this.puts, v, name, this.log);
    void s.destroy();
  }

  /** The stream of a queue this node owns, if it is replicated. */
  streamFor(v: string, name: string): QueueStream | null {
    const q = this.queues.get(queueKey(v, name));
    return q && q.owned ? q.js : null;
  }

  /**
   * Waits for queues being taken over to be read (what was held for them is then written), then
   * for every stream write so far; rejects if one of them failed.
   */
  async ownedFlushed(): Promise<void> {
    const loading: Promise<unknown>[] = [];
    for (const q of this.queues.values()) if (q.loading) loading.push(q.loading);
    if (loading.length > 0) await Promise.all(loading);
    if (this.puts.size > 0) await Promise.all([...this.puts]);
  }

  /** A write to come (messages held during a takeover): flushes wait for it, and fail if it fails. */
  holdWrites(): { done(ok: boolean): void } {
    let settle!: (ok: boolean) => void;
    const p: Promise<void> = new Promise<void>((resolve, reject) => {
      settle = (ok) => (ok ? resolve() : reject(new Error('queue changed hands before its messages were written')));
    }).finally(() => this.puts.delete(p));
    p.catch(() => undefined);
    this.puts.add(p);
    return { done: settle };
  }

  advanceSeq(maxSeq: number): void {
    if (this.broker && this.broker.nextSeq <= maxSeq) this.broker.nextSeq = maxSeq + 1;
  }

  isReplicated(v: string, name: string): boolean {
    return this.queues.get(queueKey(v, name))?.replicated ?? false;
  }

  forgetCid(cid: string): void {
    this.localByCid.delete(cid);
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
      const info = await s.info();
      if (q.deleted || !info.leader) return;
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
      .catch((err: unknown) => this.log.warn({ err: String(err), queue: q.name }, 'could not find the owner of a queue'))
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
      for (const rc of [...this.remoteByCid.values()]) if (rc.queue === q) this.remoteByCid.delete(rc.cid);
      q.release();
    }
    q.home = home;
    // Answers the old owner still sends are ignored: what is unanswered goes to the new one.
    q.gen++;
    if (home === this.name) {
      const stream = new QueueStream(this.name, this.link.nc, this.acks, this.puts, q.vhost.name, q.name, this.log);
      stream.onFenced = () => {
        // Someone else wrote to it: find out who owns it now (this node again: read it anew).
        if (q.home === this.name) {
          q.home = '';
          q.release();
        }
        void this.resolveHome(q);
      };
      q.takeOver(stream).catch((err: unknown) => {
        this.log.error({ err: String(err), queue: q.name }, 'taking a queue over failed');
        q.home = '';
        q.release();
        setTimeout(() => void this.resolveHome(q), 500).unref();
      });
    } else q.resend();
  }

  /** Where a queue record says the queue lives (set before the record's queue is made). */
  noteHome(rec: ClusterQueueRecord): void {
    this.homes.set(queueKey(rec.vhost, rec.name), rec.home ?? this.name);
  }

  /** Runs once the broker has recovered: starts the inbox, membership and topology events. */
  async attach(broker: Broker): Promise<void> {
    this.broker = broker;
    const nc = this.link.nc;
    this.inbox = nc.subscribe(inboxOf(this.name), { callback: (err, m) => (err ? this.log.error({ err }, 'inbox') : this.received(m)) });
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
      for (const q of this.queues.values()) {
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
          this.send(node, { t: 'reply', v: vhost, rk, ex: msg.exchange, pl: msg.properties.length }, msg.properties, msg.body),
      };
    },
  });

  nodes(): NodeState[] {
    return this.membership.list();
  }

  private send(node: string, h: WireHeader, props?: Buffer, body?: Buffer): void {
    this.link.nc.publish(inboxOf(node), encodeWire(h, props, body));
  }

  // ---- the side of a queue owned elsewhere ---------------------------------------------------

  sendPub(q: ClusterQueue, id: number, msg: Message): void {
    this.send(q.home, { t: 'pub', v: q.vhost.name, q: q.name, id, gen: q.gen, from: this.name, ex: msg.exchange, rk: msg.routingKey, pl: msg.properties.length }, msg.properties, msg.body);
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

  subscribe(q: ClusterQueue, c: Consumer): void {
    const old = q.cids.get(c);
    if (old) {
      this.localByCid.delete(old);
      // Subscribing again to the same owner (told to by it, or after judging it down wrongly): it
      // may still hold the old subscription, whose deliveries would only bounce. One per consumer.
      this.send(q.home, { t: 'unsub', cid: old });
    }
    // A new id per subscription: settlements of an owner's earlier incarnation cannot match.
    const cid = `${this.name}#${this.startedAt}#${this.nextCid++}`;
    q.cids.set(c, cid);
    this.localByCid.set(cid, { q, c });
    const credit = c.prefetch > 0 && !c.noAck ? c.prefetch : DEFAULT_CREDIT;
    this.send(q.home, { t: 'sub', v: q.vhost.name, q: q.name, cid, from: this.name, credit, priority: c.priority });
  }

  unsubscribe(q: ClusterQueue, c: Consumer): void {
    const cid = q.cids.get(c);
    if (!cid) return;
    q.cids.delete(c);
    this.localByCid.delete(cid);
    this.send(q.home, { t: 'unsub', cid });
  }

  /** basic.get on a queue owned elsewhere: the owner's next message, if any. */
  fetch(q: ClusterQueue): Promise<Entry | undefined> {
    const rid = this.nextRid++;
    const cid = `get#${this.name}#${this.startedAt}`;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.gets.delete(rid);
        resolve(undefined);
      }, 5_000);
      this.gets.set(rid, (e, did, count) => {
        clearTimeout(timer);
        q.remote.messages = count;
        if (e) this.origin.set(e, { q, cid, did });
        resolve(e);
      });
      this.send(q.home, { t: 'get', v: q.vhost.name, q: q.name, rid, from: this.name, cid });
    });
  }

  sendPurge(q: ClusterQueue): void {
    this.send(q.home, { t: 'purge', v: q.vhost.name, q: q.name });
  }

  /** If entry came from another node's queue, its settlement goes there: returns true. */
  settleRemote(entry: Entry, op: 'ack' | 'requeue' | 'drop'): boolean {
    const o = this.origin.get(entry);
    if (!o) return false;
    this.origin.delete(entry);
    const key = `${o.q.home}\0${op}`;
    let s = this.settles.get(key);
    if (!s) this.settles.set(key, (s = { op, d: [] }));
    s.d.push([o.cid, o.did]);
    if (!this.settleScheduled) {
      this.settleScheduled = true;
      setImmediate(() => this.flushSettles());
    }
    return true;
  }

  private flushSettles(): void {
    this.settleScheduled = false;
    for (const [key, s] of this.settles) this.send(key.slice(0, key.indexOf('\0')), { t: 'settle', op: s.op, d: s.d });
    this.settles.clear();
  }

  forget(q: ClusterQueue): void {
    const key = queueKey(q.vhost.name, q.name);
    if (this.queues.get(key) === q) {
      this.queues.delete(key);
      this.homes.delete(key);
      this.byStream.delete(streamNameOf(q.vhost.name, q.name));
    }
    q.js?.close();
    for (const [c, cid] of q.cids) {
      this.localByCid.delete(cid);
      q.cids.delete(c);
    }
    for (const rc of [...this.remoteByCid.values()]) if (rc.queue === q) this.remoteByCid.delete(rc.cid);
    if (q.owned && (!q.durable || q.exclusiveOwner !== null)) this.store.withdrawTransient(q);
  }

  // ---- RemoteSender: the owner's side --------------------------------------------------------

  deliver(rc: RemoteConsumer, did: number, entry: Entry): void {
    const m = entry.msg;
    const h: WireHeader = { t: 'dlv', o: this.name, cid: rc.cid, did, r: entry.redelivered, ex: m.exchange, rk: m.routingKey, pl: m.properties.length };
    if (entry.deliveryCount !== undefined) h.dc = entry.deliveryCount;
    this.send(rc.node, h, m.properties, m.body);
  }

  cancel(rc: RemoteConsumer): void {
    this.remoteByCid.delete(rc.cid);
    this.send(rc.node, { t: 'cancel', cid: rc.cid });
  }

  // ---- what arrives --------------------------------------------------------------------------

  private queueAt(v: string, q: string): ClusterQueue | undefined {
    return this.queues.get(queueKey(v, q));
  }

  private received(m: Msg): void {
    const broker = this.broker;
    if (!broker) return;
    let w;
    try {
      w = decodeWire(m.data);
    } catch (err) {
      this.log.warn({ err }, 'unreadable message from another node');
      return;
    }
    const { h, props, body } = w;
    switch (h.t) {
      case 'pub': {
        const q = this.queueAt(h.v, h.q);
        const session = `${h.from}\0${h.v}\0${h.q}`;
        if ((q && !q.owned && !q.deleted) || (this.refused.get(session) ?? -1) >= h.gen) {
          // Not (or no longer) this node's, or its generation was refused: the sender keeps it,
          // finds the owner and sends it again.
          this.refuse(h.from, h.v, h.q, h.gen);
          return;
        }
        if (q && !q.deleted) {
          // Copies: the NATS buffer is the client's, and the message may live long in the queue.
          const p = Buffer.from(props);
          const msg = new Message(broker.nextSeq++, h.ex, h.rk, p, Buffer.from(body), deliveryModeOf(p) === 2);
          q.stats.publish++;
          // x-overflow reject-publish refused it: the sender's publisher gets a nack.
          if (!q.enqueue(msg)) {
            this.owe(h.from, h.v, h.q, h.id, h.gen, q.epoch, true);
            return;
          }
        }
        this.owe(h.from, h.v, h.q, h.id, h.gen, q?.epoch ?? 0);
        return;
      }
      case 'pubok': {
        const q = this.queueAt(h.v, h.q);
        if (q && q.gen === h.gen) q.answeredUpTo(h.upTo, h.rej);
        return;
      }
        return;
      case 'sub': {
        const q = this.queueAt(h.v, h.q);
        if (!q || q.deleted) {
          this.send(h.from, { t: 'cancel', cid: h.cid });
          return;
        }
        if (!q.owned) {
          this.send(h.from, { t: 'moved', v: h.v, q: h.q, gen: -1 });
          return;
        }
        const rc = new RemoteConsumer(h.cid, h.from, q, h.credit, h.priority, this);
        this.remoteByCid.set(h.cid, rc);
        q.addConsumer(rc);
        return;
      }
      case 'unsub': {
        const rc = this.remoteByCid.get(h.cid);
        if (!rc) return;
        this.remoteByCid.delete(h.cid);
        rc.returnAll();
        rc.queue.removeConsumer(rc);
        return;
      }
      case 'cancel': {
        const l = this.localByCid.get(h.cid);
        if (!l) return;
        this.localByCid.delete(h.cid);
        l.q.cids.delete(l.c);
        const i = l.q.consumers.indexOf(l.c);
        if (i >= 0) l.q.consumers.splice(i, 1);
        l.c.channel.cancelByServer(l.c);
        return;
      }
      case 'dlv': {
        const l = this.localByCid.get(h.cid);
        if (!l) {
          // Cancelled here while it was on its way: back to the owner's queue.
          this.send(h.o, { t: 'settle', op: 'requeue', d: [[h.cid, h.did]] });
          return;
        }
        const entry = this.entryOf(broker, h.r, h.dc, h.ex, h.rk, props, body);
        this.origin.set(entry, { q: l.q, cid: h.cid, did: h.did });
        l.c.deliver(entry);
        return;
      }
      case 'settle':
        for (const [cid, did] of h.d) this.remoteByCid.get(cid)?.settle(did, h.op);
        return;
      case 'get':
        this.answerGet(h.v, h.q, h.rid, h.from, h.cid);
        return;
      case 'got': {
        const done = this.gets.get(h.rid);
        if (!done) return;
        this.gets.delete(h.rid);
        if (h.did === undefined) return done(undefined, 0, h.n);
        done(this.entryOf(broker, h.r ?? false, h.dc, h.ex ?? '', h.rk ?? '', props, body), h.did, h.n);
        return;
      }
      case 'purge': {
        const q = this.queueAt(h.v, h.q);
        if (q && q.owned) q.purge();
        return;
      }
      case 'moved': {
        const q = this.queueAt(h.v, h.q);
        if (!q || q.deleted) return;
        // A refused generation: everything unanswered goes again, in a new one, once the owner is known.
        if (h.gen >= 0 && h.gen === q.gen) q.gen++;
        setTimeout(() => {
          if (q.deleted) return;
          const home = q.home;
          void (q.replicated ? this.resolveHome(q) : Promise.resolve()).then(() => {
            if (q.home === home) q.resend();
          });
        }, 100).unref();
        return;
      }
      case 'reply': {
        const receiver = broker.vhosts.get(h.v)?.replies.lookupLocal(h.rk);
        if (!receiver) return; // its consumer has gone: dropped, as RabbitMQ drops it
        const p = Buffer.from(props);
        receiver.deliverReply(h.rk, new Message(broker.nextSeq++, h.ex, h.rk, p, Buffer.from(body), deliveryModeOf(p) === 2));
        return;
      }
      case 'stats':
        return;
    }
  }

  private entryOf(broker: Broker, r: boolean, dc: number | undefined, ex: string, rk: string, props: Buffer, body: Buffer): Entry {
    const p = Buffer.from(props);
    const msg = new Message(broker.nextSeq++, ex, rk, p, Buffer.from(body), deliveryModeOf(p) === 2);
    const entry: Entry = { msg, redelivered: r, expiresAt: 0 };
    if (dc !== undefined) entry.deliveryCount = dc;
    return entry;
  }

  /** The owner's answer to a basic.get from another node: the message, held as delivered to it. */
  private answerGet(v: string, name: string, rid: number, from: string, cid: string): void {
    const q = this.queueAt(v, name);
    const reply = (h: WireHeader, props?: Buffer, body?: Buffer): void => this.send(from, h, props, body);
    if (!q || !q.owned || q.deleted) return reply({ t: 'got', rid, n: 0 });
    const answer = (): void => {
      const e = q.deleted ? undefined : q.take();
      if (!e) return reply({ t: 'got', rid, n: 0 });
      let rc = this.remoteByCid.get(cid);
      if (!rc) {
        // basic.get deliveries of one node are held by one consumer that never joins the queue.
        rc = new RemoteConsumer(cid, from, q, Number.MAX_SAFE_INTEGER, 0, this);
        this.remoteByCid.set(cid, rc);
      }
      q.stats.get++;
      const did = rc.hold(e);
      const h: WireHeader = { t: 'got', rid, did, r: e.redelivered, ex: e.msg.exchange, rk: e.msg.routingKey, pl: e.msg.properties.length, n: q.messageCount };
      if (e.deliveryCount !== undefined) h.dc = e.deliveryCount;
      reply(h, e.msg.properties, e.msg.body);
    };
    const wait = q.headReady();
    if (wait) void wait.then(answer);
    else answer();
  }

  /** Answers pubs once the owner's store has what they carried (one flush for a tick's worth). */
  /** Answers moved for a generation of pubs, and refuses the rest of it. */
  private refuse(node: string, v: string, q: string, gen: number): void {
    const session = `${node}\0${v}\0${q}`;
    if ((this.refused.get(session) ?? -1) >= gen) {
      // Refused already: the sender has been told.
      return;
    }
    this.refused.set(session, gen);
    this.send(node, { t: 'moved', v, q, gen });
  }

  private owe(node: string, v: string, q: string, id: number, gen: number, epoch: number, refused = false): void {
    const key = `${node}\0${v}\0${q}\0${gen}\0${epoch}`;
    let o = this.owed.get(key);
    if (o) o.upTo = Math.max(o.upTo, id);
    else this.owed.set(key, (o = { node, v, q, upTo: id, gen, epoch }));
    if (refused) (o.rej ??= []).push(id);
    if (this.owedScheduled) return;
    this.owedScheduled = true;
    setImmediate(() => {
      this.owedScheduled = false;
      const batch = [...this.owed.values()];
      this.owed.clear();
      const answer = (ok: boolean): void => {
        for (const b of batch) {
          // The queue changed hands since (its memory dropped) or a write failed: the sender
          // sends them again to whoever owns it now. Duplicates, never losses, for unconfirmed ones.
          const same = this.queueAt(b.v, b.q)?.epoch === b.epoch;
          const session = `${b.node}\0${b.v}\0${b.q}`;
          if (ok && same && (this.refused.get(session) ?? -1) < b.gen) this.send(b.node, b.rej ? { t: 'pubok', v: b.v, q: b.q, upTo: b.upTo, gen: b.gen, rej: b.rej } : { t: 'pubok', v: b.v, q: b.q, upTo: b.upTo, gen: b.gen });
          else this.refuse(b.node, b.v, b.q, b.gen);
        }
      };
      Promise.all([this.store.flushLocal(), this.ownedFlushed()]).then(
        () => answer(true),
        (err: unknown) => {
          this.log.warn({ err: String(err) }, 'a write failed: publishes from other nodes go to the new owner');
          answer(false);
        },
      );
    });
  }

  private publishStats(): void {
    const qs: [string, string, number, number, number, string[]][] = [];
    for (const q of this.queues.values()) if (q.owned && !q.deleted) qs.push([q.vhost.name, q.name, q.readyCount, q.unackedCount, q.consumers.length, q.members]);
    if (qs.length > 0) this.link.nc.publish(STATS_SUBJECT, encodeWire({ t: 'stats', from: this.name, qs }));
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
  }

  /** A node went down or came (back) up. */
  private nodeChanged(node: string, running: boolean): void {
    if (node === this.name) return;
    if (!running) {
      // Its consumers' deliveries go back to the queues owned here.
      for (const rc of [...this.remoteByCid.values()]) {
        if (rc.node !== node) continue;
        this.remoteByCid.delete(rc.cid);
        rc.returnAll();
        if (rc.queue.consumers.includes(rc)) rc.queue.removeConsumer(rc);
      }
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
      // Its transient queues went with it.
      const broker = this.broker;
      if (broker) {
        for (const q of [...this.queues.values()]) {
          if (q.home === node && (!q.durable || q.exclusiveOwner !== null)) this.store.quietly(() => q.vhost.deleteQueue(q));
        }
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
      if (q.owned && !q.deleted) this.send(node, { t: 'moved', v: q.vhost.name, q: q.name, gen: -1 });
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

  async close(): Promise<void> {
    if (this.statsTimer) clearInterval(this.statsTimer);
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.advisories?.unsubscribe();
    this.acks.close();
    await this.membership.stop();
    this.inbox?.unsubscribe();
    this.statsSub?.unsubscribe();
    await this.link.nc.drain().catch(() => undefined);
  }
}
