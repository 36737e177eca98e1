// At-least-once dead-lettering (x-dead-letter-strategy at-least-once) of a quorum queue in a
// cluster: the dead letters the queue owes (its targets refused them) are in its replicated stream,
// so the node that takes the queue over when its owner dies forwards them. Before, they stayed in
// the owner's local store and a takeover lost them. Real nats-server and Warren processes, amqplib.
import { afterEach, describe, expect, it } from 'vitest';
import type { Channel } from 'amqplib';
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
  messages_dlx?: number;
}

const queueInfo = (c: WarrenCluster, i: number, q: string): Promise<QueueView> => clusterQueueInfo<QueueView>(c, i, q);

/** The index of the node owning q, as node i sees it, once it is set (and not `not`). */
async function ownerSeenBy(c: WarrenCluster, i: number, q: string, not = ''): Promise<number> {
  let v = await queueInfo(c, i, q);
  await waitUntil(async () => (v = await queueInfo(c, i, q)).node !== '' && v.node !== not, `${q} to have an owner${not ? ` other than ${not}` : ''}`, 30_000);
  return c.nodes.findIndex((n) => n.name === v.node);
}

describe('cluster at-least-once dead letters', () => {
  it.each([
    ['dies (kill -9, with its NATS server)', 'kill'],
    ['stops (SIGTERM: it hands its queues over)', 'stop'],
  ] as const)('what a quorum queue owes its dead-letter targets is forwarded by the node that takes it over when its owner %s', async (_how, how) => {
    cluster = await startWarrenCluster(3, ['--dead-letter-retry-interval', '300']);
    const c = cluster;
    const setup = await (await c.connect(0)).createChannel();
    await setup.assertQueue('src', {
      durable: true,
      arguments: {
        'x-queue-type': 'quorum',
        'x-dead-letter-exchange': 'dlx',
        'x-dead-letter-routing-key': 'k',
        'x-dead-letter-strategy': 'at-least-once',
        'x-overflow': 'reject-publish',
      },
    });
    const owner = await ownerSeenBy(c, 0, 'src');
    const others = [0, 1, 2].filter((i) => i !== owner);
    // The target: a classic queue on a node that lives on, full (one message, reject-publish), so
    // the dead letters stay owed by src.
    const t = await (await c.connect(others[0]!)).createConfirmChannel();
    await t.assertExchange('dlx', 'direct', { durable: true });
    await t.assertQueue('target', { durable: true, arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' } });
    await t.bindQueue('target', 'dlx', 'k');
    t.sendToQueue('target', Buffer.from('blocker'), { persistent: true });
    await t.waitForConfirms();

    const pub = await (await c.connect(others[1]!)).createConfirmChannel();
    const bodies = ['d0', 'd1', 'd2', 'd3', 'd4'];
    for (const b of bodies) pub.sendToQueue('src', Buffer.from(b), { persistent: true });
    await pub.waitForConfirms();
    // Rejected through a node that does not own src: dead-lettered by the owner, refused by the target.
    const rej = await (await c.connect(others[1]!)).createChannel();
    let rejected = 0;
    await rej.consume('src', (m) => {
      if (!m) return;
      rej.nack(m, false, false);
      rejected++;
    });
    await waitUntil(() => rejected >= 5, '5 rejections');
    await waitUntil(async () => (await queueInfo(c, owner, 'src')).messages_dlx === 5, 'src to owe 5 dead letters', 10_000);
    await sleep(500); // the owed records' writes acknowledged

    if (how === 'kill') await Promise.all([c.nodes[owner]!.broker.kill9(), c.nats.servers[owner]!.kill9()]);
    else await c.nodes[owner]!.broker.stop();
    const next = await ownerSeenBy(c, others[0]!, 'src', c.nodes[owner]!.name);
    await waitUntil(async () => (await queueInfo(c, next, 'src')).messages_dlx === 5, 'the new owner to owe the 5 dead letters', 20_000);

    // Room in the target, one at a time: every dead letter reaches it.
    const ch: Channel = await (await c.connect(others[0]!)).createChannel();
    const got: string[] = [];
    await ch.consume('target', (m) => {
      if (!m) return;
      got.push(m.content.toString());
      ch.ack(m);
    });
    await waitUntil(() => bodies.every((b) => got.includes(b)), `the 5 dead letters in the target (have ${got.join(',')})`, 30_000);
    expect(got[0]).toBe('blocker');
    await waitUntil(async () => (await queueInfo(c, next, 'src')).messages_dlx === 0, 'src to owe nothing', 10_000);
  }, 150_000);
});
