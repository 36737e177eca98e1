// The cluster's crash loop: a 3-node Warren cluster (real nats-server and Warren processes) with a
// quorum queue, a roaming publisher (persistent, confirms) and a roaming consumer (manual acks),
// each moving to another node when theirs dies, while random nodes are killed with SIGKILL — the
// Warren process, and half the time its nats-server too — one node at a time, and started again.
// At the end every confirmed message must have been consumed (by the roaming consumer or a final
// drain), and nothing may be consumed that was never published.
// CLUSTER_KILLS=N runs N kills (npm run crash-loop:cluster runs 30); the test suite runs 2.
// CLUSTER_LOG_DIR=dir keeps every node's log (all incarnations) for a post-mortem.
import { afterEach, describe, expect, it } from 'vitest';
import type { Channel, ChannelModel } from 'amqplib';
import { connect } from 'nats';
import { roamingPublisher } from '../helpers/cluster-clients.js';
import { startWarrenCluster, type WarrenCluster } from '../helpers/warren-cluster.js';
import { sleep, waitUntil } from '../helpers/async.js';
import { streamNameOf } from '../../src/cluster/queue-stream.js';

const KILLS = Number(process.env.CLUSTER_KILLS ?? 2);
const Q = 'cloop-q';

let cluster: WarrenCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

const log = (s: string): void => console.log(`[cluster-crash-loop ${new Date().toISOString().slice(11, 23)}] ${s}`);

/** Consumes with manual acks through whichever node is up; moves on when its node dies or cancels it. */
function roamingConsumer(c: WarrenCluster, start: number, seen: Set<number>, counts: { dups: number; consumed: number }) {
  let stop = false;
  let node = start;
  let wake: () => void = () => undefined;
  let current: ChannelModel | null = null;
  const done = (async () => {
    while (!stop) {
      let ch: Channel;
      let conn: ChannelModel;
      try {
        conn = await c.connect(node);
        ch = await conn.createChannel();
        ch.on('error', () => undefined);
        await ch.prefetch(200);
      } catch {
        node = (node + 1) % c.nodes.length;
        await sleep(100);
        continue;
      }
      current = conn;
      const ended = new Promise<void>((r) => (wake = r));
      ch.on('close', () => wake());
      try {
        await ch.consume(Q, (m) => {
          if (!m) return wake(); // cancelled by the server
          const i = Number(m.content.toString());
          counts.consumed++;
          if (seen.has(i)) counts.dups++;
          seen.add(i);
          ch.ack(m);
        });
        await ended;
      } catch {
        // the channel went while subscribing
      }
      current = null;
      await conn.close().catch(() => undefined);
      if (!stop) {
        node = (node + 1) % c.nodes.length;
        await sleep(100);
      }
    }
  })();
  return {
    node: () => node,
    async stop() {
      stop = true;
      wake();
      await current?.close().catch(() => undefined);
      await done;
    },
  };
}

/** Whether the queue's stream has a leader and every replica is current (a restarted server caught up). */
async function streamHealthy(c: WarrenCluster): Promise<boolean> {
  const nc = await connect({ servers: c.nats.servers.map((s) => s.url), timeout: 2_000 }).catch(() => null);
  if (!nc) return false;
  try {
    const jsm = await nc.jetstreamManager({ timeout: 2_000 });
    const info = await jsm.streams.info(streamNameOf('/', Q));
    const replicas = info.cluster?.replicas ?? [];
    return !!info.cluster?.leader && replicas.length === 2 && replicas.every((r) => r.current && !r.offline);
  } catch {
    return false;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };

/** The queue as each node sees it (owner, counts, consumers), for a post-mortem of a stall. */
async function queueViews(c: WarrenCluster): Promise<string> {
  const views = await Promise.all(
    c.nodes.map(async (n) => {
      try {
        const r = await fetch(`http://127.0.0.1:${n.managementPort}/api/queues/%2F/${Q}`, { headers: auth, signal: AbortSignal.timeout(2_000) });
        const q = (await r.json()) as { node?: string; messages?: number; messages_unacknowledged?: number; consumers?: number };
        return `${n.name}: owner=${q.node} messages=${q.messages} unacked=${q.messages_unacknowledged} consumers=${q.consumers}`;
      } catch (err) {
        return `${n.name}: ${String(err)}`;
      }
    }),
  );
  return views.join('; ');
}

/** The queue's stream as its leader reports it, for a post-mortem. */
async function streamView(c: WarrenCluster): Promise<string> {
  const nc = await connect({ servers: c.nats.servers.map((s) => s.url), timeout: 2_000 }).catch(() => null);
  if (!nc) return 'stream: no NATS connection';
  try {
    const jsm = await nc.jetstreamManager({ timeout: 2_000 });
    const info = await jsm.streams.info(streamNameOf('/', Q));
    return `stream: ${JSON.stringify({ cluster: info.cluster, state: { ...info.state, deleted: undefined } })}`;
  } catch (err) {
    return `stream: ${String(err)}`;
  } finally {
    await nc.close().catch(() => undefined);
  }
}

/** waitUntil, logging how the cluster sees the queue if it times out. */
async function waitOrDump(c: WarrenCluster, cond: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  try {
    await waitUntil(cond, what, timeoutMs);
  } catch (err) {
    log(`${String(err)}: ${await queueViews(c)}; ${await streamView(c)}`);
    throw err;
  }
}

describe('cluster crash loop', () => {
  it(`kill -9 of random nodes (Warren, and half the time its nats-server) under confirmed publishing and consuming: no confirmed message lost over ${KILLS} kills`, { timeout: 120_000 + KILLS * 60_000 }, async () => {
    const t0 = Date.now();
    cluster = await startWarrenCluster(3);
    const c = cluster;
    const setup = await (await c.connect(0)).createChannel();
    await setup.assertQueue(Q, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await waitUntil(async () => {
      const r = await fetch(`http://127.0.0.1:${c.nodes[0]!.managementPort}/api/queues/%2F/${Q}`, { headers: auth });
      const info = (await r.json()) as { node?: string; members?: string[] };
      return !!info.node && info.members?.length === 3;
    }, 'the queue to get an owner and 3 members', 20_000);
    await setup.close();

    const seen = new Set<number>();
    const counts = { dups: 0, consumed: 0 };
    const p = roamingPublisher(c, Q, 0);
    const con = roamingConsumer(c, 1, seen, counts);
    await waitUntil(() => p.confirmed.size >= 1_000 && seen.size >= 500, 'publishing and consuming to start', 30_000);

    let natsKills = 0;
    for (let k = 0; k < KILLS; k++) {
      const i = Math.floor(Math.random() * 3);
      const node = c.nodes[i]!;
      const withNats = Math.random() < 0.5;
      const pause = 500 + Math.random() * 2_500;
      const before = { confirmed: p.confirmed.size, seen: seen.size };
      await Promise.all([node.broker.kill9(), withNats ? c.nats.servers[i]!.kill9() : undefined]);
      if (withNats) natsKills++;
      const killedAt = Date.now();
      await sleep(pause);
      if (withNats) await c.nats.servers[i]!.restart();
      await node.restart();
      const joinedIn = Date.now() - killedAt;
      // Back to work: confirms and deliveries flow again, and the stream's replicas have caught up
      // (a server that lost its unsynced tail must not be needed for a quorum before it has it again).
      const after = p.confirmed.size;
      await waitOrDump(c, () => p.confirmed.size >= Math.max(before.confirmed, after) + 200, `confirms after kill ${k + 1} (${node.name}${withNats ? ' + nats' : ''})`, 60_000);
      const seenNow = seen.size;
      await waitOrDump(c, () => seen.size >= Math.max(before.seen, seenNow) + 200, `deliveries after kill ${k + 1} (${node.name}${withNats ? ' + nats' : ''})`, 60_000);
      await waitOrDump(c, async () => (await streamHealthy(c)) || (await sleep(250), false), `the stream's replicas to catch up after kill ${k + 1}`, 60_000);
      log(
        `kill ${k + 1}/${KILLS}: ${node.name}${withNats ? ' + its nats-server' : ''}, down ${Math.round(pause)} ms, joined after ${joinedIn} ms, ` +
          `flowing after ${Date.now() - killedAt} ms; ${p.confirmed.size} confirmed, ${seen.size} consumed so far (publisher on w${p.node() + 1}, consumer on w${con.node() + 1})`,
      );
    }

    await p.stop();
    await con.stop();
    // What is left (and what the roaming consumer had unacked) goes to a fresh consumer.
    const drainIdx = Math.floor(Math.random() * 3);
    const drain = await (await c.connect(drainIdx)).createChannel();
    await drain.prefetch(500);
    await drain.consume(Q, (m) => {
      if (!m) return;
      const i = Number(m.content.toString());
      counts.consumed++;
      if (seen.has(i)) counts.dups++;
      seen.add(i);
      drain.ack(m);
    });
    const allSeen = async (): Promise<boolean> => [...p.confirmed].every((i) => seen.has(i)) || (await sleep(200), false);
    await waitUntil(allSeen, 'every confirmed message', 120_000).catch(() => undefined);
    // Whatever else is still there (unconfirmed publishes that made it in) arrives too.
    let last = counts.consumed;
    for (;;) {
      await sleep(1_000);
      if (counts.consumed === last) break;
      last = counts.consumed;
    }
    const lost = [...p.confirmed].filter((i) => !seen.has(i)).sort((a, b) => a - b);
    const phantom = [...seen].filter((i) => !Number.isInteger(i) || i < 0 || i >= p.published());
    const figures = {
      kills: KILLS,
      natsKills,
      published: p.published(),
      confirmed: p.confirmed.size,
      consumed: counts.consumed,
      distinct: seen.size,
      duplicates: counts.dups,
      lost: lost.length,
      phantom: phantom.length,
      seconds: Math.round((Date.now() - t0) / 1000),
    };
    log(JSON.stringify(figures));
    if (lost.length > 0) log(`lost (first 20): ${lost.slice(0, 20).join(', ')}; ${await queueViews(c)}; ${await streamView(c)}`);
    expect(p.confirmed.size).toBeGreaterThan(0);
    expect(lost).toEqual([]);
    expect(phantom).toEqual([]);
  });
});
