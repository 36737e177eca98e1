// At-least-once dead-lettering of quorum queues (x-dead-letter-strategy at-least-once), through
// amqplib over sockets and the management API.
//
// Observed on RabbitMQ 3.10.8 first (a private node with the management plugin, amqplib probes,
// December 2026; its dead_letter_worker_publisher_confirm_timeout lowered to 5 s for the retry
// checks): at-least-once with x-overflow drop-head (the default) is declared fine and falls back
// to at-most-once (logged "Falling back to dead-letter-strategy at-most-once for queue 'alo-a' in
// vhost '/' because configured dead-letter-strategy at-least-once is incompatible with effective
// overflow strategy drop-head. …"), without a dead-letter exchange it dead-letters nothing
// ("Disabling dead-lettering for queue 'alo-c' in vhost '/' despite configured
// dead-letter-strategy 'at-least-once' because dead-letter-exchange is not configured.");
// with reject-publish a rejected message whose dead-letter exchange is missing or routes nowhere
// stays in the queue: queue.declare-ok and basic.get count only the ready messages (1), the
// management API shows messages 2, messages_ready 1, messages_unacknowledged 0, messages_dlx 1,
// message_bytes_dlx 8 (for a 8-byte body), and the vhost and overview totals count it in
// messages; it survived a restart (rabbitmqctl stop), and once the exchange and a binding
// appeared it was delivered with its x-death (time of the death, before the restart;
// original-expiration; no expiration), from the dead-letter exchange with the dead-letter routing
// key; expired messages take the same way. Owed messages count towards x-max-length (1 ready, 2
// owed, limit 3: ack, then nack, nack, nack); queue.purge and queue.delete answer and remove the
// ready ones only (purge answered 2 with 2 owed left; publishes after it: ack, ack, nack, nack;
// delete answered 2). With a fanout dead-letter exchange to two queues, one of them full with
// reject-publish, the other got the message at once and the full one, once drained, got it at the
// next retry, the first one not again. A dead-letter route back to the queue itself for expired
// messages is a cycle: the message stays owed (messages_dlx 1) and nothing is delivered.
// Where Warren differs: it retries as soon as an exchange, queue, binding or policy is added or
// changed in the vhost (RabbitMQ waits for its next retry, 3 minutes by default); the interval is
// --dead-letter-retry-interval (here 200 ms).
import { afterEach, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { ChannelModel, ConfirmChannel, GetMessage } from 'amqplib';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { sleep, waitUntil } from '../helpers/async.js';
import { channel, confirmChannel } from '../helpers/channels.js';
import { apiClient } from '../helpers/management-client.js';
import { resources } from '../helpers/resources.js';

const ALO = { 'x-queue-type': 'quorum', 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' };
const running: RunningBroker[] = [];
const conns: ChannelModel[] = [];
const res = resources();

afterEach(async () => {
  for (const c of conns.splice(0)) await c.close().catch(() => undefined);
  for (const b of running.splice(0)) await b.close().catch(() => undefined);
});

/** A broker with the management API, its log lines collected. */
async function start(dataDir?: string): Promise<{ b: RunningBroker; logs: Record<string, unknown>[] }> {
  const logs: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line) logs.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const b = await startBroker({
    dataDir: dataDir ?? (await res.tempDir('warren-qq-dlx-')),
    managementPort: -1,
    deadLetterRetryMs: 200,
    logger: pino({ level: 'info' }, sink),
  });
  running.push(b);
  return { b, logs };
}

async function connect(b: RunningBroker): Promise<ChannelModel> {
  const c = await amqp.connect(`amqp://guest:guest@127.0.0.1:${b.port}`);
  c.on('error', () => undefined);
  conns.push(c);
  return c;
}

/** The management API's message counts of a queue. */
async function counts(b: RunningBroker, q: string): Promise<Record<string, unknown>> {
  const r = await apiClient(`http://127.0.0.1:${b.managementPort}`)('GET', `/api/queues/%2F/${q}`);
  const j = r.json as Record<string, unknown>;
  return { messages: j.messages, messages_ready: j.messages_ready, messages_unacknowledged: j.messages_unacknowledged, messages_dlx: j.messages_dlx, message_bytes_dlx: j.message_bytes_dlx };
}

async function rejectOne(ch: ConfirmChannel, q: string): Promise<void> {
  const m = (await ch.get(q)) as GetMessage;
  ch.reject(m, false);
  await ch.checkQueue(q); // the reject is processed
}

const texts = (logs: Record<string, unknown>[]): string[] => logs.map((l) => String(l.msg));

describe('x-dead-letter-strategy at-least-once', () => {
  it('is effective only with reject-publish and a dead-letter exchange; otherwise falls back, with RabbitMQ 3.10.8 log texts', async () => {
    const { b, logs } = await start();
    const ch = await confirmChannel(await connect(b));
    const declared = [
      ['alo-a', { 'x-queue-type': 'quorum', 'x-dead-letter-strategy': 'at-least-once', 'x-dead-letter-exchange': 'dlx-none' }],
      ['alo-b', { ...ALO, 'x-dead-letter-exchange': 'dlx-none' }],
      ['alo-c', ALO],
    ] as const;
    for (const [q, args] of declared) {
      expect(await ch.assertQueue(q, { durable: true, arguments: args })).toEqual({ queue: q, messageCount: 0, consumerCount: 0 });
      ch.sendToQueue(q, Buffer.from(`m1-${q}`));
      ch.sendToQueue(q, Buffer.from(`m2-${q}`));
    }
    await ch.waitForConfirms();
    for (const [q] of declared) await rejectOne(ch, q);
    // alo-a fell back to at-most-once (its exchange is missing: dropped); alo-c dead-letters
    // nothing; alo-b keeps the rejected message, counted in messages but not as ready.
    for (const [q, args] of declared) expect(await ch.assertQueue(q, { durable: true, arguments: args })).toEqual({ queue: q, messageCount: 1, consumerCount: 0 });
    expect(await counts(b, 'alo-a')).toEqual({ messages: 1, messages_ready: 1, messages_unacknowledged: 0, messages_dlx: 0, message_bytes_dlx: 0 });
    expect(await counts(b, 'alo-c')).toEqual({ messages: 1, messages_ready: 1, messages_unacknowledged: 0, messages_dlx: 0, message_bytes_dlx: 0 });
    expect(await counts(b, 'alo-b')).toEqual({ messages: 2, messages_ready: 1, messages_unacknowledged: 0, messages_dlx: 1, message_bytes_dlx: 8 });
    const api = apiClient(`http://127.0.0.1:${b.managementPort}`);
    expect(((await api('GET', '/api/overview')).json as { queue_totals: object }).queue_totals).toMatchObject({ messages: 4, messages_ready: 3, messages_unacknowledged: 0 }); // with *_details, as 3.10.8
    expect((await api('GET', '/api/vhosts/%2F')).json).toMatchObject({ messages: 4, messages_ready: 3 });
    expect(texts(logs)).toEqual(
      expect.arrayContaining([
        "Falling back to dead-letter-strategy at-most-once for queue 'alo-a' in vhost '/' because configured dead-letter-strategy at-least-once is incompatible with effective overflow strategy drop-head. To enable dead-letter-strategy at-least-once, set overflow strategy to reject-publish.",
        "Disabling dead-lettering for queue 'alo-c' in vhost '/' despite configured dead-letter-strategy 'at-least-once' because dead-letter-exchange is not configured.",
        expect.stringMatching(/^Cannot forward any dead-letter messages from source quorum queue 'alo-b' in vhost '\/' because its configured dead-letter-exchange exchange 'dlx-none' in vhost '\/' does not exist\./),
      ]),
    );
    // classic queues have no messages_dlx
    await ch.assertQueue('classic-q', { durable: true });
    expect((await counts(b, 'classic-q')).messages_dlx).toBeUndefined();
  });

  it('keeps what routes nowhere or to a missing exchange, and delivers it once a route appears, x-death as at the death', async () => {
    const { b } = await start();
    const ch = await confirmChannel(await connect(b));
    await ch.assertExchange('dlx-k', 'fanout', { durable: true });
    await ch.assertQueue('keep', { durable: true, arguments: { ...ALO, 'x-dead-letter-exchange': 'dlx-k' } });
    await ch.assertQueue('miss', { durable: true, arguments: { ...ALO, 'x-dead-letter-exchange': 'dlx-later', 'x-dead-letter-routing-key': 'tgt2' } });
    await ch.assertQueue('ttl', { durable: true, arguments: { ...ALO, 'x-dead-letter-exchange': 'dlx-k', 'x-message-ttl': 50 } });
    for (const q of ['keep', 'miss']) for (const body of ['k0', 'k1', 'k2']) ch.sendToQueue(q, Buffer.from(body), { headers: { h: 1 }, expiration: '60000' });
    ch.sendToQueue('ttl', Buffer.from('t0'));
    await ch.waitForConfirms();
    for (const q of ['keep', 'miss']) for (let i = 0; i < 2; i++) await rejectOne(ch, q);
    await waitUntil(async () => (await counts(b, 'ttl')).messages_dlx === 1, 'the expired message to be owed');
    await sleep(300); // retries (every 200 ms here) find no route either
    for (const q of ['keep', 'miss']) expect(await counts(b, q)).toMatchObject({ messages: 3, messages_ready: 1, messages_dlx: 2 });
    expect(await counts(b, 'ttl')).toMatchObject({ messages: 1, messages_ready: 0, messages_dlx: 1 });

    await ch.assertQueue('tgt', { durable: true });
    await ch.bindQueue('tgt', 'dlx-k', '');
    await ch.assertQueue('tgt2', { durable: true });
    await ch.assertExchange('dlx-later', 'direct', { durable: true });
    await ch.bindQueue('tgt2', 'dlx-later', 'tgt2');
    await waitUntil(async () => (await ch.checkQueue('tgt')).messageCount === 3 && (await ch.checkQueue('tgt2')).messageCount === 2, 'the owed messages in their targets');
    for (const q of ['keep', 'miss', 'ttl']) expect(await counts(b, q)).toMatchObject({ messages_dlx: 0 });
    const m = (await ch.get('tgt2', { noAck: true })) as GetMessage;
    expect(m.content.toString()).toBe('k0');
    expect(m.fields).toMatchObject({ exchange: 'dlx-later', routingKey: 'tgt2', redelivered: false });
    expect(m.properties.expiration).toBeUndefined();
    expect(m.properties.headers).toMatchObject({ h: 1, 'x-first-death-reason': 'rejected', 'x-first-death-queue': 'miss', 'x-first-death-exchange': '' });
    expect(m.properties.headers!['x-death']).toEqual([
      { count: 1, reason: 'rejected', queue: 'miss', time: expect.anything(), exchange: '', 'routing-keys': ['miss'], 'original-expiration': '60000' },
    ]);
    const got: string[] = [];
    for (let g = await ch.get('tgt', { noAck: true }); g; g = await ch.get('tgt', { noAck: true })) got.push(`${g.content} ${g.properties.headers!['x-first-death-reason']}`);
    expect(got.sort()).toEqual(['k0 rejected', 'k1 rejected', 't0 expired']);
  });

  it('owed messages count towards x-max-length; purge and delete count and remove the ready ones only', async () => {
    const { b } = await start();
    const ch = await confirmChannel(await connect(b));
    await ch.assertExchange('dlx-x', 'fanout', { durable: true });
    await ch.assertQueue('lim', { durable: true, arguments: { ...ALO, 'x-dead-letter-exchange': 'dlx-x', 'x-max-length': 3 } });
    const outcomes: string[] = [];
    const publish = (body: string): Promise<void> =>
      new Promise((resolve) => ch.sendToQueue('lim', Buffer.from(body), {}, (err) => (outcomes.push(err ? 'nack' : 'ack'), resolve())));
    for (const body of ['m0', 'm1', 'm2']) await publish(body);
    for (let i = 0; i < 2; i++) await rejectOne(ch, 'lim');
    expect((await ch.checkQueue('lim')).messageCount).toBe(1);
    for (const body of ['n0', 'n1', 'n2', 'n3']) await publish(body);
    expect(outcomes).toEqual(['ack', 'ack', 'ack', 'ack', 'nack', 'nack', 'nack']);
    expect(await ch.purgeQueue('lim')).toEqual({ messageCount: 2 });
    expect(await counts(b, 'lim')).toMatchObject({ messages: 2, messages_ready: 0, messages_dlx: 2 });
    outcomes.length = 0;
    for (const body of ['p0', 'p1', 'p2', 'p3']) await publish(body);
    expect(outcomes).toEqual(['ack', 'ack', 'nack', 'nack']);
    expect(await ch.deleteQueue('lim')).toEqual({ messageCount: 2 });
  });

  it('hands a message to each target once: a target that took it is not retried, a full one is until it takes it', async () => {
    const { b } = await start();
    const ch = await confirmChannel(await connect(b));
    await ch.assertExchange('fa-dlx', 'fanout', { durable: true });
    await ch.assertQueue('fa-a', { durable: true });
    await ch.assertQueue('fa-b', { durable: true, arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
    await ch.bindQueue('fa-a', 'fa-dlx', '');
    await ch.bindQueue('fa-b', 'fa-dlx', '');
    ch.sendToQueue('fa-b', Buffer.from('filler'));
    await ch.assertQueue('fa-src', { durable: true, arguments: { ...ALO, 'x-dead-letter-exchange': 'fa-dlx' } });
    ch.sendToQueue('fa-src', Buffer.from('d'));
    await ch.waitForConfirms();
    await rejectOne(ch, 'fa-src');
    await sleep(500); // retried (every 200 ms), still refused
    expect([(await ch.checkQueue('fa-a')).messageCount, (await ch.checkQueue('fa-b')).messageCount]).toEqual([1, 1]);
    expect(await counts(b, 'fa-src')).toMatchObject({ messages: 1, messages_dlx: 1 });
    expect(((await ch.get('fa-b', { noAck: true })) as GetMessage).content.toString()).toBe('filler');
    await waitUntil(async () => (await ch.checkQueue('fa-b')).messageCount === 1, 'the retry into the drained queue');
    expect((await ch.checkQueue('fa-a')).messageCount).toBe(1);
    expect(((await ch.get('fa-b', { noAck: true })) as GetMessage).content.toString()).toBe('d');
    expect(await counts(b, 'fa-src')).toMatchObject({ messages: 0, messages_dlx: 0 });
  });

  it('a dead-letter cycle (expired back into the same queue) keeps the message owed, as RabbitMQ 3.10.8', async () => {
    const { b, logs } = await start();
    const ch = await confirmChannel(await connect(b));
    await ch.assertQueue('cyc', { durable: true, arguments: { ...ALO, 'x-dead-letter-exchange': '', 'x-message-ttl': 50 } });
    ch.sendToQueue('cyc', Buffer.from('c'));
    await ch.waitForConfirms();
    await sleep(500);
    expect(await counts(b, 'cyc')).toMatchObject({ messages: 1, messages_ready: 0, messages_dlx: 1 });
    expect(await ch.get('cyc')).toBe(false);
    expect(texts(logs).filter((t) => t.startsWith('Dead-letter queues cycle detected'))).toEqual([
      `Dead-letter queues cycle detected for source quorum queue 'cyc' in vhost '/' with dead-letter exchange exchange '' in vhost '/' and routing keys [<<"cyc">>]: [<<"cyc">>] This message will not be logged again.`,
    ]);
  });
});

describe('at-least-once dead letters are stored', () => {
  it('survive a restart, counted the same, and are delivered once a route appears', async () => {
    const dir = await res.tempDir('warren-qq-dlx-restart-');
    const first = await start(dir);
    const ch = await confirmChannel(await connect(first.b));
    await ch.assertQueue('keep', { durable: true, arguments: { ...ALO, 'x-dead-letter-exchange': 'dlx-r' } });
    for (const body of ['k0', 'k1', 'k2']) ch.sendToQueue('keep', Buffer.from(body), { persistent: false });
    await ch.waitForConfirms();
    for (let i = 0; i < 2; i++) await rejectOne(ch, 'keep');
    const before = (await (await channel(conns[0]!)).get('keep')) as GetMessage; // k2, back to the queue on close
    expect(before.content.toString()).toBe('k2');
    const deathTime = Math.floor(Date.now() / 1000);
    await first.b.close();
    running.length = 0;
    conns.length = 0;

    const second = await start(dir);
    const ch2 = await confirmChannel(await connect(second.b));
    expect((await ch2.checkQueue('keep')).messageCount).toBe(1);
    expect(await counts(second.b, 'keep')).toMatchObject({ messages: 3, messages_ready: 1, messages_dlx: 2, message_bytes_dlx: 4 });
    await ch2.assertExchange('dlx-r', 'fanout', { durable: true });
    await ch2.assertQueue('tgt', { durable: true });
    await ch2.bindQueue('tgt', 'dlx-r', '');
    await waitUntil(async () => (await ch2.checkQueue('tgt')).messageCount === 2, 'the owed messages in their target');
    const m = (await ch2.get('tgt', { noAck: true })) as GetMessage;
    expect(m.content.toString()).toBe('k0');
    const time = Number((m.properties.headers!['x-death'] as { time: { value: number } }[])[0]!.time.value);
    expect(Math.abs(time - deathTime)).toBeLessThanOrEqual(1);
    expect(await counts(second.b, 'keep')).toMatchObject({ messages: 1, messages_dlx: 0 });
  });

  it('kill -9 while rejecting with no route: every message is either ready or owed after the restart, and each is delivered once', async () => {
    const dir = await res.tempDir('warren-qq-dlx-crash-');
    const b1 = await res.broker(dir, ['--dead-letter-retry-interval', '200']);
    const conn = await res.connect(b1.port);
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
    await ch.assertQueue('crash', { durable: true, arguments: { ...ALO, 'x-dead-letter-exchange': 'dlx-c' } });
    const n = 300;
    for (let i = 0; i < n; i++) ch.sendToQueue('crash', Buffer.from(String(i)));
    await ch.waitForConfirms();
    const c = await conn.createChannel();
    c.on('error', () => undefined);
    await c.prefetch(50);
    let rejected = 0;
    await c.consume('crash', (m) => {
      if (!m) return;
      c.reject(m, false);
      rejected++;
    });
    await waitUntil(() => rejected > n / 2, 'half the messages rejected');
    await b1.kill9();

    const b2 = await res.broker(dir, ['--dead-letter-retry-interval', '200']);
    const ch2 = await (await res.connect(b2.port)).createChannel();
    ch2.on('error', () => undefined);
    await ch2.assertExchange('dlx-c', 'fanout', { durable: true });
    await ch2.assertQueue('crash-tgt', { durable: true });
    await ch2.bindQueue('crash-tgt', 'dlx-c', '');
    await sleep(500);
    const bodies = async (q: string): Promise<number[]> => {
      const out: number[] = [];
      for (let m = await ch2.get(q, { noAck: true }); m; m = await ch2.get(q, { noAck: true })) out.push(Number(m.content.toString()));
      return out;
    };
    const dead = await bodies('crash-tgt');
    const ready = await bodies('crash');
    expect(dead.length).toBeGreaterThan(0);
    expect([...dead, ...ready].sort((x, y) => x - y)).toEqual(Array.from({ length: n }, (_, i) => i));
  }, 60_000);
});
