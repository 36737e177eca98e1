// A Warren cluster (`--cluster`): three real nats-server processes with JetStream and three Warren
// processes, driven by real amqplib clients connected to different nodes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsumeMessage } from 'amqplib';
import { startWarrenCluster, type WarrenCluster } from '../helpers/warren-cluster.js';
import { waitUntil } from '../helpers/async.js';
import { runCtl } from '../helpers/management-client.js';
import { fib, killAllPy, startPy } from '../helpers/pika-process.js';

let cluster: WarrenCluster;

beforeAll(async () => {
  cluster = await startWarrenCluster(3);
}, 90_000);

afterAll(async () => {
  await cluster?.stop();
});

const guestAuth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };

/** The node that owns queue q (as node 1 sees it), once it has one: 'w1', 'w2' or 'w3'. */
async function placedOn(q: string): Promise<string> {
  let owner = '';
  await waitUntil(async () => {
    const r = await fetch(`http://127.0.0.1:${cluster.nodes[0]!.managementPort}/api/queues/%2F/${encodeURIComponent(q)}`, { headers: guestAuth });
    owner = r.ok ? (((await r.json()) as { node?: string }).node ?? '') : '';
    return owner !== '';
  }, 'the queue placed', 10_000);
  return owner;
}

describe('cluster: shared topology', () => {
  it('a declare on one node is visible on the others within milliseconds', async () => {
    const ch1 = await (await cluster.connect(0)).createChannel();
    await ch1.assertExchange('topo-x', 'topic', { durable: true });
    await ch1.assertQueue('topo-q', { durable: true });
    await ch1.bindQueue('topo-q', 'topo-x', 'a.#');
    const c3 = await cluster.connect(2);
    const t0 = Date.now();
    await waitUntil(async () => {
      const ch = await c3.createChannel();
      ch.on('error', () => undefined);
      try {
        await ch.checkExchange('topo-x');
        await ch.checkQueue('topo-q');
        await ch.close();
        return true;
      } catch {
        return false;
      }
    }, 'the cluster to catch up', 5_000);
    expect(Date.now() - t0).toBeLessThan(5_000);
    // A redeclare on another node with other arguments is refused as on the first.
    const ch3 = await c3.createChannel();
    const err = await ch3.assertQueue('topo-q', { durable: false }).catch((e: Error) => e);
    expect(String(err)).toContain('PRECONDITION_FAILED');
  });

  it('once declare-ok or bind-ok has come, a publish through another node reaches the new queue (RPC reply queues, pub/sub)', async () => {
    // An RPC client declares its reply queue on one node and the server, on another, replies at
    // once; a subscriber binds an exclusive queue to a non-durable exchange another node declared:
    // RabbitMQ's declares are cluster-wide transactions, so neither publish is ever unroutable.
    const decl = await (await cluster.connect(1)).createChannel();
    const pub = await (await cluster.connect(0)).createConfirmChannel();
    await pub.assertExchange('topo-bind-x', 'direct', { durable: false });
    const returned: string[] = [];
    pub.on('return', (m: ConsumeMessage) => returned.push(m.fields.routingKey));
    for (let i = 0; i < 30; i++) {
      const { queue } = await decl.assertQueue('', { exclusive: true });
      pub.publish('', queue, Buffer.from('reply'), { mandatory: true });
      await decl.bindQueue(queue, 'topo-bind-x', `k${i}`);
      pub.publish('topo-bind-x', `k${i}`, Buffer.from('bound'), { mandatory: true });
      await pub.waitForConfirms();
      expect((await decl.checkQueue(queue)).messageCount).toBe(2);
    }
    expect(returned).toEqual([]);
  });

  it("a node restarted finds other nodes' exclusive queues with their bindings to non-durable exchanges", async () => {
    const sub = await (await cluster.connect(1)).createChannel();
    await sub.assertExchange('topo-logs', 'fanout', { durable: false });
    const { queue } = await sub.assertQueue('', { exclusive: true });
    await sub.bindQueue(queue, 'topo-logs', '');
    await cluster.nodes[2]!.broker.stop();
    await cluster.nodes[2]!.restart();
    const pub = await (await cluster.connect(2)).createConfirmChannel();
    const returned: string[] = [];
    pub.on('return', (m: ConsumeMessage) => returned.push(m.fields.exchange));
    pub.publish('topo-logs', '', Buffer.from('after the restart'), { mandatory: true });
    await pub.waitForConfirms();
    expect(returned).toEqual([]);
    expect((await sub.checkQueue(queue)).messageCount).toBe(1);
  });
});

describe('cluster: any node serves any client', () => {
  it('publish with confirms on node 1, consume on node 3, every message once and in order', async () => {
    const ch1 = await (await cluster.connect(0)).createChannel();
    await ch1.assertExchange('route-x', 'direct', { durable: true });
    await ch1.assertQueue('route-q', { durable: true });
    await ch1.bindQueue('route-q', 'route-x', 'k');
    const c2 = await cluster.connect(1);
    const pub = await c2.createConfirmChannel();
    await waitUntil(() => pub.checkExchange('route-x').then(() => true, () => false), 'the cluster to catch up', 5_000);
    const N = 2_000;
    for (let i = 0; i < N; i++) pub.publish('route-x', 'k', Buffer.from(String(i)), { persistent: true });
    await pub.waitForConfirms();

    const con = await (await cluster.connect(2)).createChannel();
    await con.prefetch(100);
    const got: number[] = [];
    await new Promise<void>((resolve) => {
      void con.consume('route-q', (m: ConsumeMessage | null) => {
        if (!m) return;
        got.push(Number(m.content.toString()));
        con.ack(m);
        if (got.length === N) resolve();
      });
    });
    expect(got).toEqual(Array.from({ length: N }, (_, i) => i));
  });

  it('basic.get, nack with requeue and reject from another node reach the owner', async () => {
    const own = await (await cluster.connect(0)).createChannel();
    await own.assertQueue('get-q', { durable: true });
    const other = await (await cluster.connect(1)).createConfirmChannel();
    await waitUntil(() => other.checkQueue('get-q').then(() => true, () => false), 'the cluster to catch up', 5_000);
    for (const b of ['a', 'b', 'c']) other.sendToQueue('get-q', Buffer.from(b), { persistent: true });
    await other.waitForConfirms();
    const g1 = await other.get('get-q');
    expect(g1 && g1.content.toString()).toBe('a');
    other.nack(g1 as never, false, true); // back to the queue, redelivered
    const g2 = await other.get('get-q', { noAck: true });
    const g3 = await other.get('get-q');
    const g4 = await other.get('get-q');
    const seen = [g2, g3, g4].map((m) => (m ? `${m.content.toString()}${m.fields.redelivered ? '*' : ''}` : null));
    expect(seen.sort()).toEqual(['a*', 'b', 'c']);
    // Reject without requeue drops the message; ack settles: the queue ends empty on its owner.
    if (g3) other.reject(g3, false);
    if (g4) other.ack(g4);
    await waitUntil(async () => (await own.checkQueue('get-q')).messageCount === 0, 'the cluster to catch up', 5_000);
    expect(await own.get('get-q')).toBe(false);
  });

  it('basic.get from one node on two queues of the same owner: each ack and each return reaches its own queue', async () => {
    const setup = await (await cluster.connect(0)).createConfirmChannel();
    // Queues are spread over the nodes: four hold two with one owner.
    const names = ['gq-1', 'gq-2', 'gq-3', 'gq-4'];
    const owners = new Map<string, string>();
    for (const q of names) {
      await setup.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      owners.set(q, await placedOn(q));
    }
    const pair = names.flatMap((a) => names.filter((b) => b > a && owners.get(a) === owners.get(b)).map((b) => [a, b] as const))[0]!;
    const owner = owners.get(pair[0])!;
    const ownerNode = cluster.nodes[Number(owner.slice(1)) - 1]!;
    const away = [0, 1, 2].find((i) => `w${i + 1}` !== owner)!;
    for (const q of pair) for (const b of ['x', 'y']) setup.sendToQueue(q, Buffer.from(`${q}:${b}`));
    await setup.waitForConfirms();
    const counts = async (q: string): Promise<string> => {
      const r = await fetch(`http://127.0.0.1:${ownerNode.managementPort}/api/queues/%2F/${q}`, { headers: guestAuth });
      const j = (await r.json()) as { messages_ready?: number; messages_unacknowledged?: number };
      return `${j.messages_ready}/${j.messages_unacknowledged}`;
    };
    const conn = await cluster.connect(away);
    const ch = await conn.createChannel();
    const a1 = await ch.get(pair[0]);
    const b1 = await ch.get(pair[1]);
    expect([a1 && a1.content.toString(), b1 && b1.content.toString()]).toEqual([`${pair[0]}:x`, `${pair[1]}:x`]);
    ch.ack(b1 as never);
    ch.ack(a1 as never);
    await waitUntil(async () => (await counts(pair[0])) === '1/0' && (await counts(pair[1])) === '1/0', 'each ack settled on its own queue', 5_000).catch(() => undefined);
    expect([await counts(pair[0]), await counts(pair[1])]).toEqual(['1/0', '1/0']);
    // Held by gets and returned by the channel's close: each to its own queue.
    await ch.get(pair[1]);
    await ch.get(pair[0]);
    await ch.close();
    await waitUntil(async () => (await counts(pair[0])) === '1/0' && (await counts(pair[1])) === '1/0', 'each return back in its own queue', 5_000).catch(() => undefined);
    expect([await counts(pair[0]), await counts(pair[1])]).toEqual(['1/0', '1/0']);
    for (const q of pair) {
      const m = await setup.get(q, { noAck: true });
      expect(m && `${m.content}:${m.fields.redelivered ? 'R' : '-'}`).toBe(`${q}:y:R`);
      expect(await setup.get(q)).toBe(false);
    }
    for (const q of names) await setup.deleteQueue(q);
  });

  it('a consumer on another node acks and cancels (or closes its channel) at once: the acked messages are not delivered again', async () => {
    const setup = await (await cluster.connect(0)).createConfirmChannel();
    await setup.assertQueue('ackcancel-q', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const owner = await placedOn('ackcancel-q');
    const away = [0, 1, 2].find((i) => `w${i + 1}` !== owner)!;
    const conn = await cluster.connect(away);
    for (const how of ['cancel', 'close'] as const) {
      for (let i = 0; i < 10; i++) setup.sendToQueue('ackcancel-q', Buffer.from(`${how}${i}`));
      await setup.waitForConfirms();
      const ch = await conn.createChannel();
      await ch.prefetch(10);
      const held: ConsumeMessage[] = [];
      const { consumerTag } = await ch.consume('ackcancel-q', (m) => void (m && held.push(m)));
      await waitUntil(() => held.length === 10, 'ten deliveries', 5_000);
      // Written together: the acks and the cancel (or close) reach the node in one read.
      for (const m of held) ch.ack(m);
      if (how === 'cancel') await ch.cancel(consumerTag);
      else await ch.close();
      await new Promise((r) => setTimeout(r, 300));
      const left = await setup.get('ackcancel-q', { noAck: true });
      expect(left && left.content.toString()).toBe(false);
    }
  });

  it("a declare-ok through another node than the owner gives the owner's counts as they are now", async () => {
    const setup = await (await cluster.connect(0)).createConfirmChannel();
    await setup.assertQueue('counts-q', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const owner = await placedOn('counts-q');
    const others = [0, 1, 2].filter((i) => `w${i + 1}` !== owner);
    const ownerIdx = Number(owner.slice(1)) - 1;
    await new Promise((r) => setTimeout(r, 1_500)); // the once-a-second stats have said 0 by now
    const pub = await (await cluster.connect(others[0]!)).createConfirmChannel();
    for (let i = 0; i < 5; i++) pub.sendToQueue('counts-q', Buffer.from(`c${i}`));
    await pub.waitForConfirms();
    const con = await (await cluster.connect(ownerIdx)).createChannel();
    await con.prefetch(1);
    await con.consume('counts-q', () => undefined); // holds one, unacked
    const check = await (await cluster.connect(others[1]!)).createChannel();
    const passive = await check.checkQueue('counts-q');
    expect([passive.messageCount, passive.consumerCount]).toEqual([4, 1]);
    const active = await pub.assertQueue('counts-q', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    expect([active.messageCount, active.consumerCount]).toEqual([4, 1]);
    await con.close();
    await setup.deleteQueue('counts-q');
  });

  it('a consumer without a prefetch on another node than the owner gets every message, acked or not (no window of unacked ones)', async () => {
    // amqp091-go's TestCorruptedMessageIssue7: 1,024 messages to a consumer that acks none; through
    // another node 1,000 came and the rest never did.
    const setup = await (await cluster.connect(0)).createConfirmChannel();
    await setup.assertQueue('nowindow-q', { durable: true });
    const owner = await placedOn('nowindow-q');
    const away = [0, 1, 2].find((i) => `w${i + 1}` !== owner)!;
    const ownerIdx = Number(owner.slice(1)) - 1;
    const pub = await (await cluster.connect(ownerIdx)).createConfirmChannel();
    for (let i = 0; i < 2_500; i++) pub.sendToQueue('nowindow-q', Buffer.from(String(i)));
    await pub.waitForConfirms();
    const ch = await (await cluster.connect(away)).createChannel();
    let got = 0;
    await ch.consume('nowindow-q', () => void got++);
    await waitUntil(() => got === 2_500, 'all 2,500 unacked deliveries', 15_000).catch(() => undefined);
    expect(got).toBe(2_500);
    await ch.close();
    await setup.deleteQueue('nowindow-q');
  });

  it('purge and delete through another node than the owner: the owner\'s counts, and if-empty checked by them', async () => {
    const setup = await (await cluster.connect(0)).createConfirmChannel();
    await setup.assertQueue('pd-q', { durable: true }); // classic: a quorum queue refuses if-empty (540)
    const owner = await placedOn('pd-q');
    const away = [0, 1, 2].find((i) => `w${i + 1}` !== owner)!;
    const ownerIdx = Number(owner.slice(1)) - 1;
    await new Promise((r) => setTimeout(r, 1_200)); // the owner's once-a-second stats have said 0
    const pub = await (await cluster.connect(ownerIdx)).createConfirmChannel();
    for (let i = 0; i < 3; i++) pub.sendToQueue('pd-q', Buffer.from(`p${i}`));
    await pub.waitForConfirms();
    const conn = await cluster.connect(away);
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    expect((await ch.purgeQueue('pd-q')).messageCount).toBe(3);
    expect(await pub.get('pd-q')).toBe(false);
    for (let i = 0; i < 2; i++) pub.sendToQueue('pd-q', Buffer.from(`d${i}`));
    await pub.waitForConfirms();
    // Not empty, as the owner knows it now (its stats of a moment ago said 0): refused, as on one node.
    const refused = await ch.deleteQueue('pd-q', { ifEmpty: true }).then(
      () => null,
      (e: { code?: number; message: string }) => e,
    );
    expect(refused?.code).toBe(406);
    expect(refused?.message).toContain("queue 'pd-q' in vhost '/' not empty");
    const ch2 = await conn.createChannel();
    expect((await ch2.deleteQueue('pd-q')).messageCount).toBe(2);
    // The management API's purge through that node: done by the owner before the 204.
    await setup.assertQueue('pd-q', { durable: true });
    await placedOn('pd-q');
    for (let i = 0; i < 3; i++) setup.sendToQueue('pd-q', Buffer.from(`a${i}`));
    await setup.waitForConfirms();
    const r = await fetch(`http://127.0.0.1:${cluster.nodes[away]!.managementPort}/api/queues/%2F/pd-q/contents`, { method: 'DELETE', headers: guestAuth });
    expect(r.status).toBe(204);
    expect(await setup.get('pd-q')).toBe(false);
    await setup.deleteQueue('pd-q');
  });

  it("a consumer on another node cancelled keeps its unacked messages: acked after the cancel, they are gone, as on RabbitMQ", async () => {
    const setup = await (await cluster.connect(0)).createConfirmChannel();
    await setup.assertQueue('cancelkeep-q', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const owner = await placedOn('cancelkeep-q');
    const away = [0, 1, 2].find((i) => `w${i + 1}` !== owner)!;
    for (let i = 0; i < 4; i++) setup.sendToQueue('cancelkeep-q', Buffer.from(`k${i}`));
    await setup.waitForConfirms();
    const ch = await (await cluster.connect(away)).createChannel();
    await ch.prefetch(2);
    const held: ConsumeMessage[] = [];
    const { consumerTag } = await ch.consume('cancelkeep-q', (m) => void (m && held.push(m)));
    await waitUntil(() => held.length === 2, 'two deliveries', 5_000);
    await ch.cancel(consumerTag);
    await new Promise((r) => setTimeout(r, 300));
    for (const m of held) ch.ack(m);
    await new Promise((r) => setTimeout(r, 300));
    const left: string[] = [];
    for (;;) {
      const m = await setup.get('cancelkeep-q', { noAck: true });
      if (m === false) break;
      left.push(m.content.toString());
    }
    expect(left).toEqual(['k2', 'k3']);
    await setup.deleteQueue('cancelkeep-q');
  });

  it('a queue just declared on one node: a purge and a passive declare through another at once reach its owner', async () => {
    // Before, the other node did not know the owner yet in about one case of four (its stream was
    // not there when the node first asked): the purge went nowhere and said 0, the declare-ok 0.
    const a = await (await cluster.connect(0)).createConfirmChannel();
    const b = await (await cluster.connect(1)).createChannel();
    const results: string[] = [];
    for (let i = 0; i < 8; i++) {
      const q = `fresh-q-${i}`;
      await a.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      for (let j = 0; j < 5; j++) a.sendToQueue(q, Buffer.from('x'));
      await a.waitForConfirms();
      const seen = (await b.checkQueue(q)).messageCount;
      const purged = (await b.purgeQueue(q)).messageCount;
      const left = (await a.checkQueue(q)).messageCount;
      results.push(`${seen}/${purged}/${left}`);
      await a.deleteQueue(q);
    }
    expect(results).toEqual(Array.from({ length: 8 }, () => '5/5/0'));
  });

  it("declares through another node renew the owner's x-expires lease, as on one node", async () => {
    const args = { 'x-queue-type': 'quorum', 'x-expires': 1_500 };
    const setup = await (await cluster.connect(0)).createChannel();
    await setup.assertQueue('lease-q', { durable: true, arguments: args });
    const owner = await placedOn('lease-q');
    const away = [0, 1, 2].find((i) => `w${i + 1}` !== owner)!;
    const ch = await (await cluster.connect(away)).createChannel();
    for (let i = 0; i < 8; i++) {
      await ch.assertQueue('lease-q', { durable: true, arguments: args });
      await new Promise((r) => setTimeout(r, 500));
    }
    const ownerNode = cluster.nodes[Number(owner.slice(1)) - 1]!;
    const exists = async (): Promise<boolean> => (await fetch(`http://127.0.0.1:${ownerNode.managementPort}/api/queues/%2F/lease-q`, { headers: guestAuth })).ok;
    expect(await exists()).toBe(true); // 4 s after its declare, declared again every 0.5 s
    await waitUntil(async () => !(await exists()), 'the queue to expire once left alone', 10_000);
  });

  it("a quorum queue's consumer on another node than the owner closes its connection: its messages go back to the front, counted", async () => {
    // As on a single node (quorum-queues.test.ts) and RabbitMQ 3.10.8: m1 m2 m3 m4 m5 m0.
    const own = await (await cluster.connect(0)).createConfirmChannel();
    await own.assertQueue('front-q', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    let owner = '';
    await waitUntil(async () => {
      const r = await fetch(`http://127.0.0.1:${cluster.nodes[0]!.managementPort}/api/queues/%2F/front-q`, { headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` } });
      owner = r.ok ? (((await r.json()) as { node?: string }).node ?? '') : '';
      return owner !== '';
    }, 'the queue placed', 10_000);
    const away = [1, 2, 0].find((i) => `w${i + 1}` !== owner)!;
    for (let i = 0; i < 6; i++) own.sendToQueue('front-q', Buffer.from(`m${i}`));
    await own.waitForConfirms();
    const consumerConn = await cluster.connect(away);
    const c = await consumerConn.createChannel();
    await c.prefetch(2);
    const held: ConsumeMessage[] = [];
    await c.consume('front-q', (m) => void (m && held.push(m)));
    await waitUntil(() => held.length === 2, 'two deliveries', 5_000);
    c.nack(held[0]!, false, true); // a return: to the back
    await waitUntil(() => held.length === 3, 'a third delivery', 5_000);
    await consumerConn.close();
    const got: string[] = [];
    // Asked of the owner: another node's counts are the owner's of up to a second ago.
    const ownerNode = cluster.nodes[Number(owner.slice(1)) - 1]!;
    await waitUntil(async () => {
      const r = await fetch(`http://127.0.0.1:${ownerNode.managementPort}/api/queues/%2F/front-q`, { headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` } });
      const q = (await r.json()) as { messages_ready?: number; messages_unacknowledged?: number };
      return q.messages_ready === 6 && q.messages_unacknowledged === 0;
    }, 'every message back on the owner', 5_000);
    for (;;) {
      const m = await own.get('front-q', { noAck: true });
      if (m === false) break;
      got.push(`${m.content}:${m.fields.redelivered ? 'R' : '-'}${String(m.properties.headers?.['x-delivery-count'])}`);
    }
    expect(got).toEqual(['m1:R1', 'm2:R1', 'm3:-0', 'm4:-0', 'm5:-0', 'm0:R1']);
  });

  it('RPC with an exclusive server-named reply queue on another node than the server', async () => {
    const server = await (await cluster.connect(0)).createChannel();
    await server.assertQueue('rpc_amqplib', { durable: false });
    await server.prefetch(1);
    await server.consume('rpc_amqplib', (m) => {
      if (!m) return;
      const n = Number(m.content.toString());
      server.sendToQueue(m.properties.replyTo as string, Buffer.from(String(n * 2)), { correlationId: m.properties.correlationId as string });
      server.ack(m);
    });
    const client = await (await cluster.connect(2)).createChannel();
    const { queue: replyQ } = await client.assertQueue('', { exclusive: true });
    const replies = new Map<string, string>();
    await client.consume(replyQ, (m) => m && replies.set(m.properties.correlationId as string, m.content.toString()), { noAck: true });
    // The reply queue and rpc_queue become known on the other nodes through the shared topology.
    await waitUntil(() => client.checkQueue('rpc_amqplib').then(() => true, () => false), 'the cluster to catch up', 5_000);
    for (let i = 1; i <= 5; i++) client.sendToQueue('rpc_amqplib', Buffer.from(String(i)), { correlationId: `c${i}`, replyTo: replyQ });
    await waitUntil(() => replies.size === 5, 'the cluster to catch up', 10_000);
    expect([...replies.entries()].sort()).toEqual([1, 2, 3, 4, 5].map((i) => [`c${i}`, String(i * 2)]));
    // Another node's connection cannot use the exclusive queue: 405 as in RabbitMQ.
    const intruder = await (await cluster.connect(1)).createChannel();
    intruder.on('error', () => undefined);
    const err = await intruder.consume(replyQ, () => undefined).catch((e: Error) => e);
    expect(String(err)).toContain('RESOURCE_LOCKED');
  });

  it('direct reply-to (amq.rabbitmq.reply-to) with the client on another node than the server', async () => {
    const server = await (await cluster.connect(0)).createChannel();
    await server.assertQueue('rpc_drt', { durable: false });
    await server.consume('rpc_drt', (m) => {
      if (!m) return;
      server.sendToQueue(m.properties.replyTo as string, Buffer.from(`re:${m.content.toString()}`), { correlationId: m.properties.correlationId as string });
      server.ack(m);
    });
    const client = await (await cluster.connect(1)).createChannel();
    const replies = new Map<string, string>();
    await client.consume('amq.rabbitmq.reply-to', (m) => m && replies.set(m.properties.correlationId as string, m.content.toString()), { noAck: true });
    await waitUntil(() => client.checkQueue('rpc_drt').then(() => true, () => false), 'the cluster to catch up', 5_000);
    for (let i = 0; i < 3; i++) client.sendToQueue('rpc_drt', Buffer.from(String(i)), { correlationId: `d${i}`, replyTo: 'amq.rabbitmq.reply-to' });
    await waitUntil(() => replies.size === 3, 'the replies', 10_000);
    expect([...replies.entries()].sort()).toEqual([0, 1, 2].map((i) => [`d${i}`, `re:${i}`]));
  });

  it("a consumer's node dies: its unacked messages go to a consumer on another node, flagged redelivered", async () => {
    const own = await (await cluster.connect(0)).createConfirmChannel();
    await own.assertQueue('dies-q', { durable: true });
    for (let i = 0; i < 10; i++) own.sendToQueue('dies-q', Buffer.from(String(i)), { persistent: true });
    await own.waitForConfirms();
    const c3 = await cluster.connect(2);
    const doomed = await c3.createChannel();
    await doomed.prefetch(10);
    let held = 0;
    await doomed.consume('dies-q', () => {
      held++; // never acked
    });
    // 15 s: under the whole suite's load the remote subscription once took longer than 5 s.
    await waitUntil(() => held === 10, 'the consumer on node 3 to hold all 10', 15_000);
    const n3 = cluster.nodes[2]!;
    await n3.broker.kill9();
    const survivor = await (await cluster.connect(1)).createChannel();
    const got: { body: string; redelivered: boolean }[] = [];
    await survivor.consume('dies-q', (m) => {
      if (!m) return;
      got.push({ body: m.content.toString(), redelivered: m.fields.redelivered });
      survivor.ack(m);
    });
    await waitUntil(() => got.length === 10, 'the cluster to catch up', 15_000);
    expect(got.map((g) => g.body).sort((a, b) => Number(a) - Number(b))).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
    expect(got.every((g) => g.redelivered)).toBe(true);
    await n3.restart();
  });

  it("a node dies: its exclusive queue and that queue's bindings go from every node, and a node started later does not make them again", async () => {
    const owner = await (await cluster.connect(1)).createChannel();
    await owner.assertExchange('ghost-x', 'direct', { durable: true });
    const { queue } = await owner.assertQueue('', { exclusive: true });
    await owner.bindQueue(queue, 'ghost-x', 'k');
    // Whether node i has the queue (an exclusive one: only its management API may look).
    const probe = async (i: number): Promise<boolean> => {
      const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
      const r = await fetch(`http://127.0.0.1:${cluster.nodes[i]!.managementPort}/api/queues/%2F/${encodeURIComponent(queue)}`, { headers: auth });
      return r.status === 200;
    };
    expect(await probe(2)).toBe(true);
    const n2 = cluster.nodes[1]!;
    await n2.broker.kill9();
    await waitUntil(async () => !(await probe(0)), 'node 1 to drop the dead node\'s queue', 15_000);
    // Node 3, started again, reads the shared topology: no queue, no binding to route to.
    const n3 = cluster.nodes[2]!;
    await n3.broker.stop();
    await n3.restart();
    expect(await probe(2)).toBe(false);
    const pub = await (await cluster.connect(2)).createConfirmChannel();
    const returned: string[] = [];
    pub.on('return', (m: ConsumeMessage) => returned.push(m.fields.routingKey));
    pub.publish('ghost-x', 'k', Buffer.from('to nobody'), { mandatory: true });
    await pub.waitForConfirms();
    expect(returned).toEqual(['k']);
    await n2.restart();
  });
});

describe('cluster: the seed tutorial with pika', () => {
  it("RPC: the seed's Fibonacci server on node 1, its clients on nodes 2 and 3", async () => {
    try {
      const server = startPy('rpc_server.py', ['--port', String(cluster.nodes[0]!.port)]);
      await server.waitFor((e) => e.event === 'ready', 15_000, 'rpc server ready');
      const plan: [number, number[]][] = [
        [1, [10, 3, 7]],
        [2, [20, 0, 12]],
      ];
      const clients = plan.map(([node, ns], i) => startPy('rpc_client.py', ['--port', String(cluster.nodes[node]!.port), '--name', `c${i}`, ...ns.map(String)]));
      const exits = await Promise.all(clients.map((c) => c.finish(45_000)));
      const ctx = [server, ...clients].map((p) => p.describe()).join('\n');
      exits.forEach(({ code }) => expect(code, ctx).toBe(0));
      plan.forEach(([, ns], i) => {
        expect(clients[i]!.events('result').map((e) => [e.n, e.result]), ctx).toEqual(ns.map((n) => [n, fib(n)]));
      });
    } finally {
      await killAllPy();
    }
  });
});

describe('cluster: operating it', () => {
  it("docker-compose's nats-server configurations are valid (nats-server -t)", async () => {
    const { execFileSync } = await import('node:child_process');
    for (const n of ['n1', 'n2', 'n3']) {
      const out = execFileSync('nats-server', ['-t', '-c', `deploy/nats/${n}.conf`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      expect(out + '').not.toMatch(/error/i);
    }
  });

  it('/metrics labels every series with the node', async () => {
    const n2 = cluster.nodes[1]!;
    const text = await (await fetch(`http://127.0.0.1:${n2.managementPort}/metrics`)).text();
    const series = text.split('\n').filter((l) => l.startsWith('warren_'));
    expect(series.length).toBeGreaterThan(0);
    expect(series.every((l) => l.includes('node="w2"'))).toBe(true);
  });

  it('/api/nodes lists every node with its state', async () => {
    const n1 = cluster.nodes[0]!;
    const res = await fetch(`http://127.0.0.1:${n1.managementPort}/api/nodes`, { headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` } });
    expect(res.status).toBe(200);
    const nodes = (await res.json()) as { name: string; running: boolean }[];
    expect(nodes.map((n) => n.name).sort()).toEqual(['w1', 'w2', 'w3']);
    await waitUntil(async () => {
      const r = await fetch(`http://127.0.0.1:${n1.managementPort}/api/nodes`, { headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` } });
      return ((await r.json()) as { running: boolean }[]).every((n) => n.running);
    }, 'the cluster to catch up', 10_000);
  });

  it('warren ctl cluster_status lists the nodes, as rabbitmqctl does', async () => {
    const url = `http://127.0.0.1:${cluster.nodes[1]!.managementPort}`;
    await waitUntil(async () => (await runCtl(url, ['cluster_status'])).stdout.split('Running Nodes')[1]?.includes('w3') ?? false, 'every node running', 10_000);
    const r = await runCtl(url, ['cluster_status']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Cluster status of node w2');
    const [disk, running] = r.stdout.split('Disk Nodes')[1]!.split('Running Nodes');
    for (const n of ['w1', 'w2', 'w3']) {
      expect(disk).toContain(n);
      expect(running).toContain(n);
    }
    const j = JSON.parse((await runCtl(url, ['cluster_status', '--formatter', 'json'])).stdout) as { running_nodes: string[] };
    expect(j.running_nodes.sort()).toEqual(['w1', 'w2', 'w3']);
    // await_online_nodes: three are running; a fourth never comes (rabbitmqctl 3.10.8's exit 70).
    const three = await runCtl(url, ['await_online_nodes', '3']);
    expect([three.code, three.stdout.trim()]).toEqual([0, 'Will wait for at least 3 nodes to join the cluster of w2. Timeout: 300 seconds.']);
    const four = await runCtl(url, ['await_online_nodes', '4', '-t', '1']);
    expect([four.code, four.stderr.trim()]).toEqual([70, "Error:\nError: timed out while waiting. Not enough nodes joined w2's cluster."]);
  });

  it('warren ctl list_queues --local lists the queues this node leads; --online all, --offline none (every node running)', async () => {
    const names = ['local-a', 'local-b', 'local-c', 'local-d'];
    for (const [i, name] of names.entries()) {
      const ch = await (await cluster.connect(i % 3)).createChannel();
      await ch.assertQueue(name, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    }
    const urls = cluster.nodes.map((n) => `http://127.0.0.1:${n.managementPort}`);
    const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
    // Where the API says each queue is led.
    const leaders = new Map<string, string>();
    await waitUntil(async () => {
      const qs = (await (await fetch(`${urls[0]}/api/queues/%2F`, { headers: auth })).json()) as { name: string; node?: string }[];
      for (const q of qs) if (names.includes(q.name) && q.node) leaders.set(q.name, q.node);
      return leaders.size === names.length;
    }, 'every queue placed', 10_000);
    const listed = async (url: string, flags: string[]): Promise<string[]> =>
      (await runCtl(url, ['-q', '--no-table-headers', 'list_queues', ...flags, 'name'])).stdout
        .split('\n')
        .filter((l) => names.includes(l))
        .sort();
    for (const [i, url] of urls.entries()) {
      const mine = names.filter((n) => leaders.get(n) === cluster.nodes[i]!.name);
      expect(await listed(url, ['--local'])).toEqual(mine);
      // --local wins over --offline, as in rabbitmqctl 3.10.8.
      expect(await listed(url, ['--local', '--offline'])).toEqual(mine);
    }
    expect(await listed(urls[1]!, ['--online'])).toEqual(names);
    expect(await listed(urls[1]!, ['--offline'])).toEqual([]);
    expect(await listed(urls[1]!, ['--online', '--offline'])).toEqual(names);
    expect((await runCtl(urls[0]!, ['list_exchanges', '--local'])).code).toBe(64);
  });

  it('every node shows every queue with its owner and, for a replicated one, its members', async () => {
    const ch = await (await cluster.connect(0)).createChannel();
    await ch.assertQueue('placed-q', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    for (const n of cluster.nodes) {
      let q: { node?: string; members?: string[]; type?: string } = {};
      await waitUntil(async () => {
        const r = await fetch(`http://127.0.0.1:${n.managementPort}/api/queues/%2F/placed-q`, { headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` } });
        q = (await r.json()) as typeof q;
        return r.ok && (q.node ?? '') !== '' && (q.members ?? []).length === 3;
      }, 'the queue placed on every node', 10_000);
      expect(q.type).toBe('quorum');
      expect(q.members!.sort()).toEqual(['w1', 'w2', 'w3']);
    }
  });
});

describe('cluster: counts seen from every node', () => {
  it("a queue's consumers and unacked deliveries show the same on every node, not only where the consumer is", async () => {
    const ch = await (await cluster.connect(1)).createChannel();
    await ch.assertQueue('counted-q', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    for (let i = 0; i < 5; i++) ch.sendToQueue('counted-q', Buffer.from(`m${i}`), { persistent: true });
    // Another node's consumer holds 3 unacked (prefetch 3), 2 stay ready.
    const cch = await (await cluster.connect(2)).createChannel();
    await cch.prefetch(3);
    let got = 0;
    await cch.consume('counted-q', () => void got++);
    await waitUntil(async () => got === 3, 'three deliveries', 10_000);
    const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
    for (const n of cluster.nodes) {
      let q: { consumers?: number; messages_unacknowledged?: number; messages_ready?: number; messages?: number } = {};
      await waitUntil(async () => {
        const r = await fetch(`http://127.0.0.1:${n.managementPort}/api/queues/%2F/counted-q`, { headers: auth });
        q = (await r.json()) as typeof q;
        return q.consumers === 1 && q.messages_unacknowledged === 3 && q.messages_ready === 2;
      }, `node ${n.name} shows 1 consumer, 3 unacked, 2 ready`, 10_000);
      expect(q.messages).toBe(5);
    }
    // queue.declare-ok counts consumers on every node too.
    for (let i = 0; i < 3; i++) {
      const dch = await (await cluster.connect(i)).createChannel();
      await waitUntil(async () => (await dch.checkQueue('counted-q')).consumerCount === 1, `declare-ok on node ${i + 1} counts the consumer`, 10_000);
    }
  });
});

describe('cluster: exclusive consumers', () => {
  /** basic.consume on node i: null when it is taken, else the channel's close text. */
  async function consumeOn(i: number, q: string, exclusive: boolean): Promise<{ refused: string | null; cancel: () => Promise<void> }> {
    const ch = await (await cluster.connect(i)).createChannel();
    let closed = '';
    ch.on('error', (e: Error) => void (closed = e.message));
    try {
      const { consumerTag } = await ch.consume(q, () => undefined, { exclusive });
      return { refused: null, cancel: async () => void (await ch.cancel(consumerTag)) };
    } catch (e) {
      return { refused: closed || String(e), cancel: async () => undefined };
    }
  }

  it('an exclusive consumer on one node keeps consumers on every node out, and an exclusive one is refused while another node consumes', async () => {
    const setup = await (await cluster.connect(0)).createChannel();
    await setup.assertQueue('excl-q', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
    let owner = -1;
    await waitUntil(async () => {
      const r = await fetch(`http://127.0.0.1:${cluster.nodes[0]!.managementPort}/api/queues/%2F/excl-q`, { headers: auth });
      const q = (await r.json()) as { node?: string };
      owner = cluster.nodes.findIndex((n) => n.name === q.node);
      return owner >= 0;
    }, 'an owner', 10_000);
    const a = (owner + 1) % 3;
    const b = (owner + 2) % 3;
    const text = "ACCESS_REFUSED - queue 'excl-q' in vhost '/' in exclusive use";
    // Exclusive on a node that does not own the queue: the owner and the third node are refused.
    const ex = await consumeOn(a, 'excl-q', true);
    expect(ex.refused).toBeNull();
    expect((await consumeOn(b, 'excl-q', false)).refused).toContain(text);
    expect((await consumeOn(owner, 'excl-q', false)).refused).toContain(text);
    expect((await consumeOn(b, 'excl-q', true)).refused).toContain(text);
    // Once it is cancelled, anyone may consume; an exclusive consume is then refused on every node.
    await ex.cancel();
    let plain: { refused: string | null; cancel: () => Promise<void> } | null = null;
    await waitUntil(async () => (plain = await consumeOn(b, 'excl-q', false)).refused === null, 'a consumer after the cancel', 10_000);
    for (const i of [a, owner]) expect((await consumeOn(i, 'excl-q', true)).refused).toContain(text);
    await plain!.cancel();
    // Two nodes asking at once: whichever the owner hears second is refused, before consume-ok or
    // (both asked before either joined) after it, with its channel closed; never two.
    for (let round = 0; round < 5; round++) {
      const chs = await Promise.all([a, b].map(async (i) => (await cluster.connect(i)).createChannel()));
      const closed = chs.map(() => '');
      chs.forEach((ch, i) => ch.on('error', (e: Error) => void (closed[i] = e.message)));
      await Promise.all(chs.map((ch) => ch.consume('excl-q', () => undefined, { exclusive: true }).catch(() => undefined)));
      await waitUntil(async () => closed.filter((c) => c !== '').length === 1, 'one of the two refused', 5_000);
      expect(closed.find((c) => c !== '')).toContain(text);
      let consumers = -1;
      await waitUntil(async () => {
        const r = await fetch(`http://127.0.0.1:${cluster.nodes[owner]!.managementPort}/api/queues/%2F/excl-q`, { headers: auth });
        consumers = ((await r.json()) as { consumers: number }).consumers;
        return consumers === 1;
      }, 'one consumer on the owner', 5_000);
      await chs[closed.findIndex((c) => c === '')]!.close();
      await waitUntil(async () => {
        const r = await fetch(`http://127.0.0.1:${cluster.nodes[owner]!.managementPort}/api/queues/%2F/excl-q`, { headers: auth });
        return ((await r.json()) as { consumers: number }).consumers === 0;
      }, 'no consumer', 5_000);
    }
  });
});

describe('cluster: x-overflow reject-publish through another node', () => {
  it('a publish the owner refuses is nacked to a publisher on a node that does not own the queue', async () => {
    const ch = await (await cluster.connect(0)).createChannel();
    await ch.assertQueue('limited-q', { durable: true, arguments: { 'x-queue-type': 'quorum', 'x-max-length': 2, 'x-overflow': 'reject-publish' } });
    const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
    let owner = '';
    await waitUntil(async () => {
      const r = await fetch(`http://127.0.0.1:${cluster.nodes[0]!.managementPort}/api/queues/%2F/limited-q`, { headers: auth });
      owner = ((await r.json()) as { node?: string }).node ?? '';
      return owner !== '';
    }, 'the queue has an owner', 10_000);
    const other = cluster.nodes.findIndex((n) => n.name !== owner);
    const pch = await (await cluster.connect(other)).createConfirmChannel();
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) {
      outcomes.push(await new Promise<string>((resolve) => pch.sendToQueue('limited-q', Buffer.from(`m${i}`), { persistent: true }, (err) => resolve(err ? 'nack' : 'ack'))));
    }
    // RabbitMQ 3.10.8's quorum queue with x-max-length 2 takes a third message, then refuses.
    expect(outcomes).toEqual(['ack', 'ack', 'ack', 'nack', 'nack']);
    // (A node that does not own the queue learns its counts from the owner, once a second.)
    await waitUntil(async () => (await ch.checkQueue('limited-q')).messageCount === 3, 'three messages in the queue', 10_000);
  });
});

/** A request to node i's management API as guest (a JSON body when given). */
const api = (i: number, method: string, path: string, body?: object): Promise<Response> =>
  fetch(`http://127.0.0.1:${cluster.nodes[i]!.managementPort}${path}`, {
    method,
    headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, 'content-type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });

describe('cluster: topic permissions', () => {
  it('set on one node, they refuse a publish on another; cleared, the other node lets it through', async () => {
    const amqp = await import('amqplib');
    /** A publish to amq.topic on node 2 with this key: 'ok', or the channel's close text. */
    const publishOn2 = async (key: string): Promise<string> => {
      const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${cluster.nodes[1]!.port}`);
      conn.on('error', () => undefined);
      try {
        const ch = await conn.createChannel();
        let closed = 'ok';
        ch.on('error', (e: Error) => (closed = e.message));
        ch.publish('amq.topic', key, Buffer.from('x'));
        await ch.checkExchange('amq.topic').catch(() => undefined);
        return closed;
      } finally {
        await conn.close().catch(() => undefined);
      }
    };
    expect((await api(0, 'PUT', '/api/topic-permissions/%2F/guest', { exchange: 'amq.topic', write: '^ok\\.', read: '.*' })).status).toBe(201);
    await waitUntil(async () => /access to topic 'no.1' in exchange 'amq.topic'/.test(await publishOn2('no.1')), 'the topic permission on node 2', 10_000);
    expect(await publishOn2('ok.1')).toBe('ok');
    expect((await api(0, 'DELETE', '/api/topic-permissions/%2F/guest')).status).toBe(204);
    await waitUntil(async () => (await publishOn2('no.2')) === 'ok', 'the cleared topic permission on node 2', 10_000);
  });
});

describe('cluster: the cluster name and id', () => {
  it('named on one node, every node gives the name and the same internal_cluster_id', async () => {
    expect((await api(0, 'PUT', '/api/cluster-name', { name: 'clustered' })).status).toBe(204);
    const all = async (path: string, key: string): Promise<unknown[]> =>
      Promise.all([0, 1, 2].map(async (i) => ((await (await api(i, 'GET', path)).json()) as Record<string, unknown>)[key]));
    await waitUntil(async () => (await all('/api/cluster-name', 'name')).every((n) => n === 'clustered'), 'the name on every node', 10_000);
    await waitUntil(async () => {
      const ids = await all('/api/global-parameters/internal_cluster_id', 'value');
      return typeof ids[0] === 'string' && ids.every((x) => x === ids[0]);
    }, 'one internal_cluster_id on every node', 10_000);
    // Three nodes writing one key at once end with one value, the last written: a node no longer
    // keeps another node's earlier value over its own later one.
    for (let round = 0; round < 3; round++) {
      await Promise.all([0, 1, 2].map((i) => api(i, 'PUT', '/api/global-parameters/raced', { value: `r${round}-n${i}` })));
      await waitUntil(async () => {
        const values = await all('/api/global-parameters/raced', 'value');
        return typeof values[0] === 'string' && values.every((v) => v === values[0]);
      }, `one value of a key written by three nodes at once (round ${round + 1})`, 10_000);
    }
  });
});

describe("cluster: a vhost's default queue type", () => {
  it('set on one node, it makes a plain durable declare on another node a replicated quorum queue', async () => {
    expect((await api(0, 'PUT', '/api/vhosts/replicated', { default_queue_type: 'quorum' })).status).toBeLessThan(300);
    expect((await api(0, 'PUT', '/api/permissions/replicated/guest', { configure: '.*', write: '.*', read: '.*' })).status).toBeLessThan(300);
    const amqp = await import('amqplib');
    let conn: Awaited<ReturnType<typeof amqp.connect>> | undefined;
    await waitUntil(async () => {
      conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${cluster.nodes[1]!.port}/replicated`).catch(() => undefined);
      return conn !== undefined;
    }, 'the vhost and permission on node 2', 10_000);
    conn!.on('error', () => undefined);
    const ch = await conn!.createChannel();
    await ch.assertQueue('plain-durable', { durable: true });
    let q: { type?: string; members?: string[] } = {};
    await waitUntil(async () => {
      q = (await (await api(2, 'GET', '/api/queues/replicated/plain-durable')).json()) as typeof q;
      return (q.members ?? []).length === 3;
    }, 'a replicated queue seen from node 3', 10_000);
    expect(q.type).toBe('quorum');
    await conn!.close();
  });
});

describe('cluster: a dynamic shovel', () => {
  it('set on one node, it runs once in the cluster, on the first node by name, and moves every message once', async () => {
    const value = { 'src-uri': 'amqp://', 'src-queue': 'shovel-src', 'dest-uri': 'amqp://', 'dest-queue': 'shovel-dst' };
    expect((await api(2, 'PUT', '/api/parameters/shovel/%2f/across', { value })).status).toBe(201);
    const lists = async (): Promise<{ state: string }[][]> => Promise.all([0, 1, 2].map(async (i) => (await (await api(i, 'GET', '/api/shovels')).json()) as { state: string }[]));
    await waitUntil(async () => (await lists()).flat().some((s) => s.state === 'running'), 'the shovel running somewhere', 15_000);
    const seen = await lists();
    // Exactly one node runs it: the first running node by name.
    expect(seen.map((l) => l.length).reduce((a, b) => a + b, 0)).toBe(1);
    const names = cluster.nodes.map((n) => n.name);
    expect(seen[names.indexOf([...names].sort()[0]!)]!.length).toBe(1);
    const conn = await cluster.connect(1);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('shovel-src', { durable: true });
    for (let i = 0; i < 500; i++) ch.sendToQueue('shovel-src', Buffer.from(String(i)), { persistent: true });
    await ch.waitForConfirms();
    await waitUntil(async () => ((await (await api(0, 'GET', '/api/queues/%2f/shovel-dst')).json()) as { messages?: number }).messages === 500, 'every message moved', 20_000);
    const got: number[] = [];
    for (;;) {
      const m = await ch.get('shovel-dst', { noAck: true });
      if (!m) break;
      got.push(Number(m.content.toString()));
    }
    expect(got).toEqual([...Array(500).keys()]);
    expect((await api(0, 'DELETE', '/api/parameters/shovel/%2f/across')).status).toBe(204);
    await waitUntil(async () => (await lists()).every((l) => l.length === 0), 'the shovel stopped everywhere', 10_000);
    await conn.close();
  });
});
