// Long queues in a cluster page as on a single node: the owner keeps --page-out-messages of a
// queue in memory; a replicated queue's other messages stay in its JetStream stream only and are
// fetched back a page at a time, transient ones of a durable classic queue go to the owner's
// store. A new owner reads a long queue without holding it all. Real nats-server and Warren
// processes, amqplib.
import { afterEach, describe, expect, it } from 'vitest';
import type { Channel, ConfirmChannel } from 'amqplib';
import { clusterQueueInfo, startWarrenCluster, type WarrenCluster } from '../helpers/warren-cluster.js';
import { sleep, waitUntil } from '../helpers/async.js';

let cluster: WarrenCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

interface QueueView {
  node: string;
  members?: string[];
  messages: number;
  messages_ready: number;
  messages_paged_out: number;
}

const queueInfo = (c: WarrenCluster, i: number, q: string): Promise<QueueView> => clusterQueueInfo<QueueView>(c, i, q);

async function ownerOf(c: WarrenCluster, q: string, members: number): Promise<number> {
  let info = await queueInfo(c, 0, q);
  await waitUntil(async () => (info = await queueInfo(c, 0, q)).node !== '' && (info.members?.length ?? 0) === members, `${q} to get an owner`, 20_000);
  return c.nodes.findIndex((n) => n.name === info.node);
}

async function publish(ch: ConfirmChannel, q: string, from: number, n: number, persistent: (i: number) => boolean = () => true): Promise<void> {
  for (let i = from; i < from + n; i++) ch.sendToQueue(q, Buffer.from(`${i}:${'x'.repeat(200)}`), { persistent: persistent(i) });
  await ch.waitForConfirms();
}

/** Consumes until n messages came (acking each), returning their numbers in arrival order. */
async function consumeAll(ch: Channel, q: string, n: number): Promise<number[]> {
  const seen: number[] = [];
  await ch.prefetch(100);
  const { consumerTag } = await ch.consume(q, (m) => {
    if (!m) return;
    seen.push(Number(m.content.toString().split(':')[0]));
    ch.ack(m);
  });
  await waitUntil(() => seen.length >= n, `${n} messages from ${q} (have ${seen.length})`, 60_000);
  await sleep(300); // nothing more comes
  await ch.cancel(consumerTag);
  return seen;
}

const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('cluster paging', () => {
  it('a quorum queue and a durable classic queue past the limit page out on their owner and come back whole and in order', async () => {
    cluster = await startWarrenCluster(3, ['--page-out-messages', '50']);
    const c = cluster;
    const setup = await (await c.connect(0)).createChannel();
    await setup.assertQueue('pg-q', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await setup.assertQueue('pg-c', { durable: true });
    const qOwner = await ownerOf(c, 'pg-q', 3);
    const cOwner = await ownerOf(c, 'pg-c', 1);
    // Published through a node that does not own the queue.
    const pub = await (await c.connect((qOwner + 1) % 3)).createConfirmChannel();
    await publish(pub, 'pg-q', 0, 2_000);
    // The classic queue mixes transient messages (paged to the owner's store) with persistent ones (in its stream).
    const pubC = await (await c.connect((cOwner + 1) % 3)).createConfirmChannel();
    await publish(pubC, 'pg-c', 0, 2_000, (i) => i % 3 !== 0);

    const q = await queueInfo(c, qOwner, 'pg-q');
    expect(q.messages).toBe(2_000);
    expect(q.messages_paged_out).toBeGreaterThanOrEqual(1_900);
    const cl = await queueInfo(c, cOwner, 'pg-c');
    expect(cl.messages).toBe(2_000);
    expect(cl.messages_paged_out).toBeGreaterThanOrEqual(1_900);

    const con = await (await c.connect((qOwner + 2) % 3)).createChannel();
    expect(await consumeAll(con, 'pg-q', 2_000)).toEqual(range(0, 2_000));
    expect(await consumeAll(con, 'pg-c', 2_000)).toEqual(range(0, 2_000));
    await waitUntil(async () => (await queueInfo(c, qOwner, 'pg-q')).messages === 0, 'pg-q empty', 10_000);
    expect((await queueInfo(c, qOwner, 'pg-q')).messages_paged_out).toBe(0);
  }, 180_000);

  it('a purge takes the paged messages too, and a new owner does not bring them back', async () => {
    cluster = await startWarrenCluster(3, ['--page-out-messages', '50']);
    const c = cluster;
    const setup = await (await c.connect(0)).createChannel();
    await setup.assertQueue('pp-q', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const owner = await ownerOf(c, 'pp-q', 3);
    const other = (owner + 1) % 3;
    const pub = await (await c.connect(other)).createConfirmChannel();
    await publish(pub, 'pp-q', 0, 500);
    expect((await queueInfo(c, owner, 'pp-q')).messages_paged_out).toBeGreaterThan(0);
    const purged = await (await (await c.connect(owner)).createChannel()).purgeQueue('pp-q');
    expect(purged.messageCount).toBe(500);
    await publish(pub, 'pp-q', 1_000, 10);
    await sleep(1_500); // the owner purges the deleted messages from the stream
    // The owner's Warren dies; the next owner reads the stream.
    await c.nodes[owner]!.broker.kill9();
    await waitUntil(async () => {
      const q = await queueInfo(c, other, 'pp-q');
      return q.node !== '' && q.node !== c.nodes[owner]!.name;
    }, 'another owner', 30_000);
    const con = await (await c.connect(other)).createChannel();
    expect(await consumeAll(con, 'pp-q', 10)).toEqual(range(1_000, 10));
  }, 180_000);

  it('a new owner of a long queue keeps only its page in memory and hands every message on', async () => {
    cluster = await startWarrenCluster(3, ['--page-out-messages', '50']);
    const c = cluster;
    const setup = await (await c.connect(0)).createChannel();
    await setup.assertQueue('pt-q', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const owner = await ownerOf(c, 'pt-q', 3);
    const other = (owner + 1) % 3;
    const pub = await (await c.connect(other)).createConfirmChannel();
    await publish(pub, 'pt-q', 0, 3_000);
    await c.nodes[owner]!.broker.kill9();
    let info: QueueView | null = null;
    await waitUntil(async () => {
      info = await queueInfo(c, other, 'pt-q');
      return info.node !== '' && info.node !== c.nodes[owner]!.name;
    }, 'another owner', 30_000);
    const now = c.nodes.findIndex((n) => n.name === info!.node);
    await waitUntil(async () => (await queueInfo(c, now, 'pt-q')).messages === 3_000, 'the queue read by its new owner', 30_000);
    expect((await queueInfo(c, now, 'pt-q')).messages_paged_out).toBeGreaterThanOrEqual(2_900);
    const con = await (await c.connect(other)).createChannel();
    // After a takeover every message comes back (flagged redelivered), in the stream's order.
    expect(await consumeAll(con, 'pt-q', 3_000)).toEqual(range(0, 3_000));
  }, 180_000);
});
