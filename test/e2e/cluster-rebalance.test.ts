// POST /api/rebalance/queues on a Warren cluster (real nats-server and Warren processes): a node
// that came back after a planned stop owns no queue (its queues were handed over), and a rebalance
// gives it its share, as RabbitMQ's rebalance spreads quorum queue leaders. The endpoint's answers
// on one node are checked against 3.10.8's in management-endpoints-3108.test.ts.
import { afterEach, describe, expect, it } from 'vitest';
import { startWarrenCluster, type WarrenCluster } from '../helpers/warren-cluster.js';
import { waitUntil } from '../helpers/async.js';

let cluster: WarrenCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
const QUEUES = ['rb-1', 'rb-2', 'rb-3', 'rb-4', 'rb-5', 'rb-6'];

/** How many of the test's queues each node owns, as node i's API says. */
async function owners(c: WarrenCluster, i: number): Promise<Map<string, number>> {
  const r = await fetch(`http://127.0.0.1:${c.nodes[i]!.managementPort}/api/queues/%2F`, { headers: auth });
  const qs = (await r.json()) as { name: string; node: string; members?: string[] }[];
  const out = new Map<string, number>(c.nodes.map((n) => [n.name, 0]));
  for (const q of qs) if (QUEUES.includes(q.name) && q.node) out.set(q.node, (out.get(q.node) ?? 0) + 1);
  return out;
}

describe('cluster: queue rebalance', () => {
  it('a node back from a planned stop owns nothing until POST /api/rebalance/queues gives it its share, confirming publishers on every node losing nothing and nacked nothing', async () => {
    cluster = await startWarrenCluster(3);
    const c = cluster;
    const ch = await (await c.connect(0)).createChannel();
    for (const q of QUEUES) await ch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const placed = async (i: number): Promise<boolean> => [...(await owners(c, i)).values()].reduce((a, b) => a + b, 0) === QUEUES.length;
    await waitUntil(() => placed(0), 'every queue placed', 20_000);

    // w3 stops (its queues are handed over) and comes back: it owns none.
    expect(await c.nodes[2]!.broker.stop()).toBe(0);
    await c.nodes[2]!.restart();
    await waitUntil(async () => (await placed(2)) && (await owners(c, 2)).get('w3') === 0, 'w3 back, owning nothing', 20_000);
    // Nothing moves by itself.
    await new Promise((r) => setTimeout(r, 2_000));
    expect((await owners(c, 0)).get('w3')).toBe(0);

    // A confirming publisher on every node, to every queue, across the rebalance: queues that
    // change hands under their writes must neither nack (they nacked ~140 confirms a run, on
    // queues that did not move too) nor lose a confirmed publish (a takeover superseded while
    // taking in what its own node had published confirmed them unwritten: 24–67 lost a run).
    let publishing = true;
    const confirmed = new Map<string, Set<string>>(QUEUES.map((q) => [q, new Set()]));
    const nacked: string[] = [];
    const channelErrors: string[] = [];
    const publishers = c.nodes.map(async (_, i) => {
      const pc = await (await c.connect(i)).createConfirmChannel();
      // A channel closed under a publisher (it never should be) ends the publishing, and the test.
      pc.on('error', (err: Error) => channelErrors.push(`${i}: ${err.message}`));
      pc.on('close', () => (publishing = false));
      let inflight = 0;
      for (let n = 0; publishing; ) {
        for (; inflight < 120 && publishing; n++) {
          const q = QUEUES[n % QUEUES.length]!;
          const body = `${i}:${n}`;
          inflight++;
          pc.sendToQueue(q, Buffer.from(body), { persistent: true }, (err: unknown) => {
            inflight--;
            if (err) nacked.push(body);
            else confirmed.get(q)!.add(body);
          });
        }
        await new Promise((r) => setTimeout(r, 2));
      }
      await pc.waitForConfirms().catch(() => undefined);
    });
    await new Promise((r) => setTimeout(r, 1_000));

    const rebalance = async (): Promise<void> => {
      const res = await fetch(`http://127.0.0.1:${c.nodes[1]!.managementPort}/api/rebalance/queues`, { method: 'POST', headers: auth });
      expect(res.status).toBe(204);
    };
    await rebalance();
    // JetStream picks each stepped-down queue's new leader among its replicas: a few rounds, and
    // now and then not enough (as RabbitMQ's rebalance, it is done again when asked again).
    let asked = Date.now();
    await waitUntil(
      async () => {
        const o = await owners(c, 0);
        const counts = [...o.values()];
        const spread = (o.get('w3') ?? 0) > 0 && Math.max(...counts) - Math.min(...counts) <= 1 && counts.reduce((a, b) => a + b, 0) === QUEUES.length;
        if (!spread && Date.now() - asked > 30_000) {
          asked = Date.now();
          await rebalance();
        }
        return spread;
      },
      'the queues spread over the three nodes',
      90_000,
    );
    publishing = false;
    await Promise.all(publishers);
    expect(channelErrors).toEqual([]);
    expect(nacked).toEqual([]);
    // Every confirmed publish is in its queue (duplicates of unconfirmed ones may be: a write of
    // the old owner's that landed after all, sent again by the publisher's node).
    const drain = await (await c.connect(1)).createChannel();
    for (const q of QUEUES) {
      const seen = new Set<string>();
      await drain.consume(q, (m) => m && seen.add(m.content.toString()), { noAck: true });
      const want = confirmed.get(q)!;
      await waitUntil(() => [...want].every((b) => seen.has(b)), `every confirmed publish to ${q}`, 20_000).catch(() => undefined);
      const lost = [...want].filter((b) => !seen.has(b));
      expect({ q, lost: lost.length, sample: lost.slice(0, 5) }).toEqual({ q, lost: 0, sample: [] });
      expect(want.size).toBeGreaterThan(0);
    }
    await drain.close();

    // Every queue still works from any node: a message published through w3 is got through w1
    // (after whatever duplicates of unconfirmed publishes still come: a resend stalled 10 s).
    const ch3 = await (await c.connect(2)).createConfirmChannel();
    for (const q of QUEUES) ch3.sendToQueue(q, Buffer.from(`last of ${q}`), { persistent: true });
    await ch3.waitForConfirms();
    for (const q of QUEUES) {
      await waitUntil(
        async () => {
          const m = await ch.get(q, { noAck: true });
          return m !== false && m.content.toString() === `last of ${q}`;
        },
        `the last message of ${q}`,
        20_000,
      );
    }
  }, 180_000);
});
