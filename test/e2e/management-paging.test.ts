// The management API's list paging (RabbitMQ's ?page, page_size, name, use_regex, sort,
// sort_reverse, columns), one object's bindings, and the broker-kept chart history.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';

describe('management API paging, bindings by object, history', () => {
  let broker: RunningBroker;
  let conn: ChannelModel;
  let ch: Channel;
  const get = async (path: string): Promise<{ status: number; json: any }> => {
    const r = await fetch(`http://127.0.0.1:${broker.managementPort}/api${path}`, { headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` } });
    return { status: r.status, json: await r.json() };
  };

  beforeAll(async () => {
    broker = await startBroker({ managementPort: -1, logLevel: 'silent' });
    conn = await amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port: broker.port, username: 'guest', password: 'guest', vhost: '/' });
    ch = await conn.createChannel();
    for (let i = 0; i < 25; i++) await ch.assertQueue(`pg-${String(i).padStart(2, '0')}`, { durable: false });
    for (let i = 0; i < 3; i++) ch.sendToQueue('pg-07', Buffer.from('x'));
    await ch.assertExchange('pg-x', 'topic', { durable: false });
    await ch.assertExchange('pg-y', 'fanout', { durable: false });
    await ch.bindQueue('pg-01', 'pg-x', 'a.#');
    await ch.bindExchange('pg-y', 'pg-x', 'b');
    await ch.checkQueue('pg-07');
  });

  afterAll(async () => {
    await conn?.close();
    await broker?.close();
  });

  it('pages, filters and sorts queues as RabbitMQ', async () => {
    const p1 = (await get('/queues?page=1&page_size=10&name=pg-&sort=name')).json;
    expect(p1).toMatchObject({ filtered_count: 25, item_count: 10, page: 1, page_count: 3, page_size: 10, total_count: 25 });
    expect(p1.items.map((q: { name: string }) => q.name)).toEqual(Array.from({ length: 10 }, (_, i) => `pg-${String(i).padStart(2, '0')}`));
    const p3 = (await get('/queues/%2F?page=3&page_size=10&sort=name&sort_reverse=true')).json;
    expect(p3.items.map((q: { name: string }) => q.name)).toEqual(['pg-04', 'pg-03', 'pg-02', 'pg-01', 'pg-00']);
    const re = (await get('/queues?page=1&name=^PG-1[0-2]$&use_regex=true')).json;
    expect(re.items.map((q: { name: string }) => q.name).sort()).toEqual(['pg-10', 'pg-11', 'pg-12']);
    const byMessages = (await get('/queues?page=1&page_size=1&sort=messages&sort_reverse=true')).json;
    expect(byMessages.items[0]).toMatchObject({ name: 'pg-07', messages: 3 });
    // A field not kept cheap is sorted on the views (dotted).
    const byRate = (await get('/queues?page=1&page_size=2&sort=message_stats.publish_details.rate')).json;
    expect(byRate.item_count).toBe(2);
    // RabbitMQ 3.10.8's answer (checked on a private node).
    expect((await get('/queues?page=9&page_size=10')).json).toMatchObject({ error: 'page_out_of_range', reason: 'Page out of range, page: 9 page size: 10, len: 25' });
    expect((await get('/queues?page=1&page_size=501')).status).toBe(400);
    expect((await get('/queues?page=1&name=(&use_regex=true')).status).toBe(400);
    // Columns, with or without paging.
    // As 3.10.8: a queue never published to has no message_stats, so only its name.
    const cols = (await get('/queues?columns=name,message_stats.publish&sort=name')).json as { name: string; message_stats?: object }[];
    const used = cols.find((q) => q.name === 'pg-07')!;
    expect(Object.keys(used).sort()).toEqual(['message_stats', 'name']);
    expect(Object.keys(used.message_stats!)).toEqual(['publish']);
    expect(cols.find((q) => q.name === 'pg-00')).toEqual({ name: 'pg-00' });
    // Without ?page: the whole list, as before.
    expect(((await get('/queues')).json as unknown[]).length).toBe(25);
  });

  it("lists one queue's and one exchange's bindings", async () => {
    const qb = (await get('/queues/%2F/pg-01/bindings')).json;
    expect(qb).toEqual([
      expect.objectContaining({ source: '', destination: 'pg-01', routing_key: 'pg-01' }),
      expect.objectContaining({ source: 'pg-x', destination: 'pg-01', routing_key: 'a.#', destination_type: 'queue' }),
    ]);
    const src = (await get('/exchanges/%2F/pg-x/bindings/source')).json;
    expect(src.map((b: { destination: string }) => b.destination).sort()).toEqual(['pg-01', 'pg-y']);
    const dst = (await get('/exchanges/%2F/pg-y/bindings/destination')).json;
    expect(dst).toEqual([expect.objectContaining({ source: 'pg-x', destination: 'pg-y', destination_type: 'exchange', routing_key: 'b' })]);
    expect((await get('/exchanges/%2F/nope/bindings/source')).status).toBe(404);
  });

  it('hands out the kept history as samples; nodes report their resources', async () => {
    const o = (await get('/overview?msg_rates_age=60&msg_rates_incr=5&lengths_age=60&lengths_incr=5')).json;
    expect(o.message_stats.publish_details.samples.length).toBeGreaterThanOrEqual(1);
    expect(o.message_stats.publish_details).toHaveProperty('avg_rate');
    expect(o.queue_totals.messages_details.samples[0]).toEqual({ sample: expect.any(Number), timestamp: expect.any(Number) });
    expect((await get('/overview')).json.message_stats.publish_details).not.toHaveProperty('samples');
    const n = (await get(`/nodes/${encodeURIComponent(broker.broker.nodeName)}/memory`)).json;
    expect(n.memory.total.rss).toBeGreaterThan(0);
    expect((await get('/nodes/nope')).status).toBe(404);
  });
});
