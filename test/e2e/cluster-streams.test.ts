// Stream queues (x-queue-type: stream) in a cluster: one replicated log that every node appends to
// and reads from, as RabbitMQ serves a stream from any node. Real nats-server and Warren
// processes, amqplib. (Before, a stream lived on the node that declared it: consumers through the
// other nodes got nothing, without an error.)
import { afterEach, describe, expect, it } from 'vitest';
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';
import { clusterQueueInfo, startWarrenCluster, type WarrenCluster } from '../helpers/warren-cluster.js';
import { sleep, waitUntil } from '../helpers/async.js';

let cluster: WarrenCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };

interface QueueView {
  node: string;
  type: string;
  members?: string[];
  online?: string[];
  messages: number;
  consumers: number;
}

const queueInfo = (c: WarrenCluster, i: number, q: string): Promise<QueueView> => clusterQueueInfo<QueueView>(c, i, q);

async function publish(ch: ConfirmChannel, q: string, bodies: string[]): Promise<void> {
  for (const b of bodies) ch.sendToQueue(q, Buffer.from(b));
  await ch.waitForConfirms();
}

const names = (prefix: string, from: number, n: number): string[] => Array.from({ length: n }, (_, i) => `${prefix}${from + i}`);

type Offset = string | number | { '!': 'timestamp'; value: number };

/** A consumer from offset: what it got, as `body@offset`, acking each (prefetch 10). */
async function reader(conn: ChannelModel, q: string, offset: Offset): Promise<{ got: string[]; ch: Channel; cancelled: () => boolean; stop: () => Promise<void> }> {
  const ch = await conn.createChannel();
  await ch.prefetch(10);
  const got: string[] = [];
  let cancelled = false;
  const { consumerTag } = await ch.consume(
    q,
    (m) => {
      if (!m) {
        cancelled = true;
        return;
      }
      got.push(`${m.content.toString()}@${String(m.properties.headers?.['x-stream-offset'])}`);
      ch.ack(m);
    },
    { arguments: { 'x-stream-offset': offset } },
  );
  return { got, ch, cancelled: () => cancelled, stop: () => ch.cancel(consumerTag).then(() => undefined) };
}

const at = (bodies: string[], first: number): string[] => bodies.map((b, i) => `${b}@${first + i}`);

describe('cluster streams', () => {
  it('a stream is one replicated log: published through any node, read whole and in the same order through every node', async () => {
    cluster = await startWarrenCluster(3);
    const c = cluster;
    const conns = await Promise.all([0, 1, 2].map((i) => c.connect(i)));
    const setup = await conns[0]!.createChannel();
    await setup.assertQueue('st', { durable: true, arguments: { 'x-queue-type': 'stream' } });

    // Each node's publisher in turn, so the log's order is known.
    const pubs = await Promise.all(conns.map((cn) => cn.createConfirmChannel()));
    const all: string[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 3; i++) {
        const batch = names(`n${i}r${round}-`, 0, 50);
        await publish(pubs[i]!, 'st', batch);
        all.push(...batch);
      }
    }
    // Every node reads the same log: the same messages at the same offsets.
    const readers = await Promise.all(conns.map((cn) => reader(cn, 'st', 'first')));
    await waitUntil(() => readers.every((r) => r.got.length >= all.length), `${all.length} messages on every node`, 20_000);
    await sleep(300);
    for (const r of readers) expect(r.got).toEqual(at(all, 0));

    // A declare-ok through another node counts them; the API shows the replicas on every node.
    const ok = await (await conns[2]!.createChannel()).checkQueue('st');
    expect(ok.messageCount).toBe(all.length);
    for (let i = 0; i < 3; i++) {
      let v = await queueInfo(c, i, 'st');
      await waitUntil(async () => (v = await queueInfo(c, i, 'st')).members?.length === 3 && v.messages === all.length, `node ${i} to show 3 members and ${all.length} messages`);
      expect(v.type).toBe('stream');
      expect([...v.members!].sort()).toEqual(['w1', 'w2', 'w3']);
      expect(v.members).toContain(v.node);
    }

    // Every node counts every node's consumers (each tells the others of its own once a second).
    for (let i = 0; i < 3; i++) await waitUntil(async () => (await queueInfo(c, i, 'st')).consumers === 3, `node ${i} to count 3 consumers`);

    // A reader at the end gets what comes next, through whichever node it is published.
    const more = names('live-', 0, 20);
    await publish(pubs[1]!, 'st', more.slice(0, 10));
    await publish(pubs[2]!, 'st', more.slice(10));
    await waitUntil(() => readers.every((r) => r.got.length >= all.length + more.length), 'the live messages on every node', 20_000);
    for (const r of readers) expect(r.got.slice(all.length)).toEqual(at(more, all.length));
  }, 120_000);

  it('x-stream-offset through a node that did not declare it: first, an offset, last, next, past the end and a timestamp', async () => {
    cluster = await startWarrenCluster(3);
    const c = cluster;
    const conns = await Promise.all([0, 1, 2].map((i) => c.connect(i)));
    await (await conns[0]!.createChannel()).assertQueue('so', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    const pub = await conns[1]!.createConfirmChannel();
    const early = names('e', 0, 30);
    await publish(pub, 'so', early);
    await sleep(2_100);
    const since = Math.floor(Date.now() / 1000);
    await sleep(1_100);
    const late = names('l', 0, 10);
    await publish(pub, 'so', late);

    const first = await reader(conns[2]!, 'so', 'first');
    const fromOffset = await reader(conns[2]!, 'so', 25);
    const last = await reader(conns[0]!, 'so', 'last');
    const next = await reader(conns[2]!, 'so', 'next');
    const past = await reader(conns[2]!, 'so', 1_000);
    const byTime = await reader(conns[2]!, 'so', { '!': 'timestamp', value: since });
    await waitUntil(() => first.got.length >= 40 && fromOffset.got.length >= 15 && byTime.got.length >= 10 && last.got.length >= 1, 'the readers to catch up', 20_000);
    await sleep(500);
    expect(first.got).toEqual(at([...early, ...late], 0));
    expect(fromOffset.got).toEqual(at([...early.slice(25), ...late], 25));
    expect(last.got).toEqual(['l9@39']);
    expect(byTime.got).toEqual(at(late, 30));
    expect(next.got).toEqual([]);
    expect(past.got).toEqual([]);

    await publish(await conns[0]!.createConfirmChannel(), 'so', ['after']);
    await waitUntil(() => next.got.length >= 1 && past.got.length >= 1, 'next and past-the-end readers to get the new message', 20_000);
    expect(next.got).toEqual(['after@40']);
    expect(past.got).toEqual(['after@40']);
  }, 120_000);

  it('a consumer on another node stays within its prefetch and reads on as it acks', async () => {
    cluster = await startWarrenCluster(3);
    const c = cluster;
    const [a, b] = await Promise.all([c.connect(0), c.connect(1)]);
    await (await a.createChannel()).assertQueue('sp', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    await publish(await a.createConfirmChannel(), 'sp', names('p', 0, 100));
    const ch = await b.createChannel();
    await ch.prefetch(7);
    const held: { m: import('amqplib').ConsumeMessage; body: string }[] = [];
    await ch.consume('sp', (m) => m && held.push({ m, body: m.content.toString() }), { arguments: { 'x-stream-offset': 'first' } });
    await waitUntil(() => held.length >= 7, '7 deliveries', 10_000);
    await sleep(500);
    expect(held.length).toBe(7);
    for (const h of held.splice(0)) ch.ack(h.m);
    await waitUntil(() => held.length >= 7, '7 more', 10_000);
    await sleep(300);
    expect(held.map((h) => h.body)).toEqual(names('p', 7, 7));
  }, 60_000);

  it('the stream outlives a node: published before and after its death, read through a node that lives on', async () => {
    cluster = await startWarrenCluster(3);
    const c = cluster;
    const conns = await Promise.all([0, 1, 2].map((i) => c.connect(i)));
    await (await conns[0]!.createChannel()).assertQueue('sd', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    const before = names('b', 0, 100);
    await publish(await conns[2]!.createConfirmChannel(), 'sd', before);
    // The node beside the stream's leader dies, its NATS server with it.
    let v = await queueInfo(c, 0, 'sd');
    await waitUntil(async () => (v = await queueInfo(c, 0, 'sd')).members?.length === 3, 'the stream to show its members');
    const dead = c.nodes.findIndex((n) => n.name === v.node);
    const alive = [0, 1, 2].filter((i) => i !== dead);
    await Promise.all([c.nodes[dead]!.broker.kill9(), c.nats.servers[dead]!.kill9()]);
    const after = names('a', 0, 100);
    await publish(await conns[alive[0]!]!.createConfirmChannel(), 'sd', after);
    const r = await reader(conns[alive[1]!]!, 'sd', 'first');
    await waitUntil(() => r.got.length >= 200, `200 messages (have ${r.got.length})`, 30_000);
    await sleep(500);
    // Each once, at offsets 0..199; those published before the death in their order. Those written
    // while JetStream elected a new leader for the stream may be in another order: a write it
    // refused (no leader yet) goes again after later ones it took (see README, Cluster).
    expect(r.got.length).toBe(200);
    expect(r.got.slice(0, 100)).toEqual(at(before, 0));
    expect(r.got.map((g) => Number(g.split('@')[1]))).toEqual(Array.from({ length: 200 }, (_, i) => i));
    expect(r.got.slice(100).map((g) => g.split('@')[0]).sort()).toEqual([...after].sort());
  }, 120_000);

  it('deleted through one node: consumers on the others are cancelled, and a new stream of that name starts empty', async () => {
    cluster = await startWarrenCluster(3);
    const c = cluster;
    const conns = await Promise.all([0, 1, 2].map((i) => c.connect(i)));
    await (await conns[0]!.createChannel()).assertQueue('sx', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    await publish(await conns[0]!.createConfirmChannel(), 'sx', names('x', 0, 10));
    const r = await reader(conns[2]!, 'sx', 'first');
    await waitUntil(() => r.got.length >= 10, '10 messages');
    await (await conns[1]!.createChannel()).deleteQueue('sx');
    await waitUntil(() => r.cancelled(), 'the consumer on another node to be cancelled');
    const again = await (await conns[2]!.createChannel()).assertQueue('sx', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    expect(again.messageCount).toBe(0);
    await publish(await conns[1]!.createConfirmChannel(), 'sx', ['new']);
    const r2 = await reader(conns[0]!, 'sx', 'first');
    await waitUntil(() => r2.got.length >= 1, 'the new message');
    await sleep(300);
    expect(r2.got).toEqual(['new@0']);
  }, 90_000);

  it('a policy set through another node limits the stream at once (max-length-bytes)', async () => {
    cluster = await startWarrenCluster(3);
    const c = cluster;
    const conns = await Promise.all([0, 1, 2].map((i) => c.connect(i)));
    await (await conns[0]!.createChannel()).assertQueue('pl', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    const pub = await conns[1]!.createConfirmChannel();
    const fill = async (from: number): Promise<void> => {
      for (let i = from; i < from + 100; i++) pub.sendToQueue('pl', Buffer.from(`${String(i).padStart(3, '0')}:${'z'.repeat(996)}`));
      await pub.waitForConfirms();
    };
    await fill(0);
    const r = await fetch(`http://127.0.0.1:${c.nodes[2]!.managementPort}/api/policies/%2F/small`, {
      method: 'PUT',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ pattern: '^pl$', definition: { 'max-length-bytes': 20_000 }, 'apply-to': 'queues' }),
    });
    expect(r.status).toBe(201);
    await fill(100);
    await waitUntil(async () => {
      const m = (await queueInfo(c, 0, 'pl')).messages;
      return m > 0 && m < 40;
    }, 'the policy to limit the stream');
    const rd = await reader(conns[0]!, 'pl', 'first');
    await waitUntil(() => rd.got.some((g) => g.startsWith('199:')), 'the last message', 20_000);
    expect(rd.got.length).toBeLessThan(40);
    expect(Number(rd.got[0]!.split(':')[0])).toBeGreaterThan(150);
  }, 90_000);

  it('x-max-length-bytes keeps the newest messages; a node restarted reads the log as it is', async () => {
    cluster = await startWarrenCluster(3);
    const c = cluster;
    const conns = await Promise.all([0, 1, 2].map((i) => c.connect(i)));
    await (await conns[0]!.createChannel()).assertQueue('sl', { durable: true, arguments: { 'x-queue-type': 'stream', 'x-max-length-bytes': 20_000 } });
    const pub = await conns[1]!.createConfirmChannel();
    for (let i = 0; i < 100; i++) pub.sendToQueue('sl', Buffer.from(`${String(i).padStart(3, '0')}:${'y'.repeat(996)}`));
    await pub.waitForConfirms();
    await c.nodes[2]!.broker.stop();
    await c.nodes[2]!.restart();
    const conn = await c.connect(2);
    const r = await reader(conn, 'sl', 'first');
    await waitUntil(() => r.got.some((g) => g.startsWith('099:')), 'the last message', 20_000);
    await sleep(300);
    const offsets = r.got.map((g) => Number(g.split('@')[1]));
    const numbers = r.got.map((g) => Number(g.split(':')[0]));
    // The oldest went; what is left is the newest, whole and in order, at the offsets they were given.
    expect(r.got.length).toBeLessThan(30);
    expect(r.got.length).toBeGreaterThan(5);
    expect(numbers).toEqual(offsets);
    expect(numbers).toEqual(Array.from({ length: numbers.length }, (_, i) => 100 - numbers.length + i));
  }, 120_000);
});
