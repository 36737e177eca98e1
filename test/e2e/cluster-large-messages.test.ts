// Message bodies in a cluster travel as single NATS messages (a stream write, a publish or a
// delivery between nodes), so the NATS servers' max_payload bounds them: the test servers take
// 8 MiB, as deploy/nats's do. A body under it goes through any node to a quorum queue and a
// stream; one over it is refused with RabbitMQ's 406 for a body over max_message_size, and the
// node carries on; a queue no other node can reach (exclusive) takes larger ones, as on one node. (Before, anything over NATS's default 1 MiB closed the publisher's connection
// with 541 INTERNAL_ERROR and was lost.) Real nats-server and Warren processes, amqplib.
import { afterEach, describe, expect, it } from 'vitest';
import { startWarrenCluster, type WarrenCluster } from '../helpers/warren-cluster.js';
import { waitUntil } from '../helpers/async.js';

let cluster: WarrenCluster | null = null;
afterEach(async () => {
  await cluster?.stop();
  cluster = null;
});

const MiB = 1024 * 1024;

describe('cluster large messages', () => {
  it('bodies of several MiB go through any node; one the NATS servers cannot carry is refused with 406', async () => {
    cluster = await startWarrenCluster(3);
    const c = cluster;
    const conns = await Promise.all([0, 1, 2].map((i) => c.connect(i)));
    const setup = await conns[0]!.createChannel();
    await setup.assertQueue('lq', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
    await setup.assertQueue('ls', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    const body = (n: number, fill: number): Buffer => Buffer.alloc(n, fill);

    // Through every node (the owner and the others), to the quorum queue and the stream.
    for (let i = 0; i < 3; i++) {
      const p = await conns[i]!.createConfirmChannel();
      p.sendToQueue('lq', body(5 * MiB, 97 + i), { persistent: true });
      p.sendToQueue('ls', body(5 * MiB, 97 + i), { persistent: true });
      await p.waitForConfirms();
    }
    const g = await conns[2]!.createChannel();
    for (let i = 0; i < 3; i++) {
      const m = await g.get('lq', { noAck: true });
      expect(m && m.content.length).toBe(5 * MiB);
      expect(m && m.content[0]).toBe(97 + i);
    }
    const r = await conns[1]!.createChannel();
    await r.prefetch(1);
    const got: number[] = [];
    await r.consume('ls', (m) => {
      if (!m) return;
      got.push(m.content.length);
      r.ack(m);
    }, { arguments: { 'x-stream-offset': 'first' } });
    await waitUntil(() => got.length >= 3, '3 stream messages', 20_000);
    expect(got).toEqual([5 * MiB, 5 * MiB, 5 * MiB]);

    // Over what the NATS servers carry: the channel is closed with RabbitMQ's 406, nothing else;
    // the same connection goes on (amqplib opens its next channel under the closed one's number).
    const big = await conns[0]!.createConfirmChannel();
    const closed = new Promise<string>((resolve) => big.on('error', (e: Error) => resolve(e.message)));
    big.sendToQueue('lq', body(9 * MiB, 120), { persistent: true });
    expect(await closed).toMatch(/PRECONDITION_FAILED - message size 9437184 is larger than configured max size \d+/);
    const after = await conns[0]!.createConfirmChannel();
    after.sendToQueue('lq', Buffer.from('small'), { persistent: true });
    await after.waitForConfirms();
    const m = await g.get('lq', { noAck: true });
    expect(m && m.content.toString()).toBe('small');

    // A queue no other node can reach (exclusive to a connection here) takes more, as on one node
    // (pika's own "publish and consume big" test sends ~15 MiB so).
    const ex = await conns[0]!.createConfirmChannel();
    const { queue: own } = await ex.assertQueue('', { exclusive: true });
    ex.sendToQueue(own, body(12 * MiB, 66));
    await ex.waitForConfirms();
    const mine = await ex.get(own, { noAck: true });
    expect(mine && mine.content.length).toBe(12 * MiB);

    // The management API's publish the same way: 400 with the channel's 406, as RabbitMQ passes
    // channel errors on there (before, the write to the stream threw past the handler).
    const publish = async (bytes: number): Promise<{ status: number; body: { routed?: boolean; reason?: string } }> => {
      const r = await fetch(`http://127.0.0.1:${c.nodes[1]!.managementPort}/api/exchanges/%2F/amq.default/publish`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, 'content-type': 'application/json' },
        body: JSON.stringify({ routing_key: 'lq', payload: Buffer.alloc(bytes, 65).toString('base64'), payload_encoding: 'base64', properties: { delivery_mode: 2 } }),
      });
      return { status: r.status, body: (await r.json()) as { routed?: boolean; reason?: string } };
    };
    const over = await publish(9 * MiB);
    expect(over.status).toBe(400);
    expect(over.body.reason).toMatch(/^406 PRECONDITION_FAILED - message size 9437184 is larger than configured max size \d+$/);
    expect(await publish(3 * MiB)).toEqual({ status: 200, body: { routed: true } });
    const viaApi = await g.get('lq', { noAck: true });
    expect(viaApi && viaApi.content.length).toBe(3 * MiB);
  }, 120_000);
});
