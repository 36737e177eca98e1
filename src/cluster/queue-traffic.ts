// The queue traffic of one cluster node with the others, over NATS core subjects (wire.ts):
// publishes to queues owned elsewhere and their answers, consumers and gets on them, deliveries
// and settlements, and, on the owner's side, the other nodes' consumers (RemoteConsumer). Who
// owns which queue is ClusterNode's business; this only carries what goes between them.
import { Buffer } from 'node:buffer';
import type { Msg } from 'nats';
import type { Broker } from '../server/broker.js';
import type { Consumer } from '../server/consumer.js';
import { deliveryModeOf, Message, type Entry } from '../server/message.js';
import { queueKey } from '../store/store.js';
import type { ClusterNode } from './cluster-node.js';
import { pubKey, type ClusterQueue } from './cluster-queue.js';
import { RemoteConsumer, type RemoteSender } from './remote-consumer.js';
import { decodeWire, encodeWire, inboxOf, type WireHeader } from './wire.js';

/** Deliveries out to a node without a prefetch (or no-ack) are bounded by this window. */
const DEFAULT_CREDIT = 1_000;
/** How long settlements are kept for a new owner (see QueueTraffic.recent): past the membership's DOWN_AFTER_MS. */
const RECENT_MS = 8_000;
type SettleOp = 'ack' | 'requeue' | 'drop';
const SETTLE_OPS: readonly SettleOp[] = ['ack', 'requeue', 'drop'];
interface RecentSettles {
  cur: number[];
  prev: number[];
  /** Still in recentByQueue (a rotation forgets a quiet queue's). */
  live: boolean;
}
/** At most this many recent settlements go in an answer to held? (NATS's 1 MB payload). */
const RECENT_MAX = 30_000;

/** Where a delivery from another node's queue came from: its consumer id, delivery id and seq there. */
interface Origin {
  q: ClusterQueue;
  cid: string;
  did: number;
  /** The message's seq on the owner (0 from an owner too old to say). */
  os: number;
  /** The node that delivered it. */
  owner: string;
  /** Its queue's deliveries held here (outHere's set for it). */
  out: Set<Entry>;
}

/**
 * What the nodes' clients hold of a queue's messages, by seq (who holds each), and what they
 * settled while its owner was gone (see askHeld).
 */
export interface HeldElsewhere {
  out: Map<number, { node: string; cid: string; did: number }>;
  settled: Map<number, SettleOp>;
}

/** A consumer of this node subscribed to a queue another node owns. */
interface LocalSub {
  q: ClusterQueue;
  c: Consumer;
  cid: string;
  /** The highest delivery id received (a gap is deliveries NATS dropped). */
  lastDid: number;
  /** Without a prefetch (or no-ack): deliveries are given back to the owner's window as received. */
  windowed: boolean;
  /** The node its deliveries come from, and how many received are not yet given back. */
  owner: string;
  toGrant: number;
  /** Its queue's deliveries held here (see Origin.out). */
  out: Set<Entry>;
}

export class QueueTraffic implements RemoteSender {
  /** This node's consumers on queues owned elsewhere, by cid. */
  private readonly localByCid = new Map<string, LocalSub>();
  /** Windowed subscriptions with deliveries received and not yet granted back to their owner. */
  private readonly grantsDue = new Set<LocalSub>();
  private grantTimer: NodeJS.Timeout | null = null;
  /** Other nodes' consumers on queues owned here, by cid. */
  private readonly remoteByCid = new Map<string, RemoteConsumer>();
  /** Deliveries from another node's queue, for settling them there. */
  private readonly origin = new WeakMap<Entry, Origin>();
  /** Deliveries a consumer held when it subscribed (sub.h), by the subscription they count against. */
  private readonly heldBy = new WeakMap<Entry, LocalSub>();
  /**
   * Deliveries from other nodes' queues that this node's clients hold, not yet settled, by queue
   * (vhost and name: the queue object may be made anew while they are held): see askHeld.
   */
  private readonly outHere = new Map<string, Set<Entry>>();
  /** Settlements for consumer ids not known here (yet), by id: see keepEarly. */
  private readonly early = new Map<string, { settles: { did: number; op: SettleOp; gone: boolean }[] }>();
  /** Owners' answers to askHeld, by request id. */
  private readonly heldAsks = new Map<number, (d: [string, number, number][], s: [string, number, number, SettleOp][], r: number[]) => void>();
  private readonly settles = new Map<string, { op: SettleOp; gone: boolean; d: [string, number][] }>();
  private settleScheduled = false;
  private nextCid = 1;
  private nextRid = 1;
  private readonly gets = new Map<number, (e: Entry | undefined, did: number, count: number, moved?: boolean, os?: number) => void>();
  /** Owners' answers to askConsume, by request id. */
  private readonly asks = new Map<number, (ok: boolean) => void>();
  /** Owners' answers to askPurge, by request id. */
  private readonly purges = new Map<number, (n: number, moved: boolean) => void>();
  /** Owners' answers to askCounts, by request id. */
  private readonly counts = new Map<number, (messages: number, unacked: number, consumers: number) => void>();
  /** Other nodes' answers to askSeen, by request id. */
  private readonly seenAsks = new Map<number, () => void>();
  /** pub answers owed per (node, queue): sent after the store has what they carry. */
  private readonly owed = new Map<string, { node: string; sender: string; to?: number; v: string; q: string; upTo: number; gen: number; epoch: number; rej?: number[]; gap?: boolean }>();
  /**
   * Senders are incarnations of nodes (name#startedAt): a node restarted under its name counts its
   * generations from 0 again, and taken for the old one its pubs were answered with the old one's
   * ids (confirmed and dropped) or refused. The latest incarnation seen of each node, whose older
   * ones' sessions are forgotten when it changes.
   */
  private readonly incarnations = new Map<string, number>();
  /** Per (sender, queue): the highest generation of pubs refused (answered moved). */
  private readonly refused = new Map<string, number>();
  /**
   * Per (sender, queue): the generation of pubs being received and the position due next in it;
   * and the run of pub ids taken into the queue since the last one not taken, in which of its
   * epochs (see 'pub').
   */
  private readonly expected = new Map<string, { gen: number; next: number; lastId: number; takenFrom: number; taken: number; takenEpoch: number }>();
  /** Per (sender, queue): the highest generation in which a pub went missing. */
  private readonly gapped = new Map<string, number>();
  private owedScheduled = false;

  constructor(private readonly node: ClusterNode) {}

  /** Fault injection (tests): every Nth message of a type is dropped, as NATS core may drop one. */
  private drops: Map<string, { every: number; sent: number }> | null = null;

  dropEvery(spec: ReadonlyMap<string, number>): void {
    this.drops = new Map([...spec].map(([t, every]) => [t, { every, sent: 0 }]));
  }

  send(node: string, h: WireHeader, props?: Buffer, body?: Buffer): void {
    if (this.drops) {
      const d = this.drops.get(h.t);
      if (d && ++d.sent % d.every === 0) return;
    }
    this.node.link.nc.publish(inboxOf(node), encodeWire(h, props, body));
  }

  // ---- the side of a queue owned elsewhere ---------------------------------------------------

  /** mid: a message this node owned and hands back, with the id of its unacknowledged write. */
  sendPub(q: ClusterQueue, id: number, msg: Message, mid?: string): void {
    const h: Extract<WireHeader, { t: 'pub' }> = { t: 'pub', v: q.vhost.name, q: q.name, id, gen: q.gen, s: q.nextInGen(), from: this.node.name, fi: this.node.startedAt, ex: msg.exchange, rk: msg.routingKey, pl: msg.properties.length };
    if (mid !== undefined) h.mid = mid;
    this.send(q.home, h, msg.properties, msg.body);
  }

  subscribe(q: ClusterQueue, c: Consumer): void {
    const old = q.cids.get(c);
    if (old) {
      this.flushSettles();
      const was = this.localByCid.get(old);
      this.localByCid.delete(old);
      // Subscribing again to the same owner (told to by it, or after judging it down wrongly): it
      // may still hold the old subscription, whose deliveries would only bounce. One per consumer.
      // A new owner holds what the old one delivered under the old id (adoptHeld): no unsub, which
      // would return those messages while the client still has them.
      if (!was || was.owner === q.home) this.send(q.home, { t: 'unsub', cid: old });
    }
    // A new id per subscription: settlements of an owner's earlier incarnation cannot match.
    const cid = `${this.node.name}#${this.node.startedAt}#${this.nextCid++}`;
    q.cids.set(c, cid);
    // A consumer without a prefetch (or with no-ack) has no limit of unacked deliveries, as on
    // RabbitMQ: the owner keeps at most a window of them on the way, and this node gives the window
    // back as it hands them on to the client (grants), not as they are acked.
    const windowed = !(c.prefetch > 0 && !c.noAck);
    this.localByCid.set(cid, { q, c, cid, lastDid: 0, windowed, owner: q.home, toGrant: 0, out: this.outOf(q) });
    const credit = windowed ? DEFAULT_CREDIT : c.prefetch;
    const h: Extract<WireHeader, { t: 'sub' }> = { t: 'sub', v: q.vhost.name, q: q.name, cid, from: this.node.name, credit, priority: c.priority };
    if (windowed) h.w = true;
    else {
      // What the consumer holds of the queue already counts against its prefetch on the owner,
      // given back as each is settled (settleRemote).
      const l = this.localByCid.get(cid)!;
      const before = c.channel.unackedOf?.(q, c) ?? [];
      for (const e of before) this.heldBy.set(e, l);
      if (before.length > 0) h.h = before.length;
    }
    if (c.exclusive) h.x = true;
    this.send(q.home, h);
  }

  unsubscribe(q: ClusterQueue, c: Consumer): void {
    const cid = q.cids.get(c);
    if (!cid) return;
    // Acks batched for this tick go first (NATS keeps their order): after the unsub, the owner
    // returns whatever the consumer still holds, the messages just acked included.
    this.flushSettles();
    q.cids.delete(c);
    this.localByCid.delete(cid);
    this.send(q.home, { t: 'unsub', cid });
  }

  /** basic.get on a queue owned elsewhere: the owner's next message, if any. */
  fetch(q: ClusterQueue, again = true): Promise<Entry | undefined> {
    const rid = this.nextRid++;
    if (q.getCidGen !== q.gen) {
      q.getCid = `get#${this.node.name}#${this.node.startedAt}#${this.nextCid++}`;
      q.getCidGen = q.gen;
    }
    const cid = q.getCid;
    const home = q.home;
    return new Promise((resolve) => {
      let late = false;
      const timer = setTimeout(() => {
        // Answered empty now; an answer that still comes holds a message on the owner as out to
        // this node, which nobody here will settle: it goes back (to the front, as a return).
        late = true;
        resolve(undefined);
        setTimeout(() => this.gets.delete(rid), 60_000).unref();
      }, 5_000);
      this.gets.set(rid, (e, did, count, moved, os) => {
        clearTimeout(timer);
        if (late) {
          if (e) this.send(home, { t: 'settle', op: 'requeue', d: [[cid, did]], gone: true });
          return;
        }
        // Asked a node that does not own the queue (any more): the owner is found, and asked once.
        if (moved && again && q.replicated && !q.deleted) {
          void this.node.resolveHome(q).then(() => resolve(q.home !== home && q.home !== '' && !q.owned ? this.fetch(q, false) : undefined));
          return;
        }
        q.remote.messages = count;
        if (e) this.holdHere(e, { q, cid, did, os: os ?? 0, owner: home, out: this.outOf(q) });
        resolve(e);
      });
      this.send(q.home, { t: 'get', v: q.vhost.name, q: q.name, rid, from: this.node.name, cid });
    });
  }

  /**
   * The owner's counts of q, now (into q.remote): what a declare-ok through this node says. The
   * once-a-second stats could be a second old (amqplib's own tests wait, through another node,
   * for a count a publish has just made). As they were if the owner does not answer in time.
   */
  askCounts(q: ClusterQueue): Promise<void> {
    const rid = this.nextRid++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.counts.delete(rid);
        resolve();
      }, 2_000);
      this.counts.set(rid, (m, u, c) => {
        clearTimeout(timer);
        q.remote.messages = m;
        q.remote.unacked = u;
        q.remote.consumers = c;
        resolve();
      });
      // After this node's pubs to it on the same connection: the owner counts them.
      this.send(q.home, { t: 'cnt?', v: q.vhost.name, q: q.name, rid, from: this.node.name });
    });
  }

  /**
   * Whether the owner lets a consumer (exclusive or not) join q, as it stands now; true when the
   * owner does not answer in time (its check at the sub still holds).
   */
  askConsume(q: ClusterQueue, exclusive: boolean): Promise<boolean> {
    const rid = this.nextRid++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.asks.delete(rid);
        resolve(true);
      }, 5_000);
      this.asks.set(rid, (ok) => {
        clearTimeout(timer);
        resolve(ok);
      });
      this.send(q.home, { t: 'cq', v: q.vhost.name, q: q.name, rid, from: this.node.name, x: exclusive });
    });
  }

  /**
   * Resolves once node has applied the shared topology up to revision rev, or after timeoutMs (a
   * node that died, or a question NATS core dropped: the declare goes on rather than hang).
   */
  askSeen(node: string, rev: number, timeoutMs: number): Promise<void> {
    const rid = this.nextRid++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.seenAsks.delete(rid);
        this.node.log.warn({ node, rev }, 'a node did not say it has applied a topology change in time');
        resolve();
      }, timeoutMs);
      this.seenAsks.set(rid, () => {
        clearTimeout(timer);
        resolve();
      });
      this.send(node, { t: 'seen?', rid, from: this.node.name, rev });
    });
  }

  sendTouch(q: ClusterQueue): void {
    this.send(q.home, { t: 'touch', v: q.vhost.name, q: q.name });
  }

  /**
   * queue.purge through this node: the owner purges and says how many went (a purge-ok's count).
   * Asked of a node that does not own it (any more), the owner is found and asked once more; no
   * answer in time counts what the owner's stats last said.
   */
  askPurge(q: ClusterQueue, again = true): Promise<number> {
    const rid = this.nextRid++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.purges.delete(rid);
        resolve(q.remote.messages);
      }, 5_000);
      this.purges.set(rid, (n, moved) => {
        clearTimeout(timer);
        if (moved && again && q.replicated && !q.deleted) {
          void this.node.resolveHome(q).then(() => resolve(q.home !== '' && !q.owned ? this.askPurge(q, false) : q.owned ? q.purge() : 0));
          return;
        }
        q.remote.messages = 0;
        resolve(n);
      });
      this.send(q.home, { t: 'purge', v: q.vhost.name, q: q.name, rid, from: this.node.name });
    });
  }

  sendPurge(q: ClusterQueue): void {
    this.send(q.home, { t: 'purge', v: q.vhost.name, q: q.name });
  }

  /** If entry came from another node's queue, its settlement goes there: returns true. gone: see wire.ts settle. */
  settleRemote(entry: Entry, op: SettleOp, gone = false): boolean {
    const o = this.origin.get(entry);
    if (!o) return false;
    // Held before its consumer's subscription: a place of its prefetch comes back on the owner.
    const sub = this.heldBy.get(entry);
    if (sub) {
      this.heldBy.delete(entry);
      if (this.localByCid.get(sub.cid) === sub) {
        sub.toGrant++;
        this.grantsDue.add(sub);
        this.grantTimer ??= setTimeout(() => this.grant(), 0);
      }
    }
    this.origin.delete(entry);
    o.out.delete(entry);
    // The node that delivered it has gone (or is judged so): this settlement may never reach it, or
    // reach a new owner before it holds the message. It is told to the next owner's askHeld too.
    if (o.os > 0 && (o.q.home !== o.owner || !this.node.membership.get(o.owner)?.running)) this.settledAway(queueKey(o.q.vhost.name, o.q.name), [o.cid, o.did, o.os, op]);
    // And every settlement for a while: one sent to an owner that died before this node noticed
    // (membership takes seconds) is lost with it, and its message came again from the new owner.
    if (o.os > 0) this.recentOf(o).cur.push(o.os * 4 + SETTLE_OPS.indexOf(op));
    const key = `${o.q.home}\0${op}${gone ? '\0gone' : ''}`;
    let s = this.settles.get(key);
    if (!s) this.settles.set(key, (s = { op, gone, d: [] }));
    s.d.push([o.cid, o.did]);
    if (!this.settleScheduled) {
      this.settleScheduled = true;
      setImmediate(() => {
        this.settleScheduled = false;
        this.flushSettles();
      });
    }
    return true;
  }

  private flushSettles(): void {
    if (this.settles.size === 0) return;
    for (const [key, s] of this.settles) this.send(key.slice(0, key.indexOf('\0')), s.gone ? { t: 'settle', op: s.op, d: s.d, gone: true } : { t: 'settle', op: s.op, d: s.d });
    this.settles.clear();
  }

  // ---- RemoteSender: the owner's side --------------------------------------------------------

  deliver(rc: RemoteConsumer, did: number, entry: Entry): void {
    const m = entry.msg;
    const h: WireHeader = { t: 'dlv', o: this.node.name, cid: rc.cid, did, os: m.seq, r: entry.redelivered, ex: m.exchange, rk: m.routingKey, pl: m.properties.length };
    if (entry.deliveryCount !== undefined) h.dc = entry.deliveryCount;
    this.send(rc.node, h, m.properties, m.body);
  }

  cancel(rc: RemoteConsumer): void {
    this.remoteByCid.delete(rc.cid);
    this.send(rc.node, { t: 'cancel', cid: rc.cid });
  }

  // ---- what arrives --------------------------------------------------------------------------

  /** A delivery from q's owner, held here by a client until it settles it. */
  private holdHere(e: Entry, o: Origin): void {
    this.origin.set(e, o);
    o.out.add(e);
  }

  /**
   * q moved away from this node while its clients hold deliveries of it: from now on they are held
   * as deliveries from an owner elsewhere are, under a consumer id of this release and their seqs,
   * so the new owner holds them too (askHeld), and their acks, nacks and rejects go to it. They
   * were delivered to the consumer again by the new owner, beside the copies it held (past its
   * prefetch), and their acks were lost. (Those already from another owner are held so already.)
   */
  holdReleased(q: ClusterQueue, entries: Entry[]): void {
    if (entries.length === 0) return;
    const cid = `${this.node.name}#${this.node.startedAt}#r${this.nextCid++}`;
    const out = this.outOf(q);
    for (const e of entries) if (!this.origin.has(e)) this.holdHere(e, { q, cid, did: e.msg.seq, os: e.msg.seq, owner: this.node.name, out });
  }

  /** The set of q's deliveries held here (kept while the queue is known here: subscriptions hold it). */
  private outOf(q: ClusterQueue): Set<Entry> {
    const key = queueKey(q.vhost.name, q.name);
    let out = this.outHere.get(key);
    if (!out) this.outHere.set(key, (out = new Set()));
    return out;
  }

  /**
   * Every settlement of the last RECENT_MS to 2 × RECENT_MS of deliveries from owners elsewhere, by
   * queue (the set of its deliveries held here), as seq × 4 + its op's index: for a new owner's
   * askHeld, whose answer carries them with those of awaySettles.
   */
  private readonly recent = new WeakMap<Set<Entry>, RecentSettles>();
  private readonly recentByQueue = new Map<string, RecentSettles>();
  private recentTimer: NodeJS.Timeout | null = null;

  private recentOf(o: Origin): RecentSettles {
    let r = this.recent.get(o.out);
    if (r?.live) return r;
    const qk = queueKey(o.q.vhost.name, o.q.name);
    r = this.recentByQueue.get(qk) ?? { cur: [], prev: [], live: true };
    this.recentByQueue.set(qk, r);
    this.recent.set(o.out, r);
    this.recentTimer ??= setInterval(() => this.rotateRecent(), RECENT_MS).unref();
    return r;
  }

  private rotateRecent(): void {
    for (const [qk, r] of this.recentByQueue) {
      r.prev = r.cur;
      r.cur = [];
      // A queue gone quiet is forgotten (made anew by its next settlement).
      if (r.prev.length === 0) {
        r.live = false;
        this.recentByQueue.delete(qk);
      }
    }
  }

  /** What this node's clients settled of q's deliveries while its owner was gone. */
  private settledAwayHere(qk: string): [string, number, number, SettleOp][] {
    const away = this.awaySettles.get(qk) ?? [];
    this.awaySettles.delete(qk);
    return away;
  }

  /** The newest RECENT_MAX of the settlements of the last seconds (recent), oldest first. */
  private settledRecently(qk: string): number[] {
    const r = this.recentByQueue.get(qk);
    if (!r) return [];
    const all = r.prev.length === 0 ? r.cur : r.prev.concat(r.cur);
    return all.length > RECENT_MAX ? all.slice(all.length - RECENT_MAX) : all;
  }

  /** Settlements of deliveries whose owner had gone, by queue, for a new owner (see settleRemote). */
  private readonly awaySettles = new Map<string, [string, number, number, SettleOp][]>();

  private settledAway(qk: string, s: [string, number, number, SettleOp]): void {
    let list = this.awaySettles.get(qk);
    if (!list) {
      this.awaySettles.set(qk, (list = []));
      // A new owner asks within seconds of the old one going; after that they are moot.
      setTimeout(() => this.awaySettles.delete(qk), 30_000).unref();
    }
    if (list.length < 100_000) list.push(s);
  }

  /** What this node's clients hold of q's messages: [consumer id, delivery id, seq on the owner]. */
  private heldHere(q: ClusterQueue): [string, number, number][] {
    const out: [string, number, number][] = [];
    for (const e of this.outHere.get(queueKey(q.vhost.name, q.name)) ?? []) {
      const o = this.origin.get(e);
      if (o && o.os > 0) out.push([o.cid, o.did, o.os]);
    }
    return out;
  }

  /**
   * A new owner's question to every running node (this one included): which of q's messages do
   * their clients hold? Nodes that do not answer within a second are taken to hold none.
   */
  async askHeld(q: ClusterQueue): Promise<HeldElsewhere> {
    const held: HeldElsewhere = { out: new Map(), settled: new Map() };
    const add = (node: string, d: [string, number, number][], s: [string, number, number, SettleOp][], r: number[]): void => {
      for (const [cid, did, os] of d) held.out.set(os, { node, cid, did });
      for (const [, , os, op] of s) held.settled.set(os, op);
      for (const x of r) held.settled.set(Math.floor(x / 4), SETTLE_OPS[x % 4]!);
    };
    const qk = queueKey(q.vhost.name, q.name);
    add(this.node.name, this.heldHere(q), this.settledAwayHere(qk), this.settledRecently(qk));
    const asks: Promise<void>[] = [];
    for (const n of this.node.nodes()) {
      if (!n.running || n.name === this.node.name) continue;
      const rid = this.nextRid++;
      asks.push(
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.heldAsks.delete(rid);
            resolve();
          }, 1_000);
          this.heldAsks.set(rid, (d, settled, recent) => {
            clearTimeout(timer);
            add(n.name, d, settled, recent);
            resolve();
          });
          this.send(n.name, { t: 'held?', v: q.vhost.name, q: q.name, rid, from: this.node.name });
        }),
      );
    }
    await Promise.all(asks);
    return held;
  }

  /**
   * After a takeover: the messages other nodes' clients hold leave the ready list for holders
   * under the ids those nodes know them by, so their acks and returns settle them here.
   */
  adoptHeld(q: ClusterQueue, held: HeldElsewhere): void {
    const kept: Entry[] = [];
    const settled: [Entry, SettleOp][] = [];
    for (const e of q.ready.clear()) {
      // Settled by its client after the old owner went: acked or dropped now, a return stays.
      const op = held.settled.get(e.msg.seq);
      if (op === 'ack' || op === 'drop') {
        settled.push([e, op]);
        continue;
      }
      const h = held.out.get(e.msg.seq);
      if (!h) {
        kept.push(e);
        continue;
      }
      let rc = this.remoteByCid.get(h.cid);
      if (!rc) {
        // Never joins the queue's consumers: it only holds (as basic.get's holder does).
        rc = new RemoteConsumer(h.cid, h.node, q, Number.MAX_SAFE_INTEGER, 0, this);
        rc.countedByChannels = h.node === this.node.name;
        this.remoteByCid.set(h.cid, rc);
      }
      rc.hold(e, h.did);
    }
    for (const e of kept) q.ready.push(e);
    this.node.log.info({ queue: q.name, vhost: q.vhost.name, held: held.out.size, settled: settled.length }, 'taken over: messages clients on the nodes still running hold stay with them');
    for (const [e, op] of settled) {
      if (op === 'ack') q.settle(e);
      else q.discard(e, 'rejected');
    }
    // Settled by their clients while this node was reading the queue: settled now.
    for (const cid of new Set([...held.out.values()].map((h) => h.cid))) {
      const early = this.early.get(cid);
      const rc = this.remoteByCid.get(cid);
      if (!early || !rc) continue;
      this.early.delete(cid);
      for (const x of early.settles) rc.settle(x.did, x.op, x.gone);
    }
  }

  /**
   * A settlement for a consumer id this node does not know: kept a while, as it may be for a
   * message a takeover under way here is about to hold for that id (adoptHeld). Most are for
   * consumers gone for good; they expire unused.
   */
  private keepEarly(cid: string, did: number, op: SettleOp, gone: boolean): void {
    let e = this.early.get(cid);
    if (!e) {
      this.early.set(cid, (e = { settles: [] }));
      setTimeout(() => this.early.delete(cid), 10_000).unref();
    }
    if (e.settles.length < 10_000) e.settles.push({ did, op, gone });
  }

  /**
   * Gives windowed subscriptions' deliveries back to their owners' windows, for those whose
   * client takes them (its connection is not congested); the others wait and are looked at again.
   */
  private grant(): void {
    this.grantTimer = null;
    for (const l of this.grantsDue) {
      if (this.localByCid.get(l.cid) !== l) {
        this.grantsDue.delete(l);
        continue;
      }
      if (!l.c.channel.canDeliverTo(l.c)) continue; // its client is behind: granted once it takes more
      this.send(l.owner, { t: 'credit', cid: l.cid, n: l.toGrant });
      l.toGrant = 0;
      this.grantsDue.delete(l);
    }
    if (this.grantsDue.size > 0) this.grantTimer = setTimeout(() => this.grant(), 20);
  }

  /** A message to this node's inbox. */
  received(m: Msg): void {
    const broker = this.node.broker;
    if (!broker) return;
    let w;
    try {
      w = decodeWire(m.data);
    } catch (err) {
      this.node.log.warn({ err }, 'unreadable message from another node');
      return;
    }
    const { h, props, body } = w;
    switch (h.t) {
      case 'pub': {
        const q = this.node.queueAt(h.v, h.q);
        const sender = this.senderOf(h.from, h.fi);
        const session = `${sender}\0${h.v}\0${h.q}`;
        if ((q && !q.owned && !q.deleted) || (this.refused.get(session) ?? -1) >= h.gen) {
          // Not (or no longer) this node's, or its generation was refused: the sender keeps it,
          // finds the owner and sends it again.
          this.refuse(h.from, sender, h.fi, h.v, h.q, h.gen);
          return;
        }
        // After a gap in this generation, the rest of it is sent again in the next one.
        if ((this.gapped.get(session) ?? -1) >= h.gen) return;
        const order = q && !q.deleted ? this.order(session, h.gen, h.s, h.id) : 'next';
        // A straggler of an older generation: the sender has sent it again since.
        if (order === 'stale') return;
        if (order === 'gap') {
          // A pub of this generation never arrived (NATS core dropped it): what came before it is
          // answered, then the generation is refused, so no pubok covers the lost one and the
          // sender sends the rest again.
          this.node.log.warn({ from: h.from, queue: h.q, gen: h.gen, s: h.s }, 'a publish from another node went missing: asking for the rest again');
          this.gapped.set(session, h.gen);
          // The answer for the gap carries the last pub before it itself: answers of a generation
          // flushed separately may come in any order, and the sender moves on at this one.
          const at = this.expected.get(session);
          this.owe(h.from, sender, h.fi, h.v, h.q, at?.gen === h.gen ? at.lastId : 0, h.gen, q!.epoch, 'gap');
          return;
        }
        if (q && !q.deleted) {
          // Sent again in a newer generation (the sender saw the owner change, or judged it down,
          // while this node was taking the queue over and holding what came) after this node took
          // it in: not taken twice. What a sender's generation delivers is a prefix of what it
          // sent (a gap refuses the rest), and each generation starts at its oldest unanswered
          // pub, so the ids of a run taken in a row were all taken. A run ends at a pub not taken
          // (x-overflow) or a failed write, and with the epoch (the queue dropped and read again
          // has only what its stream has).
          const at = this.expected.get(session)!;
          if (at.takenEpoch === q.epoch && h.id >= at.takenFrom && h.id <= at.taken) {
            this.owe(h.from, sender, h.fi, h.v, h.q, h.id, h.gen, q.epoch);
            return;
          }
          if (at.takenEpoch !== q.epoch) at.takenFrom = h.id;
          at.taken = h.id;
          at.takenEpoch = q.epoch;
          // Copies: the NATS buffer is the client's, and the message may live long in the queue.
          const p = Buffer.from(props);
          const msg = new Message(broker.nextSeq++, h.ex, h.rk, p, Buffer.from(body), deliveryModeOf(p) === 2);
          q.stats.publish++;
          // x-overflow reject-publish refused it: the sender's publisher gets a nack.
          const pub = pubKey(h.from, h.fi, h.id);
          if (!q.enqueue(msg, h.mid === undefined ? { pub } : { pub, mid: h.mid })) {
            // Not taken: sent again, it is judged again.
            at.takenEpoch = -1;
            this.owe(h.from, sender, h.fi, h.v, h.q, h.id, h.gen, q.epoch, 'rejected');
            return;
          }
        }
        this.owe(h.from, sender, h.fi, h.v, h.q, h.id, h.gen, q?.epoch ?? 0);
        return;
      }
      case 'pubok': {
        // An answer to this node's previous incarnation (it restarted since) is not about its pubs.
        if (h.to !== undefined && h.to !== this.node.startedAt) return;
        const q = this.node.queueAt(h.v, h.q);
        if (q && q.gen === h.gen) q.answeredUpTo(h.upTo, h.rej);
        return;
      }
      case 'sub':
        this.subscribed(h);
        return;
      case 'unsub': {
        // basic.cancel (or a subscription made again): the consumer leaves the queue, and what it
        // holds stays out with its channel until acked or returned, as RabbitMQ keeps a cancelled
        // consumer's unacked messages (they were returned, so acked after the cancel they came
        // again). Its channel closing returns them (settle, gone); its node going down too.
        const rc = this.remoteByCid.get(h.cid);
        if (!rc) return;
        rc.queue.removeConsumer(rc);
        rc.detached = true;
        if (rc.inflight.size === 0) this.remoteByCid.delete(h.cid);
        return;
      }
      case 'cancel':
      case 'subno': {
        const l = this.localByCid.get(h.cid);
        if (!l) return;
        this.localByCid.delete(h.cid);
        l.q.cids.delete(l.c);
        const i = l.q.consumers.indexOf(l.c);
        if (i >= 0) l.q.consumers.splice(i, 1);
        if (h.t === 'cancel') l.c.channel.cancelByServer(l.c);
        else l.c.channel.refuseConsumer?.(l.c);
        return;
      }
      case 'cq': {
        const q = this.node.queueAt(h.v, h.q);
        this.send(h.from, { t: 'ca', rid: h.rid, ok: !q || !q.owned || q.deleted || !q.inExclusiveUse(h.x) });
        return;
      }
      case 'cnt?': {
        const q = this.node.queueAt(h.v, h.q);
        if (!q) return; // the asker keeps what it knows
        void this.whenOwned(q).then((owned) => {
          if (owned) this.send(h.from, { t: 'cnt', rid: h.rid, m: q.messageCount, u: q.unackedTotal, c: q.consumerCount });
        });
        return;
      }
      case 'cnt':
        this.counts.get(h.rid)?.(h.m, h.u, h.c);
        this.counts.delete(h.rid);
        return;
      case 'ca':
        this.asks.get(h.rid)?.(h.ok);
        this.asks.delete(h.rid);
        return;
      case 'seen?':
        void this.node.store.whenSeen(h.rev).then(() => this.send(h.from, { t: 'seen', rid: h.rid }));
        return;
      case 'seen':
        this.seenAsks.get(h.rid)?.();
        this.seenAsks.delete(h.rid);
        return;
      case 'dlv': {
        const l = this.localByCid.get(h.cid);
        if (!l) {
          // Cancelled here while it was on its way: back to the front of the owner's queue, and the
          // subscription ended there too (an unsub NATS lost, or sent while the owner was not
          // known, left a consumer there that every delivery would bounce off).
          this.send(h.o, { t: 'settle', op: 'requeue', d: [[h.cid, h.did]], gone: true });
          this.send(h.o, { t: 'unsub', cid: h.cid });
          return;
        }
        if (h.did > l.lastDid + 1) {
          // Deliveries NATS core dropped on the way: the owner holds them as delivered here, where
          // they never came. Back to its queue, so they are not stuck unacked for good.
          const missing: [string, number][] = [];
          for (let did = l.lastDid + 1; did < h.did; did++) missing.push([h.cid, did]);
          this.node.log.warn({ owner: h.o, queue: l.q.name, missing: missing.length }, 'deliveries from another node went missing: returning them to the queue');
          this.send(h.o, { t: 'settle', op: 'requeue', d: missing });
          if (l.windowed) l.toGrant += missing.length; // off the wire too: back to the window
        }
        l.lastDid = Math.max(l.lastDid, h.did);
        const entry = this.entryOf(broker, h.r, h.dc, h.ex, h.rk, props, body);
        this.holdHere(entry, { q: l.q, cid: h.cid, did: h.did, os: h.os ?? 0, owner: h.o, out: l.out });
        l.c.deliver(entry);
        if (l.windowed) {
          l.owner = h.o;
          l.toGrant++;
          this.grantsDue.add(l);
          this.grantTimer ??= setTimeout(() => this.grant(), 0);
        }
        return;
      }
      case 'credit': {
        const rc = this.remoteByCid.get(h.cid);
        if (!rc) return;
        if (rc.windowed) rc.granted += h.n;
        else rc.heldBefore = Math.max(0, rc.heldBefore - h.n);
        rc.queue.scheduleDispatch();
        return;
      }
      case 'settle':
        for (const [cid, did] of h.d) {
          const rc = this.remoteByCid.get(cid);
          if (!rc) {
            this.keepEarly(cid, did, h.op, h.gone === true);
            continue;
          }
          rc.settle(did, h.op, h.gone === true);
          if (rc.detached && rc.inflight.size === 0) this.remoteByCid.delete(cid);
        }
        return;
      case 'get':
        this.answerGet(h.v, h.q, h.rid, h.from, h.cid);
        return;
      case 'got': {
        const done = this.gets.get(h.rid);
        if (!done) return;
        this.gets.delete(h.rid);
        if (h.did === undefined) return done(undefined, 0, h.n, h.moved === true);
        done(this.entryOf(broker, h.r ?? false, h.dc, h.ex ?? '', h.rk ?? '', props, body), h.did, h.n, false, h.os);
        return;
      }
      case 'held?': {
        const q = this.node.queueAt(h.v, h.q);
        const qk = queueKey(h.v, h.q);
        const answer: Extract<WireHeader, { t: 'held' }> = { t: 'held', rid: h.rid, d: q ? this.heldHere(q) : [] };
        const settled = this.settledAwayHere(qk);
        if (settled.length > 0) answer.s = settled;
        const recent = this.settledRecently(qk);
        if (recent.length > 0) answer.r = recent;
        this.send(h.from, answer);
        return;
      }
      case 'held':
        this.heldAsks.get(h.rid)?.(h.d, h.s ?? [], h.r ?? []);
        this.heldAsks.delete(h.rid);
        return;
      case 'touch': {
        const q = this.node.queueAt(h.v, h.q);
        if (q && q.owned) q.touch();
        return;
      }
      case 'purge': {
        const q = this.node.queueAt(h.v, h.q);
        void (q ? this.whenOwned(q) : Promise.resolve(false)).then((owned) => {
          const n = owned ? q!.purge() : 0;
          if (h.rid !== undefined && h.from !== undefined) this.send(h.from, owned ? { t: 'purged', rid: h.rid, n } : { t: 'purged', rid: h.rid, n: 0, moved: true });
        });
        return;
      }
      case 'purged':
        this.purges.get(h.rid)?.(h.n, h.moved === true);
        this.purges.delete(h.rid);
        return;
      case 'moved': {
        if (h.to !== undefined && h.to !== this.node.startedAt) return; // to this node's previous incarnation
        const q = this.node.queueAt(h.v, h.q);
        if (!q || q.deleted) return;
        if (h.gap) {
          // Still the owner; a pub went missing: the unanswered ones go again, in a new generation.
          if (h.gen === q.gen) q.resendPubsInNewGen();
          return;
        }
        // A refused generation: everything unanswered goes again, in a new one, once the owner is known.
        if (h.gen >= 0 && h.gen === q.gen) q.gen++;
        setTimeout(() => {
          if (q.deleted) return;
          const home = q.home;
          void (q.replicated ? this.node.resolveHome(q) : Promise.resolve()).then(() => {
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
  /**
   * Whether this node owns q, once it knows: a node the others already take for a new queue's
   * owner may not have found that out itself yet (it learns from the same stream, a moment later),
   * or may still be reading the queue. Asked then, it answered "not mine" or nothing, and a purge
   * through another node purged nothing, a declare-ok there counted 0.
   */
  private async whenOwned(q: ClusterQueue): Promise<boolean> {
    if (!q.owned && q.replicated && !q.deleted && q.home === '') await this.node.resolveHome(q);
    if (q.owned && q.loading) await q.loading;
    return q.owned && !q.deleted;
  }

  /** Another node's consumer of a queue this node owns (or, not knowing yet, may: see whenOwned). */
  private subscribed(h: Extract<WireHeader, { t: 'sub' }>, again = true): void {
    const q = this.node.queueAt(h.v, h.q);
    if (!q || q.deleted) {
      this.send(h.from, { t: 'cancel', cid: h.cid });
      return;
    }
    if (!q.owned) {
      if (again && q.replicated && q.home === '') {
        void this.whenOwned(q).then(() => this.subscribed(h, false));
        return;
      }
      this.send(h.from, { t: 'moved', v: h.v, q: h.q, gen: -1 });
      return;
    }
    if (q.inExclusiveUse(h.x ?? false)) {
      // Another consumer took it exclusively since the sender asked (cq): refused after all.
      this.send(h.from, { t: 'subno', cid: h.cid });
      return;
    }
    const rc = new RemoteConsumer(h.cid, h.from, q, h.credit, h.priority, this, h.x ?? false, h.w === true);
    if (h.h !== undefined && h.w !== true) rc.heldBefore = h.h;
    this.remoteByCid.set(h.cid, rc);
    q.addConsumer(rc);
  }

  private answerGet(v: string, name: string, rid: number, from: string, cid: string, again = true): void {
    const q = this.node.queueAt(v, name);
    const reply = (h: WireHeader, props?: Buffer, body?: Buffer): void => this.send(from, h, props, body);
    if (!q || q.deleted) return reply({ t: 'got', rid, n: 0 });
    // Not this node's (any more): the asker finds the owner rather than take this for empty.
    if (!q.owned) {
      if (!again || q.home !== '' || !q.replicated) return reply({ t: 'got', rid, n: 0, moved: true });
      // Perhaps this node's, once it knows (see whenOwned).
      void this.whenOwned(q).then(() => this.answerGet(v, name, rid, from, cid, false));
      return;
    }
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
      const h: WireHeader = { t: 'got', rid, did, os: e.msg.seq, r: e.redelivered, ex: e.msg.exchange, rk: e.msg.routingKey, pl: e.msg.properties.length, n: q.messageCount };
      if (e.deliveryCount !== undefined) h.dc = e.deliveryCount;
      reply(h, e.msg.properties, e.msg.body);
    };
    const wait = q.headReady();
    if (wait) void wait.then(answer);
    else answer();
  }

  /**
   * Where a pub stands in its sender's generation: the next one, after a gap, or of an older
   * generation (a straggler). A newer generation starts at 0.
   */
  private order(session: string, gen: number, s: number, id: number): 'next' | 'gap' | 'stale' {
    const at = this.expected.get(session);
    if (at !== undefined && gen < at.gen) return 'stale';
    if (at === undefined || gen > at.gen) {
      if (s !== 0) return 'gap';
      this.expected.set(session, { gen, next: 1, lastId: id, takenFrom: at?.takenFrom ?? 0, taken: at?.taken ?? 0, takenEpoch: at?.takenEpoch ?? -1 });
      return 'next';
    }
    if (s !== at.next) return 'gap';
    at.next++;
    at.lastId = id;
    return 'next';
  }

  /**
   * The sender of a pub: its node's incarnation (fi, its startedAt; absent from an older node). A
   * new incarnation of a node ends its older ones' sessions.
   */
  private senderOf(node: string, fi: number | undefined): string {
    if (fi === undefined) return node;
    const known = this.incarnations.get(node);
    if (known !== fi) {
      if (known !== undefined && known > fi) return `${node}#${fi}`; // a straggler of an old one
      this.incarnations.set(node, fi);
      if (known !== undefined) {
        const prefix = `${node}#${known}\0`;
        for (const m of [this.expected, this.gapped, this.refused]) for (const key of m.keys()) if (key.startsWith(prefix)) m.delete(key);
      }
    }
    return `${node}#${fi}`;
  }

  /** Answers moved for a generation of pubs, and refuses the rest of it. */
  private refuse(node: string, sender: string, to: number | undefined, v: string, q: string, gen: number): void {
    const session = `${sender}\0${v}\0${q}`;
    if ((this.refused.get(session) ?? -1) >= gen) {
      // Refused already: the sender has been told.
      return;
    }
    this.refused.set(session, gen);
    this.send(node, to === undefined ? { t: 'moved', v, q, gen } : { t: 'moved', v, q, gen, to });
  }

  /**
   * Answers pubs once the owner's store has what they carried (one flush for a tick's worth); a
   * gap refuses the generation after answering what came before it.
   */
  private owe(node: string, sender: string, to: number | undefined, v: string, q: string, id: number, gen: number, epoch: number, note?: 'rejected' | 'gap'): void {
    const key = `${sender}\0${v}\0${q}\0${gen}\0${epoch}`;
    let o = this.owed.get(key);
    if (o) o.upTo = Math.max(o.upTo, id);
    else this.owed.set(key, (o = { node, sender, v, q, upTo: id, gen, epoch }));
    if (to !== undefined) o.to = to;
    if (note === 'rejected') (o.rej ??= []).push(id);
    else if (note === 'gap') o.gap = true;
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
          const same = this.node.queueAt(b.v, b.q)?.epoch === b.epoch;
          const session = `${b.sender}\0${b.v}\0${b.q}`;
          if (ok && same && (this.refused.get(session) ?? -1) < b.gen) {
            if (b.upTo > 0) {
              const h: Extract<WireHeader, { t: 'pubok' }> = { t: 'pubok', v: b.v, q: b.q, upTo: b.upTo, gen: b.gen };
              if (b.rej) h.rej = b.rej;
              if (b.to !== undefined) h.to = b.to;
              this.send(b.node, h);
            }
            if (b.gap) this.send(b.node, b.to === undefined ? { t: 'moved', v: b.v, q: b.q, gen: b.gen, gap: true } : { t: 'moved', v: b.v, q: b.q, gen: b.gen, gap: true, to: b.to });
          } else {
            // A failed write: what the sender sends again is taken again (see 'pub').
            if (!ok) {
              const at = this.expected.get(session);
              if (at) at.takenEpoch = -1;
            }
            this.refuse(b.node, b.sender, b.to, b.v, b.q, b.gen);
          }
        }
      };
      Promise.all([this.node.store.flushLocal(), this.node.ownedFlushed()]).then(
        () => answer(true),
        (err: unknown) => {
          this.node.log.warn({ err: String(err) }, 'a write failed: publishes from other nodes go to the new owner');
          answer(false);
        },
      );
    });
  }

  forgetCid(cid: string): void {
    this.localByCid.delete(cid);
  }

  /** A queue went away: its consumers' subscriptions with it, and what was counted of its pubs. */
  forgetQueue(q: ClusterQueue): void {
    // A queue declared again under the name starts its generations afresh on every sender.
    this.outHere.delete(queueKey(q.vhost.name, q.name));
    const suffix = `\0${q.vhost.name}\0${q.name}`;
    for (const m of [this.expected, this.gapped, this.refused]) {
      for (const key of m.keys()) if (key.endsWith(suffix)) m.delete(key);
    }
    for (const [c, cid] of q.cids) {
      this.localByCid.delete(cid);
      q.cids.delete(c);
    }
    this.dropRemoteConsumers(q);
  }

  /** The queue is no longer owned here: the other nodes' consumers of it subscribe to the new owner. */
  dropRemoteConsumers(q: ClusterQueue, resubscribe = false): void {
    const nodes = new Set<string>();
    for (const rc of [...this.remoteByCid.values()]) {
      if (rc.queue !== q) continue;
      this.remoteByCid.delete(rc.cid);
      // Its deliveries are the new owner's to count (this node's clients' stay counted here until settled).
      if (!rc.countedByChannels) q.unackedCount -= rc.inflight.size;
      if (q.consumers.includes(rc)) nodes.add(rc.node);
    }
    // As a sub to a node that does not own the queue is answered: the node finds the owner and
    // subscribes its consumers again.
    if (resubscribe) for (const node of nodes) this.send(node, { t: 'moved', v: q.vhost.name, q: q.name, gen: -1 });
  }

  /** A node went down: its consumers' deliveries go back to the queues owned here. */
  nodeDown(node: string): void {
    for (const rc of [...this.remoteByCid.values()]) {
      if (rc.node !== node) continue;
      this.remoteByCid.delete(rc.cid);
      rc.returnAll();
      if (rc.queue.consumers.includes(rc)) rc.queue.removeConsumer(rc);
    }
  }
}
