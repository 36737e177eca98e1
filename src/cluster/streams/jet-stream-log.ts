// A stream queue's log in a cluster (x-queue-type: stream): the JetStream stream itself, replicated
// by NATS (x-initial-cluster-size replicas, at most --cluster-replicas), with no owning node.
// Unlike a quorum queue, whose owner keeps the queue's state, a stream's state is its log, so every
// node appends to it and reads from it directly, as RabbitMQ's nodes serve a stream from their
// local osiris replica: a publish through any node is one JetStream write (its confirm waits for
// the PubAck), and a consumer on any node reads from its x-stream-offset through an ordered pull
// consumer of its own. Offsets are JetStream's sequences less one, so they are the same on every
// node and across restarts. Retention is JetStream's (max_bytes, max_age), which drops single
// messages where RabbitMQ drops whole segments.
import { Buffer } from 'node:buffer';
import { AckPolicy, DeliverPolicy, headers, type Consumer as NatsConsumer, type ConsumerMessages, type JetStreamClient, type JsMsg, type Msg, type NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { joinBody } from '../../frames/body.js';
import type { Consumer } from '../../server/consumer.js';
import type { Entry, Message } from '../../server/message.js';
import type { Queue } from '../../server/queue.js';
import { streamEntry, type AppendLog } from '../../server/stream-log.js';
import { decodeMessage, encodeMessage } from '../../store/codec.js';
import { jsApi } from '../nats-link.js';
import { streamConfig, streamNameOf, type PubAckInbox } from '../queue-stream.js';

/** What the log needs of its node. */
export interface StreamLogHost {
  readonly name: string;
  readonly startedAt: number;
  readonly nc: NatsConnection;
  readonly js: JetStreamClient;
  readonly inbox: PubAckInbox;
  /** Every JetStream write of the node still waiting for its acknowledgement: confirms wait for them. */
  readonly puts: Set<Promise<void>>;
  readonly log: Logger;
  /** Most replicas a stream gets (--cluster-replicas). */
  readonly maxReplicas: number;
  /** The largest body a JetStream write can hold (ClusterNode.maxBody). */
  readonly maxBody: number;
  /** The Warren node last seen beside a NATS server, if one was. */
  nodeOf(server: string): { name: string; running: boolean } | undefined;
}

const ACK_TIMEOUT_MS = 5_000;
/** How long a write JetStream says it cannot take now is tried again before its confirm fails. */
const RETRY_FOR_MS = 30_000;
/** A stream's counts are asked of JetStream again when read after this long. */
const INFO_EVERY_MS = 1_000;
/** What a reader fetches at once: a page of about this many bytes, at most PAGE_MAX messages. */
const PAGE_BYTES = 1024 * 1024;
const PAGE_MAX = 1024;
/** How long a fetch waits at the end of the stream for more before it is made again. */
const FETCH_WAIT_MS = 5_000;
/** A reader's pull consumer that nobody pulls from for this long is removed by JetStream. */
const CONSUMER_IDLE_MS = 60_000;

let appendIds = 0;

interface Append {
  data: Buffer;
  /** Nats-Msg-Id: a resend after a lost acknowledgement is de-duplicated by it. */
  id: string;
  reply: string;
  sentAt: number;
  firstSentAt: number;
  resolve(): void;
  reject(e: Error): void;
}

class Reader {
  /** Deliveries fetched, from at on. */
  buf: Entry[] = [];
  at = 0;
  /** Its pull consumer (null until made, and after a read failed: made again from nextSeq). */
  source: NatsConsumer | null = null;
  sourceName = '';
  pull: ConsumerMessages | null = null;
  /** Set while the reader waits for its client to take what it fetched. */
  wake: (() => void) | null = null;
  closed = false;
  /** The stream sequence to read next, once known (0 before: a timestamp start). */
  nextSeq = 0;
  /** Average size of the messages read so far: how many make a page. */
  avgBytes = 1024;
  constructor(
    readonly consumer: Consumer,
    readonly start: Consumer['streamStart'],
  ) {}

  /** Fetched and not delivered: about a page ahead of the consumer at most. */
  get full(): boolean {
    return (this.buf.length - this.at) * this.avgBytes >= PAGE_BYTES / 2;
  }
}

export class JetStreamLog implements AppendLog {
  readonly name: string;
  readonly subject: string;
  private readonly inflight = new Set<Append>();
  private retryTimer: NodeJS.Timeout | null = null;
  private readonly readers = new Map<Consumer, Reader>();
  private destroyed = false;
  /** The stream's state as JetStream last told it, raised by this node's acknowledged writes. */
  private first = 1;
  private last = 0;
  private bytesHeld = 0;
  private infoAt = 0;
  private asking: Promise<void> | null = null;
  /** Its leader's and replicas' NATS servers, as last seen. */
  leader = '';
  servers: string[] = [];

  constructor(
    private readonly q: Queue,
    private readonly host: StreamLogHost,
  ) {
    this.name = streamNameOf(q.vhost.name, q.name);
    this.subject = `warren.q.${this.name}`;
  }

  get count(): number {
    this.refreshSoon();
    return Math.max(0, this.last - this.first + 1);
  }

  get bytes(): number {
    this.refreshSoon();
    return this.bytesHeld;
  }

  /** Replicas: x-initial-cluster-size (RabbitMQ's default is every node; here --cluster-replicas). */
  get replicas(): number {
    const v = this.q.arguments.get('x-initial-cluster-size');
    const n = v === undefined ? this.host.maxReplicas : Number(v.value);
    return Math.max(1, Math.min(Number.isFinite(n) ? n : this.host.maxReplicas, this.host.maxReplicas));
  }

  /** A JetStream API question, asked again while JetStream has no leader for it. */
  private api<T>(subject: string, body: unknown): Promise<T> {
    return jsApi<T>(this.host.nc, subject, body);
  }

  /** JetStream's limits for the queue's retention in effect: x-max-length-bytes and x-max-age, or their policy's. */
  private limits(): { max_bytes: number; max_age: number } {
    const a = this.q.args;
    return { max_bytes: a.maxLengthBytes ?? -1, max_age: (a.maxAge ?? 0) * 1_000_000 };
  }

  private config(replicas: number): Record<string, unknown> {
    return { ...streamConfig(this.name, this.subject, replicas), ...this.limits() };
  }

  /** Makes the stream (the node that declares the queue; idempotent with the same configuration). */
  async create(): Promise<void> {
    const config = this.config(this.replicas);
    try {
      await this.api(`$JS.API.STREAM.CREATE.${this.name}`, config);
    } catch (err) {
      if (!/already in use|exists/i.test(String((err as Error).message))) throw err;
    }
    // Its counts and members, for the declare-ok and the API (asked again when read, if not known).
    await this.refresh().catch(() => undefined);
  }

  start(): void {
    // Retention is the JetStream stream's, set when it is made and when a policy changes it.
  }

  /**
   * A policy changed the queue's retention: the stream's limits follow (every node sees the
   * policy; each updates the stream only if the limits it last saw differ, and the update is the
   * same from each).
   */
  retentionChanged(): void {
    // Not read yet: the stream is being made (with the limits in effect) or read (recover calls this).
    if (this.destroyed || this.infoAt === 0) return;
    void (async () => {
      const want = this.limits();
      const had = this.streamLimits;
      if (!had || (had.max_bytes === want.max_bytes && had.max_age === want.max_age)) return;
      await this.api(`$JS.API.STREAM.UPDATE.${this.name}`, this.config(Math.max(1, this.servers.length)));
      this.streamLimits = want;
    })().catch((err: unknown) => this.host.log.warn({ queue: this.q.name, err: String(err) }, 'stream retention not updated'));
  }

  /** The stream's limits as JetStream last told them. */
  private streamLimits: { max_bytes: number; max_age: number } | null = null;

  /** Reads the stream's state (a node starting). */
  async recover(): Promise<{ count: number; lastSeq: number }> {
    await this.refresh().catch((err: unknown) => this.host.log.warn({ queue: this.q.name, err: String(err) }, 'stream state not read'));
    // A policy changed while this node was down: its limits.
    this.retentionChanged();
    return { count: this.count, lastSeq: 0 };
  }

  /** Asks JetStream for the stream's state (one question at a time). */
  refresh(): Promise<void> {
    this.asking ??= this.api<{
      config?: { max_bytes?: number; max_age?: number };
      cluster?: { leader?: string; replicas?: { name: string }[] };
      state: { first_seq: number; last_seq: number; messages: number; bytes: number };
    }>(
      `$JS.API.STREAM.INFO.${this.name}`,
      {},
    )
      .then((i) => {
        this.infoAt = Date.now();
        // A write acknowledged after the answer was made stays counted.
        this.last = Math.max(this.last, i.state.last_seq);
        this.first = i.state.messages === 0 ? i.state.last_seq + 1 : i.state.first_seq;
        this.bytesHeld = i.state.bytes;
        if (i.config) this.streamLimits = { max_bytes: i.config.max_bytes ?? -1, max_age: i.config.max_age ?? 0 };
        this.leader = i.cluster?.leader ?? '';
        this.servers = [i.cluster?.leader, ...(i.cluster?.replicas ?? []).map((r) => r.name)].filter((x): x is string => !!x);
      })
      .finally(() => (this.asking = null));
    return this.asking;
  }

  /** Counts and members asked again if they are older than a second (the API reads them). */
  refreshSoon(): void {
    if (this.destroyed || this.asking || Date.now() - this.infoAt < INFO_EVERY_MS) return;
    this.refresh().catch(() => undefined);
  }

  append(msg: Message): void {
    const data = encodeMessage({
      seq: msg.seq,
      redelivered: false,
      exchange: msg.exchange,
      routingKey: msg.routingKey,
      properties: msg.properties,
      body: msg.body,
      // The append time, as the single-node log keeps it.
      expiresAt: Date.now(),
    });
    let a!: Append;
    const p = new Promise<void>((resolve, reject) => {
      a = { data, id: `${this.host.name}.${this.host.startedAt}.${++appendIds}`, reply: '', sentAt: 0, firstSentAt: Date.now(), resolve, reject };
    });
    const tracked = p.finally(() => this.host.puts.delete(tracked));
    tracked.catch(() => undefined);
    this.host.puts.add(tracked);
    this.send(a);
  }

  private send(a: Append): void {
    const h = headers();
    h.set('Nats-Msg-Id', a.id);
    a.sentAt = Date.now();
    this.inflight.add(a);
    if (a.reply !== '') this.host.inbox.forget(a.reply);
    a.reply = this.host.inbox.expect((m) => this.acked(a, m));
    this.host.nc.publish(this.subject, a.data, { reply: a.reply, headers: h });
    this.retryTimer ??= setInterval(() => this.retryLate(), 1_000);
  }

  /** Writes without an acknowledgement for too long go again (same id: JetStream keeps one). */
  private retryLate(): void {
    const now = Date.now();
    for (const a of this.inflight) if (now - a.sentAt > ACK_TIMEOUT_MS) this.send(a);
    if (this.inflight.size === 0 && this.retryTimer) {
      clearInterval(this.retryTimer);
      this.retryTimer = null;
    }
  }

  private acked(a: Append, m: Msg): void {
    if (!this.inflight.has(a)) return;
    const again = (): void => {
      setTimeout(() => this.inflight.has(a) && this.send(a), 250);
    };
    // No responders (no leader right now: electing after a server died): again shortly, same id.
    if ((m.headers?.code ?? 0) === 503 || m.data.length === 0) return again();
    let ack: { seq?: number; error?: { code?: number; description: string } };
    try {
      ack = JSON.parse(Buffer.from(m.data).toString()) as typeof ack;
    } catch {
      ack = {};
    }
    // JetStream saying it cannot take it now: again, for a while.
    if (ack.seq === undefined && ack.error?.code === 503 && Date.now() - a.firstSentAt < RETRY_FOR_MS) return again();
    this.inflight.delete(a);
    if (ack.seq === undefined) return a.reject(new Error(`stream ${this.q.name}: ${ack.error?.description ?? 'no acknowledgement'}`));
    if (ack.seq > this.last) this.last = ack.seq;
    a.resolve();
  }

  addReader(c: Consumer): void {
    const r = new Reader(c, c.streamStart);
    this.readers.set(c, r);
    void this.read(r);
  }

  removeReader(c: Consumer): void {
    const r = this.readers.get(c);
    if (!r) return;
    this.readers.delete(c);
    this.close(r);
  }

  private close(r: Reader): void {
    r.closed = true;
    r.pull?.stop();
    r.buf = [];
    r.wake?.();
  }

  destroy(): void {
    this.destroyed = true;
    for (const r of this.readers.values()) this.close(r);
    this.readers.clear();
    // Writes still in flight were to a stream now deleted: confirmed, as RabbitMQ confirms a
    // publish whose queue goes.
    for (const a of this.inflight) {
      this.host.inbox.forget(a.reply);
      a.resolve();
    }
    this.inflight.clear();
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.retryTimer = null;
  }

  dispatch(): void {
    for (const r of this.readers.values()) {
      while (r.at < r.buf.length && r.consumer.hasCapacity) r.consumer.deliver(r.buf[r.at++]!);
      if (r.at >= r.buf.length && r.buf.length > 0) {
        r.buf = [];
        r.at = 0;
      }
      if (r.wake && !r.full) {
        const wake = r.wake;
        r.wake = null;
        wake();
      }
    }
  }

  /**
   * A reader's loop: a page at a time (one pull of its consumer, whose messages are handed on as
   * they come and which waits at the stream's end for up to FETCH_WAIT_MS), the next once its
   * client has taken most of the last.
   */
  private async read(r: Reader): Promise<void> {
    while (!r.closed && !this.destroyed) {
      if (r.full) {
        await new Promise<void>((resolve) => (r.wake = resolve));
        continue;
      }
      let watchdog: NodeJS.Timeout | null = null;
      try {
        r.source ??= await this.consumerFor(r);
        if (r.closed) break;
        const max = Math.max(1, Math.min(PAGE_MAX, Math.floor(PAGE_BYTES / r.avgBytes)));
        const pull = await r.source.fetch({ max_messages: max, expires: FETCH_WAIT_MS });
        r.pull = pull;
        if (r.closed) pull.stop();
        // A pull to a consumer whose server died may never end: stopped, and the consumer made again.
        let stalled = false;
        watchdog = setTimeout(() => {
          stalled = true;
          pull.stop();
        }, FETCH_WAIT_MS * 2);
        let bytes = 0;
        let n = 0;
        for await (const m of pull) {
          if (r.closed) break;
          // Read again by a consumer made anew: delivered already.
          if (m.seq < r.nextSeq) continue;
          r.nextSeq = m.seq + 1;
          const e = this.entryOf(m);
          if (!e) continue;
          bytes += e.msg.bodySize;
          n++;
          r.buf.push(e);
          if (r.consumer.hasCapacity) this.q.scheduleDispatch();
        }
        if (n > 0) r.avgBytes = Math.max(64, bytes / n);
        if (stalled) throw new Error('pull without an end');
      } catch (err) {
        // A server restarting, a leader being elected: read again from where it was.
        this.dropSource(r);
        if (r.closed || this.destroyed) break;
        this.host.log.info({ queue: this.q.name, err: String(err) }, 'stream read failed: reading again');
        await new Promise((resolve) => setTimeout(resolve, 500).unref());
      } finally {
        if (watchdog) clearTimeout(watchdog);
        r.pull = null;
      }
    }
    this.dropSource(r);
  }

  /** A pull consumer of the stream from where r reads next: ephemeral, in memory, no acks. */
  private async consumerFor(r: Reader): Promise<NatsConsumer> {
    const start = await this.startOf(r);
    const config = {
      ack_policy: AckPolicy.None,
      mem_storage: true,
      num_replicas: 1,
      // Gone on its own if this node dies with it.
      inactive_threshold: CONSUMER_IDLE_MS * 1_000_000,
      ...('opt_start_time' in start ? { deliver_policy: DeliverPolicy.StartTime, opt_start_time: start.opt_start_time } : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: start.opt_start_seq }),
    };
    const ci = await this.api<{ name: string }>(`$JS.API.CONSUMER.CREATE.${this.name}`, { stream_name: this.name, config });
    r.sourceName = ci.name;
    return this.host.js.consumers.get(this.name, ci.name);
  }

  private dropSource(r: Reader): void {
    r.source = null;
    const name = r.sourceName;
    r.sourceName = '';
    if (name) this.host.nc.request(`$JS.API.CONSUMER.DELETE.${this.name}.${name}`, undefined, { timeout: ACK_TIMEOUT_MS }).catch(() => undefined);
  }

  /**
   * Where a reader's pull consumer starts: past what it has read; at first its x-stream-offset,
   * as a sequence wherever one is known, so that a pull consumer made again (after a server died)
   * starts where the first would have.
   */
  private async startOf(r: Reader): Promise<{ opt_start_seq: number } | { opt_start_time: string }> {
    if (r.nextSeq > 0) return { opt_start_seq: r.nextSeq };
    const s = r.start ?? 'next';
    if (typeof s === 'object' && 'atOrAfter' in s) return { opt_start_time: new Date(s.atOrAfter).toISOString() };
    if (s === 'first') r.nextSeq = 1;
    else {
      await this.refresh();
      // 'last': the last message (RabbitMQ: the last chunk); an offset past the end: the next one,
      // as RabbitMQ clamps it (JetStream would wait for that sequence).
      if (s === 'last') r.nextSeq = Math.max(1, this.last);
      else if (s === 'next') r.nextSeq = this.last + 1;
      else r.nextSeq = Math.max(1, Math.min(s.offset + 1, this.last + 1));
    }
    return { opt_start_seq: r.nextSeq };
  }

  /** A stream message's delivery; null for a record that holds none (an earlier owner's fence marker). */
  private entryOf(m: JsMsg): Entry | null {
    if (m.data.length === 0) return null;
    const d = decodeMessage(Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength));
    return streamEntry(m.seq, d.exchange, d.routingKey, d.properties, joinBody(d.body), m.seq - 1);
  }
}
