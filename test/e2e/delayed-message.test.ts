// The x-delayed-message exchange (the community rabbitmq_delayed_message_exchange plugin, built from
// its source: RabbitMQ 3.10.8 here has no copy of it to compare with). A message with a positive
// x-delay is held that long, then routed as the x-delayed-type routes, its x-delay negated; a
// confirmed one survives kill -9 and a restart. Real broker processes on their own data dirs, amqplib.
import { describe, expect, it } from 'vitest';
import type { Channel, ConfirmChannel, GetMessage } from 'amqplib';
import { resources } from '../helpers/resources.js';
import { sleep, waitUntil } from '../helpers/async.js';

const res = resources();

async function drain(ch: Channel, q: string): Promise<GetMessage[]> {
  const out: GetMessage[] = [];
  for (let m = await ch.get(q, { noAck: true }); m; m = await ch.get(q, { noAck: true })) out.push(m);
  return out;
}

async function setup(ch: ConfirmChannel, type = 'direct'): Promise<void> {
  await ch.assertExchange('delayed', 'x-delayed-message', { durable: true, arguments: { 'x-delayed-type': type } });
  await ch.assertQueue('later', { durable: true });
  await ch.bindQueue('later', 'delayed', 'k');
}

describe('x-delayed-message', () => {
  it('holds a message for its x-delay, then routes it as its type with x-delay negated; others at once', async () => {
    const b = await res.broker(await res.tempDir());
    const ch = await (await res.connect(b.port)).createConfirmChannel();
    await setup(ch);
    const t0 = Date.now();
    ch.publish('delayed', 'k', Buffer.from('in 600 ms'), { persistent: true, headers: { 'x-delay': 600, app: 'a' } });
    ch.publish('delayed', 'k', Buffer.from('now'), { persistent: true });
    ch.publish('delayed', 'k', Buffer.from('negative: now'), { headers: { 'x-delay': -5 } });
    ch.publish('delayed', 'other', Buffer.from('unbound key'), { headers: { 'x-delay': 100 } });
    await ch.waitForConfirms();
    expect((await drain(ch, 'later')).map((m) => m.content.toString())).toEqual(['now', 'negative: now']);
    let got: GetMessage[] = [];
    await waitUntil(async () => (got = await drain(ch, 'later')).length > 0, 'the delayed message', 5_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(590);
    expect(got.map((m) => [m.content.toString(), m.properties.headers, m.properties.deliveryMode])).toEqual([['in 600 ms', { 'x-delay': -600, app: 'a' }, 2]]);
    // The plugin routes a held message nowhere when it is published: a mandatory one comes back,
    // and is still delivered when its delay is over.
    const returned: string[] = [];
    ch.on('return', (m: { content: Buffer }) => returned.push(m.content.toString()));
    ch.publish('delayed', 'k', Buffer.from('mandatory'), { mandatory: true, headers: { 'x-delay': 200 } });
    await ch.waitForConfirms();
    await waitUntil(() => returned.length === 1, 'the return', 5_000);
    await waitUntil(async () => (got = await drain(ch, 'later')).length > 0, 'the delayed mandatory message', 5_000);
    expect(got.map((m) => m.content.toString())).toEqual(['mandatory']);
  });

  it('refuses a missing or unknown x-delayed-type with the plugin\'s text, and routes as a topic exchange', async () => {
    const b = await res.broker(await res.tempDir());
    const conn = await res.connect(b.port);
    for (const args of [{}, { 'x-delayed-type': 'nope' }, { 'x-delayed-type': 'x-delayed-message' }]) {
      const ch = await conn.createChannel();
      let err: Error | null = null;
      ch.on('error', (e: Error) => (err = e));
      await ch.assertExchange('bad', 'x-delayed-message', { arguments: args }).catch(() => undefined);
      await sleep(50);
      expect(String(err)).toContain("406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - Invalid argument, 'x-delayed-type' must bean existing exchnage type\"");
    }
    const ch = await conn.createConfirmChannel();
    await ch.assertExchange('dtopic', 'x-delayed-message', { durable: false, arguments: { 'x-delayed-type': 'topic' } });
    await ch.assertQueue('orders', { durable: false });
    await ch.bindQueue('orders', 'dtopic', 'order.#');
    ch.publish('dtopic', 'order.eu.1', Buffer.from('a'), { headers: { 'x-delay': 100 } });
    ch.publish('dtopic', 'invoice.1', Buffer.from('b'), { headers: { 'x-delay': 100 } });
    await ch.waitForConfirms();
    await sleep(400);
    expect((await drain(ch, 'orders')).map((m) => m.content.toString())).toEqual(['a']);
  });

  it('a confirmed delayed message survives kill -9 and is routed when its time comes after the restart', async () => {
    const dir = await res.tempDir();
    let b = await res.broker(dir);
    let ch = await (await res.connect(b.port)).createConfirmChannel();
    await setup(ch);
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) ch.publish('delayed', 'k', Buffer.from(`m${i}`), { persistent: true, headers: { 'x-delay': 1_500 + i * 10 } });
    await ch.waitForConfirms();
    await b.kill9();
    b = await res.broker(dir);
    ch = await (await res.connect(b.port)).createConfirmChannel();
    let got: GetMessage[] = [];
    await waitUntil(async () => (got = [...got, ...(await drain(ch, 'later'))]).length >= 20, 'the 20 delayed messages', 15_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1_490);
    expect(got.map((m) => m.content.toString())).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
    // Released once: nothing comes again after another restart.
    await b.stop();
    b = await res.broker(dir);
    ch = await (await res.connect(b.port)).createConfirmChannel();
    await sleep(500);
    expect(await drain(ch, 'later')).toEqual([]);
  });

  it('holds a message’s CC and BCC routes with it and routes them on release, across a kill -9 too', async () => {
    const dir = await res.tempDir();
    let b = await res.broker(dir);
    let ch = await (await res.connect(b.port)).createConfirmChannel();
    await setup(ch);
    for (const q of ['cc-q', 'bcc-q']) {
      await ch.assertQueue(q, { durable: true });
      await ch.bindQueue(q, 'delayed', q);
    }
    const publish = (body: string, delay: number): boolean =>
      ch.publish('delayed', 'k', Buffer.from(body), { persistent: true, headers: { 'x-delay': delay, CC: ['cc-q'], BCC: ['bcc-q'] } });
    publish('before restart', 4_000); // still held at the kill, however slow the machine (released before it, its record's deletion may not be written: a second release)
    publish('soon', 300);
    await ch.waitForConfirms();
    // Nothing is routed while the message is held, by its own key or by CC or BCC (the plugin holds
    // the whole delivery).
    for (const q of ['later', 'cc-q', 'bcc-q']) expect(await drain(ch, q)).toEqual([]);
    const seen = new Map<string, GetMessage[]>([['later', []], ['cc-q', []], ['bcc-q', []]]);
    const collect = async (): Promise<boolean> => {
      for (const [q, got] of seen) got.push(...(await drain(ch, q)));
      return [...seen.values()].every((got) => got.length >= 1);
    };
    await waitUntil(collect, 'the first release to all three queues', 5_000);
    for (const [, got] of seen) {
      expect(got.map((m) => m.content.toString())).toEqual(['soon']);
      // CC stays in the headers, BCC does not (as when published without a delay).
      expect(got[0]!.properties.headers).toEqual({ 'x-delay': -300, CC: ['cc-q'] });
    }
    // The gets' deletions are not promised to survive a kill -9 (nothing is, without a confirm):
    // a durable redeclare's declare-ok waits for the store's write of everything before it.
    await ch.assertQueue('later', { durable: true });
    await b.kill9();
    b = await res.broker(dir);
    ch = await (await res.connect(b.port)).createConfirmChannel();
    for (const got of seen.values()) got.length = 0;
    await waitUntil(collect, 'the release after the restart to all three queues', 15_000);
    await sleep(200);
    await collect();
    for (const [, got] of seen) expect(got.map((m) => m.content.toString())).toEqual(['before restart']);
  });
});
