// Nodes talk about queues over NATS core, which is at-most-once: a message between two nodes can
// be dropped (a route still forming after a server restarts, a slow consumer cut off). Each node
// here drops every Nth publish, publish answer, delivery and 'moved' it sends (--fault-drop-wire),
// and still every confirmed message reaches the consumer: a dropped publish is never covered by a
// later answer, a dropped delivery goes back to the queue, a stalled publish is sent again.
// Real nats-server and Warren processes, amqplib.
import { afterEach, describe, expect, it } from 'vitest';
import { startWarrenCluster, type WarrenCluster } from '../helpers/warren-cluster.js';
import { waitUntil } from '../helpers/async.js';

let cluster: WarrenCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };

async function ownerOf(c: WarrenCluster, q: string): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${c.nodes[0]!.managementPort}/api/queues/%2F/${q}`, { headers: auth });
  return ((await r.json()) as { node: string }).node;
}

describe('cluster over a lossy wire', () => {
  it('publishes and deliveries between nodes dropped now and then: every confirmed message is consumed, none unconfirmed appears', async () => {
    cluster = await startWarrenCluster(3, ['--fault-drop-wire', 'pub:97,pubok:151,dlv:89,moved:7']);
    const c = cluster;
    const setup = await (await c.connect(0)).createChannel();
    await setup.assertQueue('lossy-q', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    let owner = '';
    await waitUntil(async () => (owner = await ownerOf(c, 'lossy-q')) !== '', 'the queue to get an owner', 20_000);
    const ownerIdx = c.nodes.findIndex((n) => n.name === owner);
    const pubIdx = (ownerIdx + 1) % 3;
    const conIdx = (ownerIdx + 2) % 3;

    // Publisher and consumer both on nodes that do not own the queue: everything crosses the wire.
    const pub = await (await c.connect(pubIdx)).createConfirmChannel();
    const confirmed = new Set<number>();
    const nacked = new Set<number>();
    const total = 1_500;
    for (let start = 0; start < total; start += 100) {
      const batch: Promise<void>[] = [];
      for (let i = start; i < start + 100; i++) {
        batch.push(
          new Promise<void>((resolve) =>
            pub.sendToQueue('lossy-q', Buffer.from(String(i)), { persistent: true }, (err) => {
              (err ? nacked : confirmed).add(i);
              resolve();
            }),
          ),
        );
      }
      await Promise.all(batch);
    }
    expect(confirmed.size + nacked.size).toBe(total);

    const con = await (await c.connect(conIdx)).createChannel();
    await con.prefetch(200);
    const seen = new Set<number>();
    await con.consume('lossy-q', (m) => {
      if (!m) return;
      seen.add(Number(m.content.toString()));
      con.ack(m);
    });
    await waitUntil(() => [...confirmed].every((i) => seen.has(i)), 'every confirmed message', 90_000).catch(() => undefined);
    const lost = [...confirmed].filter((i) => !seen.has(i));
    console.log(`lossy wire: ${confirmed.size} confirmed, ${nacked.size} nacked, ${seen.size} consumed, ${lost.length} confirmed lost`);
    expect(lost).toEqual([]);
    expect([...seen].every((i) => i >= 0 && i < total)).toBe(true);
    // The faults were real: the nodes saw gaps and mended them.
    const logs = c.nodes.map((n) => n.broker.output()).join('\n');
    expect(logs).toMatch(/a publish from another node went missing/);
    expect(logs).toMatch(/deliveries from another node went missing/);
  }, 360_000);
});
