// Exchange federation (federation-upstream parameters, federation policies, /api/federation-links)
// between two Warren brokers, driven by amqplib and the management API. The expected texts, the
// objects a link makes on its upstream and the x-received-from header are what a RabbitMQ 3.10.8
// node (rabbitmq_federation) answered and made for the same calls; RabbitMQ federating from Warren
// and Warren from RabbitMQ were checked by hand the same way (README, Federation).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp, { type Channel, type ChannelModel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { drain } from '../helpers/channels.js';
import { apiClient, eventually, runCtl, sleep, type Api } from '../helpers/management-client.js';

let upstream: RunningBroker;
let downstream: RunningBroker;
let upApi: Api;
let downApi: Api;
let upConn: ChannelModel;
let downConn: ChannelModel;
let up: Channel;
let down: Channel;
const upDir = mkdtempSync(path.join(tmpdir(), 'warren-federation-up-'));

async function startUpstream(port = 0): Promise<void> {
  upstream = await startBroker({ port, managementPort: -1, logLevel: 'silent', dataDir: upDir });
  upApi = apiClient(`http://127.0.0.1:${upstream.managementPort}`);
  upConn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${upstream.port}`);
  upConn.on('error', () => undefined);
  up = await upConn.createChannel();
}

beforeAll(async () => {
  await startUpstream();
  downstream = await startBroker({ managementPort: -1, logLevel: 'silent' });
  downApi = apiClient(`http://127.0.0.1:${downstream.managementPort}`);
  downConn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${downstream.port}`);
  down = await downConn.createChannel();
  // The downstream names itself: the upstream's objects carry the name.
  await downApi('PUT', '/api/cluster-name', { body: { name: 'downstream' } });
});

afterAll(async () => {
  await downConn?.close().catch(() => undefined);
  await upConn?.close().catch(() => undefined);
  await downstream?.close();
  await upstream?.close();
  rmSync(upDir, { recursive: true, force: true });
});


const links = async (a: Api = downApi): Promise<Record<string, unknown>[]> => (await a('GET', '/api/federation-links')).json;
const running = (exchange: string) => eventually(async () => (await links()).find((l) => l.exchange === exchange && l.status === 'running'), `the link of ${exchange} running`, 15_000);
const upstreamBindings = async (exchange: string) =>
  ((await upApi('GET', `/api/exchanges/%2F/${encodeURIComponent(exchange)}/bindings/source`)).json as { destination: string; routing_key: string; arguments: unknown }[]).map((b) => [b.destination, b.routing_key, b.arguments]);

describe('federation parameters and policies are checked as RabbitMQ 3.10.8 checks them', () => {
  it.each([
    ['an upstream without uri', '/api/parameters/federation-upstream/%2F/u', { value: {} }, 'Key "uri" not found in u'],
    [
      'an upstream with bad values',
      '/api/parameters/federation-upstream/%2F/u',
      { value: { uri: 5, 'prefetch-count': 'x', 'max-hops': 'x', expires: 'x', 'ack-mode': 'x', foo: 1 } },
      [
        'Unrecognised terms [{&lt;&lt;"foo"&gt;&gt;,1}] in u',
        'ack-mode should be one of [&lt;&lt;"no-ack"&gt;&gt;,&lt;&lt;"on-publish"&gt;&gt;,&lt;&lt;"on-confirm"&gt;&gt;], actually was &lt;&lt;"x"&gt;&gt;',
        'expires should be a number, actually was &lt;&lt;"x"&gt;&gt;',
        'max-hops should be a number, actually was &lt;&lt;"x"&gt;&gt;',
        'prefetch-count should be a number, actually was &lt;&lt;"x"&gt;&gt;',
        'uri should be list, actually was 5',
      ].join('\n'),
    ],
    ['an upstream with a bad URI', '/api/parameters/federation-upstream/%2F/u', { value: { uri: 'x://y' } }, '"x://y" not a valid URI: {{unexpected_uri_scheme,"x"},"x://y"}'],
    ['a set member without upstream', '/api/parameters/federation-upstream-set/%2F/s', { value: [{ foo: 1 }] }, 'Unrecognised terms [{&lt;&lt;"foo"&gt;&gt;,1}] in s\nKey "upstream" not found in s'],
    ['a policy with a set name that is no string', '/api/policies/%2F/p', { pattern: 'x', definition: { 'federation-upstream-set': 5 } }, '5 is not a valid federation upstream set name'],
    ['a policy naming an upstream and a set', '/api/policies/%2F/p', { pattern: 'x', definition: { 'federation-upstream': 'u', 'federation-upstream-set': 'all' } }, 'cannot specify federation-upstream, federation-upstream-set or federation-upstream-pattern together'],
  ])('%s', async (_what, path, body, reason) => {
    const r = await downApi('PUT', path, { body });
    expect(r.json).toEqual({ error: 'bad_request', reason: `Validation failed\n\n${reason}\n` });
  });
});

describe('a federated exchange', () => {
  it('makes on its upstream what 3.10.8 makes, keeps the bindings in step, and receives what is published there once', async () => {
    await up.assertExchange('fed.x', 'topic', { durable: true });
    await down.assertExchange('fed.x', 'topic', { durable: true });
    await down.assertQueue('fed.q', { durable: false });
    await down.bindQueue('fed.q', 'fed.x', 'a.*');
    const uri = `amqp://guest:guest@127.0.0.1:${upstream.port}`;
    expect((await downApi('PUT', '/api/parameters/federation-upstream/%2F/origin', { body: { value: { uri, expires: 3600000 } } })).status).toBe(201);
    expect((await downApi('PUT', '/api/policies/%2F/federate', { body: { pattern: '^fed\\.', 'apply-to': 'exchanges', definition: { 'federation-upstream-set': 'all' } } })).status).toBe(201);
    const link = await running('fed.x');
    // The link's own direct connection, as the connections list names it.
    const direct = ((await downApi('GET', '/api/connections')).json as { name: string; type: string; client_properties: { connection_name?: string } }[]).filter((c) => c.type === 'direct');
    expect(direct.map((c) => [c.name, c.client_properties.connection_name])).toContainEqual([link.local_connection, 'Federation link (upstream: origin, policy: federate)']);
    expect({ ...link, id: 'ID', timestamp: 'T', local_connection: 'C' }).toEqual({
      node: downstream.broker.nodeName,
      exchange: 'fed.x',
      upstream_exchange: 'fed.x',
      type: 'exchange',
      vhost: '/',
      upstream: 'origin',
      id: 'ID',
      status: 'running',
      local_connection: 'C',
      uri: `amqp://127.0.0.1:${upstream.port}`,
      timestamp: 'T',
    });

    // On the upstream: 3.10.8's names, types and arguments.
    const name = 'federation: fed.x -> downstream:/:fed.x';
    const x = (await upApi('GET', `/api/exchanges/%2F/${encodeURIComponent(`${name} B`)}`)).json;
    expect([x.type, x.durable, x.auto_delete, x.internal, x.arguments]).toEqual([
      'x-federation-upstream',
      true,
      true,
      true,
      { 'x-downstream-name': 'downstream', 'x-downstream-vhost': '/', 'x-internal-purpose': 'federation', 'x-max-hops': 1 },
    ]);
    const q = (await upApi('GET', `/api/queues/%2F/${encodeURIComponent(name)}`)).json;
    expect([q.durable, q.arguments]).toEqual([true, { 'x-expires': 3600000, 'x-internal-purpose': 'federation' }]);
    const boundFrom = { 'x-bound-from': [{ 'cluster-name': 'downstream', exchange: '/:fed.x B', hops: 1, vhost: '/' }] };
    await eventually(async () => ((await upstreamBindings('fed.x')).length === 1 ? true : null), 'the binding on the upstream');
    expect(await upstreamBindings('fed.x')).toEqual([[`${name} B`, 'a.*', boundFrom]]);

    // A binding made and removed here is made and removed there.
    await down.bindQueue('fed.q', 'fed.x', 'b.#');
    await eventually(async () => ((await upstreamBindings('fed.x')).length === 2 ? true : null), 'the new binding upstream');
    await down.unbindQueue('fed.q', 'fed.x', 'b.#');
    await eventually(async () => ((await upstreamBindings('fed.x')).length === 1 ? true : null), 'the binding gone upstream');

    up.publish('fed.x', 'a.1', Buffer.from('one'), { headers: { h: 1 }, messageId: 'm1', userId: 'guest' });
    up.publish('fed.x', 'c.1', Buffer.from('bound nowhere here'));
    await eventually(async () => ((await down.checkQueue('fed.q')).messageCount === 1 ? true : null), 'the message here');
    await sleep(300);
    const [m, ...rest] = await drain(down, 'fed.q');
    expect(rest).toEqual([]);
    // Its user_id cleared (trust-user-id is false by default).
    expect([m!.content.toString(), m!.fields.exchange, m!.fields.routingKey, m!.properties.messageId, m!.properties.userId]).toEqual(['one', 'fed.x', 'a.1', 'm1', undefined]);
    expect(m!.properties.headers).toEqual({
      h: 1,
      'x-received-from': [{ uri: `amqp://127.0.0.1:${upstream.port}`, exchange: 'fed.x', redelivered: false, 'cluster-name': 'warren', vhost: '/' }],
    });
  });

  it('warren ctl federation_status and restart_federation_link, as rabbitmqctl', async () => {
    const url = `http://127.0.0.1:${downstream.managementPort}`;
    const status = await runCtl(url, ['federation_status', '--formatter', 'json']);
    expect(status.code).toBe(0);
    const [row] = JSON.parse(status.stdout) as Record<string, string>[];
    expect(Object.keys(row!)).toEqual(['error', 'exchange', 'id', 'last_changed', 'local_connection', 'queue', 'status', 'type', 'upstream', 'upstream_exchange', 'upstream_queue', 'uri', 'vhost']);
    expect(row).toMatchObject({ error: '', exchange: 'fed.x', status: 'running', type: 'exchange', upstream: 'origin', upstream_exchange: 'fed.x', vhost: '/' });
    const restart = await runCtl(url, ['restart_federation_link', row!.id!]);
    expect([restart.code, restart.stdout]).toEqual([0, `Restarting federation link ${row!.id} on node ${downstream.broker.nodeName}\n`]);
    await running('fed.x');
    const missing = await runCtl(url, ['restart_federation_link', 'nope']);
    expect([missing.code, missing.stderr.trim()]).toEqual([69, 'Error:\nLink with the given ID was not found']);
  });

  it('federated both ways, a message travels one hop and never comes back', async () => {
    // The upstream federates fed.x from the downstream too: a loop, which x-max-hops 1 and the
    // downstream's name in x-received-from stop.
    const back = `amqp://guest:guest@127.0.0.1:${downstream.port}`;
    await upApi('PUT', '/api/parameters/federation-upstream/%2F/back', { body: { value: { uri: back } } });
    await upApi('PUT', '/api/policies/%2F/federate', { body: { pattern: '^fed\\.', 'apply-to': 'exchanges', definition: { 'federation-upstream': 'back' } } });
    await eventually(async () => (await links(upApi)).find((l) => l.status === 'running'), 'the link back', 15_000);
    await up.assertQueue('fed.upq', { durable: false });
    await up.bindQueue('fed.upq', 'fed.x', 'a.*');
    await eventually(async () => {
      const b = (await downApi('GET', '/api/exchanges/%2F/fed.x/bindings/source')).json as { destination: string }[];
      return b.some((x) => x.destination.startsWith('federation:')) ? true : null;
    }, 'the binding on the downstream');
    down.publish('fed.x', 'a.2', Buffer.from('from downstream'));
    up.publish('fed.x', 'a.3', Buffer.from('from upstream'));
    await sleep(1500);
    expect((await drain(down, 'fed.q')).map((x) => x.content.toString()).sort()).toEqual(['from downstream', 'from upstream']);
    expect((await drain(up, 'fed.upq')).map((x) => x.content.toString()).sort()).toEqual(['from downstream', 'from upstream']);
    await upApi('DELETE', '/api/policies/%2F/federate');
    await upApi('DELETE', '/api/parameters/federation-upstream/%2F/back');
    await eventually(async () => ((await links(upApi)).length === 0 ? true : null), 'the link back gone');
  });

  it('loses nothing published upstream while the upstream broker restarts', async () => {
    const port = upstream.port;
    await upConn.close();
    await upstream.close();
    await eventually(async () => (await links()).find((l) => l.exchange === 'fed.x' && l.status !== 'running'), 'the link to notice');
    await startUpstream(port);
    // Published before the link is back: the upstream's durable queue holds them for it.
    for (let i = 0; i < 200; i++) up.publish('fed.x', 'a.n', Buffer.from(String(i)), { persistent: true });
    // Once, in a full suite run (thirty-sixth session), not all 200 came within 30 s; six runs of
    // the file, two beside CPU hogs, passed. More time, and what was there if it happens again.
    let here = -1;
    await eventually(async () => ((here = (await down.checkQueue('fed.q')).messageCount) === 200 ? true : null), 'all 200 here', 45_000).catch(async (e: Error) => {
      const upq = (await upApi('GET', '/api/queues/%2F')).json as { name: string; messages: number; consumers: number }[];
      throw new Error(`${e.message}: ${here} in fed.q; links ${JSON.stringify(await links())}; upstream queues ${JSON.stringify(upq.map((q) => [q.name, q.messages, q.consumers]))}`);
    });
    expect((await drain(down, 'fed.q')).map((x) => Number(x.content.toString()))).toEqual([...Array(200).keys()]);
  }, 90_000);

  it("a federated queue takes the upstream queue's messages only while its own consumers want them", async () => {
    await down.assertQueue('fed.queue', { durable: true });
    await downApi('PUT', '/api/policies/%2F/fedq', { body: { pattern: '^fed\\.queue$', 'apply-to': 'queues', definition: { 'federation-upstream': 'origin' } } });
    const l = await eventually(async () => (await links()).find((x) => x.type === 'queue' && x.status === 'running'), 'the queue link running', 15_000);
    expect({ ...l, id: 'ID', timestamp: 'T', local_connection: 'C' }).toEqual({
      node: downstream.broker.nodeName,
      queue: 'fed.queue',
      upstream_queue: 'fed.queue',
      consumer_tag: 'federation-link-origin',
      type: 'queue',
      vhost: '/',
      upstream: 'origin',
      id: 'ID',
      status: 'running',
      local_connection: 'C',
      uri: `amqp://127.0.0.1:${upstream.port}`,
      timestamp: 'T',
    });
    // The link declared the upstream queue; with no consumer here, messages stay there.
    for (let i = 0; i < 5; i++) up.sendToQueue('fed.queue', Buffer.from(`q${i}`), { headers: { i } });
    await sleep(500);
    expect((await up.checkQueue('fed.queue')).messageCount).toBe(5);
    expect((await down.checkQueue('fed.queue')).messageCount).toBe(0);
    // A consumer here: they come over, with 3.10.8's headers.
    const got: { body: string; headers: unknown; exchange: string; key: string }[] = [];
    const consumer = await downConn.createChannel();
    await consumer.consume('fed.queue', (m) => m && got.push({ body: m.content.toString(), headers: m.properties.headers, exchange: m.fields.exchange, key: m.fields.routingKey }), { noAck: true });
    await eventually(async () => (got.length === 5 ? true : null), 'all five here');
    expect(got.map((g) => g.body)).toEqual(['q0', 'q1', 'q2', 'q3', 'q4']);
    expect(got[0]).toEqual({
      body: 'q0',
      exchange: '',
      key: 'fed.queue',
      headers: { i: 0, 'x-original-exchange': '', 'x-original-routing-key': 'fed.queue', 'x-received-from': [{ uri: `amqp://127.0.0.1:${upstream.port}`, queue: 'fed.queue', redelivered: false, 'visit-count': 1 }] },
    });
    // Upstream: one consumer, the link's, at priority -1 (its own consumers go first).
    const upConsumers = ((await upApi('GET', '/api/consumers')).json as { queue: { name: string }; consumer_tag: string; arguments: unknown }[]).filter((c) => c.queue.name === 'fed.queue');
    expect(upConsumers.map((c) => [c.consumer_tag, c.arguments])).toEqual([['federation-link-origin', { 'x-priority': -1 }]]);
    await consumer.close();
    // No consumer here any more: the link stops taking messages.
    await eventually(async () => ((await upApi('GET', '/api/queues/%2F/fed.queue')).json?.consumers === 0 ? true : null), 'the link to stop consuming');
    up.sendToQueue('fed.queue', Buffer.from('stays'));
    await sleep(500);
    expect((await up.checkQueue('fed.queue')).messageCount).toBe(1);
    await downApi('DELETE', '/api/policies/%2F/fedq');
  });

  it('the policy removed: the link stops and its upstream objects are deleted', async () => {
    expect((await downApi('DELETE', '/api/policies/%2F/federate')).status).toBe(204);
    await eventually(async () => ((await links()).length === 0 ? true : null), 'no link');
    await eventually(async () => ((await upApi('GET', `/api/queues/%2F/${encodeURIComponent('federation: fed.x -> downstream:/:fed.x')}`)).status === 404 ? true : null), 'the upstream queue deleted');
    expect(await upstreamBindings('fed.x')).toEqual([]);
  });
});

describe('an upstream without the federated exchange', () => {
  it('gets it declared, of the same type and not durable, as a 3.10.8 link declares it', async () => {
    await down.assertExchange('fed.missing', 'direct', { durable: true });
    await down.assertQueue('fed.mq', { durable: false });
    await down.bindQueue('fed.mq', 'fed.missing', 'k');
    await downApi('PUT', '/api/policies/%2F/fedm', { body: { pattern: '^fed\\.missing$', 'apply-to': 'exchanges', definition: { 'federation-upstream': 'origin' } } });
    await running('fed.missing');
    const x = (await upApi('GET', '/api/exchanges/%2F/fed.missing')).json;
    expect([x.type, x.durable, x.auto_delete, x.internal]).toEqual(['direct', false, false, false]);
    up.publish('fed.missing', 'k', Buffer.from('m'));
    await eventually(async () => ((await down.checkQueue('fed.mq')).messageCount === 1 ? true : null), 'the message here');
    await downApi('DELETE', '/api/policies/%2F/fedm');
  });
});
