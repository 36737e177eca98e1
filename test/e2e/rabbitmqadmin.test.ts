// RabbitMQ 3.10.8's own rabbitmqadmin (test/fixtures/rabbitmqadmin, MPL 2.0) run against Warren's
// management port: its common commands must work and have their real effects. Each command's
// output was compared with the same command against a RabbitMQ 3.10.8 node with
// rabbitmq_management (same table columns, same "… declared"/"… deleted" lines, same
// "*** Not found: …" for a missing object, same export file keys).
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { REPO_ROOT } from '../helpers/broker-process.js';
import { apiClient, enc, type Api } from '../helpers/management-client.js';

const ADMIN = path.join(REPO_ROOT, 'test/fixtures/rabbitmqadmin');
let broker: RunningBroker;
let api: Api;
const dir = mkdtempSync(path.join(tmpdir(), 'warren-rabbitmqadmin-'));

function admin(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('/usr/bin/python3', [ADMIN, '-H', '127.0.0.1', '-P', String(broker.managementPort), '-u', 'guest', '-p', 'guest', ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? Number((err as { code?: unknown }).code ?? 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

async function ok(...args: string[]): Promise<string> {
  const r = await admin(...args);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** Rows of rabbitmqadmin's ascii table as cell lists. */
function rows(table: string): string[][] {
  return table
    .split('\n')
    .filter((l) => l.startsWith('|'))
    .map((l) =>
      l
        .slice(1, -1)
        .split('|')
        .map((c) => c.trim()),
    );
}

beforeAll(async () => {
  broker = await startBroker({ managementPort: -1, logLevel: 'silent' });
  api = apiClient(`http://127.0.0.1:${broker.managementPort}`);
});
afterAll(async () => {
  await broker?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('rabbitmqadmin 3.10.8 against Warren', () => {
  it('declares, lists, publishes, gets, purges and deletes (3.10.8: same lines and columns)', async () => {
    expect(await ok('declare', 'queue', 'name=ra-q', 'durable=true')).toBe('queue declared\n');
    expect(await ok('declare', 'exchange', 'name=ra-x', 'type=direct')).toBe('exchange declared\n');
    expect(await ok('declare', 'binding', 'source=ra-x', 'destination=ra-q', 'routing_key=k')).toBe('binding declared\n');
    expect((await api('GET', '/api/queues/%2F/ra-q')).json.durable).toBe(true);
    expect((await api('GET', '/api/exchanges/%2F/ra-x')).json.type).toBe('direct');

    expect(await ok('publish', 'routing_key=ra-q', 'payload=hello')).toBe('Message published\n');
    expect(await ok('publish', 'exchange=ra-x', 'routing_key=k', 'payload=via-x')).toBe('Message published\n');
    expect(await ok('publish', 'exchange=ra-x', 'routing_key=none', 'payload=lost')).toBe('Message published but NOT routed\n');

    // 3.10.8's default columns: queues name/messages, exchanges name/type, bindings source/destination/routing_key.
    const queues = rows(await ok('list', 'queues'));
    expect(queues[0]).toEqual(['name', 'messages']);
    expect(queues).toContainEqual(['ra-q', '2']);
    const exchanges = rows(await ok('list', 'exchanges'));
    expect(exchanges[0]).toEqual(['name', 'type']);
    expect(exchanges).toContainEqual(['ra-x', 'direct']);
    const bindings = rows(await ok('list', 'bindings'));
    expect(bindings[0]).toEqual(['source', 'destination', 'routing_key']);
    // 3.10.8 lists the default exchange's implicit binding too.
    expect(bindings).toContainEqual(['', 'ra-q', 'ra-q']);
    expect(bindings).toContainEqual(['ra-x', 'ra-q', 'k']);

    // get: 3.10.8's columns routing_key, exchange, message_count, payload, payload_bytes, payload_encoding, …, redelivered.
    const got = rows(await ok('get', 'queue=ra-q', 'ackmode=ack_requeue_false'));
    const cols = got[0]!;
    const first = Object.fromEntries(cols.map((c, i) => [c, got[1]![i]]));
    expect(first).toMatchObject({ routing_key: 'ra-q', exchange: '', message_count: '1', payload: 'hello', payload_bytes: '5', payload_encoding: 'string', redelivered: 'False' });
    expect((await api('GET', '/api/queues/%2F/ra-q')).json.messages).toBe(1);

    expect(await ok('purge', 'queue', 'name=ra-q')).toBe('queue purged\n');
    expect((await api('GET', '/api/queues/%2F/ra-q')).json.messages).toBe(0);

    expect(await ok('delete', 'binding', 'source=ra-x', 'destination_type=queue', 'destination=ra-q', 'properties_key=k')).toBe('binding deleted\n');
    expect(await ok('delete', 'exchange', 'name=ra-x')).toBe('exchange deleted\n');
    expect(await ok('delete', 'queue', 'name=ra-q')).toBe('queue deleted\n');
    expect((await api('GET', '/api/queues/%2F/ra-q')).status).toBe(404);
    // 3.10.8: "*** Not found: /api/queues/%2F/ra-q" and exit code 2 (die()).
    const missing = await admin('delete', 'queue', 'name=ra-q');
    expect(missing.code).not.toBe(0);
    expect(missing.stdout + missing.stderr).toContain('Not found: /api/queues/%2F/ra-q');
  });

  it('manages users, vhosts, permissions, policies and vhost limits', async () => {
    expect(await ok('declare', 'user', 'name=ra-user', 'password=pw', 'tags=management')).toBe('user declared\n');
    expect(await ok('declare', 'vhost', 'name=ra-vhost')).toBe('vhost declared\n');
    expect(await ok('declare', 'permission', 'vhost=ra-vhost', 'user=ra-user', 'configure=.*', 'write=.*', 'read=')).toBe('permission declared\n');
    expect(await ok('declare', 'policy', 'name=ra-pol', 'pattern=^ra', 'definition={"max-length":10}', 'apply-to=queues')).toBe('policy declared\n');
    expect(await ok('declare', 'vhost_limit', 'vhost=ra-vhost', 'name=max-queues', 'value=1')).toBe('vhost_limit declared\n');

    expect(rows(await ok('list', 'users'))).toContainEqual(expect.arrayContaining(['ra-user', 'management']));
    expect(rows(await ok('list', 'vhosts'))).toContainEqual(['ra-vhost', '0']);
    const perms = rows(await ok('list', 'permissions'));
    expect(perms[0]).toEqual(['vhost', 'configure', 'read', 'user', 'write']);
    expect(perms).toContainEqual(['ra-vhost', '.*', '', 'ra-user', '.*']);
    expect(rows(await ok('list', 'policies'))).toContainEqual(['/', 'ra-pol', 'queues', '{"max-length": 10}', '^ra', '0']);
    // 3.10.8: list parameters shows the vhost limits as component vhost-limits, name limits.
    expect(JSON.parse(await ok('-f', 'raw_json', 'list', 'parameters'))).toContainEqual({ value: { 'max-queues': 1 }, vhost: 'ra-vhost', component: 'vhost-limits', name: 'limits' });
    expect(await ok('list', 'operator_policies')).toContain('No items');
    // 3.10.8: [{"vhost":"ra-vhost","value":{"max-queues":1}}]
    expect(JSON.parse(await ok('-f', 'raw_json', 'list', 'vhost_limits'))).toEqual([{ vhost: 'ra-vhost', value: { 'max-queues': 1 } }]);

    // The limit is enforced: a second queue in the vhost is refused with 3.10.8's 406 text.
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}/${enc('ra-vhost')}`);
    const ch = await conn.createChannel();
    ch.on('error', () => undefined);
    await ch.assertQueue('one');
    await expect(ch.assertQueue('two')).rejects.toThrow("PRECONDITION_FAILED - cannot declare queue 'two': queue limit in vhost 'ra-vhost' (1) is reached");
    await conn.close().catch(() => undefined);

    expect(await ok('delete', 'vhost_limit', 'vhost=ra-vhost', 'name=max-queues')).toBe('vhost_limit deleted\n');
    expect(await ok('delete', 'policy', 'name=ra-pol')).toBe('policy deleted\n');
    expect(await ok('delete', 'permission', 'vhost=ra-vhost', 'user=ra-user')).toBe('permission deleted\n');
    expect(await ok('delete', 'user', 'name=ra-user')).toBe('user deleted\n');
    expect(await ok('delete', 'vhost', 'name=ra-vhost')).toBe('vhost deleted\n');
    expect((await api('GET', '/api/vhosts/ra-vhost')).status).toBe(404);
    expect((await api('GET', '/api/users/ra-user')).status).toBe(404);
  });

  it('declares, lists and deletes a shovel as a runtime parameter (3.10.8 with rabbitmq_shovel: the same lines, keys sorted)', async () => {
    const value = '{"src-uri":"amqp://","src-queue":"ra-shovel-src","dest-uri":"amqp://","dest-queue":"ra-shovel-dst"}';
    expect(await ok('declare', 'parameter', 'component=shovel', 'name=ra-shovel', `value=${value}`)).toBe('parameter declared\n');
    expect(await ok('declare', 'parameter', 'component=shovel', 'name=ra-other', `value=${value}`)).toBe('parameter declared\n');
    // By name, and the value as RabbitMQ keeps it: a map, its keys in order.
    expect(rows(await ok('list', 'parameters')).slice(1)).toEqual([
      ['/', 'ra-other', 'shovel', '{"dest-queue": "ra-shovel-dst", "dest-uri": "amqp://", "src-queue": "ra-shovel-src", "src-uri": "amqp://"}'],
      ['/', 'ra-shovel', 'shovel', '{"dest-queue": "ra-shovel-dst", "dest-uri": "amqp://", "src-queue": "ra-shovel-src", "src-uri": "amqp://"}'],
    ]);
    const refused = await admin('declare', 'parameter', 'component=shovel', 'name=ra-bad', 'value={"src-uri":"amqp://"}');
    expect([refused.code, refused.stderr]).toEqual([1, '*** Validation failed\n\nMust specify \'src-exchange\' or \'src-queue\'\nKey "dest-uri" not found in ra-bad\n\n\n']);
    expect(await ok('delete', 'parameter', 'component=shovel', 'name=ra-shovel')).toBe('parameter deleted\n');
    expect(await ok('delete', 'parameter', 'component=shovel', 'name=ra-other')).toBe('parameter deleted\n');
    for (const q of ['ra-shovel-src', 'ra-shovel-dst']) await api('DELETE', `/api/queues/%2F/${q}`);
  });

  it('lists connections, channels and consumers, and closes a connection', async () => {
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}`);
    conn.on('error', () => undefined);
    const closed = new Promise<Error | undefined>((r) => conn.once('close', r));
    const ch = await conn.createChannel();
    const q = await ch.assertQueue('', { exclusive: true });
    await ch.consume(q.queue, () => undefined, { consumerTag: 'ra-tag' });
    const conns = rows(await ok('list', 'connections'));
    expect(conns[0]).toEqual(['name', 'user', 'channels']);
    const row = conns.find((r) => r[1] === 'guest');
    expect(row?.[2]).toBe('1');
    expect(rows(await ok('list', 'channels'))[0]).toEqual(['name', 'user']);
    expect(await ok('list', 'consumers')).toContain('ra-tag');
    expect(await ok('close', 'connection', `name=${row![0]}`)).toBe('connection closed\n');
    const err = await closed;
    // 3.10.8: 320 CONNECTION_FORCED - Closed via management plugin
    expect(String(err?.message)).toContain('CONNECTION_FORCED - Closed via management plugin');
  });

  it('shows the overview and lists nodes with mem_used', async () => {
    const ov = rows(await ok('show', 'overview'));
    expect(ov[0]).toEqual(['rabbitmq_version', 'cluster_name', 'queue_totals.messages', 'object_totals.queues']);
    const nodes = rows(await ok('list', 'nodes'));
    expect(nodes[0]).toEqual(['name', 'type', 'mem_used']);
    expect(nodes[1]![1]).toBe('disc');
    expect(Number(nodes[1]![2])).toBeGreaterThan(0);
  });

  it('exports and imports definitions, whole and per vhost', async () => {
    await ok('declare', 'vhost', 'name=ra-ex');
    await ok('-V', 'ra-ex', 'declare', 'queue', 'name=ra-exq');
    await ok('declare', 'vhost_limit', 'vhost=ra-ex', 'name=max-connections', 'value=5');
    const all = path.join(dir, 'all.json');
    const one = path.join(dir, 'one.json');
    expect(await ok('export', all)).toContain(`Exported definitions for 127.0.0.1 to "${all}"`);
    expect(await ok('-V', 'ra-ex', 'export', one)).toContain('Exported definitions');
    const file = JSON.parse(readFileSync(all, 'utf8'));
    // 3.10.8's keys, and a vhost's limits as the parameter vhost-limits/limits.
    for (const k of ['users', 'vhosts', 'permissions', 'topic_permissions', 'parameters', 'global_parameters', 'policies', 'queues', 'exchanges', 'bindings']) expect(file).toHaveProperty(k);
    expect(file.parameters).toContainEqual({ value: { 'max-connections': 5 }, vhost: 'ra-ex', component: 'vhost-limits', name: 'limits' });
    // 3.10.8's per-vhost export: rabbit_version, parameters, policies, queues, exchanges, bindings; no vhost keys.
    const vfile = JSON.parse(readFileSync(one, 'utf8'));
    expect(Object.keys(vfile).sort()).toEqual(['bindings', 'exchanges', 'parameters', 'policies', 'queues', 'rabbit_version']);
    expect(vfile.queues).toEqual([{ name: 'ra-exq', durable: true, auto_delete: false, arguments: {} }]);

    await ok('delete', 'vhost', 'name=ra-ex');
    expect(await ok('import', all)).toContain('Uploaded definitions from "127.0.0.1"');
    expect((await api('GET', '/api/queues/ra-ex/ra-exq')).status).toBe(200);
    expect((await api('GET', '/api/vhost-limits/ra-ex')).json).toEqual([{ vhost: 'ra-ex', value: { 'max-connections': 5 } }]);
    await ok('-V', 'ra-ex', 'delete', 'queue', 'name=ra-exq');
    await ok('-V', 'ra-ex', 'import', one);
    expect((await api('GET', '/api/queues/ra-ex/ra-exq')).status).toBe(200);
    await ok('delete', 'vhost', 'name=ra-ex');
  });
});
