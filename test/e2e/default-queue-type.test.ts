// A vhost's default queue type (`default_queue_type` in its metadata), with amqplib, the
// management API and warren ctl. RabbitMQ 3.10.8, the node these tests are otherwise compared with,
// does not have this feature (it came in 3.11 and 3.12), so nothing here was checked against a
// running RabbitMQ: the behaviour follows RabbitMQ's source instead (the RabbitMQ server repository,
// rabbit_amqqueue:augment_declare_args/5 as in 3.12/3.13, called from rabbit_channel's
// queue.declare and the management queue PUT; rabbit_quorum_queue:is_compatible/3;
// rabbit_vhost's info items and vhost:get_default_queue_type/1):
//  - a declare without x-queue-type gets the vhost's default, written into its arguments, only if
//    that type can hold the queue: quorum (and stream) only durable, non-exclusive, not auto-delete;
//    anything else stays classic;
//  - a server-named declare is augmented like any other, so a durable, shared, kept server-named
//    declare is refused as a server-named quorum queue would be (exclusive ones, the usual kind, stay classic);
//  - a redeclare is compared with the augmented arguments: a classic queue declared before the
//    default was set no longer matches a declare without x-queue-type;
//  - GET /api/vhosts shows default_queue_type ("undefined" when unset) and metadata
//    {description, tags, default_queue_type}.
import { mkdtemp, rm } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { LevelStore } from '../../src/store/level-store.js';
import { apiClient, channelError, enc, runCtl, type Api } from '../helpers/management-client.js';

const uid = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;
const dirs: string[] = [];
const running: RunningBroker[] = [];
const conns: ChannelModel[] = [];

async function dataDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'warren-dqt-'));
  dirs.push(d);
  return d;
}

async function start(dir?: string): Promise<RunningBroker> {
  const b = await startBroker({ managementPort: -1, logLevel: 'silent', ...(dir ? { dataDir: dir } : {}) });
  running.push(b);
  return b;
}

async function open(b: RunningBroker, vhost: string): Promise<{ conn: ChannelModel; ch: Channel }> {
  const conn = await amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port: b.port, username: 'guest', password: 'guest', vhost });
  conn.on('error', () => undefined);
  conns.push(conn);
  const ch = await conn.createChannel();
  ch.on('error', () => undefined);
  return { conn, ch };
}

const apiOf = (b: RunningBroker): Api => apiClient(`http://127.0.0.1:${b.managementPort}`);

async function typeOf(api: Api, vhost: string, q: string): Promise<{ type: string; args: Record<string, unknown> }> {
  const r = await api('GET', `/api/queues/${enc(vhost)}/${enc(q)}`);
  expect(r.status, r.text).toBe(200);
  return { type: r.json.type, args: r.json.arguments };
}

afterEach(async () => {
  await Promise.all(conns.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(async () => {
  for (const b of running.splice(0)) await b.close().catch(() => undefined);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('vhost default queue type', () => {
  let b: RunningBroker;
  let api: Api;
  beforeAll(async () => {
    b = await start();
    api = apiOf(b);
  });

  it('PUT /api/vhosts sets it with description and tags; GET shows it as RabbitMQ 3.12 does', async () => {
    const vh = uid('dqt');
    const put = await api('PUT', `/api/vhosts/${enc(vh)}`, { body: { description: 'orders', tags: 'a, b', default_queue_type: 'quorum' } });
    expect(put.status, put.text).toBe(201);
    const one = await api('GET', `/api/vhosts/${enc(vh)}`);
    expect(one.json).toMatchObject({
      name: vh,
      description: 'orders',
      tags: ['a', 'b'],
      default_queue_type: 'quorum',
      metadata: { description: 'orders', tags: ['a', 'b'], default_queue_type: 'quorum' },
    });
    expect((await api('GET', '/api/vhosts')).json.find((v: any) => v.name === vh)).toMatchObject({ default_queue_type: 'quorum' });
    // Unset: "undefined" at the top level, absent from metadata (3.12's rabbit_vhost info item).
    expect((await api('GET', '/api/vhosts/%2F')).json).toMatchObject({ default_queue_type: 'undefined', metadata: { description: 'Default virtual host', tags: [] } });
    expect((await api('GET', '/api/vhosts/%2F')).json.metadata).not.toHaveProperty('default_queue_type');
    // An update that leaves it out keeps it; one that names it changes it; an unknown type is refused.
    expect((await api('PUT', `/api/vhosts/${enc(vh)}`, { body: { description: 'orders 2' } })).status).toBe(204);
    expect((await api('GET', `/api/vhosts/${enc(vh)}`)).json).toMatchObject({ description: 'orders 2', tags: ['a', 'b'], default_queue_type: 'quorum' });
    const bad = await api('PUT', `/api/vhosts/${enc(vh)}`, { body: { default_queue_type: 'lazy' } });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('default_queue_type');
    expect((await api('PUT', `/api/vhosts/${enc(vh)}`, { body: { default_queue_type: 'classic' } })).status).toBe(204);
    expect((await api('GET', `/api/vhosts/${enc(vh)}`)).json.default_queue_type).toBe('classic');
  });

  it('a durable, shared, kept queue declared without x-queue-type is a quorum queue, showing x-queue-type', async () => {
    const vh = uid('dqt');
    await api('PUT', `/api/vhosts/${enc(vh)}`, { body: { default_queue_type: 'quorum' } });
    const { ch } = await open(b, vh);
    await ch.assertQueue('orders', { durable: true, arguments: { 'x-delivery-limit': 2 } });
    expect(await typeOf(api, vh, 'orders')).toEqual({ type: 'quorum', args: { 'x-delivery-limit': 2, 'x-queue-type': 'quorum' } });
    // It behaves as a quorum queue: a redelivery carries x-delivery-count.
    ch.sendToQueue('orders', Buffer.from('m'));
    const first = await waitGet(ch, 'orders');
    ch.nack(first, false, true);
    const again = await waitGet(ch, 'orders');
    expect(again.properties.headers?.['x-delivery-count']).toBe(1);
    ch.ack(again);
    // Redeclaring without x-queue-type matches (the default is added again), with it too.
    await ch.assertQueue('orders', { durable: true, arguments: { 'x-delivery-limit': 2 } });
    await ch.assertQueue('orders', { durable: true, arguments: { 'x-delivery-limit': 2, 'x-queue-type': 'quorum' } });
    // An explicit x-queue-type wins over the default.
    await ch.assertQueue('explicit', { durable: true, arguments: { 'x-queue-type': 'classic' } });
    expect((await typeOf(api, vh, 'explicit')).type).toBe('classic');
    // The management API's queue PUT applies it too.
    expect((await api('PUT', `/api/queues/${enc(vh)}/via-api`, { body: { durable: true } })).status).toBe(201);
    expect(await typeOf(api, vh, 'via-api')).toEqual({ type: 'quorum', args: { 'x-queue-type': 'quorum' } });
  });

  it('exclusive, auto-delete and non-durable declares stay classic, without x-queue-type', async () => {
    const vh = uid('dqt');
    await api('PUT', `/api/vhosts/${enc(vh)}`, { body: { default_queue_type: 'quorum' } });
    const { ch } = await open(b, vh);
    await ch.assertQueue('excl', { durable: true, exclusive: true });
    await ch.assertQueue('autodel', { durable: true, autoDelete: true });
    await ch.assertQueue('transient', { durable: false });
    const named = await ch.assertQueue('', { exclusive: true });
    for (const q of ['excl', 'autodel', 'transient', named.queue]) expect(await typeOf(api, vh, q), q).toEqual({ type: 'classic', args: {} });
    // In a vhost defaulting to classic, the default is written as RabbitMQ writes it, for any declare.
    const vc = uid('dqt-classic');
    await api('PUT', `/api/vhosts/${enc(vc)}`, { body: { default_queue_type: 'classic' } });
    const { ch: chc } = await open(b, vc);
    await chc.assertQueue('t', { durable: false, exclusive: true });
    expect(await typeOf(api, vc, 't')).toEqual({ type: 'classic', args: { 'x-queue-type': 'classic' } });
  });

  it('a durable, shared, kept server-named declare is refused as a server-named quorum queue (RabbitMQ source)', async () => {
    const vh = uid('dqt');
    await api('PUT', `/api/vhosts/${enc(vh)}`, { body: { default_queue_type: 'quorum' } });
    const { ch } = await open(b, vh);
    const err = channelError(ch);
    await expect(ch.assertQueue('', { durable: true })).rejects.toThrow(/Cannot declare a server-named queue for type rabbit_quorum_queue/);
    expect((await err).code).toBe(406);
  });

  it('a classic queue declared before the default was set no longer matches a declare without x-queue-type', async () => {
    const vh = uid('dqt');
    await api('PUT', `/api/vhosts/${enc(vh)}`, {});
    const { ch } = await open(b, vh);
    await ch.assertQueue('old', { durable: true });
    await api('PUT', `/api/vhosts/${enc(vh)}`, { body: { default_queue_type: 'quorum' } });
    const err = channelError(ch);
    await expect(ch.assertQueue('old', { durable: true })).rejects.toThrow(/inequivalent arg 'x-queue-type' for queue 'old' in vhost '[^']+': received the value 'quorum' of type 'longstr' but current is none/);
    expect((await err).code).toBe(406);
    // A passive declare is not affected.
    const { ch: ch2 } = await open(b, vh);
    await ch2.checkQueue('old');
    // Naming classic does not match either: the queue was stored without the argument, and
    // RabbitMQ compares x-queue-type as stored (rabbit_misc:assert_args_equivalence).
    await expect(ch2.assertQueue('old', { durable: true, arguments: { 'x-queue-type': 'classic' } })).rejects.toThrow(/received the value 'classic' of type 'longstr' but current is none/);
  });

  it('definitions export carry it on vhosts and import it back', async () => {
    const vh = uid('dqt-defs');
    await api('PUT', `/api/vhosts/${enc(vh)}`, { body: { description: 'd', tags: ['t1'], default_queue_type: 'quorum' } });
    const exp = (await api('GET', '/api/definitions')).json;
    const exported = exp.vhosts.find((v: any) => v.name === vh);
    expect(exported).toMatchObject({ name: vh, description: 'd', tags: ['t1'], default_queue_type: 'quorum', metadata: { description: 'd', tags: ['t1'], default_queue_type: 'quorum' } });
    expect(exp.vhosts.find((v: any) => v.name === '/')).not.toHaveProperty('default_queue_type');

    // Into a fresh broker: the vhost comes back with its default, and declares there use it.
    const b2 = await start();
    const api2 = apiOf(b2);
    const imp = await api2('POST', '/api/definitions', { body: { vhosts: [exported], permissions: [{ user: 'guest', vhost: vh, configure: '.*', write: '.*', read: '.*' }] } });
    expect(imp.status, imp.text).toBe(204);
    expect((await api2('GET', `/api/vhosts/${enc(vh)}`)).json).toMatchObject({ description: 'd', tags: ['t1'], default_queue_type: 'quorum' });
    const { ch } = await open(b2, vh);
    await ch.assertQueue('q', { durable: true });
    expect((await typeOf(api2, vh, 'q')).type).toBe('quorum');

    // RabbitMQ's metadata-only form, and an unknown type refused with the rest of the file.
    const vm = uid('dqt-meta');
    expect((await api2('POST', '/api/definitions', { body: { vhosts: [{ name: vm, metadata: { description: 'm', tags: [], default_queue_type: 'quorum' } }] } })).status).toBe(204);
    expect((await api2('GET', `/api/vhosts/${enc(vm)}`)).json).toMatchObject({ description: 'm', default_queue_type: 'quorum' });
    const bad = await api2('POST', '/api/definitions', { body: { vhosts: [{ name: uid('dqt-bad'), default_queue_type: 'fifo' }] } });
    expect(bad.status).toBe(400);
    expect(bad.json.problems).toEqual([expect.stringContaining('unsupported default_queue_type "fifo"')]);
  });

  it('warren ctl add_vhost --default-queue-type, list_vhosts name default_queue_type', async () => {
    const url = `http://127.0.0.1:${b.managementPort}`;
    const vh = uid('dqt-ctl');
    const r = await runCtl(url, ['add_vhost', vh, '--default-queue-type', 'quorum', '--description', 'from ctl', '--tags', 'x,y']);
    expect(r.code, r.stderr).toBe(0);
    expect((await api('GET', `/api/vhosts/${enc(vh)}`)).json).toMatchObject({ description: 'from ctl', tags: ['x', 'y'], default_queue_type: 'quorum' });
    const list = await runCtl(url, ['list_vhosts', 'name', 'default_queue_type', '-q']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`${vh}\\s+quorum`));
    // Strict: an unknown type, or the flag on another command, is a usage error before anything is sent.
    const bad = await runCtl(url, ['add_vhost', uid('dqt-ctl'), '--default-queue-type', 'lazy']);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('--default-queue-type');
    const wrong = await runCtl(url, ['delete_vhost', vh, '--default-queue-type', 'quorum']);
    expect(wrong.code).toBe(64);
    expect((await api('GET', `/api/vhosts/${enc(vh)}`)).status).toBe(200);
  });
});

describe('vhost default queue type across a restart', () => {
  it('is durable; queues keep the type they were declared with', async () => {
    const dir = await dataDir();
    let b = await start(dir);
    const vh = uid('dqt-durable');
    await apiOf(b)('PUT', `/api/vhosts/${enc(vh)}`, { body: { description: 'kept', tags: ['k'], default_queue_type: 'quorum' } });
    const { ch } = await open(b, vh);
    await ch.assertQueue('q', { durable: true });
    await b.close();
    running.splice(running.indexOf(b), 1);

    b = await start(dir);
    const api = apiOf(b);
    expect((await api('GET', `/api/vhosts/${enc(vh)}`)).json).toMatchObject({ description: 'kept', tags: ['k'], default_queue_type: 'quorum' });
    expect(await typeOf(api, vh, 'q')).toEqual({ type: 'quorum', args: { 'x-queue-type': 'quorum' } });
    // Changing the default later does not change a queue that exists.
    await api('PUT', `/api/vhosts/${enc(vh)}`, { body: { default_queue_type: 'classic' } });
    expect((await typeOf(api, vh, 'q')).type).toBe('quorum');
    const { ch: ch2 } = await open(b, vh);
    await ch2.assertQueue('q2', { durable: true });
    expect((await typeOf(api, vh, 'q2')).type).toBe('classic');
  });

  it('a vhost record written before vhost metadata was kept recovers with no default (classic)', async () => {
    const dir = await dataDir();
    const old = new LevelStore(dir);
    await old.open();
    // The record as earlier versions wrote it: a name and a description only.
    old.putDefinition('vhost', '/', { name: '/', description: 'Default virtual host' });
    old.putDefinition('vhost', 'legacy', { name: 'legacy', description: 'from before' });
    old.putDefinition('permission', 'legacy\0guest', { user: 'guest', vhost: 'legacy', configure: '.*', write: '.*', read: '.*' });
    await old.close();

    const b = await start(dir);
    const api = apiOf(b);
    expect((await api('GET', '/api/vhosts/legacy')).json).toMatchObject({ name: 'legacy', description: 'from before', tags: [], default_queue_type: 'undefined' });
    const { ch } = await open(b, 'legacy');
    await ch.assertQueue('q', { durable: true });
    expect(await typeOf(api, 'legacy', 'q')).toEqual({ type: 'classic', args: {} });
  });
});

async function waitGet(ch: Channel, q: string): Promise<amqp.GetMessage> {
  for (let i = 0; i < 100; i++) {
    const m = await ch.get(q, { noAck: false });
    if (m) return m;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`no message on ${q}`);
}
