// API shapes compared with a RabbitMQ 3.10.8 node (rabbitmq_management) on the same machine:
// list paging/filtering/columns/sort and their errors, KEDA's calls, error bodies (404, 405,
// 400), /api/nodes[/name], bindings per queue and exchange, channels per connection, one
// channel, consumers per vhost, definitions per vhost and per-object fields.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp, { type ChannelModel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { apiClient, enc, eventually, type Api } from '../helpers/management-client.js';

let broker: RunningBroker;
let api: Api;
let conn: ChannelModel;

beforeAll(async () => {
  broker = await startBroker({ managementPort: -1, logLevel: 'silent' });
  api = apiClient(`http://127.0.0.1:${broker.managementPort}`);
  await api('PUT', '/api/vhosts/shapes');
  for (const q of ['keda-orders-1', 'keda-orders-2', 'other']) await api('PUT', `/api/queues/shapes/${q}`, { body: { durable: true } });
  conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}/shapes`);
  conn.on('error', () => undefined);
});
afterAll(async () => {
  await conn?.close().catch(() => undefined);
  await broker?.close();
});

describe('lists in the order 3.10.8 gives them when no sort is asked for', () => {
  it('queues and exchanges by name, bindings by source, destination and key, byte order', async () => {
    await api('PUT', '/api/vhosts/order');
    for (const q of ['ord-zz', 'ord-aa', 'ord-B', 'ord-a1']) await api('PUT', `/api/queues/order/${q}`, { body: { durable: false } });
    for (const x of ['ordx-zz', 'ordx-aa']) await api('PUT', `/api/exchanges/order/${x}`, { body: { type: 'direct' } });
    for (const [q, k] of [['ord-zz', 'k2'], ['ord-aa', 'k9'], ['ord-B', 'k1'], ['ord-aa', 'k0']]) await api('POST', `/api/bindings/order/e/ordx-aa/q/${q}`, { body: { routing_key: k } });
    const names = async (path: string, f: (x: any) => string = (x) => x.name) => ((await api('GET', path)).json as any[]).map(f).filter((n) => n.includes('ord'));
    // What a 3.10.8 node answered to the same calls (the queues were made zz, aa, B, a1).
    expect(await names('/api/queues/order')).toEqual(['ord-B', 'ord-a1', 'ord-aa', 'ord-zz']);
    expect(await names('/api/exchanges/order')).toEqual(['ordx-aa', 'ordx-zz']);
    expect(await names('/api/exchanges/order/ordx-aa/bindings/source', (b) => `${b.destination}:${b.routing_key}`)).toEqual(['ord-B:k1', 'ord-aa:k0', 'ord-aa:k9', 'ord-zz:k2']);
    expect(await names('/api/queues/order/ord-aa/bindings', (b) => `${b.source}>${b.routing_key}`)).toEqual(['>ord-aa', 'ordx-aa>k0', 'ordx-aa>k9']);
    expect(((await api('GET', '/api/queues/order?page=1&page_size=2')).json.items as { name: string }[]).map((q) => q.name)).toEqual(['ord-B', 'ord-a1']);
    // An explicit sort still wins, reversed too.
    expect(await names('/api/queues/order?sort=name&sort_reverse=true')).toEqual(['ord-zz', 'ord-aa', 'ord-a1', 'ord-B']);
    await api('DELETE', '/api/vhosts/order');
  });
});

describe('paging, filtering, columns, sort (3.10.8 semantics)', () => {
  it('answers a paged request with the 7 paging keys', async () => {
    const r = await api('GET', '/api/queues/shapes?page=1&page_size=2&columns=name');
    // 3.10.8: {filtered_count, item_count, items, page, page_count, page_size, total_count}
    expect(r.json).toEqual({ filtered_count: 3, item_count: 2, items: expect.any(Array), page: 1, page_count: 2, page_size: 2, total_count: 3 });
    expect(Object.keys(r.json.items[0])).toEqual(['name']);
  });

  it("KEDA's regex call: page=1&use_regex=true&pagination=false&name=<regex>", async () => {
    const r = await api('GET', `/api/queues/shapes?page=1&use_regex=true&pagination=false&name=${enc('^keda-orders-\\d$')}`);
    // 3.10.8 answers the paged object even with pagination=false once page is given (KEDA reads items and page_count).
    expect(r.status).toBe(200);
    expect(r.json.filtered_count).toBe(2);
    expect(r.json.page_count).toBe(1);
    expect(r.json.items.map((q: { name: string }) => q.name).sort()).toEqual(['keda-orders-1', 'keda-orders-2']);
  });

  it("KEDA's queue call reads messages, messages_ready and message_stats.publish_details.rate", async () => {
    const ch = await conn.createChannel();
    ch.sendToQueue('keda-orders-1', Buffer.from('x'));
    await ch.close();
    const q = await eventually(async () => {
      const r = await api('GET', '/api/queues/shapes/keda-orders-1');
      return r.json.messages === 1 ? r.json : null;
    }, 'the message counted');
    expect(q.messages_ready).toBe(1);
    expect(typeof q.message_stats.publish_details.rate).toBe('number');
  });

  it('filters by name substring (caseless), sorts, reverses, keeps dotted columns', async () => {
    expect((await api('GET', '/api/queues/shapes?name=KEDA&columns=name&sort=name')).json).toEqual([{ name: 'keda-orders-1' }, { name: 'keda-orders-2' }]);
    expect((await api('GET', '/api/queues/shapes?columns=name&sort=name&sort_reverse=true')).json.map((x: { name: string }) => x.name)).toEqual(['other', 'keda-orders-2', 'keda-orders-1']);
    const nested = (await api('GET', '/api/queues/shapes/keda-orders-1?columns=name,message_stats.publish')).json;
    expect(nested).toEqual({ name: 'keda-orders-1', message_stats: { publish: 1 } });
    // disable_stats: no message_stats, no *_details.
    const plain = (await api('GET', '/api/queues/shapes?disable_stats=true')).json;
    expect(plain[0]).not.toHaveProperty('message_stats');
    // page_size without page: a plain list (3.10.8).
    expect(Array.isArray((await api('GET', '/api/queues/shapes?page_size=1')).json)).toBe(true);
  });

  it("answers 3.10.8's paging errors", async () => {
    expect((await api('GET', '/api/queues?page=1&page_size=501')).json).toEqual({ error: 'invalid_pagination_parameters', reason: 'Invalid pagination parameters: page number 1, page size 501' });
    expect((await api('GET', '/api/queues/shapes?page=9')).json).toEqual({ error: 'page_out_of_range', reason: 'Page out of range, page: 9 page size: 100, len: 3' });
    expect((await api('GET', '/api/queues?page=0')).status).toBe(400);
    expect((await api('GET', '/api/queues?page=x')).json).toEqual({ error: 'bad_request', reason: 'Pagination parameters are invalid' });
    // An empty first page is no error: page_count 0 (3.10.8).
    expect((await api('GET', '/api/queues?page=1&name=zzzz')).json).toMatchObject({ filtered_count: 0, item_count: 0, items: [], page: 1, page_count: 0 });
  });
});

describe('error shapes (3.10.8)', () => {
  it('404 Object Not Found / Not Found, 405 for a known path with another method, 401 Login failed', async () => {
    expect((await api('GET', '/api/nope')).json).toEqual({ error: 'Object Not Found', reason: 'Not Found' });
    expect((await api('GET', '/api/queues/shapes/none')).json).toEqual({ error: 'Object Not Found', reason: 'Not Found' });
    expect((await api('DELETE', '/api/overview')).status).toBe(405);
    const r = await api('GET', '/api/overview', { auth: ['guest', 'wrong'] });
    expect(r.status).toBe(401);
    expect(r.json).toEqual({ error: 'not_authorized', reason: 'Login failed' });
  });
});

describe('who declared an exchange (user_who_performed_action, 3.10.8)', () => {
  it('the AMQP user, the API user or the importing user; rmq-internal for the standard ones', async () => {
    await api('PUT', '/api/users/shapes-alice', { body: { password: 'pw', tags: 'administrator' } });
    await api('PUT', '/api/permissions/shapes/shapes-alice', { body: { configure: '.*', write: '.*', read: '.*' } });
    const alice = await amqp.connect(`amqp://shapes-alice:pw@127.0.0.1:${broker.port}/shapes`);
    const ch = await alice.createChannel();
    await ch.assertExchange('by-amqp', 'topic', { durable: true });
    await alice.close();
    await api('PUT', '/api/exchanges/shapes/by-api', { body: { type: 'fanout' }, auth: ['shapes-alice', 'pw'] });
    const imported = await api('POST', '/api/definitions/shapes', {
      body: { exchanges: [{ name: 'by-import', type: 'direct', durable: true, auto_delete: false, internal: false, arguments: {} }] },
      auth: ['shapes-alice', 'pw'],
    });
    expect(imported.status).toBe(204);
    const who = (name: string) => api('GET', `/api/exchanges/shapes/${enc(name)}`).then((r) => r.json.user_who_performed_action);
    expect(await who('by-amqp')).toBe('shapes-alice');
    expect(await who('by-api')).toBe('shapes-alice');
    expect(await who('by-import')).toBe('shapes-alice');
    expect(await who('amq.direct')).toBe('rmq-internal');
    expect(await who('amq.rabbitmq.trace')).toBe('rmq-internal');
  });
});

describe('consumers of a single-active-consumer queue (3.10.8)', () => {
  it('the active one is single_active, the others waiting and not active; other consumers are up', async () => {
    const ch = await conn.createChannel();
    await ch.assertQueue('sac-shapes', { arguments: { 'x-single-active-consumer': true } });
    await ch.assertQueue('plain-shapes');
    await ch.consume('sac-shapes', () => undefined, { consumerTag: 'sac-first' });
    await ch.consume('sac-shapes', () => undefined, { consumerTag: 'sac-second' });
    await ch.consume('plain-shapes', () => undefined, { consumerTag: 'plain-one' });
    const list = (await api('GET', '/api/consumers/shapes')).json as { consumer_tag: string; active: boolean; activity_status: string }[];
    const seen = Object.fromEntries(list.filter((c) => /^(sac|plain)-/.test(c.consumer_tag)).map((c) => [c.consumer_tag, [c.active, c.activity_status]]));
    expect(seen).toEqual({ 'sac-first': [true, 'single_active'], 'sac-second': [false, 'waiting'], 'plain-one': [true, 'up'] });
    await ch.close();
  });
});

describe("a vhost's traffic (3.10.8's vhost_stats)", () => {
  it('message_stats, recv_oct/send_oct and rates, kept when the channels and connections close', async () => {
    await api('PUT', '/api/vhosts/vstats');
    await api('PUT', '/api/permissions/vstats/guest', { body: { configure: '.*', write: '.*', read: '.*' } });
    const fresh = (await api('GET', '/api/vhosts/vstats')).json;
    expect(fresh.message_stats).toBeUndefined();
    expect(fresh).toMatchObject({ recv_oct: 0, send_oct: 0, tracing: false, messages_details: { rate: 0 } });
    expect(Object.values(fresh.cluster_state)).toEqual(['running']);

    const c = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}/vstats`);
    const ch = await c.createConfirmChannel();
    await ch.assertQueue('vq');
    for (let i = 0; i < 5; i++) ch.sendToQueue('vq', Buffer.from(`m${i}`));
    await ch.waitForConfirms();
    const got = await ch.get('vq', { noAck: false });
    if (got) ch.ack(got);
    await ch.checkQueue('vq');
    const live = (await api('GET', '/api/vhosts/vstats')).json;
    expect(live.message_stats).toMatchObject({ publish: 5, confirm: 5, get: 1, deliver_get: 1, ack: 1 });
    expect(live.recv_oct).toBeGreaterThan(0);
    expect(live.send_oct).toBeGreaterThan(0);
    await c.close();
    // The totals stay once the client has gone (they are the vhost's, not the connection's).
    const after = (await api('GET', '/api/vhosts')).json.find((v: { name: string }) => v.name === 'vstats');
    expect(after.message_stats).toMatchObject({ publish: 5, confirm: 5, get: 1, ack: 1 });
    expect(after.recv_oct).toBeGreaterThanOrEqual(live.recv_oct);
    expect(after.messages).toBe(4);
  });
});

describe('endpoints', () => {
  it('/api/nodes and /api/nodes/{name} carry 3.10.8 resource fields', async () => {
    const nodes = (await api('GET', '/api/nodes')).json;
    const name = nodes[0].name;
    const n = (await api('GET', `/api/nodes/${enc(name)}?memory=true`)).json;
    for (const k of ['mem_used', 'mem_limit', 'disk_free', 'disk_free_limit', 'fd_used', 'fd_total', 'sockets_used', 'sockets_total', 'proc_used', 'proc_total', 'uptime', 'processors', 'run_queue']) {
      expect(typeof n[k], k).toBe('number');
    }
    for (const k of ['mem_alarm', 'disk_free_alarm', 'running']) expect(typeof n[k], k).toBe('boolean');
    expect(n.type).toBe('disc');
    expect(n.partitions).toEqual([]);
    expect(typeof n.os_pid).toBe('string');
    expect(typeof n.memory.total.rss).toBe('number');
    expect(nodes[0].mem_used).toBeGreaterThan(0);
    // Churn with rates, exchange types and SASL mechanisms, as 3.10.8's node has them.
    for (const k of ['connection_created', 'connection_closed', 'channel_created', 'channel_closed', 'queue_declared', 'queue_created', 'queue_deleted']) {
      expect(typeof n[k], k).toBe('number');
      expect(typeof n[`${k}_details`].rate, `${k}_details`).toBe('number');
    }
    expect(n.connection_created).toBeGreaterThanOrEqual(1);
    expect(n.exchange_types.map((t: { name: string }) => t.name).sort()).toEqual(['direct', 'fanout', 'headers', 'topic', 'x-consistent-hash', 'x-delayed-message', 'x-federation-upstream', 'x-random', 'x-recent-history']);
    expect(n.auth_mechanisms.filter((m: { enabled: boolean }) => m.enabled).map((m: { name: string }) => m.name)).toEqual(['PLAIN', 'AMQPLAIN']);
    expect(n.rates_mode).toBe('basic');
    expect((await api('GET', '/api/nodes/nobody@nowhere')).status).toBe(404);
  });

  it('bindings of a queue and of an exchange, the default binding included (3.10.8)', async () => {
    await api('PUT', '/api/exchanges/shapes/sx', { body: { type: 'direct' } });
    await api('POST', '/api/bindings/shapes/e/sx/q/other', { body: { routing_key: 'k' } });
    const qb = (await api('GET', '/api/queues/shapes/other/bindings')).json;
    // 3.10.8: {"source":"","vhost":"shapes","destination":"other","destination_type":"queue","routing_key":"other","arguments":{},"properties_key":"other"}
    expect(qb).toEqual([
      { source: '', vhost: 'shapes', destination: 'other', destination_type: 'queue', routing_key: 'other', arguments: {}, properties_key: 'other' },
      { source: 'sx', vhost: 'shapes', destination: 'other', destination_type: 'queue', routing_key: 'k', arguments: {}, properties_key: 'k' },
    ]);
    expect((await api('GET', '/api/exchanges/shapes/sx/bindings/source')).json).toHaveLength(1);
    expect((await api('GET', '/api/exchanges/shapes/sx/bindings/destination')).json).toEqual([]);
  });

  it('channels of a connection, one channel, consumers of a vhost, consumer_details', async () => {
    const ch = await conn.createChannel();
    await ch.consume('other', () => undefined, { consumerTag: 'shape-tag' });
    const c = await eventually(async () => (await api('GET', '/api/connections')).json.find((x: { vhost: string }) => x.vhost === 'shapes'), 'the connection');
    // 3.10.8 connection fields: recv_oct/send_oct (socket bytes), type network, ssl, auth_mechanism.
    expect(c.recv_oct).toBeGreaterThan(0);
    expect(c.send_oct).toBeGreaterThan(0);
    expect(c).toMatchObject({ type: 'network', ssl: false, auth_mechanism: 'PLAIN' });
    const chans = (await api('GET', `/api/connections/${enc(c.name)}/channels`)).json;
    expect(chans.length).toBeGreaterThan(0);
    const one = (await api('GET', `/api/channels/${enc(chans[0].name)}`)).json;
    expect(one.name).toBe(chans[0].name);
    // 3.10.8 channel fields: state, messages_unconfirmed/uncommitted, acks_uncommitted, message_stats.
    expect(one).toMatchObject({ state: 'running', messages_unconfirmed: 0, messages_uncommitted: 0, acks_uncommitted: 0 });
    // message_stats once the channel published or delivered (3.10.8 leaves it out before).
    expect(one.message_stats === undefined || typeof one.message_stats === 'object').toBe(true);
    const consumers = (await api('GET', '/api/consumers/shapes')).json;
    expect(consumers.map((x: { consumer_tag: string }) => x.consumer_tag)).toContain('shape-tag');
    expect((await api('GET', '/api/consumers/%2F')).json).toEqual([]);
    const q = (await api('GET', '/api/queues/shapes/other')).json;
    expect(q.consumer_details.map((x: { consumer_tag: string }) => x.consumer_tag)).toEqual(['shape-tag']);
    // 3.10.8: consumer_utilisation/consumer_capacity numbers (idle_since: management-object-stats.test.ts).
    expect(q.consumer_capacity).toBe(1);
    await ch.close();
  });

  it('queue message_bytes fields, exchange publish_in/publish_out (3.10.8 names)', async () => {
    const ch = await conn.createChannel();
    ch.publish('sx', 'k', Buffer.from('12345'));
    // A channel's own publish count (3.10.8: channel message_stats.publish).
    const mine = await eventually(async () => {
      const all = (await api('GET', '/api/channels')).json as { message_stats?: { publish: number } }[];
      return all.find((x) => x.message_stats?.publish === 1);
    }, 'the channel counting its publish');
    expect(mine.message_stats!.publish).toBe(1);
    const q = await eventually(async () => {
      const r = (await api('GET', '/api/queues/shapes/other')).json;
      return r.messages === 1 ? r : null;
    }, 'the message queued');
    expect(q).toMatchObject({ message_bytes: 5, message_bytes_ready: 5, message_bytes_unacknowledged: 0, head_message_timestamp: null, messages_ready_ram: 1, exclusive_consumer_tag: null });
    expect(typeof q.messages_details.rate).toBe('number');
    expect(typeof q.messages_ready_details.rate).toBe('number');
    const x = (await api('GET', '/api/exchanges/shapes/sx')).json;
    expect(x.message_stats).toEqual({ publish_in: 1, publish_in_details: { rate: expect.any(Number) }, publish_out: 1, publish_out_details: { rate: expect.any(Number) } });
    await ch.close();
  });

  it('/api/definitions/{vhost}: 3.10.8 keys, objects without vhost', async () => {
    const d = (await api('GET', '/api/definitions/shapes')).json;
    expect(Object.keys(d).sort()).toEqual(['bindings', 'exchanges', 'parameters', 'policies', 'queues', 'rabbit_version']);
    expect(d.queues.find((q: { name: string }) => q.name === 'other')).toEqual({ name: 'other', durable: true, auto_delete: false, arguments: {} });
    await api('DELETE', '/api/queues/shapes/other');
    expect((await api('POST', '/api/definitions/shapes', { body: d })).status).toBe(204);
    expect((await api('GET', '/api/queues/shapes/other')).status).toBe(200);
    expect((await api('GET', '/api/definitions/nov')).status).toBe(404);
  });
});
