// `warren ctl`: rabbitmqctl-named commands against a running broker's management API, run as a
// child process (node dist/cli.js ctl --url …), checked with amqplib and the API. Needs `npm run build`.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { ChannelModel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import {
  apiClient,
  connectionClosed,
  ctlTable,
  enc,
  eventually,
  runCtl,
  withTimeout,
  type Api,
  type CtlResult,
} from '../helpers/management-client.js';
import { channel, confirmChannel } from '../helpers/channels.js';
import { REPORT_COLUMNS } from '../../src/ctl-report.js';

let broker: RunningBroker;
let api: Api;
let url: string;
let tmp: string;
const openConns: ChannelModel[] = [];

beforeAll(async () => {
  broker = await startBroker({ managementPort: -1, logLevel: 'silent' });
  url = `http://127.0.0.1:${broker.managementPort}`;
  api = apiClient(url);
  tmp = mkdtempSync(path.join(tmpdir(), 'warren-ctl-'));
});

afterAll(async () => {
  await broker?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

afterEach(async () => {
  const conns = openConns.splice(0);
  await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
});

const uid = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

async function ctl(...args: string[]): Promise<CtlResult> {
  return runCtl(url, args);
}

/** Runs a command that must succeed. */
async function ok(...args: string[]): Promise<string> {
  const r = await ctl(...args);
  expect(r.code, `warren ctl ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`).toBe(0);
  return r.stdout;
}

/** Runs fn on a connection to a vhost of its own (guest may use it), deleted afterwards. */
async function inOwnVhost(prefix: string, fn: (vh: string, conn: ChannelModel) => Promise<void>): Promise<void> {
  const vh = uid(prefix);
  await ok('add_vhost', vh);
  await ok('set_permissions', '-p', vh, 'guest', '.*', '.*', '.*');
  const conn = await connect('guest', 'guest', vh);
  try {
    await fn(vh, conn);
  } finally {
    await conn.close().catch(() => undefined);
    await ok('delete_vhost', vh);
  }
}

function table(stdout: string, header: string[]): string[][] {
  const t = ctlTable(stdout, header);
  if (t) return t.rows;
  // An empty list prints no header (rabbitmqctl 3.10.8): nothing but the banner, then.
  const rest = stdout.split('\n').filter((l) => l !== '' && !/^(Listing|Timeout)/.test(l));
  expect(rest, `no header line '${header.join('\\t')}' in:\n${stdout}`).toEqual([]);
  return [];
}

/** Rows of list_users: the tab-separated lines after 'Listing users ...' and its header line. */
function userRows(stdout: string): string[][] {
  const lines = stdout.split('\n').filter((l) => l !== '');
  const i = lines.findIndex((l) => l.startsWith('Listing users'));
  expect(i, stdout).toBeGreaterThanOrEqual(0);
  return lines.slice(i + 2).map((l) => l.split('\t'));
}

async function connect(user = 'guest', pass = 'guest', vhost = '/', port = broker.port): Promise<ChannelModel> {
  const conn = await amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port, username: user, password: pass, vhost });
  conn.on('error', () => undefined);
  openConns.push(conn);
  return conn;
}

function connectFails(user: string, pass: string, vhost = '/'): Promise<Error | null> {
  return amqp
    .connect({ protocol: 'amqp', hostname: '127.0.0.1', port: broker.port, username: user, password: pass, vhost })
    .then((c) => c.close().then(() => null), (e: Error) => e);
}

describe('warren ctl: vhosts, users, permissions', () => {
  it('add_vhost, add_user, set_permissions -p, then list_vhosts / list_users / list_permissions', async () => {
    const vh = uid('ctl-vh');
    const user = uid('ctl-user');

    expect(await ok('add_vhost', vh)).toContain(vh);
    // rabbitmqctl 3.10.8's reminder after the banner; with -q nothing; with json its message object.
    const done = "Done. Don't forget to grant the user permissions to some virtual hosts! See 'rabbitmqctl help set_permissions' to learn more.";
    expect(await ok('add_user', user, 'ctl-pass')).toBe(`Adding user "${user}" ...\n${done}\n`);
    expect(await ok('add_user', '-q', `${user}-q`, 'x')).toBe('');
    const json = JSON.parse(await ok('add_user', '--formatter', 'json', `${user}-j`, 'x'));
    expect(json).toEqual({ message: done, node: (await api('GET', '/api/overview')).json.node, status: 'ok' });
    await ok('delete_user', `${user}-q`);
    await ok('delete_user', `${user}-j`);
    await ok('set_permissions', '-p', vh, user, '^ctl-.*', '.*', '.*');

    const vhosts = table(await ok('list_vhosts'), ['name']);
    expect(vhosts.map((r) => r[0])).toEqual(expect.arrayContaining(['/', vh]));
    expect(vhosts.every((r) => r.length === 1)).toBe(true);
    // tracing and cluster_state as rabbitmqctl 3.10.8 prints them: false, [{node, running}].
    const node = (await api('GET', '/api/overview')).json.node as string;
    expect(table(await ok('list_vhosts', 'name', 'tracing', 'cluster_state'), ['name', 'tracing', 'cluster_state'])).toContainEqual([vh, 'false', `[{${node}, running}]`]);
    expect(await ok('list_vhosts', '--formatter', 'json', 'name', 'cluster_state')).toContain(JSON.stringify({ name: vh, cluster_state: { [node]: 'running' } }));

    // list_users' exact rabbitmqctl format is checked in its own test below.
    const users = userRows(await ok('list_users'));
    expect(users.map((r) => r[0])).toEqual(expect.arrayContaining(['guest', user]));
    expect(users.every((r) => r.length === 2)).toBe(true);

    const perms = table(await ok('list_permissions', '-p', vh), ['user', 'configure', 'write', 'read']);
    expect(perms).toEqual([[user, '^ctl-.*', '.*', '.*']]);
    const rootPerms = table(await ok('list_permissions'), ['user', 'configure', 'write', 'read']);
    expect(rootPerms).toContainEqual(['guest', '.*', '.*', '.*']);
    expect(rootPerms.some((r) => r[0] === user)).toBe(false);

    // The new user can use the new vhost over AMQP within its configure pattern.
    const conn = await connect(user, 'ctl-pass', vh);
    const ch = await channel(conn);
    await ch.assertQueue('ctl-q', { durable: false });
    const ch2 = await channel(conn);
    const err = await ch2.assertQueue('other-q', { durable: false }).then(() => null, (e: Error & { code?: number }) => e);
    expect(err?.code).toBe(403);
    await conn.close();

    // clear_permissions takes the access away.
    await ok('clear_permissions', '-p', vh, user);
    expect(table(await ok('list_permissions', '-p', vh), ['user', 'configure', 'write', 'read'])).toEqual([]);
    expect(await connectFails(user, 'ctl-pass', vh)).toBeInstanceOf(Error);

    await ok('delete_vhost', vh);
    expect(table(await ok('list_vhosts'), ['name']).map((r) => r[0])).not.toContain(vh);
    await ok('delete_user', user);
  });

  it("list_users prints rabbitmqctl's columns: a 'user<TAB>tags' header and tags as [tag1, tag2]", async () => {
    const user = uid('fmt-user');
    await ok('add_user', user, 'fmt-pass');
    await ok('set_user_tags', user, 'monitoring', 'management');
    const out = await ok('list_users');
    await ok('delete_user', user);
    // $ rabbitmqctl list_users
    // Listing users ...
    // user	tags
    // guest	[administrator]
    const users = table(out, ['user', 'tags']);
    expect(users.find((r) => r[0] === 'guest')).toEqual(['guest', '[administrator]']);
    expect(users.find((r) => r[0] === user)).toEqual([user, '[monitoring, management]']);
  });

  it('list_user_permissions <user>, list_parameters and list_global_parameters print what rabbitmqctl 3.10.8 prints', async () => {
    const user = uid('perm-user');
    const vh = uid('perm-vh');
    await ok('add_user', user, 'pw');
    await ok('add_vhost', vh);
    await ok('set_permissions', '-p', vh, user, '^a', '^b', '^c');
    // $ rabbitmqctl list_user_permissions guest
    // Listing permissions for user "guest" ...
    // vhost	configure	write	read
    // /	.*	.*	.*
    const out = await ok('list_user_permissions', user);
    expect(out.split('\n')[0]).toBe(`Listing permissions for user "${user}" ...`);
    expect(table(out, ['vhost', 'configure', 'write', 'read'])).toEqual([[vh, '^a', '^b', '^c']]);
    expect(JSON.parse(await ok('list_user_permissions', user, '--formatter', 'json'))).toEqual([{ vhost: vh, configure: '^a', write: '^b', read: '^c' }]);
    // A missing user: the banner, then 3.10.8's error term on stderr and exit 69.
    const missing = await ctl('list_user_permissions', 'nosuch-user');
    expect([missing.code, missing.stderr.trim()]).toEqual([69, 'Error:\n{:no_such_user, "nosuch-user"}']);
    expect((await ctl('list_user_permissions', user, 'vhost')).code).toBe(64); // no columns, as rabbitmqctl
    await ok('delete_user', user);

    // A vhost limit is a runtime parameter (component vhost-limits); the value is JSON text in every formatter.
    await ok('set_vhost_limits', '-p', vh, '{"max-connections": 7}');
    // $ rabbitmqctl list_parameters
    // Listing runtime parameters for vhost "/" ...
    // component	name	value
    // vhost-limits	limits	{"max-connections":100}
    const params = await ok('list_parameters', '-p', vh);
    expect(params.split('\n')[0]).toBe(`Listing runtime parameters for vhost "${vh}" ...`);
    expect(table(params, ['component', 'name', 'value'])).toEqual([['vhost-limits', 'limits', '{"max-connections":7}']]);
    expect(JSON.parse(await ok('list_parameters', '-p', vh, '--formatter', 'json'))).toEqual([{ component: 'vhost-limits', name: 'limits', value: '{"max-connections":7}' }]);
    expect(table(await ok('list_parameters'), ['component', 'name', 'value']).some((r) => r[2]!.includes('"max-connections":7'))).toBe(false);
    expect((await ok('list_global_parameters')).split('\n')[0]).toBe('Listing global runtime parameters ...');
    await ok('delete_vhost', vh);
  });

  it('set_topic_permissions, list_topic_permissions, list_user_topic_permissions, clear_topic_permissions as rabbitmqctl 3.10.8 (exit codes too)', async () => {
    const user = uid('topic-user');
    await ok('add_user', user, 'pw');
    expect((await ok('set_topic_permissions', user, 'amq.topic', '^a', '^b')).trim()).toBe(`Setting topic permissions on "amq.topic" for user "${user}" in vhost "/" ...`);
    await ok('set_topic_permissions', '-p', '/', user, 'e2', '^c', '^d');
    expect(table(await ok('list_topic_permissions'), ['user', 'exchange', 'write', 'read']).filter((r) => r[0] === user)).toEqual([
      [user, 'amq.topic', '^a', '^b'],
      [user, 'e2', '^c', '^d'],
    ]);
    // rabbitmqctl prints this one without a header line.
    const mine = await ok('list_user_topic_permissions', user);
    expect(mine.split('\n').filter((l) => l !== '')).toEqual([`Listing topic permissions for user "${user}" ...`, '/\tamq.topic\t^a\t^b', '/\te2\t^c\t^d']);
    await ok('clear_topic_permissions', user, 'e2');
    expect(JSON.parse(await ok('list_user_topic_permissions', user, '--formatter', 'json'))).toEqual([{ vhost: '/', exchange: 'amq.topic', write: '^a', read: '^b' }]);
    await ok('clear_topic_permissions', user);
    await ok('clear_topic_permissions', user); // none left: still exit 0
    expect((await ok('list_user_topic_permissions', '-q', user)).trim()).toBe('');
    expect((await ctl('set_topic_permissions', 'nosuch-user', 'x', 'a', 'b')).code).toBe(67);
    expect((await ctl('set_topic_permissions', '-p', uid('no-vh'), user, 'x', 'a', 'b')).code).toBe(69);
    expect((await ctl('set_topic_permissions', user, 'x', '(', 'b')).code).toBe(69);
    expect((await ctl('list_topic_permissions', '-p', uid('no-vh'))).code).toBe(65);
    expect((await ctl('list_user_topic_permissions', 'nosuch-user')).code).toBe(69);
    expect((await ctl('clear_topic_permissions', 'nosuch-user')).code).toBe(67);
    await ok('delete_user', user);
  });

  it('change_password: the old password then fails over AMQP, the new one works', async () => {
    const user = uid('pw-user');
    await ok('add_user', user, 'old-pass');
    await ok('set_permissions', user, '.*', '.*', '.*');
    (await connect(user, 'old-pass')).close();

    await ok('change_password', user, 'new-pass');
    const old = await connectFails(user, 'old-pass');
    expect(old).toBeInstanceOf(Error);
    expect(String(old)).toMatch(/ACCESS_REFUSED|403/);
    const conn = await connect(user, 'new-pass');
    await conn.close();
    await ok('delete_user', user);
  });

  it('set_user_tags changes the tags (and so management API access); delete_user removes the user', async () => {
    const user = uid('tag-user');
    await ok('add_user', user, 'tag-pass');
    await ok('set_permissions', user, '.*', '.*', '.*');
    // No tags: no management API access.
    const denied = await runCtl(url, ['list_queues'], ['--username', user, '--password', 'tag-pass']);
    expect(denied.code).not.toBe(0);

    await ok('set_user_tags', user, 'monitoring', 'management');
    const u = await api('GET', `/api/users/${enc(user)}`);
    expect([...u.json.tags].sort()).toEqual(['management', 'monitoring']);
    const row = userRows(await ok('list_users')).find((r) => r[0] === user);
    expect(row?.[1]).toMatch(/monitoring/);
    expect(row?.[1]).toMatch(/management/);
    // Tags do not touch the password.
    (await connect(user, 'tag-pass')).close();
    const allowed = await runCtl(url, ['list_queues'], ['--username', user, '--password', 'tag-pass']);
    expect(allowed.code, allowed.stdout + allowed.stderr).toBe(0);

    await ok('set_user_tags', user);
    expect((await api('GET', `/api/users/${enc(user)}`)).json.tags).toEqual([]);

    await ok('delete_user', user);
    expect((await api('GET', `/api/users/${enc(user)}`)).status).toBe(404);
    expect(userRows(await ok('list_users')).some((r) => r[0] === user)).toBe(false);
    expect(await connectFails(user, 'tag-pass')).toBeInstanceOf(Error);
    // Deleting it again fails.
    expect((await ctl('delete_user', user)).code).not.toBe(0);
  });
});

describe('warren ctl: queues, exchanges, bindings, connections, consumers', () => {
  it('an empty list prints no header, as rabbitmqctl 3.10.8 (json: an empty array)', async () => {
    const vh = uid('ctl-empty');
    await ok('add_vhost', vh);
    try {
      expect(await ok('-q', 'list_queues', '-p', vh, 'name', 'messages')).toBe('');
      expect(await ok('list_queues', '-p', vh)).toBe(`Timeout: 60.0 seconds ...\nListing queues for vhost ${vh} ...\n`);
      expect(await ok('-q', '--formatter', 'json', 'list_queues', '-p', vh)).toBe('[\n]\n');
    } finally {
      await ok('delete_vhost', vh);
    }
  });

  it('list_queues --local, --online and --offline select as rabbitmqctl 3.10.8 does on one node', async () => {
    await inOwnVhost('ctl-local', async (vh, conn) => {
      const ch = await channel(conn);
      await ch.assertQueue('here', { durable: true });
      const here = `Timeout: 60.0 seconds ...\nListing queues for vhost ${vh} ...\nname\nhere\n`;
      for (const flags of [['--local'], ['--online'], ['--local', '--offline'], ['--online', '--offline']]) {
        expect(await ok('list_queues', '-p', vh, ...flags, 'name'), flags.join(' ')).toBe(here);
      }
      expect(await ok('list_queues', '-p', vh, '--offline', 'name')).toBe(`Timeout: 60.0 seconds ...\nListing queues for vhost ${vh} ...\n`);
    });
  });

  it('list_queues leader, members and online: a quorum queue\'s and a stream\'s node, a classic queue\'s empty (rabbitmqctl 3.10.8)', async () => {
    await inOwnVhost('ctl-leader', async (vh, conn) => {
      const ch = await channel(conn);
      await ch.assertQueue('c', { durable: true });
      await ch.assertQueue('q', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      await ch.assertQueue('s', { durable: true, arguments: { 'x-queue-type': 'stream' } });
      const node = (await api('GET', '/api/overview')).json.node as string;
      // The API as 3.10.8's: a quorum queue's leader, members and online; a stream's members and online.
      const q = (await api('GET', `/api/queues/${enc(vh)}/q`)).json;
      expect([q.leader, q.members, q.online]).toEqual([node, [node], [node]]);
      const st = (await api('GET', `/api/queues/${enc(vh)}/s`)).json;
      expect([st.leader, st.members, st.online]).toEqual([undefined, [node], [node]]);
      expect((await api('GET', `/api/queues/${enc(vh)}/c`)).json.members).toBeUndefined();
      const rows = table(await ok('list_queues', '-p', vh, 'name', 'leader', 'members', 'online'), ['name', 'leader', 'members', 'online']);
      expect(rows.sort()).toEqual([
        ['c', '', '', ''],
        ['q', node, `[${node}]`, `[${node}]`],
        ['s', node, `[${node}]`, `[${node}]`],
      ]);
      const json = (await ok('-q', '--formatter', 'json', 'list_queues', '-p', vh, 'name', 'leader', 'members')).split('\n').filter((l) => l.includes('"name"'));
      expect(json.map((l) => JSON.parse(l.replace(/^,/, '')) as unknown).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)))).toEqual([
        { name: 'c', leader: '', members: '' },
        { name: 'q', leader: node, members: [node] },
        { name: 's', leader: node, members: [node] },
      ]);
    });
  });

  it('list_queues pid, owner_pid, exclusive_consumer_pid, slave_pids, disk_reads, disk_writes; list_exchanges policy; list_channels and list_consumers columns (rabbitmqctl 3.10.8)', async () => {
    await inOwnVhost('ctl-cols', async (vh, conn) => {
      const ch = await confirmChannel(conn);
      await ch.assertQueue('d', { durable: true });
      await ch.assertQueue('x', { exclusive: true });
      await ch.assertQueue('qq', { durable: true, arguments: { 'x-queue-type': 'quorum' } });
      await ch.assertExchange('e', 'fanout');
      for (let i = 0; i < 3; i++) ch.sendToQueue('d', Buffer.from('m'), { persistent: true });
      ch.sendToQueue('x', Buffer.from('m'), { persistent: true }); // not durable: never written
      await ch.waitForConfirms();
      await ch.consume('x', () => undefined, { exclusive: true });
      const cols = ['name', 'owner_pid', 'exclusive_consumer_pid', 'slave_pids', 'synchronised_slave_pids', 'disk_reads', 'disk_writes'];
      const rows = table(await ok('list_queues', '-p', vh, ...cols), cols).sort();
      const connPid = table(await ok('list_connections', 'pid', 'vhost'), ['pid', 'vhost']).find((r) => r[1] === vh)![0]!;
      expect(rows[0]).toEqual(['d', '', '', '', '', '0', '3']);
      expect(rows[1]).toEqual(['qq', '', '', '', '', '', '']);
      expect(rows[2]!.slice(0, 2)).toEqual(['x', connPid]);
      // The exclusive consumer's channel: <node.connection.channel>, beside its connection's <node.connection.0>.
      expect(rows[2]![2]!.startsWith(connPid.replace(/\.0>$/, '.'))).toBe(true);
      expect(rows[2]![2]).toMatch(/\.[1-9]\d*>$/);
      expect(rows[2]!.slice(3)).toEqual(['', '', '0', '0']);
      // Each queue's own pid, as 3.10.8's <node.number.number>: distinct, none a connection's.
      const pids = table(await ok('list_queues', '-p', vh, 'name', 'pid'), ['name', 'pid']).sort();
      expect(pids.map((r) => r[0])).toEqual(['d', 'qq', 'x']);
      for (const [, pid] of pids) expect(pid).toMatch(/^<[^<>\s]+\.0\.[1-9]\d*>$/);
      expect(new Set(pids.map((r) => r[1])).size).toBe(3);
      expect(pids.map((r) => r[1])).not.toContain(connPid);
      // What 3.10.8 prints of a quorum queue and a stream, each with a ready message: their own
      // info keys, empty for a classic queue's others (rabbitmqctl list_queues on the same queues).
      await ch.assertQueue('st', { durable: true, arguments: { 'x-queue-type': 'stream' } });
      ch.sendToQueue('qq', Buffer.from('m'));
      ch.sendToQueue('st', Buffer.from('m'));
      await ch.waitForConfirms();
      const typed = ['name', 'type', 'messages', 'message_bytes', 'messages_persistent', 'exclusive', 'consumer_utilisation', 'head_message_timestamp'];
      const byName = Object.fromEntries(table(await ok('list_queues', '-p', vh, ...typed), typed).map((r) => [r[0], r.slice(1)]));
      expect(byName.d).toEqual(['classic', '3', '3', '3', 'false', '0', '']);
      expect(byName.qq).toEqual(['quorum', '1', '', '', '', '', '']);
      expect(byName.st).toEqual(['stream', '1', '', '', '', '', '']);
      const st = table(await ok('list_queues', '-p', vh, 'name', 'pid', 'messages_ram'), ['name', 'pid', 'messages_ram']).find((r) => r[0] === 'st');
      expect(st).toEqual(['st', '', '']);
      expect(table(await ok('list_exchanges', '-p', vh, 'name', 'policy'), ['name', 'policy'])).toContainEqual(['e', '']);
      const chRows = table(await ok('list_channels', 'vhost', 'messages_unconfirmed', 'messages_uncommitted', 'acks_uncommitted'), ['vhost', 'messages_unconfirmed', 'messages_uncommitted', 'acks_uncommitted']);
      expect(chRows.filter((r) => r[0] === vh)).toEqual([[vh, '0', '0', '0']]);
      expect(table(await ok('list_consumers', '-p', vh, 'queue_name', 'activity_status'), ['queue_name', 'activity_status'])).toEqual([['x', 'up']]);
    });
  });

  it('list_queues name messages consumers, purge_queue, delete_queue', async () => {
    const q = uid('ctl-q');
    const conn = await connect();
    const ch = await channel(conn);
    await ch.assertQueue(q, { durable: true });
    for (let i = 0; i < 3; i++) ch.sendToQueue(q, Buffer.from(`m${i}`), { persistent: true });
    await eventually(async () => (await ch.checkQueue(q)).messageCount === 3, 'three messages');

    let rows = table(await ok('list_queues', 'name', 'messages', 'consumers'), ['name', 'messages', 'consumers']);
    expect(rows).toContainEqual([q, '3', '0']);

    const cch = await channel(conn);
    await cch.prefetch(1);
    const { consumerTag } = await cch.consume(q, () => undefined, { noAck: false });
    await eventually(async () => {
      const r = table(await ok('list_queues', 'name', 'messages', 'consumers'), ['name', 'messages', 'consumers']);
      return r.some((x) => x[0] === q && x[1] === '3' && x[2] === '1');
    }, 'one consumer listed, messages still 3 (ready + unacked)');
    rows = table(await ok('list_queues', 'name', 'messages_ready', 'messages_unacknowledged'), ['name', 'messages_ready', 'messages_unacknowledged']);
    expect(rows).toContainEqual([q, '2', '1']);
    // Default columns: name and messages.
    expect(table(await ok('list_queues'), ['name', 'messages'])).toContainEqual([q, '3']);
    await cch.cancel(consumerTag);
    await cch.close();

    const purge = await ok('purge_queue', q);
    expect(purge).toContain(q);
    expect((await ch.checkQueue(q)).messageCount).toBe(0);
    expect(table(await ok('list_queues', 'name', 'messages'), ['name', 'messages'])).toContainEqual([q, '0']);

    await ok('delete_queue', q);
    expect(table(await ok('list_queues', 'name'), ['name']).map((r) => r[0])).not.toContain(q);
    const ch2 = await channel(conn);
    const err = await ch2.checkQueue(q).then(() => null, (e: Error & { code?: number }) => e);
    expect(err?.code).toBe(404);

    // A queue that does not exist: non-zero exit.
    expect((await ctl('delete_queue', uid('missing'))).code).not.toBe(0);
    expect((await ctl('purge_queue', uid('missing'))).code).not.toBe(0);
  });

  it('list_exchanges, list_bindings and list_consumers', async () => {
    const ex = uid('ctl-ex');
    const q = uid('ctl-bq');
    const conn = await connect();
    const ch = await channel(conn);
    await ch.assertExchange(ex, 'topic', { durable: false });
    await ch.assertQueue(q, { durable: false });
    await ch.bindQueue(q, ex, 'ctl.#');
    const { consumerTag } = await ch.consume(q, () => undefined, { noAck: false });

    const exchanges = table(await ok('list_exchanges'), ['name', 'type']);
    expect(exchanges).toContainEqual([ex, 'topic']);
    for (const [n, t] of [['amq.direct', 'direct'], ['amq.fanout', 'fanout'], ['amq.topic', 'topic'], ['amq.headers', 'headers']]) {
      expect(exchanges).toContainEqual([n, t]);
    }
    expect(table(await ok('list_exchanges', 'name', 'type', 'durable'), ['name', 'type', 'durable'])).toContainEqual([ex, 'topic', 'false']);

    const bindingsOut = await ok('list_bindings');
    const bindingLine = bindingsOut.split('\n').find((l) => l.includes(ex) && l.includes(q));
    expect(bindingLine, bindingsOut).toBeDefined();
    const cells = bindingLine!.split('\t');
    expect(cells).toContain(ex);
    expect(cells).toContain(q);
    expect(cells).toContain('queue');
    expect(cells).toContain('ctl.#');
    // Source before destination, as rabbitmqctl prints them.
    expect(cells.indexOf(ex)).toBeLessThan(cells.indexOf(q));

    const consumersOut = await ok('list_consumers');
    const consumerLine = consumersOut.split('\n').find((l) => l.includes(consumerTag));
    expect(consumerLine, consumersOut).toBeDefined();
    const cc = consumerLine!.split('\t');
    expect(cc[0]).toBe(q);
    expect(cc).toContain(consumerTag);
    expect(cc).toContain('true'); // ack_required

    await ch.cancel(consumerTag);
    expect((await ok('list_consumers')).includes(consumerTag)).toBe(false);
    await ch.deleteQueue(q);
    await ch.deleteExchange(ex);
  });

  it('authenticate_user, clear_password, set_vhost_tags and close_all_user_connections print and exit as rabbitmqctl 3.10.8', async () => {
    const user = uid('ctl-auth');
    await ok('add_user', user, 'pw1');
    await ok('set_permissions', user, '.*', '.*', '.*');
    expect(await ok('authenticate_user', user, 'pw1')).toBe(`Authenticating user "${user}" ...\nSuccess\n`);
    const wrong = await ctl('authenticate_user', user, 'wrong');
    expect([wrong.code, wrong.stderr]).toEqual([65, `Error:\nError: failed to authenticate user "${user}"\nuser '${user}' - invalid credentials\n`]);
    expect((await ctl('authenticate_user', 'ctl-nobody', 'x')).code).toBe(65);

    // The user's connections, and only theirs, are closed with the explanation.
    const mine = await connect(user, 'pw1');
    mine.on('error', () => undefined);
    const closed = connectionClosed(mine);
    const other = await connect();
    expect(await ok('close_all_user_connections', user, 'maintenance')).toBe(`Closing connections of user ${user}, reason: maintenance...\n`);
    const err = await withTimeout(closed, 5000, 'the user connection closed by ctl');
    expect([err?.code, err?.message]).toEqual([320, expect.stringContaining('maintenance')]);
    await other.createChannel(); // still open
    expect((await ctl('close_all_user_connections', 'ctl-nobody', 'x')).code).toBe(0);

    // No password at all: the old one no longer logs in, over the API or AMQP.
    expect(await ok('clear_password', user)).toBe(`Clearing password for user "${user}" ...\n`);
    expect((await ctl('authenticate_user', user, 'pw1')).code).toBe(65);
    expect(await connectFails(user, 'pw1')).not.toBeNull();
    const missing = await ctl('clear_password', 'ctl-nobody');
    expect([missing.code, missing.stderr]).toEqual([69, 'Error:\n{:no_such_user, "ctl-nobody"}\n']);

    const vh = uid('ctl-tags');
    await ok('add_vhost', vh);
    expect(await ok('set_vhost_tags', vh, 'a', 'b')).toBe(`Setting tags for virtual host "${vh}" to [a, b] ...\n`);
    expect((await api('GET', `/api/vhosts/${enc(vh)}`)).json.tags).toEqual(['a', 'b']);
    await ok('set_vhost_tags', vh);
    expect((await api('GET', `/api/vhosts/${enc(vh)}`)).json.tags).toEqual([]);
    const noVhost = await ctl('set_vhost_tags', 'ctl-no-vhost', 'a');
    expect([noVhost.code, noVhost.stderr]).toEqual([65, 'Error:\nVirtual host "ctl-no-vhost" does not exist\n']);
    await ok('delete_vhost', vh);
    await ok('delete_user', user);
  });

  it('list_connections, then close_connection <name> closes the amqplib connection with 320', async () => {
    const conn = await amqp.connect(
      { protocol: 'amqp', hostname: '127.0.0.1', port: broker.port, username: 'guest', password: 'guest', vhost: '/' },
      { clientProperties: { connection_name: 'ctl-victim' } },
    );
    conn.on('error', () => undefined);
    openConns.push(conn);
    const ch = await channel(conn);
    await ch.assertQueue('', { exclusive: true });
    // Find our connection by its local port, which the broker sees as the peer port.
    const localPort = (conn.connection as unknown as { stream: { localPort: number } }).stream.localPort;

    const rows = table(await ok('list_connections', 'name', 'user', 'peer_port', 'state'), ['name', 'user', 'peer_port', 'state']);
    const row = rows.find((r) => r[2] === String(localPort));
    expect(row, JSON.stringify(rows)).toBeDefined();
    expect(row![1]).toBe('guest');
    expect(row![3]).toBe('running');
    const name = row![0]!;
    expect(name).toBe(`127.0.0.1:${localPort} -> 127.0.0.1:${broker.port}`);
    // Default columns include user, peer_host, peer_port and state.
    const dflt = await ok('list_connections');
    expect(dflt.split('\n').some((l) => l.split('\t').includes(String(localPort)) && l.split('\t').includes('guest'))).toBe(true);

    const closed = connectionClosed(conn);
    await ok('close_connection', name, 'go away now');
    const err = await withTimeout(closed, 5000, 'connection closed by ctl');
    expect(err?.code).toBe(320);
    expect(err?.message).toContain('go away now');

    await eventually(async () => {
      const r = table(await ok('list_connections', 'name'), ['name']);
      return !r.some((x) => x[0] === name);
    }, 'connection gone');
    expect((await ctl('close_connection', name)).code).not.toBe(0);
  });

  it('list_connections pid, then close_connection <pid>, as scripts written for rabbitmqctl do', async () => {
    const conn = await amqp.connect({ protocol: 'amqp', hostname: '127.0.0.1', port: broker.port, username: 'guest', password: 'guest', vhost: '/' });
    conn.on('error', () => undefined);
    openConns.push(conn);
    const localPort = (conn.connection as unknown as { stream: { localPort: number } }).stream.localPort;
    // `rabbitmqctl list_connections -q pid peer_port`: a header line, then one row per connection.
    const rows = table(await ok('list_connections', '-q', 'pid', 'peer_port'), ['pid', 'peer_port']);
    const row = rows.find((r) => r[1] === String(localPort));
    expect(row, JSON.stringify(rows)).toBeDefined();
    const pid = row![0]!;
    // An Erlang pid's shape, which rabbitmqctl's close_connection checks: <node.number.number>.
    expect(pid).toMatch(/^<[^<>\s]+\.\d+\.\d+>$/);
    expect(new Set(rows.map((r) => r[0])).size).toBe(rows.length);
    // The API's connection objects stay 3.10.8's: the pid only when asked for as a column.
    const listed = (await api('GET', '/api/connections')).json as Record<string, unknown>[];
    expect(listed.every((c) => !('pid' in c))).toBe(true);
    const picked = (await api('GET', '/api/connections?columns=name,pid')).json as Record<string, unknown>[];
    expect(picked.map((c) => c.pid)).toContain(pid);

    const closed = connectionClosed(conn);
    expect(await ok('close_connection', pid, 'closed by pid')).toContain(`Closing connection ${pid}, reason: closed by pid...`);
    const err = await withTimeout(closed, 5000, 'connection closed by ctl');
    expect(err?.code).toBe(320);
    expect(err?.message).toContain('CONNECTION_FORCED - closed by pid');
    // A pid no connection has (gone meanwhile) is not an error, as in rabbitmqctl 3.10.8.
    expect((await ctl('close_connection', pid, 'again')).code).toBe(0);
  });

  it('set_parameter and clear_parameter, with rabbitmqctl 3.10.8\'s lines, texts and exit codes', async () => {
    const set = await ctl('set_parameter', 'federation-upstream', 'ctl-up', '{"uri":"amqp://127.0.0.1:1","expires":3600000}');
    expect([set.code, set.stdout]).toEqual([0, 'Setting runtime parameter "ctl-up" for component "federation-upstream" to "{"uri":"amqp://127.0.0.1:1","expires":3600000}" in vhost "/" ...\n']);
    expect(table(await ok('list_parameters'), ['component', 'name', 'value'])).toContainEqual(['federation-upstream', 'ctl-up', '{"expires":3600000,"uri":"amqp://127.0.0.1:1"}']);
    expect((await api('GET', '/api/parameters/federation-upstream/%2F/ctl-up')).json.value).toEqual({ uri: 'amqp://127.0.0.1:1', expires: 3600000 });
    // The broker's checks, unescaped (the API's reason is HTML), and the blank line rabbitmqctl ends them with.
    const bad = await ctl('set_parameter', 'federation-upstream', 'ctl-up2', '{"uri":"amqp://x","ack-mode":"bogus"}');
    expect([bad.code, bad.stderr]).toEqual([69, 'Error:\nValidation failed\n\nack-mode should be one of [<<"no-ack">>,<<"on-publish">>,<<"on-confirm">>], actually was <<"bogus">>\n\n']);
    const unknown = await ctl('set_parameter', 'nosuch', 'x', '{}');
    expect([unknown.code, unknown.stderr]).toEqual([69, 'Error:\nValidation failed\n\ncomponent nosuch not found\n\n']);
    expect((await ctl('set_parameter', 'federation-upstream', 'x', '{"uri":')).code).toBe(69);
    const noVhost = await ctl('set_parameter', '-p', 'ctl-nov', 'federation-upstream', 'x', '{"uri":"amqp://x"}');
    expect([noVhost.code, noVhost.stderr]).toEqual([65, "Virtual host 'ctl-nov' does not exist\n"]);
    expect(await ok('clear_parameter', 'federation-upstream', 'ctl-up')).toBe('Clearing runtime parameter "ctl-up" for component "federation-upstream" on vhost "/" ...\n');
    const again = await ctl('clear_parameter', 'federation-upstream', 'ctl-up');
    expect([again.code, again.stderr]).toEqual([69, 'Error:\nParameter does not exist\n']);
    expect((await ctl('set_parameter', 'federation-upstream', 'x')).code).toBe(64);
  });

  it('list_feature_flags and enable_feature_flag; /api/feature-flags (administrators) and /api/auth (anyone), as 3.10.8', async () => {
    const rows = table(await ok('list_feature_flags'), ['name', 'state']);
    expect(rows.map((r) => r[0])).toEqual([
      'classic_mirrored_queue_version',
      'drop_unroutable_metric',
      'empty_basic_get_metric',
      'implicit_default_bindings',
      'maintenance_mode_status',
      'quorum_queue',
      'stream_queue',
      'user_limits',
      'virtual_host_metadata',
    ]);
    expect(rows.every((r) => r[1] === 'enabled')).toBe(true);
    expect(await ok('enable_feature_flag', 'all')).toBe('Enabling all feature flags ...\n');
    expect(await ok('enable_feature_flag', 'quorum_queue')).toBe('Enabling feature flag "quorum_queue" ...\n');
    const unknown = await ctl('enable_feature_flag', 'nosuch');
    const node = (await api('GET', '/api/overview')).json.node as string;
    expect([unknown.code, unknown.stderr]).toEqual([64, `Error:\nThis feature flag is not supported by node ${node}\n`]);
    expect((await api('GET', '/api/feature-flags')).json[5]).toEqual({
      name: 'quorum_queue',
      desc: 'Support queues of type `quorum`',
      doc_url: 'https://www.rabbitmq.com/quorum-queues.html',
      state: 'enabled',
      stability: 'stable',
      provided_by: 'rabbit',
    });
    expect((await api('PUT', '/api/feature-flags/nosuch/enable', { body: {} })).json).toEqual({ error: 'bad_request', reason: 'unsupported' });
    const mon = uid('ctl-ff-mon');
    await ok('add_user', mon, 'pw');
    await ok('set_user_tags', mon, 'monitoring');
    const asMon = await fetch(`${url}/api/feature-flags`, { headers: { authorization: `Basic ${Buffer.from(`${mon}:pw`).toString('base64')}` } });
    expect([asMon.status, await asMon.json()]).toEqual([401, { error: 'not_authorised', reason: 'Not administrator user' }]);
    await ok('delete_user', mon);
    // A login page asks this before anyone logs in.
    const auth = await fetch(`${url}/api/auth`);
    expect([auth.status, await auth.json()]).toEqual([200, { enable_uaa: false, uaa_client_id: '', uaa_location: '' }]);
  });

  it('node_health_check and list_node_auth_attempt_stats print as rabbitmqctl 3.10.8', async () => {
    const node = (await api('GET', '/api/overview')).json.node as string;
    const health = await ok('node_health_check');
    expect(health.split('\n').slice(0, 3)).toEqual([
      'This command is DEPRECATED and will be removed in a future version.',
      'It performs intrusive, opinionated health checks and requires a fully booted node.',
      'Use one of the options covered in https://www.rabbitmq.com/monitoring.html#health-checks instead.',
    ]);
    expect(health.split('\n').slice(3)).toEqual(['Timeout: 70 seconds ...', `Checking health of node ${node} ...`, 'Health check passed', '']);
    expect(await ok('node_health_check', '-q')).toBe('Health check passed\n');

    expect((await api('DELETE', `/api/auth/attempts/${enc(node)}`)).status).toBe(204);
    await expect(amqp.connect(`amqp://guest:wrong@127.0.0.1:${broker.port}`)).rejects.toThrow();
    openConns.push(await connect());
    const stats = await ok('list_node_auth_attempt_stats');
    expect(stats.split('\n').slice(0, 3)).toEqual(['Listing authentication', ` attempts for node "${node}" ...`, 'protocol\tauth_attempts\tauth_attempts_failed\tauth_attempts_succeeded']);
    // The command's own API requests are HTTP logins (rabbitmqctl talks Erlang distribution instead).
    expect(stats).toContain('\namqp091\t2\t1\t1\n');
    const json = JSON.parse(await ok('list_node_auth_attempt_stats', '--formatter', 'json'));
    expect(json).toMatchObject({ node, result: 'ok' });
    expect(json.attempts).toContainEqual({ auth_attempts: 2, auth_attempts_failed: 1, auth_attempts_succeeded: 1, protocol: 'amqp091' });
    expect(await ok('list_node_auth_attempt_stats', '--by-source')).toBe(`Listing authentication\n attempts for node "${node}" ...\nNode ${node} reported no authentication attempt stats\n`);
  });

  it('a -p vhost that does not exist, as each rabbitmqctl 3.10.8 command answers it', async () => {
    const nov = uid('ctl-nov');
    const bare = `Virtual host '${nov}' does not exist\n`;
    // Lists of a vhost's settings refuse it; lists of its objects are empty.
    for (const cmd of ['list_permissions', 'list_parameters', 'list_policies', 'list_operator_policies', 'list_topic_permissions', 'list_vhost_limits']) {
      const r = await ctl(cmd, '-q', '-p', nov);
      expect([cmd, r.code, r.stdout, r.stderr]).toEqual([cmd, 65, '', bare]);
    }
    for (const cmd of ['list_queues', 'list_exchanges', 'list_bindings', 'list_consumers']) {
      const r = await ctl(cmd, '-q', '-p', nov);
      expect([cmd, r.code, r.stdout, r.stderr]).toEqual([cmd, 0, '', '']);
    }
    const grant = `Error:\nVirtual host ${nov} does not exist\n`;
    for (const args of [['set_permissions', 'guest', '.*', '.*', '.*'], ['clear_permissions', 'guest'], ['clear_topic_permissions', 'guest']]) {
      const r = await ctl(args[0]!, '-q', '-p', nov, ...args.slice(1));
      expect([args[0], r.code, r.stderr]).toEqual([args[0], 69, grant]);
    }
    for (const args of [['set_policy', 'p', '.*', '{"max-length":1}'], ['set_operator_policy', 'p', '.*', '{"max-length":1}'], ['set_vhost_limits', '{"max-connections":1}']]) {
      const r = await ctl(args[0]!, '-q', '-p', nov, ...args.slice(1));
      expect([args[0], r.code, r.stderr]).toEqual([args[0], 65, bare]);
    }
    for (const args of [['clear_vhost_limits'], ['clear_parameter', 'shovel', 'x'], ['clear_policy', 'x']]) {
      const r = await ctl(args[0]!, '-q', '-p', nov, ...args.slice(1));
      expect([args[0], r.code, r.stderr]).toEqual([args[0], 69, 'Error:\nParameter does not exist\n']);
    }
    const purge = await ctl('purge_queue', '-p', nov, 'q');
    expect([purge.code, purge.stdout, purge.stderr]).toEqual([69, `Purging queue 'q' in vhost '${nov}' ...\n`, 'Error:\nnot_found\n']);
    // No limits to clear on a vhost that is there: 69 as well.
    expect((await ctl('clear_vhost_limits')).code).toBe(69);
  });

  it('status prints rabbitmqctl 3.10.8\'s report: its sections, line names, units and JSON keys', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = uid('status-q');
    await ch.assertQueue(q, { durable: false });
    ch.sendToQueue(q, Buffer.from('x'));
    await eventually(async () => (await ch.checkQueue(q)).messageCount === 1, 'message in');
    const ov = (await api('GET', '/api/overview')).json;
    const vhosts = (await api('GET', '/api/vhosts')).json.length;

    const out = await ok('status');
    const lines = out.split('\n');
    expect(lines[0]).toBe(`Status of node ${ov.node} ...`);
    // Section titles in bold, escape codes and all, as 3.10.8 prints them into a pipe.
    const titles = lines.filter((l) => l.startsWith('\x1b[1m')).map((l) => l.replace(/\x1b\[[01]m/g, ''));
    expect(titles).toEqual(['Runtime', 'Plugins', 'Data directory', 'Config files', 'Log file(s)', 'Alarms', 'Memory', 'File Descriptors', 'Free Disk Space', 'Totals', 'Listeners']);
    expect(out).toContain(`\nOS PID: ${process.pid}\n`);
    expect(out).toContain(`\nNode name: ${ov.node}\n`);
    expect(out).toMatch(/^Uptime \(seconds\): \d+$/m);
    expect(out).toContain('\x1b[1mAlarms\x1b[0m\n\n(none)\n');
    expect(out).toMatch(/^Total memory used: \d+\.\d+ gb$/m);
    expect(out).toMatch(/^Memory high watermark setting: 0\.4 of available memory, computed to: \d+\.\d+ gb$/m);
    expect(out).toMatch(/^Low free disk space watermark: 0\.05 gb$/m);
    expect(out).toMatch(/^Total: \d+, limit: \d+$/m);
    expect(out).toContain(`\nConnection count: ${ov.object_totals.connections}\nQueue count: ${ov.object_totals.queues}\nVirtual host count: ${vhosts}\n`);
    expect(Number(/^Connection count: (\d+)$/m.exec(out)![1])).toBeGreaterThanOrEqual(1);
    expect(out).toMatch(/^Interface: [^,]+, port: \d+, protocol: amqp, purpose: AMQP 0-9-1 and AMQP 1\.0$/m);
    // -q leaves the banner out; --unit as rabbitmqctl's (decimal multiples), an unknown one refused.
    expect((await ok('status', '-q')).split('\n')[0]).toBe('\x1b[1mRuntime\x1b[0m');
    expect(await ok('status', '--unit', 'bytes')).toMatch(/^Low free disk space watermark: 50000000 bytes$/m);
    expect(await ok('status', '--unit', 'mb')).toMatch(/^Low free disk space watermark: 50\.0 mb$/m);
    const bad = await ctl('status', '--unit', 'xx');
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain("unit 'xx' is not supported. Please use one of: bytes, mb, gb");
    const j = JSON.parse(await ok('status', '--formatter', 'json'));
    expect(j.pid).toBe(process.pid);
    expect(j.totals).toEqual({ virtual_host_count: vhosts, connection_count: ov.object_totals.connections, queue_count: ov.object_totals.queues });
    expect(j.vm_memory_high_watermark_setting).toEqual({ relative: 0.4 });
    expect(j.disk_free_limit).toBe(50000000);
    expect(j.alarms).toEqual([]);
    await ch.deleteQueue(q);
  });
});

describe('warren ctl: never ignores what it does not understand (exit 64, as rabbitmqctl)', () => {
  /** A queue holding n persistent messages, confirmed. */
  async function fullQueue(n: number): Promise<string> {
    const q = uid('full-q');
    const ch = await confirmChannel(await connect());
    await ch.assertQueue(q, { durable: true });
    for (let i = 0; i < n; i++) ch.sendToQueue(q, Buffer.from(`m${i}`), { persistent: true });
    await ch.waitForConfirms();
    return q;
  }
  const depth = async (q: string): Promise<number> => (await api('GET', `/api/queues/%2F/${enc(q)}`)).json.messages_ready;
  /** A usage error: exit 64, a message on stderr naming what was wrong, nothing on stdout. */
  function usage(r: CtlResult, mentions: RegExp): void {
    expect(r.code, r.stdout + r.stderr).toBe(64);
    expect(r.stderr).toMatch(mentions);
    expect(r.stdout).toBe('');
  }

  it('delete_queue --if-empty / -e refuses a queue holding 5,000 messages (exit 64, "Queue is not empty"); an empty one goes', async () => {
    const q = await fullQueue(5000);
    for (const flag of ['--if-empty', '-e']) {
      const r = await ctl('delete_queue', q, flag);
      // $ rabbitmqctl delete_queue full --if-empty
      // Deleting queue 'full' on vhost '/' if queue is empty ...   (stdout)
      // Error:                                                      (stderr)
      // Queue is not empty
      // exit 64
      expect(r.code, r.stdout + r.stderr).toBe(64);
      expect(r.stdout).toBe(`Deleting queue '${q}' on vhost '/' if queue is empty ...\n`);
      expect(r.stderr).toBe('Error:\nQueue is not empty\n');
      expect(await depth(q)).toBe(5000);
    }
    await api('DELETE', `/api/queues/%2F/${enc(q)}/contents`);
    expect(await ok('delete_queue', q, '--if-empty')).toBe(
      `Deleting queue '${q}' on vhost '/' if queue is empty ...\nQueue was successfully deleted with 0 ready messages\n`,
    );
    expect((await api('GET', `/api/queues/%2F/${enc(q)}`)).status).toBe(404);
  });

  it('delete_queue --if-unused refuses a queue with a consumer ("Queue is in use"); both flags together', async () => {
    const q = uid('used-q');
    const ch = await channel(await connect());
    await ch.assertQueue(q, { durable: false });
    const { consumerTag } = await ch.consume(q, () => undefined);
    const r = await ctl('delete_queue', q, '--if-unused');
    expect(r.code, r.stdout + r.stderr).toBe(64);
    expect(r.stderr).toBe('Error:\nQueue is in use\n');
    const both = await ctl('delete_queue', '--if-empty', q, '--if-unused');
    expect(both.stdout).toBe(`Deleting queue '${q}' on vhost '/' if queue is empty and if queue is unused ...\n`);
    expect(both.code).toBe(64);
    expect((await api('GET', `/api/queues/%2F/${enc(q)}`)).status).toBe(200);
    await ch.cancel(consumerTag);
    await ok('delete_queue', q, '--if-unused', '--if-empty');
    expect((await api('GET', `/api/queues/%2F/${enc(q)}`)).status).toBe(404);
    // A queue that is not there, as rabbitmqctl words it.
    const missing = await ctl('delete_queue', q);
    expect(missing.code).toBe(64);
    expect(missing.stderr).toBe('Error:\nQueue not found\n');
  });

  it('an unknown or misspelt flag is an error and deletes nothing', async () => {
    const q = await fullQueue(3);
    usage(await ctl('delete_queue', q, '--if-emtpy'), /unknown option --if-emtpy/);
    usage(await ctl('delete_queue', q, '--force'), /unknown option --force/);
    // rabbitmqctl's -u (--if-unused) is --username here: without a value it cannot mean a user.
    usage(await ctl('delete_queue', q, '-u'), /-u needs a value/);
    // Flags of another command.
    usage(await ctl('list_queues', '--if-empty'), /--if-empty is not valid for list_queues/);
    usage(await ctl('list_queues', '--bogus'), /unknown option --bogus/);
    usage(await ctl('list_queues', '--quiet=yes'), /--quiet takes no value/);
    // Too many or too few arguments.
    usage(await ctl('delete_queue', q, 'another-queue'), /too many arguments/);
    usage(await ctl('delete_queue'), /not enough arguments/);
    usage(await ctl('list_users', 'name'), /too many arguments/);
    expect(await depth(q)).toBe(3);
    await ok('delete_queue', q);
  });

  it('an unknown column is an error, not an empty column ("Info key(s) … are not supported")', async () => {
    const r = await ctl('list_queues', 'name', 'mesages', 'bogus');
    usage(r, /Info key\(s\) mesages,bogus are not supported/);
    expect(r.stderr).toMatch(/must be one of .*messages_ready/);
    usage(await ctl('list_exchanges', 'name', 'colour'), /colour/);
    // rabbitmqctl's own names work: list_bindings source_name … and list_consumers queue_name.
    // (An empty list prints nothing; a list that has rows, its header first.)
    expect(await ok('list_bindings', '-q', 'source_name', 'destination_kind')).toMatch(/^(source_name\tdestination_kind\n|$)/);
    expect(await ok('list_consumers', '-q', 'queue_name', 'consumer_tag')).toMatch(/^(queue_name\tconsumer_tag\n|$)/);
  });

  it('-q / --quiet is a switch: no "Listing queues …" line, and every column asked for is printed', async () => {
    const q = await fullQueue(2);
    // $ rabbitmqctl list_queues -q name messages
    // name	messages
    // full	5
    for (const quiet of ['-q', '--quiet']) {
      const out = await ok('list_queues', quiet, 'name', 'messages');
      expect(out).not.toMatch(/Listing/);
      expect(out.split('\n')[0]).toBe('name\tmessages');
      expect(table(out, ['name', 'messages'])).toContainEqual([q, '2']);
    }
    expect((await ok('list_queues', 'name')).split('\n').slice(0, 2)).toEqual(['Timeout: 60.0 seconds ...', 'Listing queues for vhost / ...']);
    // Quiet applies to every command's informational lines.
    expect(await ok('purge_queue', '-q', q)).toBe('');
    expect(await ok('delete_queue', '--quiet', q)).toBe('');
  });

  it('--no-table-headers drops the header line; -s / --silent is both', async () => {
    const q = await fullQueue(1);
    const out = await ok('list_queues', '--no-table-headers', 'name', 'messages');
    expect(out.split('\n')[1]).toBe('Listing queues for vhost / ...');
    expect(out).not.toMatch(/^name\tmessages$/m);
    expect(out.split('\n')).toContain(`${q}\t1`);
    for (const silent of ['-s', '--silent']) {
      const lines = (await ok('list_queues', silent, 'name', 'messages')).split('\n').filter((l) => l !== '');
      expect(lines).toContain(`${q}\t1`);
      expect(lines.every((l) => !/Timeout|Listing|^name\t/.test(l))).toBe(true);
    }
    await ok('delete_queue', q);
  });

  it('--formatter json prints the rows as rabbitmqctl does (no banner, numbers as numbers); pretty_table and csv; unknown → 64', async () => {
    const q = await fullQueue(4);
    // $ rabbitmqctl list_queues --formatter json name messages consumers
    // [
    // {"name":"used","messages":0,"consumers":1}
    // ,{"name":"full","messages":5,"consumers":0}
    // ]
    const out = await ok('list_queues', '--formatter', 'json', 'name', 'messages', 'consumers');
    const lines = out.split('\n').filter((l) => l !== '');
    expect(lines[0]).toBe('[');
    expect(lines[lines.length - 1]).toBe(']');
    expect(lines.slice(2, -1).every((l) => l.startsWith(',{'))).toBe(true);
    const rows = JSON.parse(out) as Array<{ name: string; messages: number; consumers: number }>;
    expect(rows).toContainEqual({ name: q, messages: 4, consumers: 0 });
    expect(Object.keys(rows[0]!)).toEqual(['name', 'messages', 'consumers']);
    // --formatter=json, and list_users' tags as a list.
    const users = JSON.parse(await ok('list_users', '--formatter=json')) as Array<{ user: string; tags: string[] }>;
    expect(users).toContainEqual({ user: 'guest', tags: ['administrator'] });
    // An empty list is still JSON.
    expect(JSON.parse(await ok('list_consumers', '-p', uid('no-such-vhost'), '--formatter', 'json'))).toEqual([]);

    const pretty = await ok('list_queues', '--formatter', 'pretty_table', 'name', 'messages');
    expect(pretty).toMatch(/^┌─+┬─+┐$/m);
    expect(pretty).toMatch(/^│ name +│ messages │$/m);
    expect(pretty).toMatch(new RegExp(`^│ ${q} +│ 4 +│$`, 'm'));
    expect(await ok('list_queues', '-q', '--formatter', 'csv', 'name', 'messages')).toMatch(new RegExp(`^"name","messages"\n[^]*^"${q}","4"$`, 'm'));
    expect(table(await ok('list_queues', '--formatter', 'table', 'name', 'messages'), ['name', 'messages'])).toContainEqual([q, '4']);

    usage(await ctl('list_queues', '--formatter', 'xml'), /unknown formatter 'xml'/);
    usage(await ctl('list_queues', '--formatter'), /--formatter needs a value/);
    await ok('delete_queue', q);
  });
});

describe('warren ctl: definitions and errors', () => {
  it('export_definitions to a file, import_definitions into a second broker: same queues, exchanges, bindings, users', async () => {
    const vh = uid('exp-vh');
    const q = uid('exp-q');
    const ex = uid('exp-ex');
    const user = uid('exp-user');
    await ok('add_vhost', vh);
    await ok('add_user', user, 'exp-pass');
    await ok('set_permissions', '-p', vh, user, '.*', '.*', '.*');
    // As with rabbitmqctl, add_vhost gives nobody permissions; declaring there through the API needs them.
    await ok('set_permissions', '-p', vh, 'guest', '.*', '.*', '.*');
    const conn = await connect('guest', 'guest', '/');
    const ch = await channel(conn);
    await ch.assertQueue(q, { durable: true, arguments: { 'x-max-length': 5 } });
    await ch.assertExchange(ex, 'direct', { durable: true });
    await ch.bindQueue(q, ex, 'exp-key');
    expect((await api('PUT', `/api/queues/${enc(vh)}/${enc(q)}`, { body: { durable: true } })).status).toBe(201);

    const file = path.join(tmp, 'defs.json');
    const exported = await ok('export_definitions', file);
    expect(exported).toContain(file);
    const defs = JSON.parse(readFileSync(file, 'utf8'));
    expect(defs.queues).toContainEqual(expect.objectContaining({ name: q, vhost: '/', durable: true, arguments: { 'x-max-length': 5 } }));
    expect(defs.queues).toContainEqual(expect.objectContaining({ name: q, vhost: vh }));
    expect(defs.users).toContainEqual(expect.objectContaining({ name: user, hashing_algorithm: 'rabbit_password_hashing_sha256' }));
    expect(JSON.stringify(defs)).not.toContain('exp-pass');

    // '-' writes to stdout.
    const toStdout = JSON.parse(await ok('export_definitions', '-'));
    expect(toStdout.queues.map((x: { name: string }) => x.name)).toContain(q);

    const second = await startBroker({ managementPort: -1, logLevel: 'silent' });
    try {
      const url2 = `http://127.0.0.1:${second.managementPort}`;
      const imp = await runCtl(url2, ['import_definitions', file]);
      expect(imp.code, imp.stdout + imp.stderr).toBe(0);

      const rows = table((await runCtl(url2, ['list_queues', 'name', 'messages'])).stdout, ['name', 'messages']);
      expect(rows).toContainEqual([q, '0']);
      const rowsVh = table((await runCtl(url2, ['list_queues', '-p', vh, 'name'])).stdout, ['name']);
      expect(rowsVh).toEqual([[q]]);
      const api2 = apiClient(url2);
      const q2 = (await api2('GET', `/api/queues/%2F/${enc(q)}`)).json;
      expect(q2).toMatchObject({ name: q, durable: true, arguments: { 'x-max-length': 5 } });

      // The imported user logs in to the imported vhost with its password; the binding routes.
      const c2 = await connect(user, 'exp-pass', vh, second.port);
      await c2.close();
      const g2 = await connect('guest', 'guest', '/', second.port);
      const ch2 = await channel(g2);
      await ch2.checkQueue(q);
      ch2.publish(ex, 'exp-key', Buffer.from('via imported binding'));
      const m = await eventually(async () => ch2.get(q, { noAck: true }), 'routed on the second broker');
      expect(m && m.content.toString()).toBe('via imported binding');
      await g2.close();

      // Same set of durable queues on both brokers.
      const names = async (a: Api) => ((await a('GET', '/api/queues')).json as { name: string; vhost: string; durable: boolean }[]).filter((x) => x.durable).map((x) => `${x.vhost}/${x.name}`).sort();
      expect(await names(api2)).toEqual(await names(api));
    } finally {
      await second.close();
    }
    await ch.deleteQueue(q);
    await ch.deleteExchange(ex);
    await ok('delete_vhost', vh);
    await ok('delete_user', user);
  });

  it('an unknown command exits non-zero with a message', async () => {
    const r = await ctl('frobnicate_queues');
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/frobnicate_queues/);
  });

  it('-t / --timeout: list_queues prints it first ("Timeout: 60.0 seconds ..." by default); a request past it exits 75 with rabbitmqctl\'s words', async () => {
    expect((await ok('list_queues', '-t', '30', 'name')).split('\n').slice(0, 2)).toEqual(['Timeout: 30.0 seconds ...', 'Listing queues for vhost / ...']);
    // An API that accepts the connection and never answers.
    const silent = createServer(() => undefined);
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    try {
      const port = (silent.address() as AddressInfo).port;
      const t0 = Date.now();
      const r = await runCtl(`http://127.0.0.1:${port}`, ['list_users', '-t', '1']);
      expect(r.code).toBe(75);
      expect(r.stderr).toContain(`operation list_users on node http://127.0.0.1:${port} timed out. Timeout value used: 1000`);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      silent.close();
    }
  });

  it('bad credentials or an unreachable API exit non-zero', async () => {
    const bad = await runCtl(url, ['list_queues'], ['--username', 'guest', '--password', 'wrong']);
    expect(bad.code).not.toBe(0);
    expect(bad.stdout + bad.stderr).toMatch(/401/);
    const down = await runCtl('http://127.0.0.1:1', ['status']);
    expect(down.code).not.toBe(0);
    // Missing arguments: a usage message and non-zero.
    const usage = await ctl('add_user', 'only-a-name');
    expect(usage.code).not.toBe(0);
    expect(usage.stdout + usage.stderr).toMatch(/usage|add_user/i);
  });
});

describe('warren ctl: diagnostics, channels, closing connections, exit codes (as rabbitmqctl 3.10.8)', () => {
  it('the probes pass on a healthy broker, with rabbitmq-diagnostics lines and JSON', async () => {
    expect(await ok('ping')).toContain('Ping succeeded');
    expect(JSON.parse(await ok('ping', '--formatter', 'json'))).toEqual({ message: 'Ping succeeded' });
    expect(await ok('check_running')).toMatch(/is fully booted and running/);
    expect(await ok('check_local_alarms')).toContain('reported no local alarms');
    expect(await ok('check_alarms')).toContain('reported no alarms, local or clusterwide');
    expect(await ok('check_virtual_hosts')).toContain('reported all vhosts as running');
    expect(await ok('check_port_connectivity')).toContain(`Successfully connected to ports ${broker.port}`);
    expect(await ok('await_startup', '--timeout', '5')).toBe('');
    const env = JSON.parse(await ok('environment', '--formatter', 'json')) as Record<string, unknown>;
    expect(env.consumerTimeoutMs).toBe(1_800_000);
    // The management API's own settings too, as given (-1: any free port).
    expect([env.managementPort, env.managementHost]).toEqual([-1, '127.0.0.1']);
    expect(env).not.toHaveProperty('defaultPass');
  });

  it('an unreachable broker exits 69, a refused login 77', async () => {
    const down = await runCtl('http://127.0.0.1:1', ['ping']);
    expect(down.code).toBe(69);
    expect(down.stderr).toContain('Error:');
    expect((await runCtl('http://127.0.0.1:1', ['await_startup', '-t', '1'])).code).toBe(69);
    expect((await ctl('--password', 'wrong', 'list_queues')).code).toBe(77);
  });

  it("missing users exit 67, a missing vhost 65, a missing queue to purge 69, an existing user to add 70", async () => {
    for (const args of [['delete_user', 'nosuch'], ['change_password', 'nosuch', 'x'], ['set_user_tags', 'nosuch', 'a'], ['set_permissions', 'nosuch', '.*', '.*', '.*'], ['clear_permissions', 'nosuch']]) {
      const r = await ctl(...args);
      expect(r.code, args.join(' ')).toBe(67);
      expect(r.stderr).toMatch(/User "?nosuch"? does not exist/);
    }
    expect((await ctl('delete_vhost', 'nosuch')).code).toBe(65);
    expect((await ctl('purge_queue', 'nosuch')).code).toBe(69);
    const dup = await ctl('add_user', 'guest', 'x');
    expect(dup.code).toBe(70);
    expect(dup.stderr).toContain('User "guest" already exists');
    expect((await ctl('close_connection', 'nosuch', 'why')).code).toBe(69);
    const noVhost = await ctl('delete_vhost', 'ctl-nosuch-vhost');
    expect([noVhost.code, noVhost.stderr]).toEqual([65, "Virtual host 'ctl-nosuch-vhost' does not exist\n"]);
  });

  it('field tables, protocol and connection columns print as rabbitmqctl 3.10.8 prints them (table and json)', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = uid('ctl-args');
    const x = uid('ctl-args-x');
    await ch.assertQueue(q, { durable: false, arguments: { 'x-max-length': 100000, 'x-queue-mode': 'lazy' } });
    await ch.assertExchange(x, 'headers', { durable: false });
    await ch.bindQueue(q, x, '', { 'x-match': 'any', k: 'v' });
    await ch.consume(q, () => undefined, { consumerTag: 'ctl-args-tag', arguments: { 'x-priority': 3 } });
    // 3.10.8, both lines: [{"x-max-length",100000},{"x-queue-mode","lazy"}] and [] for none.
    expect(table(await ok('list_queues', 'name', 'arguments'), ['name', 'arguments'])).toContainEqual([q, '[{"x-max-length",100000},{"x-queue-mode","lazy"}]']);
    expect(table(await ok('list_exchanges', 'name', 'arguments'), ['name', 'arguments'])).toContainEqual([x, '[]']);
    const bindings = table(await ok('list_bindings', 'source_name', 'destination_name', 'arguments'), ['source_name', 'destination_name', 'arguments']);
    // Sorted by key, as RabbitMQ keeps binding arguments.
    expect(bindings).toContainEqual([x, q, '[{"k","v"},{"x-match","any"}]']);
    expect(table(await ok('list_consumers', 'consumer_tag', 'arguments'), ['consumer_tag', 'arguments'])).toContainEqual(['ctl-args-tag', '[{"x-priority",3}]']);
    // json: [name, type, value] entries, as rabbitmqctl's json formatter prints a table.
    expect(await ok('list_queues', '--formatter', 'json', 'name', 'arguments')).toContain(
      JSON.stringify({ name: q, arguments: [['x-max-length', 'signedint', 100000], ['x-queue-mode', 'longstr', 'lazy']] }),
    );
    // A connection: protocol {0,9,1} ([0,9,1] in json), auth_mechanism, ssl, client properties.
    const localPort = (conn.connection as unknown as { stream: { localPort: number } }).stream.localPort;
    const rows = table(await ok('list_connections', 'peer_port', 'protocol', 'auth_mechanism', 'ssl', 'client_properties'), ['peer_port', 'protocol', 'auth_mechanism', 'ssl', 'client_properties']);
    const mine = rows.find((r) => r[0] === String(localPort));
    expect(mine?.slice(0, 4)).toEqual([String(localPort), '{0,9,1}', 'PLAIN', 'false']);
    expect(mine?.[4]).toMatch(/^\[\{"product","amqplib"\},\{"version","[^"]+"\},.*\{"capabilities",\[\{"publisher_confirms",true\},/);
    const json = (await ok('list_connections', '--formatter', 'json', 'peer_port', 'protocol', 'client_properties')).split('\n').find((l) => l.includes(`"peer_port":${localPort}`));
    const parsed = JSON.parse(json!.replace(/^,/, '')) as { protocol: number[]; client_properties: unknown[][] };
    expect(parsed.protocol).toEqual([0, 9, 1]);
    expect(parsed.client_properties[0]).toEqual(['product', 'longstr', 'amqplib']);
    expect(parsed.client_properties.find((e) => e[0] === 'capabilities')?.[1]).toBe('table');
  });

  it('list_channels prints rabbitmqctl columns; help list_channels lists them', async () => {
    const conn = await connect();
    const ch = await conn.createConfirmChannel();
    await ch.prefetch(7);
    const rows = table(await ok('list_channels', 'number', 'user', 'confirm', 'prefetch_count'), ['number', 'user', 'confirm', 'prefetch_count']);
    expect(rows).toContainEqual(['1', 'guest', 'true', '7']);
    const h = await ok('help', 'list_channels');
    expect(h).toContain('must be one of');
    expect(h).toContain('prefetch_count');
    expect((await ctl('list_channels', 'nosuch_column')).code).toBe(64);
  });

  it('close_all_connections closes the vhost\'s connections with the explanation, up to --limit', async () => {
    const conns = [await connect(), await connect(), await connect()];
    const closed = conns.map((c) => new Promise<Error & { code?: number }>((resolve) => c.once('close', (e: Error) => resolve(e))));
    const out = await ok('close_all_connections', '--limit', '2', 'maintenance');
    expect(out).toContain('Closing 2 connections in vhost /, reason: maintenance...');
    expect(out).toContain('Closed 2 connections');
    const out2 = await ok('close_all_connections', '--global', 'the rest');
    expect(out2).toContain('Closed 1 connections');
    const errs = await Promise.all(closed);
    expect(errs.map((e) => e.message).every((m) => /CONNECTION_FORCED/.test(m))).toBe(true);
    expect(errs.some((e) => /maintenance/.test(e.message))).toBe(true);
  });
});

describe('resource limits at run time', () => {
  it('set_vm_memory_high_watermark 0.000000001 blocks publishers (connection.blocked), 0.4 lets them go; set_disk_free_limit; bad values exit 65', async () => {
    const conn = await connect();
    const events: string[] = [];
    conn.on('blocked', (reason: string) => events.push(`blocked ${reason}`));
    conn.on('unblocked', () => events.push('unblocked'));
    const ch = await conn.createChannel();
    const { queue } = await ch.assertQueue('', { exclusive: true });
    const node = String((await api('GET', '/api/overview')).json.node);
    try {
      expect(await ok('set_vm_memory_high_watermark', '0.000000001')).toContain(`Setting memory threshold on ${node} to 0.000000001 ...`);
      // RabbitMQ blocks a connection when it next publishes.
      ch.sendToQueue(queue, Buffer.from('x'));
      const until = Date.now() + 5000;
      while (!events.length && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
      expect(events).toEqual(['blocked low on memory']);
      const nodes = (await api('GET', '/api/nodes')).json as { mem_limit: number; mem_alarm: boolean }[];
      expect(nodes[0]!.mem_alarm).toBe(true);
      expect(nodes[0]!.mem_limit).toBeLessThan(1000);
    } finally {
      expect(await ok('set_vm_memory_high_watermark', '0.4')).toContain('to 0.4 ...');
    }
    const until = Date.now() + 5000;
    while (events.length < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(events).toEqual(['blocked low on memory', 'unblocked']);
    expect(await ok('set_vm_memory_high_watermark', 'absolute', '3GiB')).toContain('to 3GiB bytes ...');
    expect(((await api('GET', '/api/nodes')).json as { mem_limit: number }[])[0]!.mem_limit).toBe(3 * 1024 ** 3);
    expect(await ok('set_disk_free_limit', '60MB')).toContain('Setting disk free limit on');
    expect(((await api('GET', '/api/nodes')).json as { disk_free_limit: number }[])[0]!.disk_free_limit).toBe(60e6);
    expect(await ok('set_disk_free_limit', 'mem_relative', '0.001')).toContain('to 0.001 times the total RAM ...');
    const tooBig = await ctl('set_vm_memory_high_watermark', '1.5');
    expect(tooBig.code).toBe(65);
    expect(tooBig.stderr).toContain('Bad argument: The threshold should be a fraction between 0.0 and 1.0');
    expect((await ctl('set_disk_free_limit', 'lots')).code).toBe(65);
    expect((await ctl('set_disk_free_limit', 'relative', '1')).code).toBe(65);
    await ok('set_disk_free_limit', '50MB');
  });
});

describe('warren ctl report (rabbitmqctl 3.10.8)', () => {
  it("prints status, cluster_status, environment, the connections and channels, then each vhost's lists", async () => {
    await inOwnVhost('report', async (vh, conn) => {
      await ok('set_policy', '-p', vh, 'rp', '^rq', '{"max-length":5}');
      const ch = await conn.createChannel();
      await ch.assertQueue('rq1');
      await ch.consume('rq1', () => undefined);
      const out = await ok('report');
      const lines = out.split('\n');
      const node = (await api('GET', '/api/overview')).json.node as string;
      expect(lines.slice(0, 3)).toEqual([`Reporting server status of node ${node} ...`, '', `Status of node ${node} ...`]);
      const banners = lines.filter((l) => /^(Status|Cluster status|Application environment|Listing|Timeout)/.test(l));
      const vhostPart = (v: string): string[] => [
        'Timeout: 60.0 seconds ...',
        `Listing queues for vhost ${v} ...`,
        `Listing exchanges for vhost ${v} ...`,
        `Listing bindings for vhost ${v}...`,
        `Listing permissions for vhost "${v}" ...`,
        `Listing policies for vhost "${v}" ...`,
        'Listing global runtime parameters ...',
        `Listing runtime parameters for vhost "${v}" ...`,
      ];
      const vhosts = ((await api('GET', '/api/vhosts')).json as { name: string }[]).map((v) => v.name);
      expect(vhosts).toContain(vh);
      expect(banners).toEqual([
        `Status of node ${node} ...`,
        `Cluster status of node ${node} ...`,
        `Application environment of node ${node} ...`,
        'Listing connections ...',
        'Listing channels ...',
        ...vhosts.flatMap(vhostPart),
      ]);
      // Every section ends with a blank line, as rabbitmqctl's report.
      for (const b of banners.slice(1).filter((l) => !l.startsWith('Listing') || l === 'Listing connections ...')) {
        expect(lines[lines.indexOf(b) - 1], b).toBe('');
      }
      expect(out.endsWith('\n\n')).toBe(true);

      // The vhost's queue with 3.10.8's report columns, its consumer, its policy.
      const at = lines.indexOf(`Listing queues for vhost ${vh} ...`);
      const header = lines[at + 1]!.split('\t');
      expect(header).toEqual([...REPORT_COLUMNS.list_queues]);
      const row = Object.fromEntries(lines[at + 2]!.split('\t').map((c, i) => [header[i], c]));
      expect(row).toMatchObject({ name: 'rq1', durable: 'true', policy: 'rp', consumers: '1', consumer_utilisation: '1.0', state: 'running', type: 'classic' });
      expect(row.pid).toMatch(/^<[^<>\s]+\.0\.[1-9]\d*>$/);
      // The connection and its channel, with every column of the report.
      const conns = lines.slice(lines.indexOf('Listing connections ...') + 1, lines.indexOf('Listing channels ...') - 1);
      expect(conns[0]!.split('\t')).toEqual([...REPORT_COLUMNS.list_connections]);
      expect(conns.slice(1).some((l) => l.split('\t')[19] === vh)).toBe(true);
      const chans = lines.slice(lines.indexOf('Listing channels ...') + 1);
      expect(chans[0]!.split('\t')).toEqual([...REPORT_COLUMNS.list_channels]);
      const policies = lines.indexOf(`Listing policies for vhost "${vh}" ...`);
      expect(lines[policies + 2]).toBe(`${vh}\trp\t^rq\tall\t{"max-length":5}\t0`);
    });
  });
});
