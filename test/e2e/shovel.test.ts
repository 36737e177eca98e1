// Dynamic shovels (the runtime parameter shovel/<vhost>/<name>, /api/shovels, warren ctl
// shovel_status/delete_shovel/restart_shovel), driven by amqplib and the management API. Every
// expected text and shape below is what a private RabbitMQ 3.10.8 node (rabbitmq_shovel and
// rabbitmq_shovel_management enabled) answered to the same calls, but for the two lines marked as
// Warren's own (3.10.8 answers those with a 500, or takes an AMQP 1.0 shovel Warren cannot run).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp, { type Channel, type ChannelModel, type GetMessage } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { drain } from '../helpers/channels.js';
import { apiClient, eventually, runCtl, sleep, type Api } from '../helpers/management-client.js';

let broker: RunningBroker;
let api: Api;
let url: string;
let conn: ChannelModel;
let ch: Channel;
const dirs: string[] = [];

const tempDir = (): string => {
  const d = mkdtempSync(path.join(tmpdir(), 'warren-shovel-'));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  broker = await startBroker({ managementPort: -1, logLevel: 'silent', nodeName: 'warren@shovelhost' });
  url = `http://127.0.0.1:${broker.managementPort}`;
  api = apiClient(url);
  conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}`);
  ch = await conn.createChannel();
});

afterAll(async () => {
  await conn?.close().catch(() => undefined);
  await broker?.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const put = (name: string, value: unknown, a: Api = api) => a('PUT', `/api/parameters/shovel/%2f/${name}`, { body: { value } });
const del = (name: string, a: Api = api) => a('DELETE', `/api/parameters/shovel/%2f/${name}`);


/** Waits until the queue holds n ready messages and nothing unacked. */
async function depth(a: Api, queue: string, n: number, timeoutMs = 10_000): Promise<void> {
  let last = '';
  await eventually(
    async () => {
      const q = (await a('GET', `/api/queues/%2f/${queue}`)).json;
      last = JSON.stringify([q?.messages_ready, q?.messages_unacknowledged]);
      return q && q.messages_ready === n && q.messages_unacknowledged === 0 ? true : null;
    },
    `queue ${queue} to hold ${n}`,
    timeoutMs,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; [ready, unacked] ${last}`);
  });
}

const running = (a: Api, name: string) =>
  eventually(async () => ((await a('GET', '/api/shovels')).json as { name: string; state: string }[]).find((s) => s.name === name && s.state === 'running'), `shovel ${name} running`);

describe('shovel definitions are checked as RabbitMQ 3.10.8 checks them', () => {
  const cases: [string, unknown, string][] = [
    ['empty', {}, `Must specify 'src-exchange' or 'src-queue'\nKey "dest-uri" not found in empty\nKey "src-uri" not found in empty`],
    ['badack', { 'src-uri': 'amqp://', 'src-queue': 'a', 'dest-uri': 'amqp://', 'dest-queue': 'b', 'ack-mode': 'x' }, `ack-mode should be one of [&lt;&lt;"no-ack"&gt;&gt;,&lt;&lt;"on-publish"&gt;&gt;,&lt;&lt;"on-confirm"&gt;&gt;], actually was &lt;&lt;"x"&gt;&gt;`],
    ['both', { 'src-uri': 'amqp://', 'src-queue': 'a', 'src-exchange': 'x', 'dest-uri': 'amqp://', 'dest-queue': 'b' }, "Cannot specify 'src-exchange' and 'src-queue'"],
    ['badurl', { 'src-uri': 'http://x', 'src-queue': 'a', 'dest-uri': 'amqp://', 'dest-queue': 'b' }, '"http://x" not a valid URI: {{unexpected_uri_scheme,"http"},"http://x"}'],
    ['unknown', { 'src-uri': 'amqp://', 'src-queue': 'a', 'dest-uri': 'amqp://', 'dest-queue': 'b', foo: 1 }, 'Unrecognised terms [{&lt;&lt;"foo"&gt;&gt;,1}] in unknown'],
    ['uriint', { 'src-uri': 5, 'src-queue': 'a', 'dest-uri': 'amqp://', 'dest-queue': 'b' }, 'src-uri should be list, actually was 5'],
    ['noack', { 'src-uri': 'amqp://', 'dest-uri': 'amqp://', 'src-queue': 'a', 'src-delete-after': 5, 'ack-mode': 'no-ack' }, "Cannot specify 'no-ack' and numerical 'delete-after'"],
    ['badvhost', { 'src-uri': 'amqp:///nov', 'src-queue': 'a', 'dest-uri': 'amqp://', 'dest-queue': 'b' }, 'user "guest" may not connect to vhost "nov"'],
    [
      'all',
      { 'src-uri': 5, 'dest-uri': 6, 'src-queue': 7, 'dest-queue': 8, 'src-prefetch-count': 'x', 'src-delete-after': 'x', 'dest-add-forward-headers': 'x', 'dest-add-timestamp-header': 'x', 'dest-publish-properties': 'x', 'ack-mode': 'x', 'reconnect-delay': 'x', 'src-exchange-key': 9, 'dest-exchange-key': 10, zz: 1, aa: 2 },
      [
        'Unrecognised terms [{&lt;&lt;"aa"&gt;&gt;,2},{&lt;&lt;"zz"&gt;&gt;,1}] in all',
        'dest-publish-properties not a list &lt;&lt;"x"&gt;&gt;',
        'dest-add-timestamp-header should be boolean, actually was &lt;&lt;"x"&gt;&gt;',
        'dest-add-forward-headers should be boolean, actually was &lt;&lt;"x"&gt;&gt;',
        'dest-queue should be binary, actually was 8',
        'dest-exchange-key should be binary, actually was 10',
        'dest-uri should be list, actually was 6',
        'src-delete-after should be a number greater than or equal to 0, "never" or "queue-length", actually was &lt;&lt;"x"&gt;&gt;',
        'src-prefetch-count should be a number, actually was &lt;&lt;"x"&gt;&gt;',
        'src-queue should be binary, actually was 7',
        'src-exchange-key should be binary, actually was 9',
        'src-uri should be list, actually was 5',
        'ack-mode should be one of [&lt;&lt;"no-ack"&gt;&gt;,&lt;&lt;"on-publish"&gt;&gt;,&lt;&lt;"on-confirm"&gt;&gt;], actually was &lt;&lt;"x"&gt;&gt;',
        'reconnect-delay should be a number, actually was &lt;&lt;"x"&gt;&gt;',
      ].join('\n'),
    ],
    [
      'props',
      { 'src-uri': 'amqp://', 'dest-uri': 'amqp://', 'src-queue': 'a', 'dest-publish-properties': { delivery_mode: 2, priority: 'x', content_type: 5, headers: {}, timestamp: 'x', user_id: 1, expiration: 3 } },
      [
        'Unrecognised terms [{&lt;&lt;"headers"&gt;&gt;,#{}}] in dest-publish-properties',
        'user_id should be binary, actually was 1',
        'timestamp should be a number, actually was &lt;&lt;"x"&gt;&gt;',
        'expiration should be binary, actually was 3',
        'priority should be a number, actually was &lt;&lt;"x"&gt;&gt;',
        'content_type should be binary, actually was 5',
      ].join('\n'),
    ],
    // Warren's own: 3.10.8 fails with a 500 on a value that is not an object.
    ['notobj', 'x', 'notobj not a list &lt;&lt;"x"&gt;&gt;'],
    // Warren's own: 3.10.8 takes an AMQP 1.0 source; Warren refuses it rather than ignore it.
    ['amqp10', { 'src-protocol': 'amqp10', 'src-uri': 'amqp://', 'src-queue': 'a', 'dest-uri': 'amqp://', 'dest-queue': 'b' }, 'src-protocol amqp10 is not supported: Warren shovels speak AMQP 0-9-1 only'],
  ];
  it.each(cases)('%s', async (name, value, reason) => {
    const r = await put(name, value);
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ error: 'bad_request', reason: `Validation failed\n\n${reason}\n` });
    expect((await api('GET', `/api/parameters/shovel/%2f/${name}`)).status).toBe(404);
  });

  it('the other components of /api/parameters escape their texts too, as 3.10.8 does', async () => {
    const r = await api('PUT', '/api/parameters/vhost-limits/%2f/limits', { body: { value: { foo: 1 } } });
    expect(r.json.reason).toBe('Validation failed\n\nUnrecognised terms [{&lt;&lt;"foo"&gt;&gt;,1}] in limits\n');
  });
});

describe('a shovel on this broker (amqp://, direct connections)', () => {
  it('moves what the queue held and what comes later, properties kept, acking the source once confirmed', async () => {
    await ch.assertQueue('sa', { durable: true });
    ch.sendToQueue('sa', Buffer.from('one'), { persistent: true, headers: { h: 1 }, correlationId: 'c1', messageId: 'm1', priority: 3, expiration: '60000', type: 't', appId: 'ap' });
    expect((await put('s1', { 'src-uri': 'amqp://', 'src-queue': 'sa', 'dest-uri': 'amqp://', 'dest-queue': 'sb' })).status).toBe(201);
    await running(api, 's1');
    ch.sendToQueue('sa', Buffer.from('two'));
    await depth(api, 'sb', 2);
    await depth(api, 'sa', 0);
    const got = await drain(ch, 'sb');
    expect(got.map((m) => [m.content.toString(), m.fields.exchange, m.fields.routingKey, m.fields.redelivered])).toEqual([
      ['one', '', 'sb', false],
      ['two', '', 'sb', false],
    ]);
    const props = (m: GetMessage) => Object.fromEntries(Object.entries(m.properties).filter(([, v]) => v !== undefined));
    expect(props(got[0]!)).toEqual({ headers: { h: 1 }, deliveryMode: 2, priority: 3, correlationId: 'c1', expiration: '60000', messageId: 'm1', type: 't', appId: 'ap' });
    // 3.10.8 gives every shovelled message a headers table, empty when it had none.
    expect(props(got[1]!)).toEqual({ headers: {} });

    // Its destination queue was declared durable, as rabbit_shovel's ensure_queue declares it.
    const sb = (await api('GET', '/api/queues/%2f/sb')).json;
    expect([sb.durable, sb.auto_delete, sb.exclusive, sb.arguments]).toEqual([true, false, false, {}]);
    const [status] = (await api('GET', '/api/shovels/vhost/%2f/s1')).json;
    expect({ ...status, timestamp: 'T' }).toEqual({
      node: 'warren@shovelhost',
      timestamp: 'T',
      name: 's1',
      vhost: '/',
      type: 'dynamic',
      state: 'running',
      src_uri: 'amqp://',
      src_protocol: 'amqp091',
      dest_protocol: 'amqp091',
      dest_uri: 'amqp://',
      src_queue: 'sa',
      dest_queue: 'sb',
    });
    expect(status.timestamp).toMatch(/^\d{4}-\d\d-\d\d \d{1,2}:\d\d:\d\d$/);
    // Two direct connections, shown as 3.10.8 shows them.
    const direct = ((await api('GET', '/api/connections')).json as { type: string }[]).filter((c) => c.type === 'direct');
    expect(direct).toHaveLength(2);
    expect(Object.keys(direct[0]!).sort()).toEqual(['client_properties', 'connected_at', 'name', 'node', 'protocol', 'type', 'user', 'user_who_performed_action', 'vhost']);
    expect(direct[0]).toMatchObject({ client_properties: { connection_name: 'Shovel s1' }, protocol: 'Direct 0-9-1', user: 'none', vhost: '/' });
    expect((direct[0] as unknown as { name: string }).name).toMatch(/^<warren@shovelhost\.\d+\.0>$/);
    // They hold no socket: sockets_used counts the test's own connection only.
    expect((await api('GET', '/api/nodes')).json[0].sockets_used).toBe(1);
    const consumers = ((await api('GET', '/api/consumers')).json as { queue: { name: string }; ack_required: boolean; prefetch_count: number }[]).filter((c) => c.queue.name === 'sa');
    expect(consumers.map((c) => [c.ack_required, c.prefetch_count])).toEqual([[true, 1000]]);

    expect((await del('s1')).status).toBe(204);
    await eventually(async () => ((await api('GET', '/api/connections')).json as { type: string }[]).every((c) => c.type !== 'direct') || null, 'direct connections gone');
    expect((await api('GET', '/api/shovels')).json).toEqual([]);
  });

  it('adds the forward and timestamp headers, sets publish properties, publishes to an exchange', async () => {
    await ch.assertExchange('dx', 'direct', { durable: false });
    await ch.assertQueue('dq', { durable: false });
    await ch.bindQueue('dq', 'dx', 'rk');
    await ch.assertQueue('fa', { durable: true });
    ch.sendToQueue('fa', Buffer.from('three'), { headers: { h: 2 } });
    const value = { 'src-uri': 'amqp://', 'src-queue': 'fa', 'dest-uri': 'amqp://', 'dest-exchange': 'dx', 'dest-exchange-key': 'rk', 'add-forward-headers': true, 'dest-add-timestamp-header': true, 'dest-publish-properties': { delivery_mode: 2, priority: 7 } };
    expect((await put('s2', value)).status).toBe(201);
    const before = Math.floor(Date.now() / 1000);
    await depth(api, 'dq', 1);
    const [m] = await drain(ch, 'dq');
    expect([m!.fields.exchange, m!.fields.routingKey, m!.properties.deliveryMode, m!.properties.priority]).toEqual(['dx', 'rk', 2, 7]);
    const h = m!.properties.headers as Record<string, unknown>;
    expect(Object.keys(h)).toEqual(['h', 'x-shovelled', 'x-shovelled-timestamp']);
    expect(h['x-shovelled']).toEqual([
      { 'shovelled-by': 'warren', 'shovel-type': 'dynamic', 'shovel-name': 's2', 'shovel-vhost': '/', 'src-uri': 'amqp://', 'dest-uri': 'amqp://', 'src-queue': 'fa', 'dest-exchange': 'dx', 'dest-exchange-key': 'rk' },
    ]);
    expect(Number(h['x-shovelled-timestamp'])).toBeGreaterThanOrEqual(before - 1);
    expect((await del('s2')).status).toBe(204);
  });

  it('from an exchange: a queue of its own, exclusive, bound with src-exchange-key', async () => {
    await ch.assertExchange('sx', 'topic', { durable: false });
    expect((await put('s3', { 'src-uri': 'amqp://', 'src-exchange': 'sx', 'src-exchange-key': 'k.*', 'dest-uri': 'amqp://', 'dest-queue': 'xq' })).status).toBe(201);
    await running(api, 's3');
    const own = ((await api('GET', '/api/queues')).json as { name: string; durable: boolean; exclusive: boolean; auto_delete: boolean }[]).filter((q) => q.name.startsWith('amq.gen-'));
    expect(own.map((q) => [q.durable, q.auto_delete, q.exclusive])).toEqual([[false, false, true]]);
    const bindings = (await api('GET', '/api/exchanges/%2f/sx/bindings/source')).json as { destination: string; routing_key: string }[];
    expect(bindings.map((b) => [b.destination, b.routing_key])).toEqual([[own[0]!.name, 'k.*']]);
    ch.publish('sx', 'k.1', Buffer.from('four'));
    ch.publish('sx', 'other', Buffer.from('not this'));
    await depth(api, 'xq', 1);
    const [m] = await drain(ch, 'xq');
    // A dest-queue is reached through the default exchange.
    expect([m!.content.toString(), m!.fields.exchange, m!.fields.routingKey]).toEqual(['four', '', 'xq']);
    expect((await del('s3')).status).toBe(204);
    await eventually(async () => ((await api('GET', '/api/queues')).json as { name: string }[]).every((q) => !q.name.startsWith('amq.gen-')) || null, 'its queue gone');
  });

  it('src-delete-after queue-length moves what the queue held at start, then deletes itself', async () => {
    await ch.assertQueue('da', { durable: true });
    for (let i = 0; i < 5; i++) ch.sendToQueue('da', Buffer.from(`n${i}`));
    await depth(api, 'da', 5);
    expect((await put('s4', { 'src-uri': 'amqp://', 'src-queue': 'da', 'dest-uri': 'amqp://', 'dest-queue': 'db', 'src-delete-after': 'queue-length' })).status).toBe(201);
    await eventually(async () => ((await api('GET', '/api/parameters/shovel/%2f/s4')).status === 404 ? true : null), 'the shovel to delete itself');
    ch.sendToQueue('da', Buffer.from('later'));
    await sleep(200);
    expect((await drain(ch, 'db')).map((m) => m.content.toString())).toEqual(['n0', 'n1', 'n2', 'n3', 'n4']);
    expect((await drain(ch, 'da')).map((m) => m.content.toString())).toEqual(['later']);
    expect((await api('GET', '/api/shovels')).json).toEqual([]);
  });

  it('warren ctl shovel_status, restart_shovel and delete_shovel print what rabbitmqctl prints', async () => {
    expect((await put('good', { 'src-uri': 'amqp://', 'src-queue': 'ca', 'dest-uri': `amqp://guest:guest@127.0.0.1:${broker.port}`, 'dest-queue': 'cb', 'reconnect-delay': 1 })).status).toBe(201);
    await running(api, 'good');
    const status = await runCtl(url, ['shovel_status']);
    expect(status.code).toBe(0);
    const lines = status.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('Shovel status on node warren@shovelhost');
    expect(lines[1]).toBe('destination\tdestination_protocol\tdestination_queue\tlast_changed\tname\tsource\tsource_protocol\tsource_queue\tstate\ttermination_reason\ttype\tvhost');
    // The URI it connected to, without its credentials.
    expect(lines[2]).toMatch(new RegExp(`^amqp://127\\.0\\.0\\.1:${broker.port}\\tamqp091\\tcb\\t\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\tgood\\tamqp://\\tamqp091\\tca\\trunning\\t\\tdynamic\\t/$`));
    const json = await runCtl(url, ['shovel_status', '--formatter', 'json']);
    expect(JSON.parse(json.stdout)).toMatchObject([{ name: 'good', state: 'running', source_queue: 'ca', destination_queue: 'cb', termination_reason: '' }]);

    const restart = await runCtl(url, ['restart_shovel', 'good']);
    expect([restart.code, restart.stdout]).toEqual([0, 'Restarting dynamic Shovel good in virtual host / on node warren@shovelhost\n']);
    // Started again once: one consumer on its source, not the old one beside a new one.
    await running(api, 'good');
    // (past its reconnect-delay: a restart once mistook its own closing for a failure and started twice)
    await sleep(2500);
    expect(((await api('GET', '/api/queues/%2F/ca')).json as { consumers: number }).consumers).toBe(1);
    const missing = await runCtl(url, ['restart_shovel', 'nope']);
    expect(missing.code).toBe(69);
    expect(missing.stderr).toContain("Shovel with the given name was not found on the target node 'warren@shovelhost' and / or virtual host '/'");
    const otherVhost = await runCtl(url, ['delete_shovel', '-p', 'nov', 'good']);
    expect([otherVhost.code, otherVhost.stdout]).toEqual([69, 'Deleting shovel good in vhost nov\n']);
    const deleted = await runCtl(url, ['delete_shovel', 'good']);
    expect([deleted.code, deleted.stdout]).toEqual([0, 'Deleting shovel good in vhost /\n']);
    expect((await api('GET', '/api/parameters/shovel/%2f/good')).status).toBe(404);
  });
});

describe('a shovel between two brokers', () => {
  it('loses nothing while the source broker goes and comes back, and survives its own broker restart', async () => {
    const srcDir = tempDir();
    const destDir = tempDir();
    let src = await startBroker({ managementPort: -1, logLevel: 'silent', dataDir: srcDir });
    const srcPort = src.port;
    let dest = await startBroker({ managementPort: -1, logLevel: 'silent', dataDir: destDir });
    const destApi = apiClient(`http://127.0.0.1:${dest.managementPort}`);
    const uri = `amqp://guest:guest@127.0.0.1:${srcPort}`;
    const value = { 'src-uri': uri, 'src-queue': 'orders', 'dest-uri': 'amqp://', 'dest-queue': 'orders-copy', 'reconnect-delay': 1 };
    expect((await put('move', value, destApi)).status).toBe(201);
    await running(destApi, 'move');

    const publish = async (from: number, n: number): Promise<void> => {
      const c = await amqp.connect(`amqp://guest:guest@127.0.0.1:${srcPort}`);
      const pc = await c.createConfirmChannel();
      for (let i = from; i < from + n; i++) pc.sendToQueue('orders', Buffer.from(String(i)), { persistent: true });
      await pc.waitForConfirms();
      await c.close();
    };
    await publish(0, 1000);
    await depth(destApi, 'orders-copy', 1000);
    // Acked on the source once confirmed here (a source closed before that would deliver them again).
    await depth(apiClient(`http://127.0.0.1:${src.managementPort}`), 'orders', 0);

    // The source broker goes: the shovel waits, and carries on once it is back on its port.
    await src.close();
    await eventually(async () => ((await destApi('GET', '/api/shovels')).json as { state: string }[])[0]?.state === 'starting' || null, 'the shovel to notice');
    src = await startBroker({ port: srcPort, managementPort: -1, logLevel: 'silent', dataDir: srcDir });
    await publish(1000, 1000);
    await running(destApi, 'move');

    // Its own broker restarts: the parameter is kept and the shovel runs again.
    await dest.close();
    dest = await startBroker({ managementPort: -1, logLevel: 'silent', dataDir: destDir });
    const destApi2 = apiClient(`http://127.0.0.1:${dest.managementPort}`);
    await running(destApi2, 'move');
    await depth(destApi2, 'orders-copy', 2000, 20_000);
    const c = await amqp.connect(`amqp://guest:guest@127.0.0.1:${dest.port}`);
    const cc = await c.createChannel();
    const got = (await drain(cc, 'orders-copy')).map((m) => Number(m.content.toString()));
    expect(new Set(got).size).toBe(2000);
    expect(got.length).toBe(2000);
    await c.close();
    // Nothing left behind on the source, nothing unacked.
    const srcApi = apiClient(`http://127.0.0.1:${src.managementPort}`);
    await depth(srcApi, 'orders', 0);
    // Exported with the definitions, as a runtime parameter, as 3.10.8 exports it.
    const defs = (await destApi2('GET', '/api/definitions')).json;
    expect(defs.parameters).toContainEqual({ value, vhost: '/', component: 'shovel', name: 'move' });
    await dest.close();
    await src.close();
  }, 60_000);
});

describe('a shovel whose source queue is deleted', () => {
  it('starts again after reconnect-delay, declaring the queue anew, and carries on', async () => {
    await ch.assertQueue('gone', { durable: true });
    expect((await put('again', { 'src-uri': 'amqp://', 'src-queue': 'gone', 'dest-uri': 'amqp://', 'dest-queue': 'gone-copy', 'reconnect-delay': 1 })).status).toBe(201);
    await running(api, 'again');
    await ch.deleteQueue('gone');
    // Cancelled with its queue: the shovel drops both ends, waits, and declares the queue again.
    await eventually(async () => ((await api('GET', '/api/queues/%2f/gone')).status === 200 ? true : null), 'the queue declared again', 10_000);
    await running(api, 'again');
    ch.sendToQueue('gone', Buffer.from('after'));
    await depth(api, 'gone-copy', 1);
    expect((await drain(ch, 'gone-copy')).map((m) => m.content.toString())).toEqual(['after']);
    expect((await del('again')).status).toBe(204);
  });
});

describe('a shovel in a definitions file', () => {
  it('imports with the vhost the same file makes, and runs there', async () => {
    const defs = {
      vhosts: [{ name: 'shovel-imported' }],
      permissions: [{ user: 'guest', vhost: 'shovel-imported', configure: '.*', write: '.*', read: '.*' }],
      parameters: [{ vhost: 'shovel-imported', component: 'shovel', name: 'imp', value: { 'src-uri': 'amqp://', 'src-queue': 'imp-src', 'dest-uri': 'amqp://', 'dest-queue': 'imp-dst' } }],
    };
    const r = await api('POST', '/api/definitions', { body: defs });
    expect(r.status).toBeLessThan(300);
    await eventually(async () => ((await api('GET', '/api/shovels/shovel-imported')).json as { state: string }[])[0]?.state === 'running' || null, 'the imported shovel running');
    expect((await api('DELETE', '/api/vhosts/shovel-imported')).status).toBe(204);
    await eventually(async () => (((await api('GET', '/api/shovels')).json as unknown[]).length === 0 ? true : null), 'its shovel gone with the vhost');
  });
});
