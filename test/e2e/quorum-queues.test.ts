// Quorum queues (x-queue-type: quorum) on a single node, through amqplib over sockets.
//
// Every behaviour asserted here was first observed on RabbitMQ 3.10.8 (a private node, amqplib
// probes, December 2026): the declare refusals and their exact texts (non-durable, exclusive,
// auto-delete, server-named, x-max-priority, x-queue-mode, x-queue-version, an unknown
// x-dead-letter-strategy, an unknown x-queue-type, an inequivalent x-queue-type); basic.qos
// global=true then basic.consume closing the connection with 540; x-delivery-count (absent on a
// consumer's first delivery, the number of returns after; a message nacked or recovered goes to
// the back of the queue, one whose channel or connection closed to the front; on basic.get always,
// 0 the first time; a channel closing with the message unacked counts as a return; after a kill -9
// only the messages out to consumers come back counted, and one past its limit is dead-lettered);
// x-delivery-limit (delivered
// limit+1 times, then dead-lettered with x-death reason 'delivery_limit', or dropped without a
// dead-letter exchange); reject-publish taking one message past x-max-length then nacking;
// reject-publish taking publishes again at 80% of the limit (trunc(5 * 0.8) = 4 ready);
// drop-head dead-lettering 'maxlen'; reject-publish-dlx accepted and acting as drop-head;
// x-message-ttl dead-lettering 'expired'; x-quorum-initial-group-size accepted; a transient
// message of a quorum queue surviving a restart with its delivery count, the others coming back
// with redelivered=false (node stopped with rabbitmqctl stop and started again); single active
// consumer and consumer priorities (the exact scenario of the test). Warren's own (not compared:
// the node had no management plugin): the management API, PUT, definitions, /metrics'
// warren_queue_info and warren ctl; and the kill -9 test, messages held unacked at shutdown, paging.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, GetMessage } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { sleep, waitUntil } from '../helpers/async.js';
import { channel, confirmChannel } from '../helpers/channels.js';
import { ctlTable, runCtl } from '../helpers/management-client.js';
import { resources } from '../helpers/resources.js';

const Q = { 'x-queue-type': 'quorum' };
const dirs: string[] = [];
const running: RunningBroker[] = [];
const conns: ChannelModel[] = [];
const res = resources();

afterEach(async () => {
  for (const c of conns.splice(0)) await c.close().catch(() => undefined);
  for (const b of running.splice(0)) await b.close().catch(() => undefined);
});
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function dataDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'warren-quorum-'));
  dirs.push(d);
  return d;
}

async function start(dir?: string, managementPort = 0, pageOutMessages?: number): Promise<RunningBroker> {
  const b = await startBroker({ dataDir: dir ?? (await dataDir()), logLevel: 'silent', managementPort, ...(pageOutMessages ? { pageOutMessages } : {}) });
  running.push(b);
  return b;
}

async function connect(b: RunningBroker): Promise<ChannelModel> {
  const c = await amqp.connect(`amqp://guest:guest@127.0.0.1:${b.port}`);
  c.on('error', () => undefined);
  conns.push(c);
  return c;
}

const countHeader = (m: GetMessage | ConsumeMessage): unknown => m.properties.headers?.['x-delivery-count'];

async function expectChannelError(p: Promise<unknown>, code: number, text: string): Promise<void> {
  const err = (await p.then(
    () => new Error('expected a channel error'),
    (e: unknown) => e,
  )) as Error & { code?: number };
  expect(err.message).toContain(text);
  expect(err.code).toBe(code);
}

async function getBodies(ch: Channel, q: string): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const m = await ch.get(q, { noAck: true });
    if (m === false) return out;
    out.push(m.content.toString());
  }
}

describe('declaring quorum queues', () => {
  it('refuses what RabbitMQ 3.10 refuses, with its texts', async () => {
    const conn = await connect(await start());
    const refused: [string, amqp.Options.AssertQueue, string][] = [
      ['qq-nd', { durable: false, arguments: Q }, "PRECONDITION_FAILED - invalid property 'non-durable' for queue 'qq-nd' in vhost '/'"],
      ['qq-ex', { durable: true, exclusive: true, arguments: Q }, "PRECONDITION_FAILED - invalid property 'exclusive-owner' for queue 'qq-ex' in vhost '/'"],
      ['qq-ad', { durable: true, autoDelete: true, arguments: Q }, "PRECONDITION_FAILED - invalid property 'auto-delete' for queue 'qq-ad' in vhost '/'"],
      ['qq-mp', { durable: true, arguments: { ...Q, 'x-max-priority': 5 } }, "PRECONDITION_FAILED - invalid arg 'x-max-priority' for queue 'qq-mp' in vhost '/' of queue type rabbit_quorum_queue"],
      ['qq-qm', { durable: true, arguments: { ...Q, 'x-queue-mode': 'lazy' } }, "PRECONDITION_FAILED - invalid arg 'x-queue-mode' for queue 'qq-qm' in vhost '/' of queue type rabbit_quorum_queue"],
      ['qq-qv', { durable: true, arguments: { ...Q, 'x-queue-version': 2 } }, "PRECONDITION_FAILED - invalid arg 'x-queue-version' for queue 'qq-qv' in vhost '/' of queue type rabbit_quorum_queue"],
      ['qq-ds', { durable: true, arguments: { ...Q, 'x-dead-letter-strategy': 'foo' } }, "PRECONDITION_FAILED - invalid arg 'x-dead-letter-strategy' for queue 'qq-ds' in vhost '/': invalid_dlx_strategy"],
      ['qq-bt', { durable: true, arguments: { 'x-queue-type': 'foo' } }, `PRECONDITION_FAILED - invalid arg 'x-queue-type' for queue 'qq-bt' in vhost '/': "unsupported queue type 'foo'"`],
      ['', { durable: true, arguments: Q }, 'PRECONDITION_FAILED - Cannot declare a server-named queue for type rabbit_quorum_queue'],
    ];
    for (const [name, opts, text] of refused) {
      const ch = await channel(conn);
      await expectChannelError(ch.assertQueue(name, opts), 406, text);
    }
    const ch = await channel(conn);
    for (const [name, args] of [
      ['qq-ok', Q],
      ['qq-igs', { ...Q, 'x-quorum-initial-group-size': 3 }],
      ['qq-alo', { ...Q, 'x-dead-letter-strategy': 'at-least-once' }],
      ['qq-rpdlx', { ...Q, 'x-overflow': 'reject-publish-dlx' }],
      ['qq-all', { ...Q, 'x-message-ttl': 1000, 'x-expires': 60000, 'x-max-length': 5, 'x-max-length-bytes': 1000, 'x-single-active-consumer': true }],
    ] as const) {
      expect(await ch.assertQueue(name, { durable: true, arguments: args })).toEqual({ queue: name, messageCount: 0, consumerCount: 0 });
    }
    // Redeclares compare x-queue-type, RabbitMQ naming the type of the side that has it.
    await expectChannelError(
      (await channel(conn)).assertQueue('qq-ok', { durable: true }),
      406,
      "inequivalent arg 'x-queue-type' for queue 'qq-ok' in vhost '/': received none but current is the value 'quorum' of type 'longstr'",
    );
    await expectChannelError(
      (await channel(conn)).assertQueue('qq-ok', { durable: true, arguments: { 'x-queue-type': 'classic' } }),
      406,
      "inequivalent arg 'x-queue-type' for queue 'qq-ok' in vhost '/': received 'classic' but current is 'quorum'",
    );
    await expectChannelError(
      (await channel(conn)).assertQueue('qq-ok', { durable: true, arguments: { ...Q, 'x-delivery-limit': 3 } }),
      406,
      "inequivalent arg 'x-delivery-limit' for queue 'qq-ok' in vhost '/': received the value '3' of type 'byte' but current is none",
    );
  });

  it('a channel with a global prefetch consuming from a quorum queue closes the connection with 540', async () => {
    const conn = await connect(await start());
    const ch = await channel(conn);
    await ch.assertQueue('qq-gq', { durable: true, arguments: Q });
    const closed = new Promise<Error>((resolve) => conn.once('close', resolve));
    await ch.prefetch(5, true);
    await ch.consume('qq-gq', () => undefined).catch(() => undefined);
    expect(String(await closed)).toContain("540 (NOT-IMPLEMENTED) with message \"NOT_IMPLEMENTED - queue 'qq-gq' in vhost '/' does not support global qos\"");
  });
});

describe('queue.delete with if-empty or if-unused', () => {
  it('closes the connection with 540, the API answers 400 and warren ctl prints what rabbitmqctl 3.10.8 prints; a stream takes them', async () => {
    const b = await start(undefined, -1);
    for (const [flags, flag] of [[{ ifEmpty: true }, 'if-empty'], [{ ifUnused: true }, 'if-unused'], [{ ifEmpty: true, ifUnused: true }, 'if-unused']] as const) {
      const conn = await connect(b);
      const ch = await channel(conn);
      await ch.assertQueue('qq-del', { durable: true, arguments: Q });
      const closed = new Promise<Error>((resolve) => conn.once('close', resolve));
      await ch.deleteQueue('qq-del', flags).catch(() => undefined);
      expect(String(await closed)).toContain(
        `540 (NOT-IMPLEMENTED) with message "NOT_IMPLEMENTED - cannot delete queue 'qq-del' in vhost '/'. queue.delete operations with ${flag} flag set are not supported by quorum queues"`,
      );
    }
    const url = `http://127.0.0.1:${b.managementPort}`;
    const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
    const r = await fetch(`${url}/api/queues/%2F/qq-del?if-empty=true`, { method: 'DELETE', headers: auth });
    expect([r.status, await r.json()]).toEqual([
      400,
      { error: 'bad_request', reason: "cannot delete queue 'qq-del' in vhost '/'. queue.delete operations with if-empty flag set are not supported by quorum queues" },
    ]);
    // $ rabbitmqctl delete_queue qq --if-unused   (exit 0)
    const ctl = await runCtl(url, ['delete_queue', 'qq-del', '--if-unused']);
    expect([ctl.code, ctl.stdout]).toEqual([
      0,
      "Deleting queue 'qq-del' on vhost '/' if queue is unused ...\n{:protocol_error, :not_implemented, 'cannot delete ~s. queue.delete operations with if-unused flag set are not supported by quorum queues', ['queue \\'qq-del\\' in vhost \\'/\\'']}\n",
    ]);
    const ch = await channel(await connect(b));
    expect(await ch.checkQueue('qq-del')).toMatchObject({ queue: 'qq-del' });
    await ch.assertQueue('st-del', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    expect(await ch.deleteQueue('st-del', { ifEmpty: true })).toEqual({ messageCount: 0 });
    expect(await ch.deleteQueue('qq-del')).toEqual({ messageCount: 0 });
  });
});

describe('delivery counting', () => {
  it('a poison message is redelivered with x-delivery-count counting up, then dead-lettered past x-delivery-limit', async () => {
    const conn = await connect(await start());
    const ch = await confirmChannel(conn);
    await ch.assertExchange('qq-dlx', 'fanout', { durable: true });
    await ch.assertQueue('qq-dead', { durable: true });
    await ch.bindQueue('qq-dead', 'qq-dlx', '');
    await ch.assertQueue('qq-poison', { durable: true, arguments: { ...Q, 'x-delivery-limit': 2, 'x-dead-letter-exchange': 'qq-dlx' } });
    ch.sendToQueue('qq-poison', Buffer.from('poison'), { headers: { a: 1 } });
    await ch.waitForConfirms();

    const consumer = await channel(conn);
    await consumer.prefetch(1);
    const seen: [boolean, unknown][] = [];
    await consumer.consume('qq-poison', (m) => {
      if (!m) return;
      seen.push([m.fields.redelivered, countHeader(m)]);
      consumer.nack(m, false, true);
    });
    await waitUntil(async () => (await ch.checkQueue('qq-dead')).messageCount === 1);
    // Delivered limit+1 times: no header the first time, then the number of returns.
    expect(seen).toEqual([
      [false, undefined],
      [true, 1],
      [true, 2],
    ]);
    expect((await ch.checkQueue('qq-poison')).messageCount).toBe(0);
    const dead = (await ch.get('qq-dead', { noAck: true })) as GetMessage;
    const h = dead.properties.headers!;
    expect(h.a).toBe(1);
    expect(h['x-delivery-count']).toBeUndefined();
    expect(h['x-first-death-reason']).toBe('delivery_limit');
    expect(h['x-death'][0]).toMatchObject({ count: 1, reason: 'delivery_limit', queue: 'qq-poison', exchange: '', 'routing-keys': ['qq-poison'] });
  });

  it('a returned message goes to the back of the queue, behind those waiting', async () => {
    const conn = await connect(await start());
    const ch = await confirmChannel(conn);
    await ch.assertQueue('qq-order', { durable: true, arguments: Q });
    for (const b of ['a0', 'a1', 'a2']) ch.sendToQueue('qq-order', Buffer.from(b));
    await ch.waitForConfirms();
    const c = await channel(conn);
    await c.prefetch(1);
    const seen: string[] = [];
    await new Promise<void>((resolve) => {
      void c.consume('qq-order', (m) => {
        if (!m) return;
        seen.push(`${m.content}/${String(countHeader(m))}`);
        if (seen.length === 1) c.nack(m, false, true);
        else c.ack(m);
        if (seen.length === 4) resolve();
      });
    });
    expect(seen).toEqual(['a0/undefined', 'a1/undefined', 'a2/undefined', 'a0/1']);
    await c.close();
    // Taken by basic.get and all returned at once: they go back in order, behind the rest.
    for (const b of ['m0', 'm1', 'm2', 'm3', 'm4']) ch.sendToQueue('qq-order', Buffer.from(b));
    await ch.waitForConfirms();
    for (let i = 0; i < 3; i++) await ch.get('qq-order');
    ch.nackAll(true);
    const got: string[] = [];
    for (;;) {
      const m = await ch.get('qq-order', { noAck: true });
      if (m === false) break;
      got.push(`${m.content} ${m.fields.redelivered} ${String(countHeader(m))}`);
    }
    expect(got).toEqual(['m3 false 0', 'm4 false 0', 'm0 true 1', 'm1 true 1', 'm2 true 1']);
  });

  it('returns go behind a paged-out backlog too, keeping their counts (Warren paging 5 messages in memory)', async () => {
    const conn = await connect(await start(undefined, 0, 5));
    const ch = await confirmChannel(conn);
    await ch.assertQueue('qq-paged', { durable: true, arguments: Q });
    for (let i = 0; i < 20; i++) ch.sendToQueue('qq-paged', Buffer.from(`m${i}`), { persistent: false });
    await ch.waitForConfirms();
    for (let i = 0; i < 3; i++) await ch.get('qq-paged');
    ch.nackAll(true);
    const got: string[] = [];
    for (;;) {
      const m = await ch.get('qq-paged', { noAck: true });
      if (m === false) break;
      got.push(`${m.content} ${String(countHeader(m))}`);
    }
    expect(got).toEqual([...Array.from({ length: 17 }, (_, i) => `m${i + 3} 0`), 'm0 1', 'm1 1', 'm2 1']);
  });

  it("a consumer's channel or connection closing puts its messages back at the front, counted; a nack sends them to the back (RabbitMQ 3.10.8)", async () => {
    const broker = await start();
    const conn = await connect(broker);
    const ch = await confirmChannel(conn);
    await ch.assertQueue('qq-front', { durable: true, arguments: Q });
    const take = async (): Promise<string[]> => {
      const got: string[] = [];
      for (;;) {
        const m = await ch.get('qq-front', { noAck: true });
        if (m === false) return got;
        got.push(`${m.content}:${m.fields.redelivered ? 'R' : '-'}${String(countHeader(m))}`);
      }
    };
    for (const how of ['connection', 'channel'] as const) {
      for (let i = 0; i < 6; i++) ch.sendToQueue('qq-front', Buffer.from(`m${i}`));
      await ch.waitForConfirms();
      const consumerConn = await connect(broker);
      const c = await channel(consumerConn);
      await c.prefetch(2);
      const held: ConsumeMessage[] = [];
      await c.consume('qq-front', (m) => void (m && held.push(m)));
      await waitUntil(() => held.length === 2);
      c.nack(held[0]!, false, true); // to the back: m2 takes its place with the consumer
      await waitUntil(() => held.length === 3);
      expect(held.map((m) => m.content.toString())).toEqual(['m0', 'm1', 'm2']);
      if (how === 'connection') await consumerConn.close();
      else await c.close();
      await sleep(50);
      expect(await take()).toEqual(['m1:R1', 'm2:R1', 'm3:-0', 'm4:-0', 'm5:-0', 'm0:R1']);
    }
  });

  it('basic.get always carries x-delivery-count; a closed channel counts as a return; no DLX drops the message', async () => {
    const conn = await connect(await start());
    const ch = await confirmChannel(conn);
    await ch.assertQueue('qq-count', { durable: true, arguments: Q });
    await ch.assertQueue('qq-limit0', { durable: true, arguments: { ...Q, 'x-delivery-limit': 0 } });
    ch.sendToQueue('qq-count', Buffer.from('c'));
    ch.sendToQueue('qq-limit0', Buffer.from('d'));
    await ch.waitForConfirms();
    for (let i = 0; i < 3; i++) {
      const c = await channel(conn);
      const m = (await c.get('qq-count')) as GetMessage;
      expect([m.fields.redelivered, countHeader(m)]).toEqual([i > 0, i]);
      await c.close(); // unacked: back to the queue, counted
    }
    const m = (await ch.get('qq-limit0')) as GetMessage;
    expect(countHeader(m)).toBe(0);
    ch.nack(m, false, true);
    await sleep(50);
    expect(await ch.get('qq-limit0')).toBe(false);
  });
});

describe('length limits and TTL', () => {
  it('reject-publish takes one message past x-max-length, then nacks until the queue drains', async () => {
    const conn = await connect(await start());
    const ch = await confirmChannel(conn);
    await ch.assertQueue('qq-rp', { durable: true, arguments: { ...Q, 'x-max-length': 2, 'x-overflow': 'reject-publish' } });
    const outcomes: string[] = [];
    const publish = async (body: string): Promise<void> => {
      await new Promise<void>((resolve) => ch.sendToQueue('qq-rp', Buffer.from(body), {}, (err) => (outcomes.push(err ? 'nack' : 'ack'), resolve())));
    };
    for (const b of ['m0', 'm1', 'm2', 'm3']) await publish(b);
    expect(outcomes).toEqual(['ack', 'ack', 'ack', 'nack']);
    expect(await getBodies(ch, 'qq-rp')).toEqual(['m0', 'm1', 'm2']);
    await publish('after');
    expect(outcomes[4]).toBe('ack');
  });

  it('reject-publish takes publishes again once the queue is down to 80% of x-max-length (not only below it)', async () => {
    // RabbitMQ 3.10.8, x-max-length 5: six taken, the seventh nacked; two taken off (4 left,
    // trunc(5 * 0.8) = 4): the next two publishes acked.
    const conn = await connect(await start());
    const ch = await confirmChannel(conn);
    await ch.assertQueue('qq-soft', { durable: true, arguments: { ...Q, 'x-max-length': 5, 'x-overflow': 'reject-publish' } });
    const outcomes: string[] = [];
    const publish = (body: string): Promise<void> =>
      new Promise((resolve) => ch.sendToQueue('qq-soft', Buffer.from(body), {}, (err) => (outcomes.push(err ? 'nack' : 'ack'), resolve())));
    for (let i = 0; i < 7; i++) await publish(`m${i}`);
    for (let i = 0; i < 2; i++) ch.ack((await ch.get('qq-soft')) as GetMessage);
    await publish('after');
    await publish('after2');
    expect(outcomes).toEqual(['ack', 'ack', 'ack', 'ack', 'ack', 'ack', 'nack', 'ack', 'ack']);
  });

  it('drop-head (and reject-publish-dlx, which RabbitMQ 3.10 applies as drop-head) dead-letters the oldest as maxlen', async () => {
    const conn = await connect(await start());
    const ch = await confirmChannel(conn);
    await ch.assertExchange('qq-dlx2', 'fanout', { durable: true });
    await ch.assertQueue('qq-dead2', { durable: true });
    await ch.bindQueue('qq-dead2', 'qq-dlx2', '');
    for (const overflow of ['drop-head', 'reject-publish-dlx']) {
      const q = `qq-${overflow}`;
      await ch.assertQueue(q, { durable: true, arguments: { ...Q, 'x-max-length': 2, 'x-overflow': overflow, 'x-dead-letter-exchange': 'qq-dlx2' } });
      for (let i = 0; i < 4; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
      await ch.waitForConfirms(); // all acked
      expect(await getBodies(ch, q)).toEqual(['m2', 'm3']);
      const dead = (await ch.get('qq-dead2', { noAck: true })) as GetMessage;
      expect(dead.properties.headers!['x-death'][0]).toMatchObject({ reason: 'maxlen', queue: q });
      expect(await getBodies(ch, 'qq-dead2')).toEqual(['m1']);
    }
  });

  it('x-message-ttl dead-letters expired messages; per-message expiration too', async () => {
    const conn = await connect(await start());
    const ch = await confirmChannel(conn);
    await ch.assertQueue('qq-expired', { durable: true });
    await ch.assertQueue('qq-ttl', { durable: true, arguments: { ...Q, 'x-message-ttl': 100, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'qq-expired' } });
    ch.sendToQueue('qq-ttl', Buffer.from('t'));
    ch.sendToQueue('qq-ttl', Buffer.from('t2'), { expiration: '50' });
    await ch.waitForConfirms();
    await waitUntil(async () => (await ch.checkQueue('qq-expired')).messageCount === 2);
    const a = (await ch.get('qq-expired', { noAck: true })) as GetMessage;
    const b = (await ch.get('qq-expired', { noAck: true })) as GetMessage;
    expect(a.properties.headers!['x-death'][0]).toMatchObject({ reason: 'expired', queue: 'qq-ttl' });
    expect(b.properties.headers!['x-death'][0]).toMatchObject({ reason: 'expired', 'original-expiration': '50' });
    expect(b.properties.expiration).toBeUndefined();
  });

  it('single active consumer and consumer priorities', async () => {
    const conn = await connect(await start());
    const ch = await confirmChannel(conn);
    await ch.assertQueue('qq-sac', { durable: true, arguments: { ...Q, 'x-single-active-consumer': true } });
    await ch.assertQueue('qq-prio', { durable: true, arguments: Q });
    const got: string[] = [];
    const c1 = await channel(conn);
    const c2 = await channel(conn);
    await c1.consume('qq-sac', (m) => m && got.push(`first:${m.content}`), { noAck: true });
    await c2.consume('qq-sac', (m) => m && got.push(`second:${m.content}`), { noAck: true });
    await c1.consume('qq-prio', (m) => m && got.push(`low:${m.content}`), { noAck: true, priority: 1 });
    await c2.consume('qq-prio', (m) => m && got.push(`high:${m.content}`), { noAck: true, priority: 5 });
    for (let i = 0; i < 3; i++) {
      ch.sendToQueue('qq-sac', Buffer.from(String(i)));
      ch.sendToQueue('qq-prio', Buffer.from(String(i)));
    }
    await ch.waitForConfirms();
    await waitUntil(() => got.length === 6);
    expect(got.filter((g) => g.startsWith('first') || g.startsWith('second'))).toEqual(['first:0', 'first:1', 'first:2']);
    expect(got.filter((g) => g.startsWith('low') || g.startsWith('high'))).toEqual(['high:0', 'high:1', 'high:2']);
  });
});

describe('persistence', () => {
  it('transient (delivery_mode 1) messages of a quorum queue are confirmed after the store write and survive a restart, delivery counts too', async () => {
    const dir = await dataDir();
    const b1 = await start(dir);
    const conn = await connect(b1);
    const ch = await confirmChannel(conn);
    await ch.assertQueue('qq-keep', { durable: true, arguments: { ...Q, 'x-delivery-limit': 5 } });
    await ch.assertQueue('classic-transient', { durable: true });
    for (let i = 0; i < 100; i++) {
      ch.sendToQueue('qq-keep', Buffer.from(`m${i}`), { persistent: false });
      ch.sendToQueue('classic-transient', Buffer.from(`m${i}`), { persistent: false });
    }
    await ch.waitForConfirms();
    // The first three are taken, then all returned at once: each counts one return.
    const taken = [];
    for (let i = 0; i < 3; i++) taken.push((await ch.get('qq-keep')) as GetMessage);
    ch.nackAll(true);
    await ch.checkQueue('qq-keep'); // the nack is processed
    await conn.close();
    conns.length = 0;
    await b1.close();
    running.length = 0;
    const b2 = await start(dir);
    const ch2 = await channel(await connect(b2));
    const ok = await ch2.assertQueue('qq-keep', { durable: true, arguments: { ...Q, 'x-delivery-limit': 5 } });
    expect(ok.messageCount).toBe(100);
    expect((await ch2.checkQueue('classic-transient')).messageCount).toBe(0);
    // The returned messages went to the back, and their returns still count after the restart
    // (RabbitMQ 3.10.8 keeps them in its log); the others come back as never delivered.
    const got: string[] = [];
    for (;;) {
      const m = await ch2.get('qq-keep', { noAck: true });
      if (m === false) break;
      got.push(`${m.content} ${m.fields.redelivered} ${String(countHeader(m))}`);
    }
    expect(got).toEqual([...Array.from({ length: 97 }, (_, i) => `m${i + 3} false 0`), 'm0 true 1', 'm1 true 1', 'm2 true 1']);
  });

  it('messages a consumer holds unacked when the broker stops come back first after the restart, flagged redelivered and counted', async () => {
    const dir = await dataDir();
    const b1 = await start(dir);
    const conn = await connect(b1);
    const ch = await confirmChannel(conn);
    await ch.assertQueue('qq-held', { durable: true, arguments: Q });
    for (let i = 0; i < 10; i++) ch.sendToQueue('qq-held', Buffer.from(`m${i}`), { persistent: false });
    await ch.waitForConfirms();
    const c = await channel(conn);
    let held = 0;
    await c.consume('qq-held', () => void held++);
    await waitUntil(() => held === 10);
    await b1.close();
    running.length = 0;
    conns.length = 0;
    const ch2 = await channel(await connect(await start(dir)));
    const got: string[] = [];
    for (;;) {
      const m = await ch2.get('qq-held', { noAck: true });
      if (m === false) break;
      got.push(`${m.content}:${m.fields.redelivered ? 'R' : '-'}${String(countHeader(m))}`);
    }
    // RabbitMQ 3.10.8, stopped and started with two of six held: m0:R1 m1:R1 m2:-0 … in order.
    expect(got).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}:R1`));
  });

  it('kill -9: the messages out to a consumer come back redelivered and counted once more, the rest as they were; another kill counts none again', async () => {
    // RabbitMQ 3.10.8, six messages, two held by a consumer, kill -9 of the node: m0:R1 m1:R1
    // m2:-0 m3:-0 m4:-0 m5:-0 (its log knows which were out). A classic queue flags all six.
    const dir = await res.tempDir('warren-quorum-out-');
    const b1 = await res.broker(dir);
    const conn = await res.connect(b1.port);
    const ch = await conn.createConfirmChannel();
    for (const q of ['qq-out', 'qq-out-early']) await ch.assertQueue(q, { durable: true, arguments: Q });
    await ch.assertQueue('cq-out', { durable: true });
    // Counted past its limit at the restart: dead-lettered then (3.10.8: x-delivery-limit 0, one held).
    await ch.assertQueue('qq-out-dead', { durable: true });
    await ch.assertQueue('qq-out-limit', {
      durable: true,
      arguments: { ...Q, 'x-delivery-limit': 0, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': 'qq-out-dead' },
    });
    const c = await conn.createChannel();
    await c.prefetch(2);
    // Consumed from before the publishes: delivered before the store wrote them.
    const held: string[] = [];
    await c.consume('qq-out-early', (m) => void (m && held.push(m.content.toString())));
    for (let i = 0; i < 6; i++) {
      for (const q of ['qq-out', 'qq-out-early', 'cq-out', 'qq-out-limit']) ch.sendToQueue(q, Buffer.from(`m${i}`), { persistent: true });
    }
    await ch.waitForConfirms();
    for (const q of ['qq-out', 'cq-out', 'qq-out-limit']) await c.consume(q, (m) => void (m && held.push(m.content.toString())));
    await waitUntil(() => held.length === 8);
    await sleep(300); // the store's next write records them as out (unsynced, as acks are)
    await b1.kill9();
    const b2 = await res.broker(dir);
    const ch2 = await (await res.connect(b2.port)).createChannel();
    const take = async (q: string): Promise<string[]> => {
      const got: string[] = [];
      for (;;) {
        const m = await ch2.get(q, { noAck: true });
        if (m === false) return got;
        const count = countHeader(m);
        got.push(`${m.content}:${m.fields.redelivered ? 'R' : '-'}${count === undefined ? '' : String(count)}`);
      }
    };
    const expected = ['m0:R1', 'm1:R1', 'm2:-0', 'm3:-0', 'm4:-0', 'm5:-0'];
    expect(await take('qq-out')).toEqual(expected);
    expect(await take('cq-out')).toEqual(['m0:R', 'm1:R', 'm2:R', 'm3:R', 'm4:R', 'm5:R']);
    expect(await take('qq-out-limit')).toEqual(['m2:-0', 'm3:-0', 'm4:-0', 'm5:-0']);
    const dead: string[] = [];
    for (;;) {
      const m = await ch2.get('qq-out-dead', { noAck: true });
      if (m === false) break;
      const death = (m.properties.headers?.['x-death'] as { reason?: string }[] | undefined)?.[0];
      dead.push(`${m.content}:${death?.reason}`);
    }
    expect(dead).toEqual(['m0:delivery_limit', 'm1:delivery_limit']);
    // The other queue, untouched, through a second kill: its two still counted once.
    await sleep(300);
    await b2.kill9();
    const b3 = await res.broker(dir);
    const ch3 = await (await res.connect(b3.port)).createChannel();
    const again: string[] = [];
    for (;;) {
      const m = await ch3.get('qq-out-early', { noAck: true });
      if (m === false) break;
      again.push(`${m.content}:${m.fields.redelivered ? 'R' : '-'}${String(countHeader(m))}`);
    }
    expect(again).toEqual(expected);
  }, 60_000);

  it('kill -9 while publishing transient messages with confirms: no confirmed message is lost', async () => {
    const dir = await res.tempDir('warren-quorum-crash-');
    const b1 = await res.broker(dir);
    const conn = await res.connect(b1.port);
    const ch: ConfirmChannel = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
    await ch.assertQueue('qq-crash', { durable: true, arguments: Q });
    const confirmed = new Set<number>();
    let n = 0;
    let stop = false;
    const pump = (async () => {
      while (!stop) {
        for (let k = 0; k < 200 && !stop; k++) {
          const i = n++;
          try {
            ch.sendToQueue('qq-crash', Buffer.from(String(i)), { persistent: false }, (err) => {
              if (!err) confirmed.add(i);
            });
          } catch {
            return;
          }
        }
        await sleep(1);
      }
    })();
    await waitUntil(() => confirmed.size > 2000, 20_000);
    await b1.kill9();
    stop = true;
    await pump;
    const b2 = await res.broker(dir);
    const c2 = await (await res.connect(b2.port)).createChannel();
    const after = new Set((await getBodies(c2, 'qq-crash')).map(Number));
    const lost = [...confirmed].filter((i) => !after.has(i));
    expect(lost).toEqual([]);
  }, 60_000);
});

describe('management and definitions', () => {
  it("the API shows type 'quorum'; an export holds the quorum queue, and it imports into another broker", async () => {
    const a = await start(undefined, -1);
    const ch = await confirmChannel(await connect(a));
    await ch.assertQueue('qq-mgmt', { durable: true, arguments: { ...Q, 'x-delivery-limit': 3, 'x-quorum-initial-group-size': 3 } });
    await ch.assertQueue('classic-mgmt', { durable: true });
    const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
    const base = `http://127.0.0.1:${a.managementPort}`;
    const qs = (await (await fetch(`${base}/api/queues/%2F`, { headers: auth })).json()) as { name: string; type: string }[];
    expect(qs.find((q) => q.name === 'qq-mgmt')?.type).toBe('quorum');
    expect(qs.find((q) => q.name === 'classic-mgmt')?.type).toBe('classic');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('warren_queue_info{vhost="/",queue="qq-mgmt",type="quorum"} 1');
    expect(metrics).toContain('warren_queue_info{vhost="/",queue="classic-mgmt",type="classic"} 1');
    // PUT /api/queues declares one as queue.declare does, with the same refusals.
    const put = (name: string, body: object): Promise<Response> =>
      fetch(`${base}/api/queues/%2F/${name}`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    expect((await put('qq-put', { durable: true, arguments: Q })).status).toBe(201);
    const refused = await put('qq-put-nd', { durable: false, arguments: Q });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain("invalid property 'non-durable' for queue 'qq-put-nd' in vhost '/'");
    // warren ctl list_queues name type (rabbitmqctl's columns)
    const out = await runCtl(base, ['list_queues', 'name', 'type']);
    expect(out.code).toBe(0);
    expect(ctlTable(out.stdout, ['name', 'type'])!.rows).toEqual(expect.arrayContaining([['qq-mgmt', 'quorum'], ['classic-mgmt', 'classic']]));
    const defs = (await (await fetch(`${base}/api/definitions`, { headers: auth })).json()) as { queues: object[] };
    const entry = { name: 'qq-mgmt', vhost: '/', durable: true, auto_delete: false, arguments: { 'x-queue-type': 'quorum', 'x-delivery-limit': 3, 'x-quorum-initial-group-size': 3 } };
    expect(defs.queues).toContainEqual(entry);

    const b = await start(undefined, -1);
    const base2 = `http://127.0.0.1:${b.managementPort}`;
    const post = await fetch(`${base2}/api/definitions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(defs) });
    expect(post.status).toBeLessThan(300);
    const q = (await (await fetch(`${base2}/api/queues/%2F/qq-mgmt`, { headers: auth })).json()) as { type: string; arguments: object };
    expect(q).toMatchObject({ type: 'quorum', arguments: entry.arguments });
    // A non-durable quorum queue in a file is a problem, with RabbitMQ's declare text.
    const bad = { queues: [{ name: 'qq-bad', vhost: '/', durable: false, auto_delete: false, arguments: Q }] };
    const r = await fetch(`${base2}/api/definitions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(bad) });
    expect(r.status).toBe(400);
    expect(JSON.stringify(await r.json())).toContain("invalid property 'non-durable' for queue 'qq-bad' in vhost '/'");
  });
});
