// The management HTTP API as RabbitMQ's management plugin exposes it, exercised side by side
// with amqplib: field names, status codes and effects must match RabbitMQ 3.x.
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import {
  apiClient,
  basicAuth,
  channelError,
  connectionClosed,
  enc,
  eventually,
  familyOf,
  parsePrometheus,
  rabbitPasswordHash,
  sampleValue,
  sleep,
  withTimeout,
  type Api,
} from '../helpers/management-client.js';
import { channel } from '../helpers/channels.js';
import { M, RawAmqp } from '../helpers/raw-amqp.js';

let broker: RunningBroker;
let api: Api;
let mgmtUrl: string;
const openConns: ChannelModel[] = [];

beforeAll(async () => {
  broker = await startBroker({ managementPort: -1, logLevel: 'silent' });
  expect(broker.managementPort).toBeGreaterThan(0);
  mgmtUrl = `http://127.0.0.1:${broker.managementPort}`;
  api = apiClient(mgmtUrl);
});

afterAll(async () => {
  await broker?.close();
});

afterEach(async () => {
  const conns = openConns.splice(0);
  await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
});

// ---------------------------------------------------------------- helpers

const uid = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

async function connect(opts: { user?: string; pass?: string; vhost?: string; clientProperties?: Record<string, unknown> } = {}): Promise<ChannelModel> {
  const conn = await amqp.connect(
    {
      protocol: 'amqp',
      hostname: '127.0.0.1',
      port: broker.port,
      username: opts.user ?? 'guest',
      password: opts.pass ?? 'guest',
      vhost: opts.vhost ?? '/',
    },
    opts.clientProperties ? { clientProperties: opts.clientProperties } : undefined,
  );
  conn.on('error', () => undefined);
  openConns.push(conn);
  return conn;
}

async function getQueue(name: string, vhost = '/'): Promise<any> {
  const r = await api('GET', `/api/queues/${enc(vhost)}/${enc(name)}`);
  expect(r.status, r.text).toBe(200);
  return r.json;
}

async function overview(): Promise<any> {
  const r = await api('GET', '/api/overview');
  expect(r.status, r.text).toBe(200);
  return r.json;
}

async function metrics() {
  const res = await fetch(`${mgmtUrl}/metrics`);
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, contentType: res.headers.get('content-type') ?? '', parsed: parsePrometheus(text) };
}

// ---------------------------------------------------------------- authentication

describe('authentication and authorisation', () => {
  it('answers 401 with a Basic challenge without credentials or with wrong ones', async () => {
    // RabbitMQ 3.10.8: without credentials an empty body, with a wrong password not_authorized,
    // both challenged in its realm (which clients such as Perl's LWP hold credentials for).
    const none = await api('GET', '/api/overview', { auth: null });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Basic realm="RabbitMQ Management"');
    expect(none.text).toBe('');

    const wrongPass = await api('GET', '/api/overview', { auth: ['guest', 'not-the-password'] });
    expect(wrongPass.status).toBe(401);
    expect(wrongPass.headers.get('www-authenticate')).toBe('Basic realm="RabbitMQ Management"');
    expect(wrongPass.json).toEqual({ error: 'not_authorized', reason: 'Login failed' });
    const noUser = await api('GET', '/api/queues', { auth: ['nobody-' + randomUUID(), 'x'] });
    expect(noUser.status).toBe(401);
    // A write without credentials changes nothing.
    const vh = uid('vh-unauth');
    expect((await api('PUT', `/api/vhosts/${enc(vh)}`, { auth: null })).status).toBe(401);
    expect((await api('GET', `/api/vhosts/${enc(vh)}`)).status).toBe(404);
  });

  it('lets a monitoring user read but refuses it administration with 401; a user without a management tag cannot even read', async () => {
    const mon = uid('monitor');
    const put = await api('PUT', `/api/users/${enc(mon)}`, { body: { password: 'mon-pass', tags: 'monitoring' } });
    expect(put.status, put.text).toBe(201);

    const read = await api('GET', '/api/overview', { auth: [mon, 'mon-pass'] });
    expect(read.status, read.text).toBe(200);
    expect(read.json.object_totals).toBeDefined();
    expect((await api('GET', '/api/queues', { auth: [mon, 'mon-pass'] })).status).toBe(200);

    const vh = uid('vh-mon');
    const write = await api('PUT', `/api/vhosts/${enc(vh)}`, { auth: [mon, 'mon-pass'] });
    expect(write.status).toBe(401);
    expect(write.json).toEqual({ error: 'not_authorised', reason: 'Not administrator user' });
    expect((await api('GET', `/api/vhosts/${enc(vh)}`)).status).toBe(404);
    // Without permissions on '/', it may not declare there either (tag-by-tag: management-tags test).
    const q = uid('q-mon');
    expect((await api('PUT', `/api/queues/%2F/${enc(q)}`, { auth: [mon, 'mon-pass'], body: { durable: false } })).status).toBe(401);
    expect((await api('GET', `/api/queues/%2F/${enc(q)}`)).status).toBe(404);
    expect((await api('DELETE', `/api/users/guest`, { auth: [mon, 'mon-pass'] })).status).toBe(401);
    expect((await api('GET', '/api/users/guest')).status).toBe(200);

    const plain = uid('plain');
    expect((await api('PUT', `/api/users/${enc(plain)}`, { body: { password: 'p', tags: '' } })).status).toBe(201);
    const denied = await api('GET', '/api/overview', { auth: [plain, 'p'] });
    expect(denied.status).toBe(401);
    expect(denied.json).toEqual({ error: 'not_authorised', reason: 'Not management user' });
  });
});

// ---------------------------------------------------------------- overview and queues

describe('overview and queue counts', () => {
  it('overview lists every listener of the node, the management API\'s too, as 3.10.8 does', async () => {
    // 3.10.8 (a private node): [{node, protocol: 'amqp', ip_address, port, socket_opts}, {… 'clustering' …}, {… 'http' …}]
    const o = await overview();
    expect(o.listeners.map((l: { protocol: string; port: number; node: string; ip_address: string }) => [l.protocol, l.port, l.node, l.ip_address])).toEqual([
      ['amqp', broker.port, broker.broker.nodeName, '127.0.0.1'],
      ['http', broker.managementPort, broker.broker.nodeName, '127.0.0.1'],
    ]);
  });

  it('overview totals move as amqplib publishes', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = uid('ov');
    await ch.assertQueue(q, { durable: false });

    const before = await overview();
    for (const k of ['connections', 'channels', 'exchanges', 'queues', 'consumers']) expect(typeof before.object_totals[k]).toBe('number');
    expect(before.object_totals.connections).toBeGreaterThanOrEqual(1);
    expect(before.object_totals.channels).toBeGreaterThanOrEqual(1);
    expect(before.object_totals.queues).toBeGreaterThanOrEqual(1);
    for (const k of ['messages', 'messages_ready', 'messages_unacknowledged']) expect(typeof before.queue_totals[k]).toBe('number');
    expect(typeof before.message_stats.publish).toBe('number');
    expect(before.message_stats.publish_details).toHaveProperty('rate');

    for (let i = 0; i < 5; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
    const after = await eventually(async () => {
      const o = await overview();
      return o.queue_totals.messages_ready >= before.queue_totals.messages_ready + 5 ? o : null;
    }, 'overview messages_ready to grow by 5');
    expect(after.queue_totals.messages_ready - before.queue_totals.messages_ready).toBe(5);
    expect(after.queue_totals.messages - before.queue_totals.messages).toBe(5);
    expect(after.message_stats.publish - before.message_stats.publish).toBe(5);

    const q2 = uid('ov2');
    await ch.assertQueue(q2, { durable: false });
    const withQueue = await overview();
    expect(withQueue.object_totals.queues).toBe(after.object_totals.queues + 1);

    await ch.consume(q, () => undefined, { noAck: false });
    const consuming = await eventually(async () => {
      const o = await overview();
      return o.queue_totals.messages_unacknowledged >= before.queue_totals.messages_unacknowledged + 5 ? o : null;
    }, 'overview unacked to grow');
    expect(consuming.object_totals.consumers).toBeGreaterThanOrEqual(1);
    expect(consuming.queue_totals.messages).toBe(consuming.queue_totals.messages_ready + consuming.queue_totals.messages_unacknowledged);
    await ch.deleteQueue(q2);
  });

  it('GET /api/queues/%2F/<q> separates ready from unacked held by a consumer', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = uid('counts');
    await ch.assertQueue(q, { durable: true, arguments: { 'x-max-length': 100 } });
    for (let i = 0; i < 5; i++) ch.sendToQueue(q, Buffer.from(`m${i}`), { persistent: true });
    await eventually(async () => (await getQueue(q)).messages_ready === 5, 'five ready');

    const idle = await getQueue(q);
    expect(idle).toMatchObject({
      name: q,
      vhost: '/',
      durable: true,
      auto_delete: false,
      exclusive: false,
      arguments: { 'x-max-length': 100 },
      messages: 5,
      messages_ready: 5,
      messages_unacknowledged: 0,
      consumers: 0,
    });
    expect(idle.message_stats.publish).toBe(5);

    const cch = await channel(conn);
    await cch.prefetch(2);
    const held: ConsumeMessage[] = [];
    await cch.consume(q, (m) => m && held.push(m), { noAck: false });
    await eventually(async () => held.length === 2, 'two deliveries');
    const busy = await eventually(async () => {
      const x = await getQueue(q);
      return x.messages_unacknowledged === 2 ? x : null;
    }, 'two unacked');
    expect(busy).toMatchObject({ messages: 5, messages_ready: 3, messages_unacknowledged: 2, consumers: 1 });

    cch.ack(held[0]!);
    const later = await eventually(async () => {
      const x = await getQueue(q);
      return x.messages === 4 ? x : null;
    }, 'one acked');
    expect(later.messages_ready + later.messages_unacknowledged).toBe(4);
    expect(later.message_stats.ack).toBeGreaterThanOrEqual(1);
    expect(later.message_stats.deliver_get).toBeGreaterThanOrEqual(2);
    await ch.deleteQueue(q);
  });

  it('GET of a queue that does not exist is 404', async () => {
    const r = await api('GET', `/api/queues/%2F/${uid('nope')}`);
    expect(r.status).toBe(404);
    expect((await api('GET', `/api/queues/${uid('novhost')}`)).status).toBe(404);
  });
});

// ---------------------------------------------------------------- declaring through the API

describe('queues, exchanges and bindings', () => {
  it('a queue PUT through the API is seen by amqplib checkQueue, with its durable flag', async () => {
    const dq = uid('api-durable');
    const tq = uid('api-transient');
    const r1 = await api('PUT', `/api/queues/%2F/${enc(dq)}`, { body: { durable: true, auto_delete: false, arguments: {} } });
    expect(r1.status, r1.text).toBe(201);
    const r2 = await api('PUT', `/api/queues/%2F/${enc(tq)}`, { body: { durable: false, auto_delete: false, arguments: {} } });
    expect(r2.status, r2.text).toBe(201);
    // Declaring it again identically is fine.
    expect((await api('PUT', `/api/queues/%2F/${enc(dq)}`, { body: { durable: true } })).status).toBe(204);

    const conn = await connect();
    const ch = await channel(conn);
    const ok = await ch.checkQueue(dq);
    expect(ok).toMatchObject({ queue: dq, messageCount: 0, consumerCount: 0 });
    await ch.checkQueue(tq);
    // Equivalent redeclarations succeed; an inequivalent durable flag is 406 PRECONDITION_FAILED.
    await ch.assertQueue(dq, { durable: true });
    await ch.assertQueue(tq, { durable: false });
    const ch2 = await channel(conn);
    const err = await ch2.assertQueue(dq, { durable: false }).then(() => null, (e: Error & { code?: number }) => e);
    expect(err?.code).toBe(406);
    expect(err?.message).toMatch(/durable/);

    expect((await getQueue(dq)).durable).toBe(true);
    expect((await getQueue(tq)).durable).toBe(false);
    await ch.deleteQueue(dq);
    await ch.deleteQueue(tq);
  });

  it('a second management server in the process checks request bodies as the first does (validators are shared)', async () => {
    const other = await startBroker({ managementPort: -1, logLevel: 'silent' });
    try {
      const api2 = apiClient(`http://127.0.0.1:${other.managementPort}`);
      for (const a of [api, api2, api]) {
        const bad = await a('PUT', `/api/queues/%2F/${enc(uid('bad-body'))}`, { body: { durable: 'yes' } });
        expect([bad.status, bad.json]).toEqual([400, { error: 'bad_request', reason: 'body/durable must be boolean' }]);
        const get = await a('POST', '/api/queues/%2F/no-such-q/get', { body: { count: 0, ackmode: 'ack_requeue_true', encoding: 'auto' } });
        expect([get.status, get.json]).toEqual([400, { error: 'bad_request', reason: 'body/count must be >= 1' }]);
      }
      const name = uid('good-body');
      expect((await api2('PUT', `/api/queues/%2F/${enc(name)}`, { body: { durable: true } })).status).toBe(201);
    } finally {
      await other.close();
    }
  });

  it('PUT of a queue named amq.* is refused', async () => {
    const r = await api('PUT', `/api/queues/%2F/${enc('amq.' + uid('x'))}`, { body: { durable: false } });
    expect(r.status).toBeGreaterThanOrEqual(400);
    expect(r.status).toBeLessThan(500);
  });

  it('amqplib-declared queue, exchange and binding show up in /api/queues, /api/exchanges, /api/bindings', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = uid('vis-q');
    const ex = uid('vis-ex');
    await ch.assertExchange(ex, 'topic', { durable: true, autoDelete: false, arguments: { 'alternate-exchange': 'amq.fanout' } });
    await ch.assertQueue(q, { durable: false, autoDelete: true, arguments: { 'x-message-ttl': 60000 } });
    await ch.bindQueue(q, ex, 'a.*.c', { 'x-note': 'n' });

    const queues = await api('GET', '/api/queues');
    expect(queues.status).toBe(200);
    const qv = (queues.json as any[]).find((x) => x.name === q);
    expect(qv).toMatchObject({ name: q, vhost: '/', durable: false, auto_delete: true, arguments: { 'x-message-ttl': 60000 } });
    expect(((await api('GET', '/api/queues/%2F')).json as any[]).some((x) => x.name === q)).toBe(true);

    const exchanges = await api('GET', '/api/exchanges');
    const ev = (exchanges.json as any[]).find((x) => x.name === ex);
    expect(ev).toMatchObject({ name: ex, vhost: '/', type: 'topic', durable: true, auto_delete: false, internal: false, arguments: { 'alternate-exchange': 'amq.fanout' } });
    // The standard exchanges are there too.
    const names = (exchanges.json as any[]).filter((x) => x.vhost === '/').map((x) => x.name);
    for (const std of ['amq.direct', 'amq.fanout', 'amq.topic', 'amq.headers']) expect(names).toContain(std);
    const single = await api('GET', `/api/exchanges/%2F/${enc(ex)}`);
    expect(single.status).toBe(200);
    expect(single.json.type).toBe('topic');

    const bindings = await api('GET', '/api/bindings');
    const bv = (bindings.json as any[]).find((b) => b.source === ex && b.destination === q);
    expect(bv).toMatchObject({ source: ex, vhost: '/', destination: q, destination_type: 'queue', routing_key: 'a.*.c', arguments: { 'x-note': 'n' } });
    expect(typeof bv.properties_key).toBe('string');
    // RabbitMQ also lists the implicit default-exchange binding of every queue.
    const byVhost = await api('GET', '/api/bindings/%2F');
    expect((byVhost.json as any[]).some((b) => b.source === ex && b.destination === q)).toBe(true);
    const between = await api('GET', `/api/bindings/%2F/e/${enc(ex)}/q/${enc(q)}`);
    expect(between.status).toBe(200);
    expect(between.json).toHaveLength(1);
    expect(between.json[0].routing_key).toBe('a.*.c');

    await ch.deleteQueue(q);
    await ch.deleteExchange(ex);
  });

  it('a binding POSTed through the API routes amqplib publishes; DELETE by properties_key unbinds', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const ex = uid('bind-ex');
    const q = uid('bind-q');
    await ch.assertExchange(ex, 'direct', { durable: false });
    await ch.assertQueue(q, { durable: false });

    const post = await api('POST', `/api/bindings/%2F/e/${enc(ex)}/q/${enc(q)}`, { body: { routing_key: 'rk.one', arguments: {} } });
    expect(post.status, post.text).toBe(201);
    expect(post.headers.get('location') ?? '').toContain('rk.one');

    ch.publish(ex, 'rk.one', Buffer.from('through-api-binding'));
    ch.publish(ex, 'other', Buffer.from('not routed'));
    const m = await eventually(async () => ch.get(q, { noAck: true }), 'routed message');
    expect(m && m.content.toString()).toBe('through-api-binding');
    expect(m && m.fields.exchange).toBe(ex);
    expect(m && m.fields.routingKey).toBe('rk.one');
    await sleep(50);
    expect(await ch.get(q, { noAck: true })).toBe(false);

    const list = await api('GET', `/api/bindings/%2F/e/${enc(ex)}/q/${enc(q)}`);
    expect(list.json).toHaveLength(1);
    const key = list.json[0].properties_key as string;
    expect(key).toBe('rk.one');

    const del = await api('DELETE', `/api/bindings/%2F/e/${enc(ex)}/q/${enc(q)}/${enc(key)}`);
    expect(del.status, del.text).toBe(204);
    expect((await api('GET', `/api/bindings/%2F/e/${enc(ex)}/q/${enc(q)}`)).json).toHaveLength(0);
    expect((await api('DELETE', `/api/bindings/%2F/e/${enc(ex)}/q/${enc(q)}/${enc(key)}`)).status).toBe(404);

    ch.publish(ex, 'rk.one', Buffer.from('after unbind'));
    await sleep(100);
    expect(await ch.get(q, { noAck: true })).toBe(false);

    // An empty routing key gets the properties key '~'.
    expect((await api('POST', `/api/bindings/%2F/e/${enc(ex)}/q/${enc(q)}`, { body: {} })).status).toBe(201);
    const empty = await api('GET', `/api/bindings/%2F/e/${enc(ex)}/q/${enc(q)}`);
    expect(empty.json[0]).toMatchObject({ routing_key: '', properties_key: '~' });
    expect((await api('DELETE', `/api/bindings/%2F/e/${enc(ex)}/q/${enc(q)}/~`)).status).toBe(204);

    await ch.deleteQueue(q);
    await ch.deleteExchange(ex);
  });

  it('an exchange PUT through the API is usable from amqplib; DELETE removes it', async () => {
    const ex = uid('api-ex');
    const put = await api('PUT', `/api/exchanges/%2F/${enc(ex)}`, { body: { type: 'fanout', durable: false, auto_delete: false, internal: false, arguments: {} } });
    expect(put.status, put.text).toBe(201);
    const conn = await connect();
    const ch = await channel(conn);
    await ch.checkExchange(ex);
    const ch2 = await channel(conn);
    const err = await ch2.assertExchange(ex, 'direct', { durable: false }).then(() => null, (e: Error & { code?: number }) => e);
    expect(err?.code).toBe(406);
    expect((await api('DELETE', `/api/exchanges/%2F/${enc(ex)}`)).status).toBe(204);
    const ch3 = await channel(conn);
    const gone = await ch3.checkExchange(ex).then(() => null, (e: Error & { code?: number }) => e);
    expect(gone?.code).toBe(404);
  });
});

// ---------------------------------------------------------------- publish and get

describe('publishing and getting through the API', () => {
  it('POST /api/exchanges/%2F/amq.default/publish routes, with properties amqplib sees', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = uid('pub');
    await ch.assertQueue(q, { durable: true });

    const r = await api('POST', '/api/exchanges/%2F/amq.default/publish', {
      body: {
        routing_key: q,
        payload: 'hello from http',
        payload_encoding: 'string',
        properties: { content_type: 'text/plain', headers: { 'x-trace': 'abc', n: 42 }, delivery_mode: 2, correlation_id: 'corr-1', priority: 3 },
      },
    });
    expect(r.status, r.text).toBe(200);
    expect(r.json).toEqual({ routed: true });

    const m = await ch.get(q, { noAck: true });
    expect(m).not.toBe(false);
    if (!m) return;
    expect(m.content.toString()).toBe('hello from http');
    expect(m.fields.exchange).toBe('');
    expect(m.fields.routingKey).toBe(q);
    expect(m.properties.contentType).toBe('text/plain');
    expect(m.properties.deliveryMode).toBe(2);
    expect(m.properties.correlationId).toBe('corr-1');
    expect(m.properties.priority).toBe(3);
    expect(m.properties.headers).toMatchObject({ 'x-trace': 'abc', n: 42 });

    const unrouted = await api('POST', '/api/exchanges/%2F/amq.default/publish', {
      body: { routing_key: uid('nowhere'), payload: 'x', payload_encoding: 'string', properties: {} },
    });
    expect(unrouted.status).toBe(200);
    expect(unrouted.json).toEqual({ routed: false });

    const b64 = await api('POST', '/api/exchanges/%2F/amq.default/publish', {
      body: { routing_key: q, payload: Buffer.from([0, 1, 2, 255]).toString('base64'), payload_encoding: 'base64', properties: {} },
    });
    expect(b64.json).toEqual({ routed: true });
    const bin = await ch.get(q, { noAck: true });
    expect(bin && [...bin.content]).toEqual([0, 1, 2, 255]);

    // A user_id that is not the user's: refused as over AMQP (3.10.8's answer).
    const impostor = await api('POST', '/api/exchanges/%2F/amq.default/publish', { body: { routing_key: q, payload: 'x', payload_encoding: 'string', properties: { user_id: 'someone' } } });
    expect(impostor.json).toEqual({ error: 'bad_request', reason: "406 PRECONDITION_FAILED - user_id property set to 'someone' but authenticated user was 'guest'" });
    expect((await ch.checkQueue(q)).messageCount).toBe(0);

    // RabbitMQ 3.10.8: 400 {"error":"bad_request","reason":"404 NOT_FOUND - no exchange 'X' in vhost '/'"}.
    const noex = uid('noex');
    const missing = await api('POST', `/api/exchanges/%2F/${noex}/publish`, { body: { routing_key: 'x', payload: 'x', payload_encoding: 'string', properties: {} } });
    expect(missing.status).toBe(400);
    expect(missing.json).toEqual({ error: 'bad_request', reason: `404 NOT_FOUND - no exchange '${noex}' in vhost '/'` });
    await ch.deleteQueue(q);
  });

  it('POST /api/queues/%2F/<q>/get: ack_requeue_true leaves the message (redelivered), ack_requeue_false removes it', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = uid('get');
    await ch.assertQueue(q, { durable: false });
    ch.sendToQueue(q, Buffer.from('first'), { contentType: 'application/json', headers: { h: 'v' } });
    ch.sendToQueue(q, Buffer.from('second'));
    await eventually(async () => (await getQueue(q)).messages_ready === 2, 'two ready');

    const peek = await api('POST', `/api/queues/%2F/${enc(q)}/get`, { body: { count: 1, ackmode: 'ack_requeue_true', encoding: 'auto', truncate: 50000 } });
    expect(peek.status, peek.text).toBe(200);
    expect(peek.json).toHaveLength(1);
    expect(peek.json[0]).toMatchObject({
      payload: 'first',
      payload_encoding: 'string',
      payload_bytes: 5,
      redelivered: false,
      exchange: '',
      routing_key: q,
      message_count: 1,
      properties: { content_type: 'application/json', headers: { h: 'v' } },
    });
    const afterPeek = await getQueue(q);
    expect(afterPeek).toMatchObject({ messages: 2, messages_ready: 2, messages_unacknowledged: 0 });

    // amqplib sees it again, now flagged redelivered, still first in line.
    const again = await ch.get(q, { noAck: false });
    expect(again && again.content.toString()).toBe('first');
    expect(again && again.fields.redelivered).toBe(true);
    if (again) ch.nack(again, false, true);
    await eventually(async () => (await getQueue(q)).messages_ready === 2, 'nacked back');

    const take = await api('POST', `/api/queues/%2F/${enc(q)}/get`, { body: { count: 5, ackmode: 'ack_requeue_false', encoding: 'auto' } });
    expect(take.status, take.text).toBe(200);
    expect(take.json.map((m: any) => m.payload)).toEqual(['first', 'second']);
    expect(take.json[0].redelivered).toBe(true);
    expect(await getQueue(q)).toMatchObject({ messages: 0, messages_ready: 0, messages_unacknowledged: 0 });
    expect(await ch.get(q, { noAck: true })).toBe(false);

    // Empty queue: an empty list.
    const none = await api('POST', `/api/queues/%2F/${enc(q)}/get`, { body: { count: 1, ackmode: 'ack_requeue_false', encoding: 'auto' } });
    expect(none.json).toEqual([]);

    // A monitoring user may not take messages (RabbitMQ needs a management user with read access).
    await ch.deleteQueue(q);
  });

  it('DELETE /api/queues/%2F/<q>/contents purges; DELETE with if-empty on a non-empty queue is 400', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = uid('purge');
    await ch.assertQueue(q, { durable: true });
    for (let i = 0; i < 4; i++) ch.sendToQueue(q, Buffer.from(`m${i}`), { persistent: true });
    await eventually(async () => (await getQueue(q)).messages_ready === 4, 'four ready');

    const refused = await api('DELETE', `/api/queues/%2F/${enc(q)}?if-empty=true`);
    expect(refused.status).toBe(400);
    expect(refused.json).toHaveProperty('reason');
    expect((await getQueue(q)).messages).toBe(4);

    const purge = await api('DELETE', `/api/queues/%2F/${enc(q)}/contents`);
    expect(purge.status, purge.text).toBe(204);
    expect(await getQueue(q)).toMatchObject({ messages: 0, messages_ready: 0 });
    expect((await ch.checkQueue(q)).messageCount).toBe(0);

    // if-unused with a consumer is refused too.
    const cch = await channel(conn);
    await cch.consume(q, () => undefined);
    await eventually(async () => (await getQueue(q)).consumers === 1, 'consumer registered');
    expect((await api('DELETE', `/api/queues/%2F/${enc(q)}?if-unused=true`)).status).toBe(400);
    await cch.close();

    const del = await api('DELETE', `/api/queues/%2F/${enc(q)}?if-empty=true`);
    expect(del.status, del.text).toBe(204);
    expect((await api('GET', `/api/queues/%2F/${enc(q)}`)).status).toBe(404);
    const ch2 = await channel(conn);
    const err = await ch2.checkQueue(q).then(() => null, (e: Error & { code?: number }) => e);
    expect(err?.code).toBe(404);
  });
});

// ---------------------------------------------------------------- connections, channels, consumers

describe('connections, channels and consumers', () => {
  it('/api/connections lists the amqplib connection; DELETE closes it with 320', async () => {
    const label = uid('conn-label');
    const conn = await connect({ clientProperties: { connection_name: label } });
    await channel(conn);
    const list = await eventually(async () => {
      const r = await api('GET', '/api/connections');
      return (r.json as any[]).find((c) => c.client_properties?.connection_name === label);
    }, 'connection listed');
    expect(list).toMatchObject({ user: 'guest', vhost: '/', protocol: 'AMQP 0-9-1', state: 'running', channels: 1 });
    expect(list.client_properties.product).toBe('amqplib');
    expect(list.client_properties.capabilities).toMatchObject({ publisher_confirms: true });
    expect(typeof list.name).toBe('string');
    expect(list.name).toMatch(/^127\.0\.0\.1:\d+ -> 127\.0\.0\.1:\d+$/);
    expect(list.peer_host).toBe('127.0.0.1');
    expect(list.port).toBe(broker.port);

    const one = await api('GET', `/api/connections/${enc(list.name)}`);
    expect(one.status).toBe(200);
    expect(one.json.name).toBe(list.name);

    const closed = connectionClosed(conn);
    const del = await api('DELETE', `/api/connections/${enc(list.name)}`, { headers: { 'X-Reason': 'test says bye' } });
    expect(del.status, del.text).toBe(204);
    const err = await withTimeout(closed, 5000, 'amqplib connection close');
    expect(err?.code).toBe(320);
    expect(err?.message).toMatch(/CONNECTION_FORCED/);
    expect(err?.message).toMatch(/test says bye/);

    await eventually(async () => {
      const r = await api('GET', '/api/connections');
      return !(r.json as any[]).some((c) => c.name === list.name);
    }, 'connection gone from the list');
    expect((await api('GET', `/api/connections/${enc(list.name)}`)).status).toBe(404);
  });

  it('/api/channels and /api/consumers show a consumer', async () => {
    const label = uid('cons-label');
    const conn = await connect({ clientProperties: { connection_name: label } });
    const ch = await channel(conn);
    await ch.prefetch(7);
    const q = uid('cons-q');
    await ch.assertQueue(q, { durable: false });
    const { consumerTag } = await ch.consume(q, () => undefined, { noAck: false, priority: 5 });

    const connName = (await eventually(async () => {
      const r = await api('GET', '/api/connections');
      return (r.json as any[]).find((c) => c.client_properties?.connection_name === label);
    }, 'connection listed')).name as string;

    const channels = await api('GET', '/api/channels');
    expect(channels.status).toBe(200);
    const chv = (channels.json as any[]).find((c) => c.connection_details?.name === connName);
    expect(chv).toMatchObject({ number: 1, user: 'guest', vhost: '/', consumer_count: 1, prefetch_count: 7, messages_unacknowledged: 0, confirm: false, transactional: false });
    expect(chv.name).toBe(`${connName} (1)`);

    const consumers = await api('GET', '/api/consumers');
    expect(consumers.status).toBe(200);
    const cv = (consumers.json as any[]).find((c) => c.consumer_tag === consumerTag);
    expect(cv).toMatchObject({
      consumer_tag: consumerTag,
      queue: { name: q, vhost: '/' },
      ack_required: true,
      exclusive: false,
      prefetch_count: 7,
      arguments: { 'x-priority': 5 },
    });
    // 3.10.8's keys (compared on the same traffic): the node and the client's address too.
    expect(Object.keys(cv.channel_details)).toEqual(['connection_name', 'name', 'node', 'number', 'peer_host', 'peer_port', 'user']);
    expect(cv.channel_details).toMatchObject({ number: 1, connection_name: connName, user: 'guest', name: `${connName} (1)`, peer_host: '127.0.0.1' });
    expect(cv.channel_details.peer_port).toBe(Number(connName.split(' -> ')[0]!.split(':').pop()));
    expect((await getQueue(q)).consumers).toBe(1);

    await ch.cancel(consumerTag);
    await eventually(async () => !((await api('GET', '/api/consumers')).json as any[]).some((c) => c.consumer_tag === consumerTag), 'consumer gone');
    await ch.deleteQueue(q);
  });
});

// ---------------------------------------------------------------- vhosts, users, permissions

describe('vhosts, users and permissions CRUD', () => {
  it('vhosts: create, list, get, delete', async () => {
    const vh = uid('vh');
    const put = await api('PUT', `/api/vhosts/${enc(vh)}`, { body: { description: 'for tests' } });
    expect(put.status, put.text).toBe(201);
    expect((await api('PUT', `/api/vhosts/${enc(vh)}`)).status).toBe(204);
    const list = await api('GET', '/api/vhosts');
    const names = (list.json as any[]).map((v) => v.name);
    expect(names).toContain('/');
    expect(names).toContain(vh);
    const one = await api('GET', `/api/vhosts/${enc(vh)}`);
    expect(one.status).toBe(200);
    expect(one.json).toMatchObject({ name: vh, description: 'for tests', messages: 0, messages_ready: 0, messages_unacknowledged: 0 });

    // A queue in the new vhost through the API is listed under that vhost only.
    const q = uid('vhq');
    expect((await api('PUT', `/api/queues/${enc(vh)}/${enc(q)}`, { body: { durable: true } })).status).toBe(201);
    expect(((await api('GET', `/api/queues/${enc(vh)}`)).json as any[]).map((x) => x.name)).toEqual([q]);
    expect((await api('GET', `/api/queues/%2F/${enc(q)}`)).status).toBe(404);

    const del = await api('DELETE', `/api/vhosts/${enc(vh)}`);
    expect(del.status).toBe(204);
    expect((await api('GET', `/api/vhosts/${enc(vh)}`)).status).toBe(404);
    expect((await api('GET', `/api/queues/${enc(vh)}/${enc(q)}`)).status).toBe(404);
    expect((await api('DELETE', `/api/vhosts/${enc(vh)}`)).status).toBe(404);
  });

  it('users: create with tags, update, list without plain passwords, delete', async () => {
    const u = uid('user');
    const put = await api('PUT', `/api/users/${enc(u)}`, { body: { password: 's3cret-pw', tags: 'management,policymaker' } });
    expect(put.status, put.text).toBe(201);
    const got = await api('GET', `/api/users/${enc(u)}`);
    expect(got.status).toBe(200);
    expect(got.json.name).toBe(u);
    expect([...got.json.tags].sort()).toEqual(['management', 'policymaker']);
    expect(got.json.hashing_algorithm).toBe('rabbit_password_hashing_sha256');
    expect(got.json).not.toHaveProperty('password');
    expect(JSON.stringify(got.json)).not.toContain('s3cret-pw');
    // The hash is RabbitMQ's: base64(salt ++ sha256(salt ++ password)).
    const raw = Buffer.from(got.json.password_hash, 'base64');
    expect(raw.length).toBe(36);
    expect(rabbitPasswordHash('s3cret-pw', raw.subarray(0, 4))).toBe(got.json.password_hash);

    // Tags only: the password stays.
    expect((await api('PUT', `/api/users/${enc(u)}`, { body: { tags: ['administrator'] } })).status).toBe(204);
    const updated = await api('GET', `/api/users/${enc(u)}`);
    expect(updated.json.tags).toEqual(['administrator']);
    expect(updated.json.password_hash).toBe(got.json.password_hash);
    expect((await api('GET', '/api/whoami', { auth: [u, 's3cret-pw'] })).json).toMatchObject({ name: u });

    const list = await api('GET', '/api/users');
    expect((list.json as any[]).map((x) => x.name)).toEqual(expect.arrayContaining(['guest', u]));
    for (const x of list.json as any[]) expect(x).not.toHaveProperty('password');

    // Without tags it is a bad request (3.10.8's tags_not_present); without a password it is a
    // user who cannot log in with one (see 'bodies as RabbitMQ 3.10.8 takes them').
    expect((await api('PUT', `/api/users/${enc(uid('notags'))}`, { body: { password: 'pw' } })).status).toBe(400);

    expect((await api('DELETE', `/api/users/${enc(u)}`)).status).toBe(204);
    expect((await api('GET', `/api/users/${enc(u)}`)).status).toBe(404);
    expect((await api('GET', '/api/overview', { auth: [u, 's3cret-pw'] })).status).toBe(401);
  });

  it('permissions: set, get, list, delete; they gate AMQP access to the vhost', async () => {
    const u = uid('perm-user');
    const vh = uid('perm-vh');
    expect((await api('PUT', `/api/users/${enc(u)}`, { body: { password: 'pw', tags: '' } })).status).toBe(201);
    expect((await api('PUT', `/api/vhosts/${enc(vh)}`)).status).toBe(201);

    const set = await api('PUT', `/api/permissions/${enc(vh)}/${enc(u)}`, { body: { configure: '^cfg-.*', write: '.*', read: '' } });
    expect([201, 204]).toContain(set.status);
    const got = await api('GET', `/api/permissions/${enc(vh)}/${enc(u)}`);
    expect(got.status).toBe(200);
    expect(got.json).toMatchObject({ user: u, vhost: vh, configure: '^cfg-.*', write: '.*', read: '' });
    const all = await api('GET', '/api/permissions');
    expect((all.json as any[]).some((p) => p.user === u && p.vhost === vh)).toBe(true);
    // guest's default permission on '/'.
    expect((all.json as any[]).find((p) => p.user === 'guest' && p.vhost === '/')).toMatchObject({ configure: '.*', write: '.*', read: '.*' });

    const conn = await connect({ user: u, pass: 'pw', vhost: vh });
    await conn.close();

    // Bad regex → 400; unknown vhost or user → 404 (RabbitMQ: 'Not Found' / bad request).
    expect((await api('PUT', `/api/permissions/${enc(vh)}/${enc(u)}`, { body: { configure: '(', write: '', read: '' } })).status).toBe(400);
    expect((await api('PUT', `/api/permissions/${enc(uid('novh'))}/${enc(u)}`, { body: { configure: '', write: '', read: '' } })).status).toBeGreaterThanOrEqual(400);

    expect((await api('DELETE', `/api/permissions/${enc(vh)}/${enc(u)}`)).status).toBe(204);
    expect((await api('GET', `/api/permissions/${enc(vh)}/${enc(u)}`)).status).toBe(404);
    const refused = await amqp
      .connect({ protocol: 'amqp', hostname: '127.0.0.1', port: broker.port, username: u, password: 'pw', vhost: vh })
      .then((c) => c.close().then(() => null), (e: Error) => e);
    expect(refused).toBeInstanceOf(Error);

    await api('DELETE', `/api/vhosts/${enc(vh)}`);
    await api('DELETE', `/api/users/${enc(u)}`);
  });

  it('GET /api/vhosts/<vhost>/permissions and /api/users/<user>/permissions list per vhost / per user', async () => {
    const u = uid('perm-list');
    const vh = uid('perm-list-vh');
    await api('PUT', `/api/users/${enc(u)}`, { body: { password: 'pw', tags: '' } });
    await api('PUT', `/api/vhosts/${enc(vh)}`);
    await api('PUT', `/api/permissions/${enc(vh)}/${enc(u)}`, { body: { configure: '.*', write: '.*', read: '.*' } });

    const byVhost = await api('GET', `/api/vhosts/${enc(vh)}/permissions`);
    expect(byVhost.status, byVhost.text).toBe(200);
    // guest created the vhost through the API, which gives it full permissions there (RabbitMQ does).
    expect(byVhost.json).toEqual([
      { user: 'guest', vhost: vh, configure: '.*', write: '.*', read: '.*' },
      { user: u, vhost: vh, configure: '.*', write: '.*', read: '.*' },
    ]);
    const byUser = await api('GET', `/api/users/${enc(u)}/permissions`);
    expect(byUser.status, byUser.text).toBe(200);
    expect(byUser.json).toEqual([{ user: u, vhost: vh, configure: '.*', write: '.*', read: '.*' }]);

    // Deleting the user removes its permissions.
    await api('DELETE', `/api/users/${enc(u)}`);
    expect(((await api('GET', '/api/permissions')).json as any[]).some((p) => p.user === u)).toBe(false);
    await api('DELETE', `/api/vhosts/${enc(vh)}`);
  });
});

// ---------------------------------------------------------------- definitions

describe('bodies as RabbitMQ 3.10.8 takes them', () => {
  it('an empty JSON body is an empty object (its docs\' curl examples send none); missing keys are named as it names them', async () => {
    const vh = uid('eb');
    // content-type JSON and no body at all, as `curl -H "content-type:application/json" -X PUT …`.
    const bare = (method: string, path: string) => api(method, path, { headers: { 'content-type': 'application/json' } });
    const reason = (r: { status: number; json: any }) => [r.status, r.json?.reason];
    try {
      expect((await bare('PUT', `/api/vhosts/${enc(vh)}`)).status).toBe(201);
      // An exchange whose body names no type is a transient direct one.
      expect((await bare('PUT', `/api/exchanges/${enc(vh)}/x1`)).status).toBe(201);
      expect((await api('GET', `/api/exchanges/${enc(vh)}/x1`)).json).toMatchObject({ type: 'direct', durable: false, auto_delete: false, internal: false });
      expect((await bare('PUT', `/api/queues/${enc(vh)}/q1`)).status).toBe(201);
      // No content-type either: the same (3.10.8).
      expect((await api('PUT', `/api/queues/${enc(vh)}/q0`)).status).toBe(201);
      expect((await api('PUT', `/api/exchanges/${enc(vh)}/x0`)).status).toBe(201);
      expect((await bare('POST', `/api/bindings/${enc(vh)}/e/x1/q/q1`)).status).toBe(201);
      expect(reason(await api('PUT', `/api/exchanges/${enc(vh)}/x2`, { body: { type: 'topics' } }))).toEqual([400, "unknown exchange type 'topics'"]);
      expect(reason(await api('PUT', `/api/exchanges/${enc(vh)}/x3`, { body: { type: 'x-bogus' } }))).toEqual([400, "unknown exchange type 'x-bogus'"]);
      expect(reason(await api('PUT', `/api/exchanges/${enc(vh)}/x4`, { body: { type: '' } }))).toEqual([400, "invalid exchange type ''"]);
      // Every missing key named, in RabbitMQ's order; past 78 characters one a line (Erlang's ~p).
      expect(reason(await bare('PUT', `/api/permissions/${enc(vh)}/guest`))).toEqual([400, '[{key_missing,configure},{key_missing,write},{key_missing,read}]']);
      expect(reason(await api('PUT', `/api/permissions/${enc(vh)}/guest`, { body: { configure: '.*' } }))).toEqual([400, '[{key_missing,write},{key_missing,read}]']);
      expect(reason(await bare('POST', `/api/exchanges/${enc(vh)}/x1/publish`))).toEqual([
        400,
        '[{key_missing,routing_key},\n {key_missing,properties},\n {key_missing,payload},\n {key_missing,payload_encoding}]',
      ]);
      expect(reason(await api('POST', `/api/exchanges/${enc(vh)}/x1/publish`, { body: { routing_key: 'q1', properties: {}, payload: 'x' } }))).toEqual([400, '[{key_missing,payload_encoding}]']);
      expect(reason(await bare('PUT', `/api/policies/${enc(vh)}/p1`))).toEqual([400, '[{key_missing,pattern},{key_missing,definition}]']);
      expect(reason(await bare('PUT', `/api/parameters/x/${enc(vh)}/p1`))).toEqual([400, '[{key_missing,value}]']);
      // Users: the tags every time; without a password a new user cannot log in with one.
      const u = uid('eb-user');
      expect(reason(await api('PUT', `/api/users/${enc(u)}`, { body: { password: 'pw' } }))).toEqual([400, 'tags_not_present']);
      expect((await api('PUT', `/api/users/${enc(u)}`, { body: { tags: 'management' } })).status).toBe(201);
      expect((await api('GET', '/api/whoami', { auth: [u, ''] })).status).toBe(401);
      // A hash as any user's (of a password nobody is told), so an export of it imports anywhere.
      expect((await api('GET', `/api/users/${enc(u)}`)).json.password_hash).toMatch(/^[A-Za-z0-9+/]{46}[A-Za-z0-9+/=]{2}$/);
      expect((await api('PUT', `/api/users/${enc(u)}`, { body: { password: 'pw', tags: 'management' } })).status).toBe(204);
      expect((await api('GET', '/api/whoami', { auth: [u, 'pw'] })).status).toBe(200);
      expect((await api('DELETE', `/api/users/${enc(u)}`)).status).toBe(204);
      // The reserved names: the channel's ACCESS_REFUSED becomes 401 "Access refused." (3.10.8).
      const refused = [401, 'Access refused.'];
      expect(reason(await api('PUT', `/api/queues/${enc(vh)}/amq.q`, { body: {} }))).toEqual(refused);
      expect(reason(await api('PUT', `/api/exchanges/${enc(vh)}/amq.x`, { body: { type: 'direct' } }))).toEqual(refused);
      expect(reason(await api('DELETE', `/api/exchanges/${enc(vh)}/amq.direct`))).toEqual(refused);
      expect(reason(await api('DELETE', `/api/exchanges/${enc(vh)}/amq.default`))).toEqual(refused);
      expect(reason(await api('POST', `/api/bindings/${enc(vh)}/e/amq.default/q/q1`, { body: {} }))).toEqual(refused);
      // A binding's missing end is named, the source first; listing between missing ends is [].
      expect(reason(await api('POST', `/api/bindings/${enc(vh)}/e/x1/q/nope`, { body: {} }))).toEqual([404, `no queue 'nope' in vhost '${vh}'`]);
      expect(reason(await api('POST', `/api/bindings/${enc(vh)}/e/nope/q/nope2`, { body: {} }))).toEqual([404, `no exchange 'nope' in vhost '${vh}'`]);
      const none = await api('GET', `/api/bindings/${enc(vh)}/e/nope/q/q1`);
      expect([none.status, none.json]).toEqual([200, []]);
      // Queue actions and their texts.
      expect(reason(await bare('POST', `/api/queues/${enc(vh)}/q1/get`))).toEqual([400, '[{key_missing,ackmode},{key_missing,count},{key_missing,encoding}]']);
      expect((await api('POST', `/api/queues/${enc(vh)}/q1/actions`, { body: { action: 'sync' } })).status).toBe(204);
      expect(reason(await api('POST', `/api/queues/${enc(vh)}/q1/actions`, { body: { action: 'bogus' } }))).toEqual([400, ['unknown', 'bogus']]);
      expect(reason(await bare('POST', `/api/queues/${enc(vh)}/q1/actions`))).toEqual([400, '[{key_missing,action}]']);
      await api('POST', `/api/exchanges/${enc(vh)}/amq.default/publish`, { body: { routing_key: 'q1', properties: {}, payload: 'x', payload_encoding: 'string' } });
      expect(reason(await api('DELETE', `/api/queues/${enc(vh)}/q1?if-empty=true`))).toEqual([400, `queue 'q1' in vhost '${vh}' not empty`]);
      expect(reason(await api('DELETE', `/api/exchanges/${enc(vh)}/x1?if-unused=true`))).toEqual([400, `exchange 'x1' in vhost '${vh}' in use`]);
      // A body that is there and not JSON stays not_json.
      expect(reason(await api('PUT', `/api/vhosts/${enc(vh)}`, { rawBody: '{' }))).toEqual([400, 'not_json']);
    } finally {
      await api('DELETE', `/api/vhosts/${enc(vh)}`);
    }
  });
  it('a connection the API closed is listed as closed until its socket goes (3.10.8: closed, not closing)', async () => {
    const r = await RawAmqp.connect(broker.port);
    try {
      await r.handshake();
      let name = '';
      await eventually(async () => {
        const list = (await api('GET', '/api/connections')).json as { name: string; peer_port: number; state: string }[];
        name = list.find((c) => c.peer_port === r.socket.localPort)?.name ?? '';
        return name !== '';
      }, 'the raw connection listed');
      expect((await api('DELETE', `/api/connections/${enc(name)}`)).status).toBe(204);
      await r.expectMethod(M.connectionClose);
      // It never answers close-ok: the broker waits for it, listing the connection meanwhile.
      const listed = (await api('GET', `/api/connections/${enc(name)}`)).json as { state: string };
      expect(listed.state).toBe('closed');
    } finally {
      r.destroy();
    }
  });

  it('any content type or none is read as JSON, but for the few resources 3.10.8 takes JSON only; definitions also come as a form', async () => {
    const vh = uid('ct');
    const u = uid('ct-user');
    const user = { password: 'pw', tags: '' };
    try {
      // No content type (php-amqplib's tests create users so, through Httpful), text/plain, a form.
      expect((await api('PUT', `/api/vhosts/${enc(vh)}`, { body: {}, contentType: null })).status).toBe(201);
      expect((await api('PUT', `/api/users/${enc(u)}`, { body: user, contentType: null })).status).toBe(201);
      expect((await api('PUT', `/api/users/${enc(u)}`, { body: user, contentType: 'text/plain' })).status).toBe(204);
      expect((await api('PUT', `/api/users/${enc(u)}`, { body: user, contentType: 'application/x-www-form-urlencoded' })).status).toBe(204);
      expect((await api('GET', '/api/whoami', { auth: [u, 'pw'] })).status).toBe(401); // no management tag: it did log in
      const notJson = await api('PUT', `/api/users/${enc(u)}`, { rawBody: 'password=x&tags=', contentType: 'application/x-www-form-urlencoded' });
      expect([notJson.status, notJson.json?.reason]).toEqual([400, 'not_json']);
      const published = await api('POST', `/api/exchanges/${enc(vh)}/amq.direct/publish`, {
        body: { properties: {}, routing_key: 'k', payload: 'p', payload_encoding: 'string' },
        contentType: 'text/plain',
      });
      expect([published.status, published.json]).toEqual([200, { routed: false }]);
      // JSON only: 415 with no body, whatever else (or nothing) comes.
      for (const contentType of ['text/plain', null]) {
        for (const path of [`/api/vhost-limits/${enc(vh)}/max-connections`, `/api/user-limits/${enc(u)}/max-channels`]) {
          const r = await api('PUT', path, { body: { value: 5 }, contentType });
          expect([path, r.status, r.text]).toEqual([path, 415, '']);
        }
        const op = await api('PUT', `/api/operator-policies/${enc(vh)}/op`, { body: { pattern: '.*', definition: { 'max-length': 5 } }, contentType });
        expect([op.status, op.text]).toEqual([415, '']);
        expect((await api('POST', `/api/definitions/${enc(vh)}`, { body: {}, contentType })).status).toBe(415);
      }
      expect((await api('PUT', `/api/vhost-limits/${enc(vh)}/max-connections`, { body: { value: 5 }, contentType: 'application/json; charset=utf-8' })).status).toBe(204);
      // Definitions as a form: the `file` part, and a 303 to its `redirect` part when there is one.
      const form = (parts: Record<string, string>) => {
        const f = new FormData();
        for (const [k, v] of Object.entries(parts)) f.append(k, k === 'file' ? new Blob([v], { type: 'application/json' }) : v);
        return f;
      };
      const upload = (parts: Record<string, string>, path = `/api/definitions/${enc(vh)}`) =>
        fetch(`${mgmtUrl}${path}`, { method: 'POST', headers: { authorization: basicAuth('guest', 'guest') }, body: form(parts), redirect: 'manual' });
      const defs = (q: string) => JSON.stringify({ queues: [{ name: q, durable: true, auto_delete: false, arguments: {} }] });
      expect((await upload({ file: defs('formq1') })).status).toBe(204);
      const redirected = await upload({ file: defs('formq2'), redirect: '../#/queues' });
      expect([redirected.status, redirected.headers.get('location')]).toEqual([303, '../#/queues']);
      expect((await api('GET', `/api/queues/${enc(vh)}`)).json.map((q: { name: string }) => q.name).sort()).toEqual(['formq1', 'formq2']);
      for (const parts of [{ other: defs('formq3') }, { file: '{' }]) {
        const r = await upload(parts);
        expect([r.status, await r.json()]).toEqual([400, { error: 'bad_request', reason: 'failed_to_parse_json' }]);
      }
      // A body that claims to be a form and is none: 400, no body (3.10.8).
      const garbage = await api('POST', `/api/definitions/${enc(vh)}`, { rawBody: 'garbage', contentType: 'multipart/form-data; boundary=xyz' });
      expect([garbage.status, garbage.text]).toEqual([400, '']);
    } finally {
      await api('DELETE', `/api/vhosts/${enc(vh)}`);
      await api('DELETE', `/api/users/${enc(u)}`);
    }
  });
});

describe('definitions', () => {
  it('imports a hand-written RabbitMQ definitions file, exports it back, and the objects work over AMQP', async () => {
    const vh = uid('defs-vh');
    const user = uid('defs-user');
    const user2 = uid('defs-user2');
    const password = 'imported-Pa55!';
    const hash = rabbitPasswordHash(password);
    const ex = uid('defs-ex');
    const q = uid('defs-q');
    const q2 = uid('defs-q2');
    const defs = {
      rabbit_version: '3.12.13',
      rabbitmq_version: '3.12.13',
      product_name: 'RabbitMQ',
      product_version: '3.12.13',
      users: [
        { name: user, password_hash: hash, hashing_algorithm: 'rabbit_password_hashing_sha256', tags: ['management'], limits: {} },
        // Older exports have tags as a comma-separated string.
        { name: user2, password_hash: rabbitPasswordHash('other'), hashing_algorithm: 'rabbit_password_hashing_sha256', tags: '' },
      ],
      vhosts: [{ name: vh, description: 'imported', metadata: { description: 'imported', tags: [] } }],
      permissions: [
        { user, vhost: vh, configure: '.*', write: '.*', read: '.*' },
        { user: user2, vhost: vh, configure: '', write: '', read: '.*' },
      ],
      topic_permissions: [],
      parameters: [],
      global_parameters: [{ name: 'cluster_name', value: 'rabbit@imported' }],
      policies: [],
      queues: [
        { name: q, vhost: vh, durable: true, auto_delete: false, arguments: { 'x-queue-type': 'classic', 'x-max-length': 1000 } },
        { name: q2, vhost: vh, durable: true, auto_delete: false, arguments: {} },
      ],
      exchanges: [{ name: ex, vhost: vh, type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} }],
      bindings: [
        { source: ex, vhost: vh, destination: q, destination_type: 'queue', routing_key: 'orders.#', arguments: {} },
        { source: ex, vhost: vh, destination: q2, destination_type: 'queue', routing_key: '*.eu', arguments: {} },
      ],
    };
    const post = await api('POST', '/api/definitions', { body: defs });
    expect(post.status, post.text).toBeGreaterThanOrEqual(200);
    expect(post.status, post.text).toBeLessThan(300);

    const exp = await api('GET', '/api/definitions');
    expect(exp.status).toBe(200);
    const d = exp.json;
    for (const k of ['rabbit_version', 'users', 'vhosts', 'permissions', 'queues', 'exchanges', 'bindings']) expect(d).toHaveProperty(k);
    expect(d.users.find((x: any) => x.name === user)).toMatchObject({ name: user, password_hash: hash, hashing_algorithm: 'rabbit_password_hashing_sha256', tags: ['management'] });
    expect(d.users.find((x: any) => x.name === user2)).toMatchObject({ name: user2, tags: [] });
    expect(d.vhosts.find((x: any) => x.name === vh)).toMatchObject({ name: vh });
    expect(d.permissions).toContainEqual({ user, vhost: vh, configure: '.*', write: '.*', read: '.*' });
    expect(d.permissions).toContainEqual({ user: user2, vhost: vh, configure: '', write: '', read: '.*' });
    expect(d.queues.find((x: any) => x.name === q)).toMatchObject({ name: q, vhost: vh, durable: true, auto_delete: false, arguments: { 'x-queue-type': 'classic', 'x-max-length': 1000 } });
    expect(d.exchanges.find((x: any) => x.name === ex)).toMatchObject({ name: ex, vhost: vh, type: 'topic', durable: true, auto_delete: false, internal: false, arguments: {} });
    expect(d.bindings).toContainEqual({ source: ex, vhost: vh, destination: q, destination_type: 'queue', routing_key: 'orders.#', arguments: {} });
    expect(d.bindings).toContainEqual({ source: ex, vhost: vh, destination: q2, destination_type: 'queue', routing_key: '*.eu', arguments: {} });
    // The built-in amq.* exchanges are not exported.
    expect(d.exchanges.some((x: any) => x.name.startsWith('amq.'))).toBe(false);

    // Importing the export again is a no-op merge.
    expect((await api('POST', '/api/definitions', { body: d })).status).toBeLessThan(300);

    // The imported user logs in with its password, and the imported bindings route.
    const conn = await connect({ user, pass: password, vhost: vh });
    const ch = await channel(conn);
    ch.publish(ex, 'orders.new.eu', Buffer.from('o1'));
    ch.publish(ex, 'orders.old', Buffer.from('o2'));
    ch.publish(ex, 'invoices.eu', Buffer.from('i1'));
    ch.publish(ex, 'nothing', Buffer.from('n'));
    // 'orders.#' takes orders.new.eu and orders.old; '*.eu' (exactly two words) only invoices.eu.
    await eventually(async () => (await ch.checkQueue(q)).messageCount === 2 && (await ch.checkQueue(q2)).messageCount === 1, 'routed');
    const inQ: string[] = [];
    for (;;) {
      const m = await ch.get(q, { noAck: true });
      if (!m) break;
      inQ.push(m.content.toString());
    }
    expect(inQ).toEqual(['o1', 'o2']);
    const inQ2: string[] = [];
    for (;;) {
      const m = await ch.get(q2, { noAck: true });
      if (!m) break;
      inQ2.push(m.content.toString());
    }
    expect(inQ2).toEqual(['i1']);
    await conn.close();

    // The user with read-only permissions may not publish (403 on the channel).
    const ro = await connect({ user: user2, pass: 'other', vhost: vh });
    const roCh = await channel(ro);
    const roErr = channelError(roCh);
    roCh.publish(ex, 'orders.x', Buffer.from('x'));
    expect((await withTimeout(roErr, 5000, 'read-only publish refused')).code).toBe(403);

    // A wrong password for the imported user is refused.
    const bad = await amqp
      .connect({ protocol: 'amqp', hostname: '127.0.0.1', port: broker.port, username: user, password: 'wrong', vhost: vh })
      .then((c) => c.close().then(() => null), (e: Error) => e);
    expect(bad).toBeInstanceOf(Error);
    expect(String(bad)).toMatch(/ACCESS_REFUSED|403/);

    await api('DELETE', `/api/vhosts/${enc(vh)}`);
    await api('DELETE', `/api/users/${enc(user)}`);
    await api('DELETE', `/api/users/${enc(user2)}`);
  });

  it('rejects definitions with an unknown hashing algorithm', async () => {
    const r = await api('POST', '/api/definitions', {
      body: { users: [{ name: uid('bad-algo'), password_hash: 'abc', hashing_algorithm: 'rabbit_password_hashing_nope', tags: [] }] },
    });
    expect(r.status).toBe(400);
  });
});

// ---------------------------------------------------------------- Prometheus

describe('/metrics', () => {
  it('is valid Prometheus exposition format and counts what amqplib does', async () => {
    const q = uid('metrics-q');
    const first = await metrics();
    expect(first.contentType).toMatch(/^text\/plain/);
    expect(first.contentType).toMatch(/version=0\.0\.4/);
    // Every sample belongs to a family declared with # TYPE (and # HELP).
    for (const s of first.parsed.samples) {
      const fam = familyOf(s.name, first.parsed.types);
      expect(fam, `sample ${s.name} has no # TYPE`).toBeDefined();
      expect(first.parsed.help.has(fam!), `family ${fam} has no # HELP`).toBe(true);
    }
    expect(first.parsed.types.get('warren_messages_published_total') ?? first.parsed.types.get('warren_messages_published')).toBe('counter');
    expect(first.parsed.types.get('warren_queue_messages_ready')).toBe('gauge');
    const published0 = sampleValue(first.parsed, 'warren_messages_published_total');
    expect(published0).toBeDefined();

    const conn = await connect();
    const ch = await channel(conn);
    await ch.assertQueue(q, { durable: false });
    for (let i = 0; i < 6; i++) ch.sendToQueue(q, Buffer.from(`m${i}`));
    await eventually(async () => (await getQueue(q)).messages_ready === 6, 'six ready');

    const second = await metrics();
    expect(sampleValue(second.parsed, 'warren_messages_published_total')! - published0!).toBe(6);
    expect(sampleValue(second.parsed, 'warren_queue_messages_ready', { vhost: '/', queue: q })).toBe(6);
    expect(sampleValue(second.parsed, 'warren_connections')).toBeGreaterThanOrEqual(1);

    // Consume and ack four, take one with basic.get, leave one.
    const got: ConsumeMessage[] = [];
    const cch = await channel(conn);
    await cch.prefetch(4);
    const { consumerTag } = await cch.consume(q, (m) => m && got.push(m), { noAck: false });
    await eventually(async () => got.length === 4, 'four deliveries');
    const mid = await metrics();
    expect(sampleValue(mid.parsed, 'warren_queue_messages_ready', { vhost: '/', queue: q })).toBe(2);
    expect(sampleValue(mid.parsed, 'warren_queue_messages_unacked', { vhost: '/', queue: q })).toBe(4);
    expect(sampleValue(mid.parsed, 'warren_queue_consumers', { vhost: '/', queue: q })).toBe(1);
    await cch.cancel(consumerTag);
    for (const m of got) cch.ack(m);
    const m5 = await ch.get(q, { noAck: true });
    expect(m5).not.toBe(false);

    const third = await eventually(async () => {
      const x = await metrics();
      return sampleValue(x.parsed, 'warren_queue_messages_unacked', { vhost: '/', queue: q }) === 0 ? x : null;
    }, 'acks counted');
    expect(sampleValue(third.parsed, 'warren_queue_messages_ready', { vhost: '/', queue: q })).toBe(1);
    expect(sampleValue(third.parsed, 'warren_messages_published_total')! - published0!).toBe(6);
    expect(sampleValue(third.parsed, 'warren_messages_delivered_total')! - sampleValue(first.parsed, 'warren_messages_delivered_total')!).toBe(4);
    expect(sampleValue(third.parsed, 'warren_messages_acked_total')! - sampleValue(first.parsed, 'warren_messages_acked_total')!).toBe(4);
    expect(sampleValue(third.parsed, 'warren_messages_got_total')! - sampleValue(first.parsed, 'warren_messages_got_total')!).toBe(1);

    await ch.deleteQueue(q);
    const fourth = await metrics();
    expect(sampleValue(fourth.parsed, 'warren_queue_messages_ready', { vhost: '/', queue: q })).toBeUndefined();
  });

  it('does not require credentials (as rabbitmq_prometheus)', async () => {
    const res = await fetch(`${mgmtUrl}/metrics`);
    expect(res.status).toBe(200);
  });
});

describe('message_stats.confirm', () => {
  it('counts publisher confirms', async () => {
    const before = (await overview()).message_stats.confirm as number;
    const conn = await connect();
    const ch = await conn.createConfirmChannel();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    for (let i = 0; i < 3; i++) ch.sendToQueue(q, Buffer.from(`c${i}`));
    await ch.waitForConfirms();
    expect((await overview()).message_stats.confirm).toBe(before + 3);
    await conn.close();
  });
});
