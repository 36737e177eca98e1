// A durable queue's messages in a JetStream stream, replicated by NATS (R3 for a quorum queue, R1
// on its node's server for a classic one). Only the queue's owner writes. Each owner, once it has
// read the stream, appends a fence marker (expecting the stream's last sequence as read) under a
// message id of its own epoch; from then on it publishes pipelined, each write where its own count
// of the stream's sequences puts it. A write that lands anywhere else shows another writer was
// here (an earlier owner whose writes were still in flight): the message is in the stream, but
// this owner's copy of the queue is not whole, so it gives the queue up and reads it again. A
// retry of a lost acknowledgement is de-duplicated by its Nats-Msg-Id. (Writes carry no
// Nats-Expected-Last-Msg-Id: nats-server checks it on each replica against the id of the last
// message that replica stored, which a replica does not know after a restart once that message
// was purged, nor after catching up. Such a replica refused every later write of the owner, looked
// current, and when it became leader the confirmed messages it had refused were gone.)
// Acked messages are removed a
// prefix at a time (one purge for a run of acks), and one by one only when they sit behind an
// unacked message for a while.
// The hot path uses core publish with a reply subject on one shared inbox, not the client's
// JetStream helpers (which cost an Error and a timer per request).
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { headers, type Msg, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from 'pino';
import { bodyLength } from '../frames/body.js';
import { decodeMessage, encodeMessage } from '../store/codec.js';
import type { StoredMessage } from '../store/store.js';
import type { DeliveredMark } from './delivered-marks.js';
import { jsApi } from './nats-link.js';

export const streamNameOf = (vhost: string, queue: string): string =>
  `WQ_${createHash('sha1').update(`${vhost}\0${queue}`).digest('hex').slice(0, 24)}`;

/** A queue's JetStream stream: on disk, messages kept until removed (or past its limits), resends de-duplicated for 2 minutes. */
export function streamConfig(name: string, subject: string, replicas: number): Record<string, unknown> {
  return { name, subjects: [subject], retention: 'limits', storage: 'file', num_replicas: replicas, discard: 'old', duplicate_window: 120_000_000_000 };
}

const ACK_TIMEOUT_MS = 5_000;
const EMPTY = Buffer.alloc(0);
/** An acked message behind an unacked one is deleted on its own after this long. */
const LONE_DELETE_MS = 1_000;

interface Put {
  m: StoredMessage;
  data: Buffer;
  /**
   * Its message id: the epoch and the sequence it should land at, unique to this write, so that
   * nats-server de-duplicates its resends but not a later write of the same message (written
   * again, flagged redelivered: under an id of its seq it was taken for a resend, landed nowhere,
   * and the owner, reading that as another writer, gave the queue up and read back a stale copy).
   */
  id: string;
  /** The sequence it should land at, less one (what prefix purges must not pass). */
  expected: number;
  /** The reply subject its acknowledgement is awaited on ('' before it is sent). */
  reply: string;
  sentAt: number;
  resolve: () => void;
  reject: (e: Error) => void;
  /** Its promise as flushes wait for it (pending, and the node's puts). */
  tracked?: Promise<void>;
  /** Published through a node's pub (see forwarding): its name, written with it. */
  pub?: string;
  /** A dead letter the queue owes at least once (not one of its messages): see put. */
  owed?: boolean;
}

export class FencedError extends Error {}

/** A message whose write was unacknowledged when its queue moved (QueueStream.handBack). */
export interface HandedBack {
  m: StoredMessage;
  /** The write's Nats-Msg-Id: the new owner has the message if its read found this id. */
  id: string;
  settle(ok: boolean): void;
}

/** The header naming the node's pub a write's message came in (see QueueStream.forwarding). */
const PUB_HEADER = 'Warren-Pub';
/** The header marking a write as a dead letter the queue owes, not a message of the queue. */
const OWED_HEADER = 'Warren-Owed';
/** How many of a stream's newest messages a takeover keeps the ids of (see QueueStream.wrote). */
const ID_WINDOW = 65_536;
/** How long after its read a new owner looks for handed-back messages' ids. */
const ID_KEEP_MS = 60_000;

/** The replies to every queue stream's publishes arrive on one subscription per node. */
export class PubAckInbox {
  private readonly waiting = new Map<number, (m: Msg) => void>();
  private next = 1;
  private readonly sub: Subscription;
  readonly prefix: string;

  constructor(nc: NatsConnection, node: string) {
    this.prefix = `_WARREN.${Buffer.from(node).toString('base64url')}.${Date.now().toString(36)}.`;
    this.sub = nc.subscribe(`${this.prefix}*`, {
      callback: (_err, m) => {
        const id = Number(m.subject.slice(this.prefix.length));
        const w = this.waiting.get(id);
        if (w) {
          this.waiting.delete(id);
          w(m);
        }
      },
    });
  }

  expect(cb: (m: Msg) => void): string {
    const id = this.next++;
    this.waiting.set(id, cb);
    return `${this.prefix}${id}`;
  }

  forget(subject: string): void {
    this.waiting.delete(Number(subject.slice(this.prefix.length)));
  }

  close(): void {
    this.sub.unsubscribe();
  }
}

export class QueueStream {
  readonly name: string;
  readonly subject: string;
  /** The stream's last sequence as this writer knows it (what the next publish expects). */
  private last = 0;
  /** This owner's epoch (its message ids' prefix). */
  private epoch = '';
  private static epochs = 0;
  private readonly inflight = new Map<number, Put>();
  private readonly pending = new Set<Promise<void>>();
  /** Our seq → the stream's, for messages written or loaded. */
  private readonly jsSeq = new Map<number, number>();
  /** Stream sequences still holding a message, ascending, and those acked (seq → when). */
  private readonly live: number[] = [];
  private liveHead = 0;
  private readonly acked = new Map<number, number>();
  /** Deletes of messages whose publish is not acknowledged yet. */
  private readonly early = new Set<number>();
  private purgedTo = 0;
  private compactTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  fenced = false;
  /** The message ids, and the pubs (Warren-Pub), load() found among the stream's newest messages, for a while (wrote). */
  private written: { ids: Set<string>; pubs: Set<string> } | null = null;
  /** Closed (handBack, closeDeleted): nothing is written or kept for a hand-back any more. */
  private closed = false;
  /** Puts not sent because the stream was given up (fenced): the queue's release hands them back. */
  private unsent: Put[] = [];
  /**
   * Which of the queue's messages are out to consumers (a quorum queue's; set by the owner once it
   * has read it): read() flags those it hands back, so that recovery counts them once more.
   */
  delivered: DeliveredMark | null = null;
  /** During a takeover's read: messages clients on other nodes hold (not counted as returned). */
  heldElsewhere: Map<number, unknown> | null = null;
  /** Fences refused by a leader whose last sequence is behind the stream's (see leaderBehind). */
  private behindRefusals = 0;
  /** Told when a write finds another writer was here (fenced) or the stream is gone. */
  onFenced: (() => void) | null = null;
  /**
   * Our seqs of the messages written or loaded, ascending: where a read of the queue's paged tail
   * (read) finds them. Entries of messages since deleted stay until trimOrder passes them.
   */
  private readonly order: number[] = [];
  private orderHead = 0;
  private deletesSinceTrim = 0;
  /** The dead letters owed that load() read, by their seq, for the new owner's recovery (owedRead). */
  private owedLoaded = new Map<number, StoredMessage>();
  /** What load() read, by our seq: bodies only up to its keepBytes (read fetches the rest again). */
  private loaded = new Map<number, { m: StoredMessage; bytes: number; body: boolean }>();

  constructor(
    /** The node writing (the prefix of its epochs). */
    private readonly owner: string,
    private readonly nc: NatsConnection,
    private readonly inbox: PubAckInbox,
    /** Every put of every queue stream of the node still waiting for its acknowledgement. */
    private readonly puts: Set<Promise<void>>,
    readonly vhost: string,
    readonly queue: string,
    private readonly log: Logger,
  ) {
    this.name = streamNameOf(vhost, queue);
    this.subject = `warren.q.${this.name}`;
  }

  private api<T>(subject: string, body: unknown, once?: { timeoutMs: number }): Promise<T> {
    return jsApi<T>(this.nc, subject, body, once);
  }

  /** Creates the stream if it does not exist (idempotent with the same configuration). */
  async create(replicas: number, placementTag?: string): Promise<void> {
    const config = streamConfig(this.name, this.subject, replicas);
    if (placementTag) config.placement = { tags: [placementTag] };
    try {
      await this.api(`$JS.API.STREAM.CREATE.${this.name}`, config);
    } catch (err) {
      // Already there (made by this queue's first owner): fine.
      if (!/already in use|exists/i.test(String((err as Error).message))) throw err;
    }
  }

  /** once: one question, failing after timeoutMs (its caller asks again), rather than retrying for up to 20 s. */
  async info(once?: { timeoutMs: number }): Promise<{ leader: string | undefined; servers: string[]; first: number; last: number; messages: number }> {
    const i = await this.api<{ cluster?: { leader?: string; replicas?: { name: string }[] }; state: { first_seq: number; last_seq: number; messages: number } }>(
      `$JS.API.STREAM.INFO.${this.name}`,
      {},
      once,
    );
    const servers = [i.cluster?.leader, ...(i.cluster?.replicas ?? []).map((r) => r.name)].filter((x): x is string => !!x);
    return { leader: i.cluster?.leader, servers, first: i.state.first_seq, last: i.state.last_seq, messages: i.state.messages };
  }

  /**
   * Reads every message the stream holds (a new owner's recovery); returns our highest seq. Only
   * the first keepBytes of bodies are kept (the queue's in-memory part): a long queue's takeover
   * must not hold all of it in memory; read() fetches the others again when their page comes.
   */
  async load(keepBytes = Infinity): Promise<number> {
    const info = await this.info();
    this.last = info.last;
    this.fenced = false;
    this.jsSeq.clear();
    this.live.length = 0;
    this.liveHead = 0;
    this.acked.clear();
    this.purgedTo = info.first;
    // By our seq: a message requeued is written again (flagged redelivered), and the newer record
    // wins; the older one is left for the prefix purge.
    const bySeq = new Map<number, { m: StoredMessage; js: number; bytes: number; body: boolean }>();
    const owed = new Map<number, { m: StoredMessage; js: number }>();
    let seq = info.first;
    let maxSeq = 0;
    let kept = 0;
    const written = { ids: new Set<string>(), pubs: new Set<string>() };
    this.written = written;
    // Direct reads by sequence, a batch of requests in flight at a time (2.9 has no batch get).
    while (info.messages > 0 && seq <= info.last) {
      const batch: ReturnType<QueueStream['getMessage']>[] = [];
      for (let i = 0; i < 256 && seq <= info.last; i++, seq++) batch.push(this.getMessage(seq, seq > info.last - ID_WINDOW));
      for (const r of await Promise.all(batch)) {
        if (!r) continue;
        if (r.id) written.ids.add(r.id);
        if (r.pub) written.pubs.add(r.pub);
        if (r.m === null) {
          // An owner's fence marker: holds no message, goes with the next prefix purge.
          continue;
        }
        if (r.owed) {
          // A dead letter owed: the newest record of it wins (a retry that some targets took).
          owed.set(r.m.seq, { m: r.m, js: r.seq });
          maxSeq = Math.max(maxSeq, r.m.seq);
          continue;
        }
        const earlier = bySeq.get(r.m.seq);
        if (earlier && !r.m.redelivered) {
          // Two messages under one seq (written before owners restamped what they held): both stay.
          bySeq.set(-r.seq, earlier);
        }
        const bytes = bodyLength(r.m.body);
        const body = kept + bytes <= keepBytes || kept === 0;
        if (body) kept += bytes;
        else r.m.body = EMPTY;
        bySeq.set(r.m.seq, { m: r.m, js: r.seq, bytes, body });
        maxSeq = Math.max(maxSeq, r.m.seq);
      }
    }
    this.loaded = new Map();
    this.order.length = 0;
    this.orderHead = 0;
    for (const { m, js, bytes, body } of bySeq.values()) {
      this.loaded.set(m.seq, { m, bytes, body });
      this.order.push(m.seq);
      this.jsSeq.set(m.seq, js);
      this.live.push(js);
    }
    this.owedLoaded = new Map();
    for (const { m, js } of owed.values()) {
      this.owedLoaded.set(m.seq, m);
      this.jsSeq.set(m.seq, js);
      this.live.push(js);
    }
    this.live.sort((a, b) => a - b);
    this.order.sort((a, b) => a - b);
    return maxSeq;
  }

  private async getMessage(seq: number, withId = false): Promise<{ seq: number; m: StoredMessage | null; id?: string | undefined; pub?: string | undefined; owed: boolean } | null> {
    try {
      const r = await this.api<{ message: { seq: number; data?: string; hdrs?: string } }>(`$JS.API.STREAM.MSG.GET.${this.name}`, { seq });
      const data = Buffer.from(r.message.data ?? '', 'base64');
      let id: string | undefined;
      let pub: string | undefined;
      let owed = false;
      if (r.message.hdrs) {
        const hdrs = Buffer.from(r.message.hdrs, 'base64').toString();
        owed = hdrs.includes(`${OWED_HEADER}:`);
        if (withId) {
          id = /Nats-Msg-Id:\s*([^\r\n]+)/i.exec(hdrs)?.[1];
          pub = /Warren-Pub:\s*([^\r\n]+)/i.exec(hdrs)?.[1];
        }
      }
      return { seq: r.message.seq, m: data.length === 0 ? null : decodeMessage(data), id, pub, owed };
    } catch (err) {
      // Deleted between the info and the read (a lone delete): nothing there.
      if (/not found|no message found|10037/i.test(String((err as Error).message))) return null;
      throw err;
    }
  }

  /**
   * Appends an empty marker expecting the stream to be where load() left it. Once it is in, no
   * write of an earlier owner can land any more (theirs expect an older sequence); false if one
   * landed since the load (load again).
   */
  async fence(): Promise<boolean> {
    this.epoch = `${this.owner}.${Date.now().toString(36)}.${++QueueStream.epochs}`;
    const id = `${this.epoch}:f`;
    const h = headers();
    h.set('Nats-Msg-Id', id);
    h.set('Nats-Expected-Last-Sequence', `${this.last}`);
    let timeouts = 0;
    for (;;) {
      const r = await this.nc.request(this.subject, new Uint8Array(0), { headers: h, timeout: ACK_TIMEOUT_MS }).catch((err: unknown) => err as Error);
      if (r instanceof Error) {
        if (/503|no responders|timeout/i.test(r.message)) {
          // A leader that never answers (nats-server 2.9.10 after kill -9: a restarted leader whose
          // followers cannot catch up from it commits nothing) is asked to step down now and then.
          if (/timeout/i.test(r.message) && ++timeouts % 3 === 0) this.askStepDown('the stream leader does not answer the fence', { timeouts });
          await new Promise((res) => setTimeout(res, 250));
          continue;
        }
        throw r;
      }
      const ack = JSON.parse(Buffer.from(r.data).toString() || '{}') as { seq?: number; error?: { err_code?: number; description: string } };
      if (ack.error?.err_code === 10071) {
        this.leaderBehind(ack.error.description);
        return false;
      }
      if (ack.error || ack.seq === undefined) throw new Error(ack.error?.description ?? 'no acknowledgement');
      this.last = ack.seq;
      return true;
    }
  }

  /**
   * A fence refused with a last sequence below the one the stream itself reports (and that load()
   * read) is not another writer: the leader's notion of its last sequence is stale. nats-server
   * before 2.9.20 does not move it when a purge moves the store's (fixed upstream in 087a28a1),
   * and a replica that was killed and caught up can end up so (seen in the cluster crash loop:
   * 'wrong last sequence: 1001' from a stream at 13652). As the leader it refuses every fence
   * (and write) for good: the queue never found an owner again. Asked to step down, it hands the
   * stream to a sound replica (and, a follower, finds the mismatch and resets itself).
   */
  private leaderBehind(description: string): void {
    const m = /wrong last sequence: (\d+)/.exec(description);
    if (!m || Number(m[1]) >= this.last || ++this.behindRefusals !== 3) return;
    this.askStepDown("the stream leader's last sequence is behind its own stream", { leaderLast: Number(m[1]), streamLast: this.last });
  }

  private askStepDown(why: string, details: Record<string, unknown>): void {
    this.log.warn({ queue: this.queue, stream: this.name, ...details }, `${why}: asking it to step down`);
    void this.nc.request(`$JS.API.STREAM.LEADER.STEPDOWN.${this.name}`, new Uint8Array(0), { timeout: ACK_TIMEOUT_MS }).catch(() => undefined);
  }

  /**
   * The queue's messages from fromSeq on (our seq), oldest first, at most maxCount and no more
   * than maxBytes of bodies (at least one): a takeover's recovery, and the pages of a long queue's
   * tail (Queue pages out its newest messages; a replicated queue's are in this stream already, so
   * paging them out is dropping them from memory, and reading them in is fetching them back).
   */
  async read(fromSeq: number, maxCount: number, maxBytes: number): Promise<StoredMessage[]> {
    // A message paged out a moment ago may not have its sequence yet.
    await this.flush()?.catch(() => undefined);
    const out: StoredMessage[] = [];
    let bytes = 0;
    let i = this.lowerBound(fromSeq);
    while (i < this.order.length && out.length < maxCount && (out.length === 0 || bytes < maxBytes)) {
      // A batch of direct gets in flight at a time, as load() reads (2.9 has no batch get).
      const batch: Promise<StoredMessage | null>[] = [];
      for (; i < this.order.length && batch.length < Math.min(256, maxCount - out.length); i++) {
        const seq = this.order[i]!;
        const js = this.jsSeq.get(seq);
        if (js === undefined) continue; // deleted since
        const l = this.loaded.get(seq);
        batch.push(l?.body ? Promise.resolve(l.m) : this.getMessage(js).then((r) => r?.m ?? null));
      }
      for (const m of await Promise.all(batch)) {
        // Gone between the look and the read (acked, purged): skipped, as the store skips it.
        if (!m || !this.jsSeq.has(m.seq) || (out.length > 0 && (out.length >= maxCount || bytes >= maxBytes))) continue;
        const n = bodyLength(m.body);
        if (out.length > 0 && bytes + n > maxBytes) {
          bytes = maxBytes;
          continue;
        }
        if (this.delivered?.isOut(m.seq) && !this.heldElsewhere?.has(m.seq)) m.checkedOut = true;
        out.push(m);
        bytes += n;
      }
    }
    return out;
  }

  /** How many messages (and body bytes) the queue holds from fromSeq on, by what load() read. */
  count(fromSeq: number): { count: number; bytes: number; lastSeq: number } {
    const r = { count: 0, bytes: 0, lastSeq: 0 };
    for (let i = this.lowerBound(fromSeq); i < this.order.length; i++) {
      const seq = this.order[i]!;
      if (!this.jsSeq.has(seq)) continue;
      r.count++;
      r.bytes += this.loaded.get(seq)?.bytes ?? 0;
      r.lastSeq = seq;
    }
    return r;
  }

  /** Deletes every message from fromSeq on (a purge of the queue's paged tail). */
  deleteFrom(fromSeq: number): void {
    for (let i = this.lowerBound(fromSeq); i < this.order.length; i++) this.delete(this.order[i]!);
  }

  /** The index in order of the first seq ≥ seq. */
  private lowerBound(seq: number): number {
    let lo = this.orderHead;
    let hi = this.order.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.order[mid]! < seq) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The dead letters owed that load() found (the new owner's recovery reads them once). */
  owedRead(): StoredMessage[] {
    return [...this.owedLoaded.values()];
  }

  /** Recovery is over: the loaded copies can go (the queue holds them now, or read() fetches them). */
  dropLoaded(): void {
    this.loaded = new Map();
    this.owedLoaded = new Map();
    // The ids stay a while: the old owner hands back its unacknowledged writes once it learns who
    // owns the queue now, and a publish stalled on the way is sent again after 10 s.
    const written = this.written;
    setTimeout(() => {
      if (this.written === written) this.written = null;
    }, ID_KEEP_MS).unref();
  }

  /**
   * Whether the stream as this owner read it has a message: one an earlier owner handed back (mid,
   * the id of its unacknowledged write), or a node's pub an earlier owner wrote (named in its
   * Warren-Pub header) sent again because that owner had not answered it. Either is not taken in
   * twice when that write landed after all. After a successful fence an earlier owner's write is
   * in what was read or, nearly always, never lands:
   * a Raft leader commits its predecessor's entries before its own, the fence among them. (One
   * still on its way to the stream when the leader changed lands after the fence; this owner then
   * finds another writer was here and reads the queue again.)
   */
  wrote(m: { pub: string; mid?: string }): boolean {
    const w = this.written;
    return w !== null && ((m.mid !== undefined && w.ids.has(m.mid)) || w.pubs.has(m.pub));
  }

  /**
   * Writes a message of the queue; owed: a dead letter the queue owes at least once (its own seq,
   * outside the queue's order), which the next owner reads back as owed (owedRead) rather than as a
   * message, and which goes like a message once its targets have it (delete).
   */
  put(m: StoredMessage, owed = false): void {
    if (!owed) this.addOrder(m.seq);
    const data = encodeMessage(m);
    let put!: Put;
    const p = new Promise<void>((resolve, reject) => {
      put = { m, data, id: `${this.epoch}:${this.last}`, expected: this.last, reply: '', sentAt: 0, resolve, reject };
    });
    this.last++;
    p.catch(() => undefined);
    // The message written again while its last write is unanswered: this write takes that one's
    // place in flight (by seq), so that one is done when this one is (its record is superseded).
    const older = this.inflight.get(m.seq);
    if (older) p.then(older.resolve, older.reject);
    const tracked = p.finally(() => {
      this.pending.delete(tracked);
      this.puts.delete(tracked);
    });
    tracked.catch(() => undefined);
    put.tracked = tracked;
    if (this.forwarding !== null) put.pub = this.forwarding;
    if (owed) put.owed = true;
    this.pending.add(tracked);
    this.puts.add(tracked);
    this.send(put);
  }

  /**
   * Set while a node's pub is taken in (the put made meanwhile is its message): its name goes in
   * the write's Warren-Pub header, for the next owner's read (wrote), since that node keeps the pub
   * unanswered until this one answers after the write and sends it again to the next owner if
   * the queue moves first. handBack leaves such a message to that node (handed back too, it
   * would be taken twice).
   */
  forwarding: string | null = null;

  private send(put: Put): void {
    // Given up (another writer was here): kept for handBack, which the queue's release calls next.
    if (this.fenced && !this.closed) {
      if (this.inflight.get(put.m.seq) === put) this.inflight.delete(put.m.seq);
      if (put.reply !== '') this.inbox.forget(put.reply);
      this.unsent.push(put);
      return;
    }
    // Not fenced yet (still reading it) or closed: the write fails, and so does its confirm.
    if (this.fenced || this.epoch === '') return put.reject(new FencedError(`queue ${this.queue}: not writable by this node now`));
    const h = headers();
    h.set('Nats-Msg-Id', put.id);
    if (put.pub !== undefined) h.set(PUB_HEADER, put.pub);
    if (put.owed) h.set(OWED_HEADER, '1');
    put.sentAt = Date.now();
    this.inflight.set(put.m.seq, put);
    // A resend waits on a new subject: the old one is forgotten (its answer, if late, is moot).
    if (put.reply !== '') this.inbox.forget(put.reply);
    put.reply = this.inbox.expect((msg) => this.acked_(put, msg));
    this.nc.publish(this.subject, put.data, { reply: put.reply, headers: h });
    this.retryTimer ??= setInterval(() => this.retryLate(), 1_000);
  }

  /** Publishes without an acknowledgement for too long are sent again (same id: no duplicate). */
  private retryLate(): void {
    const now = Date.now();
    for (const put of this.inflight.values()) if (now - put.sentAt > ACK_TIMEOUT_MS) this.send(put);
    if (this.inflight.size === 0 && this.retryTimer) {
      clearInterval(this.retryTimer);
      this.retryTimer = null;
    }
  }

  private acked_(put: Put, msg: Msg): void {
    if (this.inflight.get(put.m.seq) !== put) return;
    const status = msg.headers?.code ?? 0;
    if (status === 503 || msg.data.length === 0) {
      // No leader right now: send again shortly (same id).
      setTimeout(() => this.inflight.get(put.m.seq) === put && this.send(put), 250);
      return;
    }
    let ack: { seq?: number; error?: { code: number; err_code?: number; description: string } };
    try {
      ack = JSON.parse(Buffer.from(msg.data).toString()) as typeof ack;
    } catch {
      ack = {};
    }
    this.inflight.delete(put.m.seq);
    if (ack.error || ack.seq === undefined) {
      // 10070: wrong last msg id; 10071: wrong last sequence (not sent by writes any more).
      const fenced = ack.error?.err_code === 10070 || ack.error?.err_code === 10071;
      if (fenced) this.giveUp(ack.error!.description);
      put.reject(fenced ? new FencedError(ack.error!.description) : new Error(ack.error?.description ?? 'no acknowledgement'));
      return;
    }
    if (ack.seq !== put.expected + 1) {
      // Another writer was here: this message is in the stream (its confirm is true, and whoever
      // reads the stream next has it), but what this node holds of the queue is not all of it.
      put.resolve();
      this.giveUp(`landed at ${ack.seq}, not ${put.expected + 1}`);
      return;
    }
    // A message written again (requeued, flagged redelivered): its older record goes.
    const older = this.jsSeq.get(put.m.seq);
    if (older !== undefined && older !== ack.seq) this.markAcked(older);
    this.addLive(ack.seq);
    if (this.early.delete(put.m.seq)) {
      // Done with before its write was acknowledged.
      this.jsSeq.delete(put.m.seq);
      this.markAcked(ack.seq);
    } else this.jsSeq.set(put.m.seq, ack.seq);
    put.resolve();
  }

  /**
   * The stream's last sequence as its info gave it: beyond every write of this owner (its count
   * runs ahead of its acknowledged writes), so with nothing in flight, another writer was here.
   */
  noteStreamLast(streamLast: number): void {
    if (this.fenced || this.epoch === '' || this.inflight.size > 0 || this.pending.size > 0) return;
    if (streamLast > this.last) this.giveUp(`the stream's last sequence is ${streamLast}, this owner's ${this.last}`);
  }

  /**
   * Keeps live ascending: an acknowledgement that comes back late (a resend after a timeout) names
   * a sequence below ones already there, and the prefix purge must never pass it.
   */
  private addLive(seq: number): void {
    const live = this.live;
    let i = live.length;
    if (i === this.liveHead || live[i - 1]! < seq) {
      live.push(seq);
      return;
    }
    while (i > this.liveHead && live[i - 1]! > seq) i--;
    live.splice(i, 0, seq);
  }

  private giveUp(err: string): void {
    if (this.fenced) return;
    this.fenced = true;
    this.log.warn({ queue: this.queue, stream: this.name, err }, 'queue stream written by another node: giving it up');
    this.onFenced?.();
  }

  /** The queue is done with message seq (ours): it leaves the stream. */
  delete(seq: number): void {
    const js = this.jsSeq.get(seq);
    if (js !== undefined) {
      this.jsSeq.delete(seq);
      this.markAcked(js);
    }
    // Written (again) and not yet acknowledged: its record goes once it has a sequence.
    if (this.inflight.has(seq)) this.early.add(seq);
    // At the head, or now and then: an entry whose write was still in flight at its delete stays
    // at the head until a later look finds it gone.
    if (this.order[this.orderHead] === seq || ++this.deletesSinceTrim >= 1024) this.trimOrder();
  }

  /** A message's seq joins order: after the others almost always (a requeue writes one already there). */
  private addOrder(seq: number): void {
    const o = this.order;
    if (o.length === this.orderHead || o[o.length - 1]! < seq) {
      o.push(seq);
      return;
    }
    const i = this.lowerBound(seq);
    if (o[i] !== seq) o.splice(i, 0, seq);
  }

  /**
   * Drops the deleted messages at the front of order, and now and then those between live ones
   * (acked out of order), so that order stays about as long as the queue.
   */
  private trimOrder(): void {
    this.deletesSinceTrim = 0;
    const o = this.order;
    const held = (seq: number): boolean => this.jsSeq.has(seq) || this.inflight.has(seq);
    while (this.orderHead < o.length && !held(o[this.orderHead]!)) this.orderHead++;
    const length = o.length - this.orderHead;
    if (length > 4096 && length > 2 * (this.jsSeq.size + this.inflight.size)) {
      const keep = o.slice(this.orderHead).filter(held);
      o.length = 0;
      this.orderHead = 0;
      for (const seq of keep) o.push(seq);
    } else if (this.orderHead > 4096 && this.orderHead * 2 > o.length) {
      o.splice(0, this.orderHead);
      this.orderHead = 0;
    }
  }

  private markAcked(js: number): void {
    this.acked.set(js, Date.now());
    this.compactTimer ??= setTimeout(() => this.compact(), 20);
  }

  /** One purge for the acked prefix; lone deletes for acked messages stuck behind unacked ones. */
  private compact(): void {
    this.compactTimer = null;
    // Given up (another writer's messages may sit between ours): nothing is purged on this view.
    if (this.fenced) return;
    // live is ascending (addLive): its first entry not acked is the lowest message still held.
    while (this.liveHead < this.live.length && this.acked.has(this.live[this.liveHead]!)) {
      this.acked.delete(this.live[this.liveHead]!);
      this.liveHead++;
    }
    if (this.liveHead > 4096 && this.liveHead * 2 > this.live.length) {
      this.live.splice(0, this.liveHead);
      this.liveHead = 0;
    }
    // Never past a put still in flight: its message lands at a sequence above its expectation.
    let floor = this.liveHead < this.live.length ? this.live[this.liveHead]! : this.last + 1;
    for (const put of this.inflight.values()) floor = Math.min(floor, put.expected + 1);
    if (floor > this.purgedTo) {
      this.purgedTo = floor;
      void this.api(`$JS.API.STREAM.PURGE.${this.name}`, { seq: floor }).catch((err: unknown) => this.log.warn({ err: String(err), stream: this.name }, 'purging acked messages failed'));
    }
    const now = Date.now();
    for (const [js, at] of this.acked) {
      if (now - at < LONE_DELETE_MS) continue;
      this.acked.set(js, Number.MAX_SAFE_INTEGER); // asked once; the prefix purge takes it otherwise
      void this.api(`$JS.API.STREAM.MSG.DELETE.${this.name}`, { seq: js, no_erase: true }).catch(() => undefined);
    }
    if (this.acked.size > 0) this.compactTimer = setTimeout(() => this.compact(), LONE_DELETE_MS);
  }

  /** Resolves once every put so far is acknowledged by the stream (rejects if one failed). */
  flush(): Promise<void> | undefined {
    if (this.pending.size === 0) return undefined;
    return Promise.all([...this.pending]).then(() => undefined);
  }

  async destroy(): Promise<void> {
    // Writes still in flight were to a queue now deleted: done with, as RabbitMQ confirms a
    // publish whose queue goes (failed, they failed every confirm waiting with them).
    this.closeDeleted();
    await this.api(`$JS.API.STREAM.DELETE.${this.name}`, {}).catch(() => undefined);
  }

  /**
   * Another node owns the queue now (or this one reads it anew): stops writing, and gives back
   * the messages whose first write is not acknowledged (in flight, or held back once the stream
   * was given up), oldest first, each with its put's settle. The queue sends them to the owner as
   * any node's publishes, and the settle waits for its answer: their confirms neither fail nor
   * go out before the owner has them. (They failed, and with them every confirm the node was
   * waiting on, for every queue: a rebalance nacked ~140 confirms a run, on queues that did not
   * move too.) Pubs are left to the nodes that sent them, which send them again (forwarding).
   * A write may have landed after all (a leader that stepped down commits what it had, and nobody
   * acknowledges it): each goes with its message id, which the new owner looks for among what it
   * read (wrote). A re-write of a message the stream has (a requeue's new
   * count) and a message done with before its write was acknowledged are settled here.
   */
  handBack(): HandedBack[] {
    const back: HandedBack[] = [];
    for (const put of this.stopWriting()) {
      // (A dead letter owed whose write is unacknowledged is not a message to hand on: if it did
      // not land, the next owner does not owe it; see README, Cluster.)
      if (put.pub !== undefined || put.owed || this.jsSeq.has(put.m.seq) || this.early.has(put.m.seq)) {
        put.resolve();
        continue;
      }
      // Flushes from now on do not wait for it: the new owner's answer does, which waits for the
      // new owner's own writes (two queues trading owners would otherwise wait on each other).
      if (put.tracked) {
        this.pending.delete(put.tracked);
        this.puts.delete(put.tracked);
      }
      back.push({ m: put.m, id: put.id, settle: (ok) => (ok ? put.resolve() : put.reject(new Error(`queue ${this.queue}: its new owner refused the message`))) });
    }
    return back.sort((a, b) => a.m.seq - b.m.seq);
  }

  /** The queue is gone: writing stops, and writes in flight are done with (confirmed, as RabbitMQ confirms a publish whose queue goes). */
  closeDeleted(): void {
    for (const put of this.stopWriting()) put.resolve();
  }

  /** Stops writing; returns the puts not acknowledged, for the caller to settle. */
  private stopWriting(): Put[] {
    const puts = [...this.inflight.values(), ...this.unsent];
    this.fenced = true;
    this.closed = true;
    if (this.delivered) this.delivered.closed = true;
    if (this.compactTimer) clearTimeout(this.compactTimer);
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.compactTimer = this.retryTimer = null;
    for (const put of puts) this.inbox.forget(put.reply);
    this.inflight.clear();
    this.unsent = [];
    return puts;
  }
}
