// RabbitMQ's six classic tutorials (https://www.rabbitmq.com/tutorials, JavaScript/amqplib
// version) against Warren, asserting exactly what RabbitMQ 3.x delivers.
//
// Subscribers are told they have everything by an '__END__' sentinel sent to their queue through
// the default exchange after the real messages, on the same channel (per-channel ordering).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { startBroker } from '../../src/index.js';
import { spawnBroker, type BrokerProcess } from '../helpers/broker-process.js';
import { sleep, waitUntil, withTimeout } from '../helpers/async.js';
import { channel } from '../helpers/channels.js';

type Broker = { port: number; close(): Promise<void> };

let broker: Broker;
const openConns: ChannelModel[] = [];

beforeAll(async () => {
  broker = await startBroker({ port: 0, host: '127.0.0.1', logLevel: 'silent' });
});

afterAll(async () => {
  await broker?.close();
});

afterEach(async () => {
  const conns = openConns.splice(0);
  await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
});


async function connect(port = broker.port): Promise<ChannelModel> {
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
  conn.on('error', () => undefined);
  openConns.push(conn);
  return conn;
}

const uniq = (s: string) => `${s}-${randomUUID().slice(0, 8)}`;

function fib(n: number): number {
  return n === 0 ? 0 : n === 1 ? 1 : fib(n - 1) + fib(n - 2);
}

interface Subscriber {
  name: string;
  queue: string;
  got: ConsumeMessage[];
  /** Resolves once the '__END__' sentinel arrived. */
  ended: Promise<void>;
}

/**
 * receive_logs*.js: its own connection, an exclusive server-named queue bound to `exchange` once
 * per key, consuming with noAck.
 */
async function subscribe(name: string, exchange: string, type: string, keys: string[]): Promise<Subscriber> {
  const conn = await connect();
  const ch = await channel(conn);
  await ch.assertExchange(exchange, type, { durable: false });
  const q = await ch.assertQueue('', { exclusive: true });
  for (const key of keys) await ch.bindQueue(q.queue, exchange, key);
  const got: ConsumeMessage[] = [];
  let end!: () => void;
  const ended = new Promise<void>((r) => (end = r));
  await ch.consume(
    q.queue,
    (m) => {
      if (!m) return;
      if (m.content.toString() === '__END__') end();
      else got.push(m);
    },
    { noAck: true },
  );
  return { name, queue: q.queue, got, ended };
}

async function sendEnds(ch: Channel, subs: Subscriber[]): Promise<void> {
  for (const s of subs) ch.sendToQueue(s.queue, Buffer.from('__END__'));
  await withTimeout(Promise.all(subs.map((s) => s.ended)), 10_000, 'every subscriber sees __END__');
}

describe('RabbitMQ tutorials with amqplib', () => {
  it('1 hello world: send.js / receive.js', async () => {
    const queue = uniq('hello');
    const sender = await connect();
    const sch = await channel(sender);
    await sch.assertQueue(queue, { durable: false });
    sch.sendToQueue(queue, Buffer.from('Hello World!'));
    await sch.close();

    const receiver = await connect();
    const rch = await channel(receiver);
    const ok = await rch.assertQueue(queue, { durable: false });
    expect(ok).toEqual({ queue, messageCount: 1, consumerCount: 0 });
    const got: ConsumeMessage[] = [];
    await rch.consume(queue, (m) => m && got.push(m), { noAck: true });
    await waitUntil(() => got.length >= 1, 'hello delivery');
    await sleep(50);
    expect(got.map((m) => m.content.toString())).toEqual(['Hello World!']);
    expect(got[0]!.fields).toMatchObject({ exchange: '', routingKey: queue, redelivered: false });
    const after = await rch.checkQueue(queue);
    expect(after).toEqual({ queue, messageCount: 0, consumerCount: 1 });
  });

  it('2 work queues: durable queue, persistent tasks, prefetch(1), manual ack: fair dispatch', async () => {
    const queue = uniq('task_queue');
    const conn = await connect();
    type Worker = { name: string; started: string[]; handled: string[]; modes: unknown[] };
    const workers: Worker[] = [];
    for (const name of ['w1', 'w2']) {
      const wconn = await connect();
      const ch = await channel(wconn);
      await ch.assertQueue(queue, { durable: true });
      await ch.prefetch(1);
      const w: Worker = { name, started: [], handled: [], modes: [] };
      workers.push(w);
      await ch.consume(
        queue,
        (m) => {
          if (!m) return;
          const text = m.content.toString();
          w.modes.push(m.properties.deliveryMode);
          w.started.push(text);
          const secs = text.split('.').length - 1;
          setTimeout(() => {
            w.handled.push(text);
            ch.ack(m);
          }, secs * 100);
        },
        { noAck: false },
      );
    }

    const pub = await channel(conn);
    await pub.assertQueue(queue, { durable: true });
    const long = 'Long task....................'; // 2 s
    const quick = ['Quick 1.', 'Quick 2.', 'Quick 3.', 'Quick 4.'];
    for (const t of [long, ...quick]) pub.sendToQueue(queue, Buffer.from(t), { persistent: true });

    await waitUntil(() => workers[0]!.handled.length + workers[1]!.handled.length >= 5, 'all tasks handled', 15_000);
    const busy = workers.find((w) => w.started.includes(long))!;
    const idle = workers.find((w) => w !== busy)!;
    expect(busy.started).toEqual([long]);
    expect(idle.handled).toEqual(quick);
    expect([...busy.modes, ...idle.modes]).toEqual([2, 2, 2, 2, 2]);
    expect(await pub.checkQueue(queue)).toEqual({ queue, messageCount: 0, consumerCount: 2 });
    await pub.deleteQueue(queue);
  });

  it('2 work queues: an unacked task of a worker whose connection dies goes to another worker, redelivered', async () => {
    const queue = uniq('task_queue');
    const c1 = await connect();
    const w1 = await channel(c1);
    await w1.assertQueue(queue, { durable: true });
    await w1.prefetch(1);
    const got1: ConsumeMessage[] = [];
    await w1.consume(queue, (m) => m && got1.push(m), { noAck: false });

    const pub = await channel(await connect());
    pub.sendToQueue(queue, Buffer.from('Hello...'), { persistent: true });
    await waitUntil(() => got1.length === 1, 'w1 got the task');
    await c1.close();

    const w2 = await channel(await connect());
    await w2.prefetch(1);
    const got2: ConsumeMessage[] = [];
    await w2.consume(queue, (m) => { if (m) { got2.push(m); w2.ack(m); } }, { noAck: false });
    await waitUntil(() => got2.length === 1, 'w2 got the task');
    await sleep(50);
    expect(got2.map((m) => [m.content.toString(), m.fields.redelivered, m.properties.deliveryMode])).toEqual([['Hello...', true, 2]]);
    await pub.deleteQueue(queue);
  });

  it('3 publish/subscribe: fanout "logs", exclusive server-named queues, all subscribers get all logs', async () => {
    const exchange = uniq('logs');
    const pubConn = await connect();
    const pub = await channel(pubConn);
    await pub.assertExchange(exchange, 'fanout', { durable: false });
    pub.publish(exchange, '', Buffer.from('lost: nobody bound yet'));

    const subs = [await subscribe('a', exchange, 'fanout', ['']), await subscribe('b', exchange, 'fanout', ['ignored-key'])];
    subs.forEach((s) => expect(s.queue).toMatch(/^amq\.gen-/));
    expect(subs[0]!.queue).not.toBe(subs[1]!.queue);

    const logs = ['info: Hello World!', 'warning: disk 90%', 'error: disk full'];
    logs.forEach((l, i) => pub.publish(exchange, `key${i}`, Buffer.from(l)));
    await sendEnds(pub, subs);
    for (const s of subs) {
      expect(s.got.map((m) => m.content.toString()), s.name).toEqual(logs);
      expect(s.got.map((m) => m.fields.routingKey), s.name).toEqual(['key0', 'key1', 'key2']);
      s.got.forEach((m) => expect(m.fields.exchange).toBe(exchange));
    }
  });

  it('4 routing: direct "direct_logs", one binding per severity', async () => {
    const exchange = uniq('direct_logs');
    const pub = await channel(await connect());
    await pub.assertExchange(exchange, 'direct', { durable: false });
    const errors = await subscribe('errors', exchange, 'direct', ['error']);
    const all = await subscribe('all', exchange, 'direct', ['info', 'warning', 'error']);
    const warn = await subscribe('warn', exchange, 'direct', ['warning', 'warning']);

    const sends: [string, string][] = [
      ['info', 'Run. Run. Or it will explode.'],
      ['warning', 'disk 90%'],
      ['error', 'disk full'],
      ['debug', 'nobody binds debug'],
      ['Error', 'keys are case-sensitive'],
      ['', 'empty key'],
      ['info', 'second info'],
    ];
    for (const [k, m] of sends) pub.publish(exchange, k, Buffer.from(m));
    await sendEnds(pub, [errors, all, warn]);
    const got = (s: Subscriber) => s.got.map((m) => [m.fields.routingKey, m.content.toString()]);
    expect(got(errors)).toEqual([['error', 'disk full']]);
    expect(got(all)).toEqual([
      ['info', 'Run. Run. Or it will explode.'],
      ['warning', 'disk 90%'],
      ['error', 'disk full'],
      ['info', 'second info'],
    ]);
    expect(got(warn)).toEqual([['warning', 'disk 90%']]);
  });

  it('5 topics: "topic_logs" with * and # binding keys', async () => {
    const exchange = uniq('topic_logs');
    const pub = await channel(await connect());
    await pub.assertExchange(exchange, 'topic', { durable: false });
    const bindings: Record<string, string[]> = {
      Q1: ['*.orange.*'],
      Q2: ['*.*.rabbit', 'lazy.#'],
      all: ['#'],
      kern: ['kern.*'],
      critical: ['*.critical'],
      exact: ['quick.orange.rabbit'],
      hashmid: ['lazy.#.fox'],
      twohash: ['#.#'],
    };
    const subs: Record<string, Subscriber> = {};
    for (const [name, keys] of Object.entries(bindings)) subs[name] = await subscribe(name, exchange, 'topic', keys);

    const expected: [string, string[]][] = [
      ['quick.orange.rabbit', ['Q1', 'Q2', 'all', 'exact']],
      ['lazy.orange.elephant', ['Q1', 'Q2', 'all']],
      ['quick.orange.fox', ['Q1', 'all']],
      ['lazy.brown.fox', ['Q2', 'all', 'hashmid']],
      ['lazy.pink.rabbit', ['Q2', 'all']],
      ['quick.brown.fox', ['all']],
      ['orange', ['all']],
      ['quick.orange.male.rabbit', ['all']],
      ['lazy.orange.male.rabbit', ['Q2', 'all']],
      ['quick.orange.new.rabbit', ['all']],
      ['lazy', ['Q2', 'all']],
      ['lazy.fox', ['Q2', 'all', 'hashmid']],
      ['lazy.a.b.c.fox', ['Q2', 'all', 'hashmid']],
      ['lazy.foxy', ['Q2', 'all']],
      ['kern.critical', ['all', 'kern', 'critical']],
      ['kern.critical.disk', ['all']],
      ['anonymous.info', ['all']],
    ].map(([k, who]) => [k as string, [...(who as string[]), 'twohash']]);
    for (const [k] of expected) pub.publish(exchange, k, Buffer.from(`msg for ${k}`));
    await sendEnds(pub, Object.values(subs));

    for (const name of Object.keys(bindings)) {
      const want = expected.filter(([, who]) => who.includes(name)).map(([k]) => k);
      expect(subs[name]!.got.map((m) => m.fields.routingKey), `${name}: ${bindings[name]!.join(' ')}`).toEqual(want);
    }
  });

  it('6 RPC: rpc_server.js / rpc_client.js with correlationId and an exclusive reply queue', async () => {
    const rpcQueue = uniq('rpc_queue');
    const served: { server: string; n: number }[] = [];
    for (const server of ['s1', 's2']) {
      const ch = await channel(await connect());
      await ch.assertQueue(rpcQueue, { durable: false });
      await ch.prefetch(1);
      await ch.consume(rpcQueue, (msg) => {
        if (!msg) return;
        const n = parseInt(msg.content.toString(), 10);
        const r = fib(n);
        served.push({ server, n });
        ch.sendToQueue(msg.properties.replyTo as string, Buffer.from(r.toString()), {
          correlationId: msg.properties.correlationId as string,
        });
        ch.ack(msg);
      });
    }

    const client = async (ns: number[]): Promise<{ replyQueue: string; results: [number, number][]; strays: number }> => {
      const ch = await channel(await connect());
      const q = await ch.assertQueue('', { exclusive: true });
      const waiting = new Map<string, (v: number) => void>();
      let strays = 0;
      await ch.consume(
        q.queue,
        (msg) => {
          if (!msg) return;
          const cb = waiting.get(msg.properties.correlationId as string);
          if (!cb) strays++;
          else cb(parseInt(msg.content.toString(), 10));
        },
        { noAck: true },
      );
      const results: [number, number][] = [];
      for (const n of ns) {
        const correlationId = randomUUID();
        const reply = new Promise<number>((r) => waiting.set(correlationId, r));
        ch.sendToQueue(rpcQueue, Buffer.from(n.toString()), { correlationId, replyTo: q.queue });
        results.push([n, await withTimeout(reply, 10_000, `fib(${n})`)]);
        waiting.delete(correlationId);
      }
      return { replyQueue: q.queue, results, strays };
    };

    const plans = [[30, 0, 1, 10, 7], [20, 2, 15, 5], [25, 3]];
    const outs = await Promise.all(plans.map((ns) => client(ns)));
    outs.forEach((o, i) => {
      expect(o.results).toEqual(plans[i]!.map((n) => [n, fib(n)]));
      expect(o.strays).toBe(0);
      expect(o.replyQueue).toMatch(/^amq\.gen-/);
    });
    expect(new Set(outs.map((o) => o.replyQueue)).size).toBe(3);
    expect(served.length).toBe(11);
    expect(new Set(served.map((s) => s.server))).toEqual(new Set(['s1', 's2']));
  });
});

describe('RabbitMQ tutorial 2 durability with amqplib across a broker restart', () => {
  let dataDir: string;
  let proc: BrokerProcess | undefined;

  afterEach(async () => {
    if (proc) await proc.kill9().catch(() => undefined);
    proc = undefined;
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('durable queue + persistent messages survive; a transient message in it does not', async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'warren-amqplib-tut-'));
    const b1 = await spawnBroker({ dataDir });
    proc = b1;
    const c1 = await connect(b1.port);
    const ch = await c1.createConfirmChannel();
    await ch.assertQueue('task_queue', { durable: true });
    ch.sendToQueue('task_queue', Buffer.from('First message.'), { persistent: true });
    ch.sendToQueue('task_queue', Buffer.from('transient'), { persistent: false });
    ch.sendToQueue('task_queue', Buffer.from('Second message..'), { persistent: true });
    await ch.waitForConfirms();
    await c1.close();
    expect(await b1.stop(), b1.output()).toBe(0);
    proc = undefined;

    const b2 = await spawnBroker({ dataDir });
    proc = b2;
    const c2 = await connect(b2.port);
    const ch2 = await channel(c2);
    const ok = await ch2.assertQueue('task_queue', { durable: true });
    expect(ok.messageCount, b2.output()).toBe(2);
    await ch2.prefetch(1);
    const got: ConsumeMessage[] = [];
    await ch2.consume('task_queue', (m) => { if (m) { got.push(m); ch2.ack(m); } });
    await waitUntil(() => got.length >= 2, 'both persistent tasks');
    await sleep(50);
    expect(got.map((m) => [m.content.toString(), m.properties.deliveryMode])).toEqual([
      ['First message.', 2],
      ['Second message..', 2],
    ]);
    await c2.close();
    expect(await b2.stop(), b2.output()).toBe(0);
    proc = undefined;
  });
});
