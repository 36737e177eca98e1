// Per-object stats of the management API, each compared with what a RabbitMQ 3.10.8 node
// (rabbitmq_management, rates_mode basic) answered to the same amqplib traffic on this machine:
// queue messages_persistent / message_bytes_persistent (durable classic: persistent messages only,
// transient queue: 0, quorum: every message, stream: no such fields), messages_ram counting the
// unacked too; message_stats groups (a queue or channel shows the publishing group once it
// published, the delivering group once something was delivered, fetched or acked, and no
// message_stats before either); deliver/get only with ack, deliver_no_ack/get_no_ack, get_empty,
// drop_unroutable, redeliver; exchange publish_in/publish_out with *_details.rate; connection
// recv_oct/send_oct with *_details.rate, recv_cnt/send_cnt and send_pend; every rate with one decimal.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { apiClient, enc, eventually, sleep, type Api } from '../helpers/management-client.js';

let broker: RunningBroker;
let api: Api;
let conn: ChannelModel;

beforeAll(async () => {
  broker = await startBroker({ managementPort: -1, logLevel: 'silent' });
  api = apiClient(`http://127.0.0.1:${broker.managementPort}`);
  await api('PUT', '/api/vhosts/stats');
  conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}/stats`);
  conn.on('error', () => undefined);
});
afterAll(async () => {
  await conn?.close().catch(() => undefined);
  await broker?.close();
});

const queue = async (name: string) => (await api('GET', `/api/queues/stats/${enc(name)}`)).json;
const DELIVER_KEYS = ['ack', 'deliver', 'deliver_get', 'deliver_no_ack', 'get', 'get_empty', 'get_no_ack', 'redeliver'];
const withDetails = (keys: string[]): string[] => keys.flatMap((k) => [k, `${k}_details`]).sort();

describe('queue persistent and in-memory counts (3.10.8)', () => {
  it('a durable classic queue counts its persistent messages, ready and unacked', async () => {
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('p-durable', { durable: true });
    for (let i = 0; i < 4; i++) ch.sendToQueue('p-durable', Buffer.from('abcdef'), { persistent: true });
    for (let i = 0; i < 2; i++) ch.sendToQueue('p-durable', Buffer.from('xyz'), { persistent: false });
    await ch.waitForConfirms();
    const held = await ch.get('p-durable', { noAck: false });
    expect(held).not.toBe(false);
    const q = await eventually(async () => {
      const x = await queue('p-durable');
      return x.messages_unacknowledged === 1 ? x : null;
    }, 'one unacked');
    // 3.10.8 for the same publishes: messages_persistent 4, message_bytes_persistent 24, and
    // messages_ram/message_bytes_ram counting the unacked message as well.
    expect(q).toMatchObject({
      messages: 6,
      messages_ready: 5,
      messages_persistent: 4,
      message_bytes_persistent: 24,
      message_bytes: 30,
      message_bytes_ready: 24,
      message_bytes_unacknowledged: 6,
      messages_ram: 6,
      message_bytes_ram: 30,
      messages_ready_ram: 5,
      messages_unacknowledged_ram: 1,
    });
    if (held) ch.ack(held);
    const after = await eventually(async () => {
      const x = await queue('p-durable');
      return x.messages === 5 ? x : null;
    }, 'the ack counted');
    expect(after).toMatchObject({ messages_persistent: 3, message_bytes_persistent: 18 });
    await ch.close();
  });

  it("a classic queue's backing_queue_status, in 3.10.8's shape and figures; none for a quorum queue", async () => {
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('b-classic', { durable: true });
    await ch.assertQueue('b-v2', { durable: true, arguments: { 'x-queue-version': 2, 'x-queue-mode': 'lazy' } });
    await ch.assertQueue('b-quorum', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    for (let i = 0; i < 5; i++) ch.sendToQueue('b-classic', Buffer.from('x'), { persistent: i % 2 === 0 });
    ch.sendToQueue('b-v2', Buffer.from('x'));
    await ch.waitForConfirms();
    const first = await ch.get('b-classic');
    await ch.get('b-classic');
    if (first) ch.ack(first);
    // RabbitMQ 3.10.8 for the same: five published, two taken, one of them acked.
    const q = await eventually(async () => {
      const x = await queue('b-classic');
      return x.messages_unacknowledged === 1 ? x : null;
    }, 'one unacked');
    expect(q.backing_queue_status).toEqual({
      avg_ack_egress_rate: 0,
      avg_ack_ingress_rate: 0,
      avg_egress_rate: 0,
      avg_ingress_rate: 0,
      delta: ['delta', 'undefined', 0, 0, 'undefined'],
      len: 3,
      mode: 'default',
      next_deliver_seq_id: 2,
      next_seq_id: 5,
      q1: 0,
      q2: 0,
      q3: 0,
      q4: 3,
      target_ram_count: 'infinity',
      version: 1,
    });
    expect((await queue('b-v2')).backing_queue_status).toMatchObject({ len: 1, mode: 'lazy', version: 2, next_seq_id: 1 });
    expect(await queue('b-quorum')).not.toHaveProperty('backing_queue_status');
    const listed = (await api('GET', '/api/queues/stats')).json as { name: string; backing_queue_status?: unknown }[];
    expect(listed.find((x) => x.name === 'b-classic')?.backing_queue_status).toMatchObject({ len: 3 });
    await ch.close();
  });

  it('a transient queue has none persistent, a quorum queue all, a stream no such fields', async () => {
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('p-transient', { durable: false });
    await ch.assertQueue('p-quorum', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await ch.assertQueue('p-stream', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    for (const name of ['p-transient', 'p-quorum', 'p-stream']) for (let i = 0; i < 5; i++) ch.sendToQueue(name, Buffer.from('abc'), { persistent: i < 2 });
    await ch.waitForConfirms();
    const t = await eventually(async () => ((await queue('p-transient')).messages === 5 ? queue('p-transient') : null), 'five in p-transient');
    expect(t).toMatchObject({ messages_persistent: 0, message_bytes_persistent: 0 });
    expect(await queue('p-quorum')).toMatchObject({ messages: 5, messages_persistent: 5, message_bytes_persistent: 15 });
    const s = await queue('p-stream');
    expect(s).not.toHaveProperty('messages_persistent');
    expect(s).not.toHaveProperty('message_bytes_persistent');
    // Each type's own fields, as 3.10.8 answered for the same queues: a classic queue's
    // recoverable_slaves null, a quorum queue's open_files and single_active_consumer_ctag per its
    // node, a stream's readers (its consumers) per its node.
    const node = t.node as string;
    expect(t).toHaveProperty('recoverable_slaves', null);
    expect(await queue('p-quorum')).toMatchObject({ open_files: { [node]: 0 }, single_active_consumer_ctag: null });
    await ch.prefetch(10);
    await ch.consume('p-stream', () => undefined, { arguments: { 'x-stream-offset': 'first' } });
    expect(await queue('p-stream')).toMatchObject({ readers: { [node]: 1 } });
    for (const other of [await queue('p-quorum'), await queue('p-stream')]) expect(other).not.toHaveProperty('recoverable_slaves');
    await ch.close();
  });
});

describe('message_stats groups and counters (3.10.8)', () => {
  it('a queue shows no message_stats before use, the publish group, then the deliver group', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('g-queue', { durable: false });
    expect(await queue('g-queue')).not.toHaveProperty('message_stats');
    for (let i = 0; i < 3; i++) ch.sendToQueue('g-queue', Buffer.from('m'));
    const published = await eventually(async () => ((await queue('g-queue')).messages === 3 ? queue('g-queue') : null), 'three queued');
    // 3.10.8: {"publish":5,"publish_details":{"rate":0.0}} for a queue only published to.
    expect(Object.keys(published.message_stats).sort()).toEqual(withDetails(['publish']));
    expect(published.message_stats.publish).toBe(3);

    // One get with ack (then nacked with requeue: a redelivery next), one without, one consumed
    // without ack, then an empty get.
    const m1 = await ch.get('g-queue', { noAck: false });
    if (m1) ch.nack(m1, false, true);
    await ch.get('g-queue', { noAck: true }); // the requeued one: redelivered
    const got: number[] = [];
    const { consumerTag } = await ch.consume('g-queue', () => got.push(1), { noAck: true });
    await eventually(async () => got.length === 2, 'two consumed');
    await ch.cancel(consumerTag);
    expect(await ch.get('g-queue')).toBe(false);
    const q = await eventually(async () => {
      const x = await queue('g-queue');
      return x.message_stats?.get_empty === 1 ? x : null;
    }, 'the empty get counted');
    expect(Object.keys(q.message_stats).sort()).toEqual(withDetails([...DELIVER_KEYS, 'publish']));
    expect(q.message_stats).toMatchObject({ publish: 3, get: 1, get_no_ack: 1, deliver: 0, deliver_no_ack: 2, deliver_get: 4, get_empty: 1, redeliver: 1, ack: 0 });
    await ch.close();
  });

  it("channels: a publisher's group, a consumer's group, nothing for an idle channel", async () => {
    const pub = await conn.createConfirmChannel();
    await pub.assertQueue('g-chan', { durable: false });
    await pub.assertExchange('g-x', 'direct', { durable: false });
    pub.sendToQueue('g-chan', Buffer.from('a'));
    pub.sendToQueue('g-chan', Buffer.from('b'));
    pub.publish('g-x', 'nowhere', Buffer.from('dropped'));
    await pub.waitForConfirms();
    const sub = await conn.createChannel();
    const seen: number[] = [];
    await sub.consume('g-chan', (m) => {
      if (m) {
        seen.push(1);
        sub.ack(m);
      }
    });
    await eventually(async () => seen.length === 2, 'two delivered');
    const idle = await conn.createChannel();
    await idle.checkQueue('g-chan');
    const channels = await eventually(async () => {
      const all = (await api('GET', '/api/channels')).json as { number: number; vhost: string; message_stats?: Record<string, number> }[];
      const mine = all.filter((c) => c.vhost === 'stats');
      const p = mine.find((c) => c.message_stats?.publish === 3 && c.message_stats?.confirm === 3);
      const s = mine.find((c) => c.message_stats?.ack === 2);
      return p && s ? { p, s, all: mine } : null;
    }, 'the channels counting');
    // 3.10.8, a confirm channel: confirm, drop_unroutable, publish, return_unroutable (and details).
    expect(Object.keys(channels.p.message_stats!).sort()).toEqual(withDetails(['confirm', 'drop_unroutable', 'publish', 'return_unroutable']));
    expect(channels.p.message_stats).toMatchObject({ publish: 3, confirm: 3, drop_unroutable: 1, return_unroutable: 0 });
    expect(Object.keys(channels.s.message_stats!).sort()).toEqual(withDetails(DELIVER_KEYS));
    expect(channels.s.message_stats).toMatchObject({ deliver: 2, deliver_get: 2, ack: 2, deliver_no_ack: 0 });
    // 3.10.8: a channel that did neither has no message_stats.
    const quiet = channels.all.filter((c) => !c.message_stats);
    expect(quiet.length).toBeGreaterThanOrEqual(1);
    for (const c of [pub, sub, idle]) await c.close();
  });
});

/** Runs fn while ch publishes to queue every 100 ms, without a pause. */
async function whilePublishing(ch: Channel, queue: string, fn: () => Promise<void>): Promise<void> {
  let publishing = true;
  const publisher = (async () => {
    while (publishing) {
      ch.sendToQueue(queue, Buffer.from('busy'));
      await sleep(100);
    }
  })();
  try {
    await fn();
  } finally {
    publishing = false;
    await publisher;
  }
}

describe('channel idle_since (3.10.8)', () => {
  it('is stamped ~1 s after the channel last worked, kept a while when it works, moved when it is idle again, gone after 5 s of work', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('idle-chan', { durable: false });
    const openedAt = Date.now();
    const mine = async (): Promise<{ idle_since?: string; state: string }> => {
      const all = (await api('GET', '/api/channels')).json as { vhost: string; number: number; idle_since?: string; state: string; connection_details: { peer_port: number } }[];
      const c = all.find((x) => x.vhost === 'stats' && x.number === (ch as unknown as { ch: number }).ch && x.connection_details.peer_port === (conn.connection as unknown as { stream: { localPort: number } }).stream.localPort);
      if (!c) throw new Error('channel not listed');
      return c;
    };
    // Not idle yet: 3.10.8 has no idle_since until the channel's process first hibernates.
    expect((await mine()).idle_since).toBeUndefined();
    const first = await eventually(async () => (await mine()).idle_since ?? null, 'idle_since', 6000);
    // 3.10.8's shape: 2026-12-07T14:59:13.203+00:00; its state stays running.
    expect(first).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
    expect(Date.parse(first)).toBeGreaterThanOrEqual(openedAt);
    expect((await mine()).state).toBe('running');
    ch.sendToQueue('idle-chan', Buffer.from('wake'));
    // Working again: the stamp is kept, then moved once the channel is idle again.
    expect((await mine()).idle_since).toBe(first);
    const second = await eventually(async () => {
      const s = (await mine()).idle_since;
      return s !== undefined && s !== first ? s : null;
    }, 'a later idle_since', 6000);
    expect(Date.parse(second)).toBeGreaterThan(Date.parse(first));
    // Working without a pause for 5 s (3.10.8: until its next periodic stats): no idle_since.
    await whilePublishing(ch, 'idle-chan', async () => {
      await eventually(async () => !('idle_since' in (await mine())), 'idle_since gone while busy', 9000);
    });
    await ch.close();
  });
});

describe('queue idle_since (3.10.8)', () => {
  it('a queue, consumed from or not, is stamped ~1 s after its last work and loses it after 5 s of work', async () => {
    const ch = await conn.createChannel();
    const declaredAt = Date.now();
    await ch.assertQueue('idle-consumed', { durable: false });
    await ch.assertQueue('idle-alone', { durable: false });
    await ch.assertQueue('idle-quorum', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await ch.consume('idle-consumed', () => undefined, { noAck: true });
    // 3.10.8: both get idle_since ~1 s after the declare (the consumed one too), state running.
    const stamps = await eventually(async () => {
      const a = await queue('idle-consumed');
      const b = await queue('idle-alone');
      return a.idle_since && b.idle_since ? [a.idle_since as string, b.idle_since as string] : null;
    }, 'both queues idle', 6000);
    for (const t of stamps) {
      expect(t).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
      expect(Date.parse(t)).toBeGreaterThanOrEqual(declaredAt);
    }
    // 3.10.8 gives a quorum queue (and a stream) no idle_since.
    expect(await queue('idle-quorum')).not.toHaveProperty('idle_since');
    await whilePublishing(ch, 'idle-consumed', async () => {
      await eventually(async () => !('idle_since' in (await queue('idle-consumed'))), 'idle_since gone while delivering', 9000);
      // The queue nobody used keeps its stamp.
      expect((await queue('idle-alone')).idle_since).toBe(stamps[1]);
    });
    const again = await eventually(async () => (await queue('idle-consumed')).idle_since ?? null, 'idle again', 6000);
    expect(Date.parse(again)).toBeGreaterThan(Date.parse(stamps[0]!));
    await ch.close();
  });
});

describe('rates under load (3.10.8 *_details.rate)', () => {
  it('queue, channel, exchange and connection rates rise while amqplib publishes and consumes', async () => {
    const c2 = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}/stats`);
    const pub = await c2.createChannel();
    await pub.assertExchange('r-x', 'direct', { durable: false });
    await pub.assertQueue('r-q', { durable: false });
    await pub.bindQueue('r-q', 'r-x', 'k');
    const sub = await c2.createChannel();
    await sub.consume('r-q', (m) => m && sub.ack(m));
    let running = true;
    const load = (async () => {
      while (running) {
        for (let i = 0; i < 20; i++) pub.publish('r-x', 'k', Buffer.from('payload'));
        await sleep(50);
      }
    })();
    try {
      // Rates are the change over the last 5 s sample: two samples in, they are positive.
      const q = await eventually(
        async () => {
          const x = await queue('r-q');
          return x.message_stats?.publish_details?.rate > 0 && x.message_stats?.ack_details?.rate > 0 ? x : null;
        },
        'queue rates',
        20_000,
      );
      expect(q.message_stats.deliver_get_details.rate).toBeGreaterThan(0);
      // One decimal, as RabbitMQ shows rates.
      expect(Math.round(q.message_stats.publish_details.rate * 10)).toBeCloseTo(q.message_stats.publish_details.rate * 10, 6);
      const x = (await api('GET', '/api/exchanges/stats/r-x')).json;
      expect(Object.keys(x.message_stats).sort()).toEqual(['publish_in', 'publish_in_details', 'publish_out', 'publish_out_details']);
      expect(x.message_stats.publish_in_details.rate).toBeGreaterThan(0);
      expect(x.message_stats.publish_out_details.rate).toBeGreaterThan(0);
      const conns = (await api('GET', '/api/connections')).json as { name: string; recv_oct: number; recv_oct_details: { rate: number }; send_oct_details: { rate: number }; send_pend: number }[];
      const busy = conns.find((c) => c.recv_oct_details.rate > 0 && c.send_oct_details.rate > 0);
      expect(busy).toBeDefined();
      expect(typeof busy!.send_pend).toBe('number');
      const one = (await api('GET', `/api/connections/${enc(busy!.name)}`)).json;
      expect(one.recv_oct_details.rate).toBeGreaterThan(0);
      // Socket reads and writes (3.10.8's recv_cnt/send_cnt): a busy connection did both, and
      // each read or write carries at least one byte.
      expect(one.recv_cnt).toBeGreaterThan(1);
      expect(one.send_cnt).toBeGreaterThan(1);
      expect(one.recv_cnt).toBeLessThanOrEqual(one.recv_oct);
      expect(one.send_cnt).toBeLessThanOrEqual(one.send_oct);
      const chans = (await api('GET', `/api/connections/${enc(busy!.name)}/channels`)).json as { message_stats?: { publish_details?: { rate: number }; deliver_get_details?: { rate: number } } }[];
      expect(chans.some((c) => (c.message_stats?.publish_details?.rate ?? 0) > 0)).toBe(true);
      expect(chans.some((c) => (c.message_stats?.deliver_get_details?.rate ?? 0) > 0)).toBe(true);
    } finally {
      running = false;
      await load;
      await c2.close();
    }
  }, 40_000);
});

describe("a queue's broker-kept history (RabbitMQ's lengths_age / msg_rates_age)", () => {
  it('answers samples in *_details for one queue and in lists, newest first, as 3.10.8', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('h-queue', { durable: false });
    for (let i = 0; i < 5; i++) ch.sendToQueue('h-queue', Buffer.from('m'));
    const path = '/api/queues/stats/h-queue?lengths_age=60&lengths_incr=5&msg_rates_age=60&msg_rates_incr=5';
    // Sampled every 5 s: wait for two samples holding the five messages.
    const q = await eventually(
      async () => {
        const x = (await api('GET', path)).json;
        const s = x.messages_details?.samples as { sample: number }[] | undefined;
        return s && s.length >= 2 && s[0]!.sample === 5 && s[1]!.sample === 5 ? x : null;
      },
      'two samples of the queue',
      20_000,
    );
    // 3.10.8: {"avg": 5.0, "avg_rate": 0.0, "rate": 0.0, "samples": [{"sample": 5, "timestamp": …}, …]}
    for (const k of ['messages_details', 'messages_ready_details', 'messages_unacknowledged_details']) {
      expect(Object.keys(q[k]).sort()).toEqual(['avg', 'avg_rate', 'rate', 'samples']);
    }
    const samples = q.messages_details.samples as { sample: number; timestamp: number }[];
    for (let i = 1; i < samples.length; i++) expect(samples[i - 1]!.timestamp - samples[i]!.timestamp).toBeGreaterThanOrEqual(4500);
    expect(q.messages_ready_details.samples[0].sample).toBe(5);
    expect(q.messages_unacknowledged_details.samples[0].sample).toBe(0);
    expect(q.messages_details.avg).toBeCloseTo(samples.reduce((n, p) => n + p.sample, 0) / samples.length, 6);
    const pub = q.message_stats.publish_details;
    expect(Object.keys(pub).sort()).toEqual(['avg', 'avg_rate', 'rate', 'samples']);
    expect(pub.samples[0].sample).toBe(5);
    // Lists carry them too when asked; plain requests do not.
    const list = (await api('GET', '/api/queues/stats?lengths_age=60&lengths_incr=5&name=h-queue')).json as { messages_details: { samples?: unknown[] } }[];
    expect(list[0]!.messages_details.samples!.length).toBeGreaterThanOrEqual(2);
    expect((await api('GET', '/api/queues/stats/h-queue')).json.messages_details).toEqual({ rate: expect.any(Number) });
    await ch.close();
  }, 30_000);
});

describe('further 3.10.8 fields (rates_mode basic)', () => {
  it('overview: churn_rates, queue_totals rates, rates_mode, exchange_types', async () => {
    const o = (await api('GET', '/api/overview')).json;
    // 3.10.8: {"channel_closed": 5, "channel_closed_details": {"rate": 0.0}, …, "queue_deleted_details": {"rate": 0.0}}
    expect(Object.keys(o.churn_rates).sort()).toEqual(
      withDetails(['channel_closed', 'channel_created', 'connection_closed', 'connection_created', 'queue_created', 'queue_declared', 'queue_deleted']),
    );
    expect(o.churn_rates.connection_created).toBeGreaterThanOrEqual(1);
    expect(Object.keys(o.queue_totals).sort()).toEqual(withDetails(['messages', 'messages_ready', 'messages_unacknowledged']));
    expect(o).toMatchObject({ rates_mode: 'basic', disable_stats: false, enable_queue_totals: false, statistics_db_event_queue: 0 });
    expect(o.sample_retention_policies).toEqual({ global: [600, 3600, 28800, 86400], basic: [600, 3600], detailed: [600] });
    expect(o.exchange_types).toContainEqual({ name: 'topic', description: 'AMQP topic exchange, as per the AMQP specification', enabled: true });
    // Every counter of 3.10.8's overview message_stats, sorted by name as it sends them.
    const keys = withDetails(['ack', 'confirm', 'deliver', 'deliver_get', 'deliver_no_ack', 'disk_reads', 'disk_writes', 'drop_unroutable', 'get', 'get_empty', 'get_no_ack', 'publish', 'redeliver', 'return_unroutable']);
    expect(Object.keys(o.message_stats)).toEqual(keys);
  });

  it('overview disk_writes: persistent messages written by durable queues, still counted once the queue is gone (3.10.8)', async () => {
    const disk = async (): Promise<{ disk_reads: number; disk_writes: number }> => {
      const m = (await api('GET', '/api/overview')).json.message_stats;
      return { disk_reads: m.disk_reads, disk_writes: m.disk_writes };
    };
    const before = await disk();
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('disk-durable', { durable: true });
    await ch.assertQueue('disk-transient', { durable: false });
    // 3.10.8 for the same publishes: disk_writes +10 (the durable queue's persistent ones only).
    for (let i = 0; i < 10; i++) ch.sendToQueue('disk-durable', Buffer.from('p'), { persistent: true });
    for (let i = 0; i < 10; i++) ch.sendToQueue('disk-durable', Buffer.from('t'), { persistent: false });
    for (let i = 0; i < 10; i++) ch.sendToQueue('disk-transient', Buffer.from('p'), { persistent: true });
    await ch.waitForConfirms();
    expect(await disk()).toEqual({ disk_reads: before.disk_reads, disk_writes: before.disk_writes + 10 });
    await ch.deleteQueue('disk-durable');
    await ch.deleteQueue('disk-transient');
    expect(await disk()).toEqual({ disk_reads: before.disk_reads, disk_writes: before.disk_writes + 10 });
    await ch.close();
  });

  it("one object's answers: empty per-object breakdowns, TLS fields null on a plain socket, who acted", async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('f-queue', { durable: false });
    await ch.assertExchange('f-x', 'direct', { durable: false });
    // 3.10.8 in rates_mode basic: "deliveries": [], "incoming": [] (queue); "incoming": [], "outgoing": [] (exchange).
    expect(await queue('f-queue')).toMatchObject({ deliveries: [], incoming: [] });
    expect((await api('GET', '/api/exchanges/stats/f-x')).json).toMatchObject({ incoming: [], outgoing: [] });
    const c = (await api('GET', '/api/connections')).json.find((x: { vhost: string }) => x.vhost === 'stats');
    expect(c).toMatchObject({
      ssl: false,
      ssl_protocol: null,
      ssl_cipher: null,
      ssl_hash: null,
      ssl_key_exchange: null,
      peer_cert_subject: null,
      peer_cert_issuer: null,
      peer_cert_validity: null,
      user_who_performed_action: 'guest',
    });
    const chans = (await api('GET', `/api/connections/${enc(c.name)}/channels`)).json;
    const one = (await api('GET', `/api/channels/${enc(chans[0].name)}`)).json;
    expect(one).toMatchObject({ deliveries: [], publishes: [], consumer_details: expect.any(Array), user_who_performed_action: 'guest', pending_raft_commands: 0 });
    await ch.close();
  });
});
