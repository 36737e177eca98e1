// Conformance tests: core AMQP 0-9-1 behaviour as seen through amqplib,
// asserting what RabbitMQ 3.x does.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConsumeMessage, GetMessage, Message } from 'amqplib';
import { brokerUnderTest, type BrokerUnderTest } from '../helpers/broker-under-test.js';
import { sleep, waitUntil, withTimeout } from '../helpers/async.js';
import { channel } from '../helpers/channels.js';


let broker: BrokerUnderTest;
const openConns: ChannelModel[] = [];

beforeAll(async () => {
  broker = await brokerUnderTest(); // Warren in-process, or the broker at AMQP_URL
});

afterAll(async () => {
  await broker?.close();
});

afterEach(async () => {
  const conns = openConns.splice(0);
  await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
});

// ---------------------------------------------------------------- helpers


function url(extra = ''): string {
  return `${broker.url()}${extra}`;
}

async function connect(opts?: Partial<amqp.Options.Connect>): Promise<ChannelModel> {
  const conn = opts
    ? await amqp.connect({
        protocol: 'amqp',
        hostname: broker.host,
        port: broker.port,
        username: 'guest',
        password: 'guest',
        vhost: '/',
        ...opts,
      })
    : await amqp.connect(url());
  // An unhandled 'error' event would crash the worker; tests that care
  // about errors attach their own listeners.
  conn.on('error', () => undefined);
  openConns.push(conn);
  return conn;
}

function qname(prefix = 'q'): string {
  return `${prefix}-${randomUUID()}`;
}

/** Publish honouring back-pressure (amqplib returns false when its buffer is full). */
async function send(ch: Channel, queue: string, body: Buffer, opts?: amqp.Options.Publish): Promise<void> {
  if (!ch.sendToQueue(queue, body, opts)) {
    await new Promise<void>((r) => ch.once('drain', () => r()));
  }
}

/** Does the queue exist? Uses a throw-away channel since a 404 closes it. */
async function queueExists(conn: ChannelModel, queue: string): Promise<boolean> {
  const ch = await channel(conn);
  try {
    await ch.checkQueue(queue);
    await ch.close();
    return true;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return false;
    throw err;
  }
}

async function waitQueueGone(conn: ChannelModel, queue: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (await queueExists(conn, queue)) {
    if (Date.now() > deadline) throw new Error(`queue ${queue} still exists after ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Drain a queue with basic.get (no-ack) and return the bodies as strings. */
async function getAll(ch: Channel, queue: string): Promise<GetMessage[]> {
  const out: GetMessage[] = [];
  for (;;) {
    const m = await ch.get(queue, { noAck: true });
    if (m === false) return out;
    out.push(m);
  }
}

const body = (m: Message) => m.content.toString();

// ------------------------------------------------------------------ tests

describe('amqplib core behaviour', () => {
  it('hello world', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = qname('hello');
    await ch.assertQueue(q, { durable: false });
    const got = new Promise<ConsumeMessage>((resolve) => {
      void ch.consume(q, (m) => m && resolve(m), { noAck: true });
    });
    ch.sendToQueue(q, Buffer.from('Hello World!'));
    const m = await withTimeout(got, 5000, 'hello world delivery');
    expect(body(m)).toBe('Hello World!');
    expect(m.fields.exchange).toBe('');
    expect(m.fields.routingKey).toBe(q);
    expect(m.fields.redelivered).toBe(false);
  });

  it('work queue: two workers, prefetch 1, manual acks, each task processed once', async () => {
    const conn = await connect();
    const q = qname('tasks');
    const pub = await channel(conn);
    await pub.assertQueue(q, { durable: true });

    const processed: string[] = [];
    const perWorker = [0, 0];
    const workers = await Promise.all([0, 1].map(() => channel(conn)));
    for (const [i, w] of workers.entries()) {
      await w.prefetch(1);
      await w.consume(
        q,
        (m) => {
          if (!m) return;
          perWorker[i]++;
          // Simulate work so that dispatch alternates between workers.
          setTimeout(() => {
            processed.push(body(m));
            w.ack(m);
          }, 5);
        },
        { noAck: false },
      );
    }
    const N = 20;
    for (let i = 0; i < N; i++) pub.sendToQueue(q, Buffer.from(`task ${i}`), { persistent: true });
    await waitUntil(() => processed.length >= N, 'all tasks processed');
    await sleep(100);
    expect(processed.length).toBe(N);
    expect(new Set(processed).size).toBe(N);
    expect(perWorker[0]).toBeGreaterThan(0);
    expect(perWorker[1]).toBeGreaterThan(0);
    const ok = await pub.checkQueue(q);
    expect(ok.messageCount).toBe(0);
    expect(ok.consumerCount).toBe(2);
    await pub.deleteQueue(q);
  });

  it('200 channels on one connection each keep their own per-channel order', async () => {
    const conn = await connect();
    const CH = 200;
    const PER = 50;
    const received: string[][] = [];
    const done: Promise<void>[] = [];
    const channels: Channel[] = [];
    for (let c = 0; c < CH; c++) {
      const ch = await channel(conn);
      channels.push(ch);
      const q = qname(`ch${c}`);
      await ch.assertQueue(q, { exclusive: true });
      received[c] = [];
      done.push(
        new Promise<void>((resolve) => {
          void ch.consume(
            q,
            (m) => {
              if (!m) return;
              received[c].push(body(m));
              if (received[c].length === PER) resolve();
            },
            { noAck: true },
          );
        }),
      );
      (ch as unknown as { q: string }).q = q;
    }
    // Interleave publishes across channels.
    for (let i = 0; i < PER; i++) {
      for (let c = 0; c < CH; c++) {
        const ch = channels[c];
        ch.sendToQueue((ch as unknown as { q: string }).q, Buffer.from(`${c}:${i}`));
      }
    }
    await withTimeout(Promise.all(done), 30_000, 'all channels received their messages');
    await sleep(50);
    for (let c = 0; c < CH; c++) {
      expect(received[c]).toEqual(Array.from({ length: PER }, (_, i) => `${c}:${i}`));
    }
  });

  it('5 MiB random body is byte-identical with client frameMax 4096', async () => {
    const conn = await connect({ frameMax: 4096 });
    // amqplib negotiates min(server 131072, client 4096)
    expect((conn as unknown as { connection: { frameMax: number } }).connection.frameMax).toBe(4096);
    const ch = await channel(conn);
    const q = qname('big');
    await ch.assertQueue(q, { exclusive: true });
    const payload = randomBytes(5 * 1024 * 1024);

    // via basic.get
    await send(ch, q, payload, { contentType: 'application/octet-stream', headers: { k: 'v' } });
    let got: GetMessage | false = false;
    const deadline = Date.now() + 10_000;
    while (got === false && Date.now() < deadline) {
      got = await ch.get(q, { noAck: true });
      if (got === false) await sleep(20);
    }
    expect(got).not.toBe(false);
    const g = got as GetMessage;
    expect(g.content.length).toBe(payload.length);
    expect(g.content.equals(payload)).toBe(true);
    expect(g.properties.contentType).toBe('application/octet-stream');
    expect(g.properties.headers).toMatchObject({ k: 'v' });

    // via basic.consume
    const delivered = new Promise<ConsumeMessage>((resolve) => {
      void ch.consume(q, (m) => m && resolve(m), { noAck: true });
    });
    await send(ch, q, payload);
    const m = await withTimeout(delivered, 20_000, 'big message delivery');
    expect(m.content.length).toBe(payload.length);
    expect(m.content.equals(payload)).toBe(true);
  });

  it('10,000 messages through one prefetch-100 consumer with manual acks: exactly once, in order', async () => {
    const conn = await connect();
    const pub = await channel(conn);
    const q = qname('tenk');
    await pub.assertQueue(q, { exclusive: true });
    const N = 10_000;
    for (let i = 0; i < N; i++) await send(pub, q, Buffer.from(String(i)));

    const cons = await channel(conn);
    await cons.prefetch(100);
    const seen: number[] = [];
    let acked = 0;
    let maxOutstanding = 0;
    let redeliveries = 0;
    await cons.consume(
      q,
      (m) => {
        if (!m) return;
        if (m.fields.redelivered) redeliveries++;
        seen.push(Number(body(m)));
        const outstanding = seen.length - acked;
        if (outstanding > maxOutstanding) maxOutstanding = outstanding;
        // ack asynchronously so the prefetch window can actually fill
        setImmediate(() => {
          cons.ack(m);
          acked++;
        });
      },
      { noAck: false },
    );
    await waitUntil(() => acked >= N, '10,000 acks', 30_000);
    await sleep(100);
    expect(seen.length).toBe(N);
    expect(seen).toEqual(Array.from({ length: N }, (_, i) => i));
    expect(redeliveries).toBe(0);
    expect(maxOutstanding).toBeLessThanOrEqual(100);
    const ok = await pub.checkQueue(q);
    expect(ok.messageCount).toBe(0);
  });

  it('basic.get returns messageCount and get-empty when empty', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = qname('get');
    await ch.assertQueue(q, { exclusive: true });
    expect(await ch.get(q, { noAck: true })).toBe(false);
    for (const s of ['a', 'b', 'c']) ch.sendToQueue(q, Buffer.from(s));
    // wait for the publishes to land
    let ok = await ch.checkQueue(q);
    for (let i = 0; i < 100 && ok.messageCount < 3; i++) {
      await sleep(10);
      ok = await ch.checkQueue(q);
    }
    expect(ok.messageCount).toBe(3);
    const m1 = (await ch.get(q, { noAck: true })) as GetMessage;
    expect(body(m1)).toBe('a');
    expect(m1.fields.messageCount).toBe(2);
    expect(m1.fields.redelivered).toBe(false);
    expect(m1.fields.routingKey).toBe(q);
    const m2 = (await ch.get(q, { noAck: true })) as GetMessage;
    expect(body(m2)).toBe('b');
    expect(m2.fields.messageCount).toBe(1);
    const m3 = (await ch.get(q, { noAck: false })) as GetMessage;
    expect(body(m3)).toBe('c');
    expect(m3.fields.messageCount).toBe(0);
    expect(m3.fields.deliveryTag).toBeGreaterThan(0);
    expect(await ch.get(q, { noAck: true })).toBe(false);
    ch.ack(m3);
    expect(await ch.get(q, { noAck: true })).toBe(false);
  });

  it("server-named queue: declaring '' yields an amq.gen- name", async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const a = await ch.assertQueue('', { exclusive: true });
    const b = await ch.assertQueue('', { exclusive: true });
    expect(a.queue.startsWith('amq.gen-')).toBe(true);
    expect(a.queue.length).toBeGreaterThan('amq.gen-'.length);
    expect(b.queue.startsWith('amq.gen-')).toBe(true);
    expect(a.queue).not.toBe(b.queue);
    expect(a.messageCount).toBe(0);
    expect(a.consumerCount).toBe(0);
    ch.sendToQueue(a.queue, Buffer.from('to server-named'));
    await sleep(50);
    const m = (await ch.get(a.queue, { noAck: true })) as GetMessage;
    expect(m && body(m)).toBe('to server-named');
  });

  it('queue.declare-ok reports ready messageCount and consumerCount', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = qname('declare');
    const first = await ch.assertQueue(q, { exclusive: true });
    expect(first).toMatchObject({ queue: q, messageCount: 0, consumerCount: 0 });
    for (let i = 0; i < 3; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
    await sleep(50);
    expect(await ch.assertQueue(q, { exclusive: true })).toMatchObject({ queue: q, messageCount: 3, consumerCount: 0 });

    // A consumer with one unacked message: message_count counts ready messages only.
    const cons = await channel(conn);
    await cons.prefetch(1);
    let delivered = 0;
    await cons.consume(q, (m) => m && delivered++, { noAck: false });
    await waitUntil(() => delivered === 1, 'one delivery');
    await sleep(50);
    expect(delivered).toBe(1);
    expect(await ch.assertQueue(q, { exclusive: true })).toMatchObject({ messageCount: 2, consumerCount: 1 });
    expect(await ch.checkQueue(q)).toMatchObject({ queue: q, messageCount: 2, consumerCount: 1 });
  });

  it('queue.purge returns the number of ready messages only (unacked survive)', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = qname('purge');
    await ch.assertQueue(q, { exclusive: true });
    for (let i = 0; i < 5; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
    await sleep(50);

    const cons = await channel(conn);
    await cons.prefetch(2);
    const got: ConsumeMessage[] = [];
    await cons.consume(q, (m) => m && got.push(m), { noAck: false });
    await waitUntil(() => got.length === 2, 'two deliveries');
    await sleep(50);
    expect(got.length).toBe(2);

    const purged = await ch.purgeQueue(q);
    expect(purged.messageCount).toBe(3);
    expect((await ch.checkQueue(q)).messageCount).toBe(0);

    // Closing the consumer's channel returns the two unacked messages.
    await cons.close();
    await sleep(50);
    expect((await ch.checkQueue(q)).messageCount).toBe(2);
    const rest = await getAll(ch, q);
    expect(rest.map(body)).toEqual(['m0', 'm1']);
    expect(rest.every((m) => m.fields.redelivered)).toBe(true);
  });

  it('queue.delete returns the message count; if-unused / if-empty fail with 406', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = qname('del');
    await ch.assertQueue(q);
    for (let i = 0; i < 4; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
    await sleep(50);

    // if-empty on a non-empty queue
    const ch2 = await channel(conn);
    const errEmpty = await ch2.deleteQueue(q, { ifEmpty: true }).then(
      () => null,
      (e: { code?: number; message: string }) => e,
    );
    expect(errEmpty?.code).toBe(406);
    // RabbitMQ 3.10.8's text exactly (rabbitmq-c's amqp-delete-queue prints it).
    expect(errEmpty?.message).toContain(`PRECONDITION_FAILED - queue '${q}' in vhost '/' not empty`);

    // if-unused on a queue with a consumer
    const consCh = await channel(conn);
    const { consumerTag } = await consCh.consume(q, () => undefined, { noAck: false });
    const ch3 = await channel(conn);
    const errUnused = await ch3.deleteQueue(q, { ifUnused: true }).then(
      () => null,
      (e: { code?: number; message: string }) => e,
    );
    expect(errUnused?.code).toBe(406);
    expect(errUnused?.message).toMatch(/in use/i);
    await consCh.cancel(consumerTag);
    await consCh.close(); // requeue whatever the consumer received
    await sleep(50);

    // The queue is intact after the failed deletes.
    expect(await ch.checkQueue(q)).toMatchObject({ messageCount: 4, consumerCount: 0 });
    const del = await ch.deleteQueue(q, { ifUnused: true });
    expect(del.messageCount).toBe(4);
    expect(await queueExists(conn, q)).toBe(false);
  });

  it('deleting a missing queue is ok with messageCount 0', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const res = await ch.deleteQueue(qname('never-declared'));
    expect(res.messageCount).toBe(0);
    // channel still open
    const ok = await ch.assertQueue('', { exclusive: true });
    expect(ok.queue.startsWith('amq.gen-')).toBe(true);
  });

  it('a consumer whose queue is deleted from another channel receives basic.cancel', async () => {
    const conn = await connect();
    const consCh = await channel(conn);
    const q = qname('cancelled');
    await consCh.assertQueue(q);
    const events: (ConsumeMessage | null)[] = [];
    const cancelled = new Promise<void>((resolve) => {
      void consCh.consume(
        q,
        (m) => {
          events.push(m);
          if (m === null) resolve();
        },
        { noAck: true },
      );
    });
    const other = await channel(conn);
    other.sendToQueue(q, Buffer.from('before delete'));
    await waitUntil(() => events.length === 1, 'delivery before delete');
    await other.deleteQueue(q);
    await withTimeout(cancelled, 5000, 'server basic.cancel');
    expect(events.map((m) => (m ? body(m) : null))).toEqual(['before delete', null]);
    // The consumer's channel is still usable (basic.cancel does not close it).
    const ok = await consCh.assertQueue('', { exclusive: true });
    expect(ok.queue.startsWith('amq.gen-')).toBe(true);
  });

  it('auto-delete queue is removed after its last consumer cancels', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = qname('autodel');
    await ch.assertQueue(q, { autoDelete: true });
    const c1 = await ch.consume(q, () => undefined, { noAck: true });
    const c2 = await ch.consume(q, () => undefined, { noAck: true });
    expect((await ch.checkQueue(q)).consumerCount).toBe(2);
    await ch.cancel(c1.consumerTag);
    await sleep(50);
    expect(await queueExists(conn, q)).toBe(true);
    await ch.cancel(c2.consumerTag);
    await waitQueueGone(conn, q);
  });

  it('exclusive queue is removed when its connection closes', async () => {
    const owner = await connect();
    const ch = await channel(owner);
    const q = qname('excl');
    await ch.assertQueue(q, { exclusive: true });
    const observer = await connect();
    // Another connection sees it as locked while the owner lives.
    const och = await channel(observer);
    const err = await och.checkQueue(q).then(
      () => null,
      (e: { code?: number }) => e,
    );
    expect(err?.code).toBe(405);
    await owner.close();
    await waitQueueGone(observer, q);
  });

  it('an exclusive queue is never durable: a redeclare with the other durable flag is equivalent (3.10.8)', async () => {
    const conn = await connect();
    for (const [first, then] of [[true, false], [false, true]]) {
      const ch = await channel(conn);
      const q = qname('excl-durable');
      await ch.assertQueue(q, { exclusive: true, durable: first });
      const ok = await ch.assertQueue(q, { exclusive: true, durable: then });
      expect(ok.queue).toBe(q);
      await ch.deleteQueue(q);
    }
  });

  it('unacked messages are requeued on channel close: redelivered, original order, ahead of the rest', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = qname('requeue');
    await ch.assertQueue(q, { exclusive: true });
    for (let i = 1; i <= 6; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
    await sleep(50);

    const cons = await channel(conn);
    await cons.prefetch(3);
    const got: ConsumeMessage[] = [];
    await cons.consume(q, (m) => m && got.push(m), { noAck: false });
    await waitUntil(() => got.length === 3, 'three deliveries');
    await sleep(50);
    expect(got.map(body)).toEqual(['m1', 'm2', 'm3']);
    expect(got.every((m) => !m.fields.redelivered)).toBe(true);
    await cons.close();
    await sleep(50);

    const rest = await getAll(ch, q);
    expect(rest.map(body)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
    expect(rest.map((m) => m.fields.redelivered)).toEqual([true, true, true, false, false, false]);
  });

  it('unacked messages are requeued when the connection closes', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = qname('requeue-conn');
    await ch.assertQueue(q);
    for (let i = 1; i <= 4; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
    await sleep(50);
    const other = await connect();
    const och = await channel(other);
    const a = (await och.get(q, { noAck: false })) as GetMessage;
    const b = (await och.get(q, { noAck: false })) as GetMessage;
    expect([body(a), body(b)]).toEqual(['m1', 'm2']);
    await other.close();
    await sleep(50);
    const rest = await getAll(ch, q);
    expect(rest.map(body)).toEqual(['m1', 'm2', 'm3', 'm4']);
    expect(rest.map((m) => m.fields.redelivered)).toEqual([true, true, false, false]);
    await ch.deleteQueue(q);
  });

  it('nack and reject, with and without requeue', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = qname('nack');
    await ch.assertQueue(q, { exclusive: true });
    for (const s of ['a', 'b', 'c', 'd']) ch.sendToQueue(q, Buffer.from(s));
    await sleep(50);

    // reject with requeue -> redelivered, back at the head
    const a1 = (await ch.get(q, { noAck: false })) as GetMessage;
    expect(body(a1)).toBe('a');
    expect(a1.fields.redelivered).toBe(false);
    ch.reject(a1, true);
    const a2 = (await ch.get(q, { noAck: false })) as GetMessage;
    expect(body(a2)).toBe('a');
    expect(a2.fields.redelivered).toBe(true);

    // nack with requeue
    ch.nack(a2, false, true);
    const a3 = (await ch.get(q, { noAck: false })) as GetMessage;
    expect(body(a3)).toBe('a');
    expect(a3.fields.redelivered).toBe(true);

    // reject without requeue -> dropped
    ch.reject(a3, false);
    const b1 = (await ch.get(q, { noAck: false })) as GetMessage;
    expect(body(b1)).toBe('b');
    // nack without requeue -> dropped
    ch.nack(b1, false, false);

    // nack multiple with requeue: c and d back, in order
    const c1 = (await ch.get(q, { noAck: false })) as GetMessage;
    const d1 = (await ch.get(q, { noAck: false })) as GetMessage;
    expect([body(c1), body(d1)]).toEqual(['c', 'd']);
    expect(await ch.get(q, { noAck: false })).toBe(false);
    ch.nack(d1, true, true);
    const c2 = (await ch.get(q, { noAck: false })) as GetMessage;
    const d2 = (await ch.get(q, { noAck: false })) as GetMessage;
    expect([body(c2), body(d2)]).toEqual(['c', 'd']);
    expect([c2.fields.redelivered, d2.fields.redelivered]).toEqual([true, true]);
    // nack multiple without requeue: both dropped
    ch.nack(d2, true, false);
    expect(await ch.get(q, { noAck: true })).toBe(false);
    await sleep(20);
    expect((await ch.checkQueue(q)).messageCount).toBe(0);

    // Channel close must not bring back anything that was rejected/nacked without requeue.
    await ch.close();
    const ch2 = await channel(conn);
    expect((await ch2.checkQueue(q)).messageCount).toBe(0);
  });

  it('ack multiple acknowledges everything up to and including the tag', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = qname('ackmulti');
    await ch.assertQueue(q);
    for (let i = 1; i <= 5; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
    await sleep(50);
    const cons = await channel(conn);
    const got: ConsumeMessage[] = [];
    await cons.consume(q, (m) => m && got.push(m), { noAck: false });
    await waitUntil(() => got.length === 5, 'five deliveries');
    expect(got.map((m) => m.fields.deliveryTag)).toEqual([1, 2, 3, 4, 5]);
    cons.ack(got[2], true); // acks 1, 2, 3
    await cons.close(); // 4, 5 requeued
    await sleep(50);
    const rest = await getAll(ch, q);
    expect(rest.map(body)).toEqual(['m4', 'm5']);
    await ch.deleteQueue(q);
  });

  it('ack with delivery tag 0 and multiple acknowledges all outstanding messages', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = qname('ackall');
    await ch.assertQueue(q);
    for (let i = 1; i <= 5; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
    await sleep(50);
    const cons = await channel(conn);
    const got: ConsumeMessage[] = [];
    await cons.consume(q, (m) => m && got.push(m), { noAck: false });
    await waitUntil(() => got.length === 5, 'five deliveries');
    cons.ackAll(); // basic.ack(delivery-tag=0, multiple=true)
    // Channel still healthy after ack 0/multiple.
    await cons.checkQueue(q);
    await cons.close();
    await sleep(50);
    expect((await ch.checkQueue(q)).messageCount).toBe(0);
    await ch.deleteQueue(q);
  });

  it('publisher confirms: every publish is acked (including unroutable ones)', async () => {
    const conn = await connect();
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
    const q = qname('confirm');
    await ch.assertQueue(q, { exclusive: true });
    const N = 500;
    const results: (Error | null)[] = new Array(N).fill(undefined);
    for (let i = 0; i < N; i++) {
      ch.sendToQueue(q, Buffer.from(String(i)), { persistent: i % 2 === 0 }, (err) => {
        results[i] = err ?? null;
      });
    }
    // unroutable: default exchange, no such queue -> still confirmed (ack)
    let unroutable: Error | null | undefined;
    ch.publish('', qname('nobody-home'), Buffer.from('x'), {}, (err) => {
      unroutable = err ?? null;
    });
    await withTimeout(ch.waitForConfirms(), 10_000, 'waitForConfirms');
    expect(results.every((r) => r === null)).toBe(true);
    expect(unroutable).toBe(null);
    expect((await ch.checkQueue(q)).messageCount).toBe(N);
  });

  it('qos global=false is per consumer; global=true is shared by the channel', async () => {
    const conn = await connect();
    const setup = await channel(conn);
    const mkQueue = async () => {
      const q = qname('qos');
      await setup.assertQueue(q, { exclusive: true });
      for (let i = 0; i < 10; i++) setup.sendToQueue(q, Buffer.from(`m${i}`));
      return q;
    };

    // per-consumer limit (RabbitMQ: global=false applies to each new consumer)
    const [q1, q2] = [await mkQueue(), await mkQueue()];
    await sleep(50);
    const perCons = await channel(conn);
    await perCons.prefetch(2, false);
    const counts1 = [0, 0];
    await perCons.consume(q1, (m) => m && counts1[0]++, { noAck: false });
    await perCons.consume(q2, (m) => m && counts1[1]++, { noAck: false });
    await waitUntil(() => counts1[0] + counts1[1] >= 4, 'per-consumer deliveries');
    await sleep(200);
    expect(counts1).toEqual([2, 2]);

    // channel-wide limit shared by all consumers
    const [q3, q4] = [await mkQueue(), await mkQueue()];
    await sleep(50);
    const shared = await channel(conn);
    await shared.prefetch(3, true);
    const counts2 = [0, 0];
    await shared.consume(q3, (m) => m && counts2[0]++, { noAck: false });
    await shared.consume(q4, (m) => m && counts2[1]++, { noAck: false });
    await waitUntil(() => counts2[0] + counts2[1] >= 3, 'shared deliveries');
    await sleep(200);
    expect(counts2[0] + counts2[1]).toBe(3);
  });

  it('prefetch limit releases further messages as acks arrive', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = qname('qos-flow');
    await ch.assertQueue(q, { exclusive: true });
    for (let i = 0; i < 6; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
    await sleep(50);
    await ch.prefetch(2);
    const got: ConsumeMessage[] = [];
    await ch.consume(q, (m) => m && got.push(m), { noAck: false });
    await waitUntil(() => got.length === 2, 'first window');
    await sleep(100);
    expect(got.length).toBe(2);
    ch.ack(got[0]);
    await waitUntil(() => got.length === 3, 'window slides by one');
    await sleep(100);
    expect(got.length).toBe(3);
    ch.ack(got[2], true);
    await waitUntil(() => got.length === 5, 'window refills');
    await sleep(100);
    expect(got.map(body)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
  });

  it('server generates an amq.ctag- consumer tag when the client sends an empty one', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = qname('ctag');
    await ch.assertQueue(q, { exclusive: true });
    const a = await ch.consume(q, () => undefined, { noAck: true });
    const b = await ch.consume(q, () => undefined, { noAck: true });
    expect(a.consumerTag).toMatch(/^amq\.ctag-.+/);
    expect(b.consumerTag).toMatch(/^amq\.ctag-.+/);
    expect(a.consumerTag).not.toBe(b.consumerTag);
    // An explicit tag is echoed back verbatim.
    const c = await ch.consume(q, () => undefined, { noAck: true, consumerTag: 'my-tag' });
    expect(c.consumerTag).toBe('my-tag');
    expect((await ch.checkQueue(q)).consumerCount).toBe(3);
    await ch.cancel(a.consumerTag);
    expect((await ch.checkQueue(q)).consumerCount).toBe(2);
  });
});
