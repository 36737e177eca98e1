// Virtual hosts, users and permissions as RabbitMQ enforces them, seen through amqplib:
// 530 NOT_ALLOWED on connection.open, 403 ACCESS_REFUSED channel closes for configure / write /
// read, vhost isolation and deletion, hashed passwords at rest, durability across a restart.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { spawnBroker, type BrokerProcess } from '../helpers/broker-process.js';
import {
  apiClient,
  channelError,
  connectionClosed,
  enc,
  eventually,
  freePort,
  sleep,
  withTimeout,
  type Api,
} from '../helpers/management-client.js';
import { M, PROTOCOL_HEADER, RawAmqp, connectionOpenFrame, startOkFrame, tuneOkFrame, decodeTune } from '../helpers/raw-amqp.js';
import { channel } from '../helpers/channels.js';

let broker: RunningBroker;
let api: Api;
const openConns: ChannelModel[] = [];

beforeAll(async () => {
  broker = await startBroker({ managementPort: -1, logLevel: 'silent' });
  api = apiClient(`http://127.0.0.1:${broker.managementPort}`);
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
type AmqpErr = Error & { code?: number };

async function connect(user: string, pass: string, vhost = '/', port = broker.port, hostname = '127.0.0.1'): Promise<ChannelModel> {
  const conn = await amqp.connect({ protocol: 'amqp', hostname, port, username: user, password: pass, vhost });
  conn.on('error', () => undefined);
  openConns.push(conn);
  return conn;
}

function connectError(user: string, pass: string, vhost = '/', port = broker.port, hostname = '127.0.0.1'): Promise<AmqpErr | null> {
  return amqp
    .connect({ protocol: 'amqp', hostname, port, username: user, password: pass, vhost })
    .then((c) => c.close().then(() => null), (e: AmqpErr) => e);
}

/**
 * amqplib reports a refused connection.open only as "Expected ConnectionOpenOk; got
 * <ConnectionClose …>", without the code, so the code is read with a raw client too.
 */
async function openCloseCode(user: string, pass: string, vhost: string): Promise<{ replyCode: number; replyText: string } | string> {
  const raw = await RawAmqp.connect(broker.port);
  try {
    raw.write(PROTOCOL_HEADER);
    await raw.expectMethod(M.connectionStart);
    raw.write(startOkFrame(user, pass));
    const tune = decodeTune((await raw.expectMethod(M.connectionTune)).args);
    raw.write(tuneOkFrame(tune.channelMax, tune.frameMax, 0));
    raw.write(connectionOpenFrame(vhost));
    const r = await raw.waitForClose(5000);
    if (r.kind === 'connection.close') return { replyCode: r.replyCode, replyText: r.replyText };
    return r.kind;
  } finally {
    raw.destroy();
  }
}

async function addUser(name: string, password: string, tags = ''): Promise<void> {
  const r = await api('PUT', `/api/users/${enc(name)}`, { body: { password, tags } });
  expect(r.status, r.text).toBe(201);
}

async function addVhost(name: string): Promise<void> {
  const r = await api('PUT', `/api/vhosts/${enc(name)}`);
  expect(r.status, r.text).toBe(201);
  await setPerms('guest', name, '.*', '.*', '.*');
}

async function setPerms(user: string, vhost: string, configure: string, write: string, read: string): Promise<void> {
  const r = await api('PUT', `/api/permissions/${enc(vhost)}/${enc(user)}`, { body: { configure, write, read } });
  expect([201, 204], r.text).toContain(r.status);
}

/** Runs op on a fresh channel and resolves with the channel-close error, or null if it succeeded. */
async function refused(conn: ChannelModel, op: (ch: Channel) => Promise<unknown>): Promise<AmqpErr | null> {
  const ch = await channel(conn);
  // amqplib rejects some pending operations (basic.get) without the close code; the
  // channel's 'error' event always carries it.
  const closeErr = channelError(ch);
  return op(ch).then(
    async () => {
      await ch.close().catch(() => undefined);
      return null;
    },
    async (e: AmqpErr) => (e?.code ? e : await withTimeout(closeErr, 5000, 'channel error event')),
  );
}

/** Publishes on a fresh channel; resolves with the channel error (403 …) or null after a round trip. */
async function publishRefused(conn: ChannelModel, exchange: string, routingKey: string): Promise<AmqpErr | null> {
  const ch = await channel(conn);
  const err = channelError(ch);
  ch.publish(exchange, routingKey, Buffer.from('payload'));
  // A round trip after the publish: if the publish was refused, the channel is closed by then.
  const probe = ch.checkExchange('amq.direct').then(() => null, () => null);
  const first = await Promise.race([err, probe.then(() => sleep(50)).then(() => null)]);
  if (first) return first;
  await ch.close().catch(() => undefined);
  return null;
}

// ---------------------------------------------------------------- vhost access

describe('vhost access on connection.open', () => {
  it('a user without permissions on a vhost is refused with 530 NOT_ALLOWED', async () => {
    const user = uid('noperm');
    const vh = uid('vh-noperm');
    await addUser(user, 'pw');
    await addVhost(vh);
    await setPerms(user, '/', '.*', '.*', '.*');

    // It can open '/', where it has permissions …
    const ok = await connect(user, 'pw', '/');
    await ok.close();
    // … but not the other vhost.
    const err = await connectError(user, 'pw', vh);
    expect(err).toBeInstanceOf(Error);
    expect(String(err)).toMatch(/ConnectionClose|NOT_ALLOWED|530/);
    const close = await openCloseCode(user, 'pw', vh);
    expect(close).toMatchObject({ replyCode: 530 });
    expect((close as { replyText: string }).replyText).toMatch(/^NOT_ALLOWED/);

    // Granting permissions (even all-empty ones, as RabbitMQ) lets it in.
    await setPerms(user, vh, '', '', '');
    const now = await connect(user, 'pw', vh);
    await now.close();
  });

  it('a vhost that does not exist is refused with 530 NOT_ALLOWED', async () => {
    const err = await connectError('guest', 'guest', uid('no-such-vhost'));
    expect(err).toBeInstanceOf(Error);
    const close = await openCloseCode('guest', 'guest', uid('no-such-vhost'));
    expect(close).toMatchObject({ replyCode: 530 });
    expect((close as { replyText: string }).replyText).toMatch(/^NOT_ALLOWED/);
  });

  it("'guest' may connect from loopback", async () => {
    const conn = await connect('guest', 'guest', '/', broker.port, '127.0.0.1');
    const ch = await channel(conn);
    await ch.checkExchange('amq.direct');
    await conn.close();
  });

  const external = Object.values(networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
  it.skipIf(!external)("'guest' is refused (403 ACCESS_REFUSED) from a non-loopback address; other users are not", async () => {
    const wide = await startBroker({ host: '0.0.0.0', managementPort: -1, logLevel: 'silent' });
    try {
      const err = await connectError('guest', 'guest', '/', wide.port, external!);
      expect(err).toBeInstanceOf(Error);
      // As 3.10.8's auth_fail words it (checked on a private node with loopback_users = guest):
      // the reason is only in the broker's log, as for a wrong password.
      expect(String(err)).toContain('ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. For details see the broker logfile.');

      const api2 = apiClient(`http://127.0.0.1:${wide.managementPort}`);
      await api2('PUT', '/api/users/remote', { body: { password: 'remote-pw', tags: '' } });
      await api2('PUT', '/api/permissions/%2F/remote', { body: { configure: '.*', write: '.*', read: '.*' } });
      const conn = await connect('remote', 'remote-pw', '/', wide.port, external!);
      await conn.close();
    } finally {
      await wide.close();
    }
  });
});

// ---------------------------------------------------------------- permissions

describe('configure / write / read permissions', () => {
  let vh: string;

  beforeAll(async () => {
    vh = uid('perm-vh');
    await addVhost(vh);
  });

  async function asGuest(): Promise<Channel> {
    return channel(await connect('guest', 'guest', vh));
  }

  it("configure '^alice-.*' lets alice declare 'alice-q' but 'bob-q' is 403 ACCESS_REFUSED", async () => {
    const alice = uid('alice');
    await addUser(alice, 'alice-pw');
    await setPerms(alice, vh, '^alice-.*', '.*', '.*');
    const conn = await connect(alice, 'alice-pw', vh);

    const ch = await channel(conn);
    const ok = await ch.assertQueue('alice-q', { durable: false });
    expect(ok.queue).toBe('alice-q');
    await ch.assertExchange('alice-ex', 'fanout', { durable: false });

    const err = await refused(conn, (c) => c.assertQueue('bob-q', { durable: false }));
    expect(err?.code).toBe(403);
    expect(err?.message).toMatch(/ACCESS_REFUSED/);
    expect(err?.message).toMatch(/bob-q/);
    // Exchanges too, and deleting needs configure as well.
    expect((await refused(conn, (c) => c.assertExchange('bob-ex', 'fanout', { durable: false })))?.code).toBe(403);
    const g = await asGuest();
    await g.assertQueue('bob-owned', { durable: false });
    expect((await refused(conn, (c) => c.deleteQueue('bob-owned')))?.code).toBe(403);
    await g.checkQueue('bob-owned');

    // Only the channel is closed: the connection and its other channels carry on.
    await ch.checkQueue('alice-q');
    // Regexes are unanchored unless anchored: 'x-alice-q' does not match '^alice-.*'.
    expect((await refused(conn, (c) => c.assertQueue('x-alice-q', { durable: false })))?.code).toBe(403);

    // The queue was not created by the refused declare.
    expect((await api('GET', `/api/queues/${enc(vh)}/bob-q`)).status).toBe(404);
    await ch.deleteQueue('alice-q');
    await ch.deleteExchange('alice-ex');
    await g.deleteQueue('bob-owned');
  });

  it('configure is checked on a non-passive redeclare of an existing queue or exchange too; passive ones need none', async () => {
    const g = await asGuest();
    const q = uid('existing-q');
    const ex = uid('existing-ex');
    await g.assertQueue(q, { durable: false });
    await g.assertExchange(ex, 'direct', { durable: false });

    const carol = uid('carol');
    await addUser(carol, 'carol-pw');
    await setPerms(carol, vh, '^carol-.*', '.*', '.*');
    const conn = await connect(carol, 'carol-pw', vh);

    // Equivalent redeclares of someone else's objects: RabbitMQ checks configure before looking them up.
    const qErr = await refused(conn, (c) => c.assertQueue(q, { durable: false }));
    expect(qErr?.code).toBe(403);
    const exErr = await refused(conn, (c) => c.assertExchange(ex, 'direct', { durable: false }));
    expect(exErr?.code).toBe(403);
    expect(exErr?.message).toMatch(/ACCESS_REFUSED/);
    // Passive declares check existence only.
    expect(await refused(conn, (c) => c.checkQueue(q))).toBeNull();
    expect(await refused(conn, (c) => c.checkExchange(ex))).toBeNull();
    await g.deleteQueue(q);
    await g.deleteExchange(ex);
  });

  it('publishing needs write on the exchange (403 otherwise), including amq.default', async () => {
    const g = await asGuest();
    const okEx = uid('w-ok-ex');
    const noEx = uid('w-no-ex');
    const q = uid('w-q');
    await g.assertQueue(q, { durable: false });
    await g.assertExchange(okEx, 'fanout', { durable: false });
    await g.assertExchange(noEx, 'fanout', { durable: false });
    await g.bindQueue(q, okEx, '');
    await g.bindQueue(q, noEx, '');

    const w = uid('writer');
    await addUser(w, 'w-pw');
    await setPerms(w, vh, '', '^w-ok-.*', '.*');
    const conn = await connect(w, 'w-pw', vh);

    expect(await publishRefused(conn, okEx, '')).toBeNull();
    await eventually(async () => (await g.checkQueue(q)).messageCount === 1, 'allowed publish arrived');

    const err = await publishRefused(conn, noEx, '');
    expect(err?.code).toBe(403);
    expect(err?.message).toMatch(/ACCESS_REFUSED/);
    const viaDefault = await publishRefused(conn, '', q);
    expect(viaDefault?.code).toBe(403);
    expect(viaDefault?.message).toMatch(/amq\.default/);

    await sleep(50);
    expect((await g.checkQueue(q)).messageCount).toBe(1);
    await g.deleteQueue(q);
    await g.deleteExchange(okEx);
    await g.deleteExchange(noEx);
  });

  it('basic.get and basic.consume need read on the queue (403 otherwise)', async () => {
    const g = await asGuest();
    const okQ = uid('r-ok-q');
    const noQ = uid('r-no-q');
    await g.assertQueue(okQ, { durable: false });
    await g.assertQueue(noQ, { durable: false });
    g.sendToQueue(okQ, Buffer.from('readable'));
    g.sendToQueue(noQ, Buffer.from('secret'));
    await eventually(async () => (await g.checkQueue(noQ)).messageCount === 1, 'messages in');

    const r = uid('reader');
    await addUser(r, 'r-pw');
    await setPerms(r, vh, '', '', '^r-ok-.*');
    const conn = await connect(r, 'r-pw', vh);

    const ch = await channel(conn);
    const m = await ch.get(okQ, { noAck: true });
    expect(m && m.content.toString()).toBe('readable');

    const getErr = await refused(conn, (c) => c.get(noQ, { noAck: true }));
    expect(getErr?.code).toBe(403);
    expect(getErr?.message).toMatch(/ACCESS_REFUSED/);
    const consumeErr = await refused(conn, (c) => c.consume(noQ, () => undefined));
    expect(consumeErr?.code).toBe(403);
    const purgeErr = await refused(conn, (c) => c.purgeQueue(noQ));
    expect(purgeErr?.code).toBe(403);

    // Nothing was taken from the protected queue.
    expect((await g.checkQueue(noQ)).messageCount).toBe(1);
    // Consuming the readable queue works.
    const cons = await ch.consume(okQ, () => undefined);
    expect(cons.consumerTag).toBeTruthy();
    await ch.cancel(cons.consumerTag);
    await g.deleteQueue(okQ);
    await g.deleteQueue(noQ);
  });

  it('queue.bind needs write on the queue and read on the exchange', async () => {
    const g = await asGuest();
    const qOk = uid('b-q-ok');
    const qNo = uid('b-q-no');
    const exOk = uid('b-ex-ok');
    const exNo = uid('b-ex-no');
    await g.assertQueue(qOk, { durable: false });
    await g.assertQueue(qNo, { durable: false });
    await g.assertExchange(exOk, 'direct', { durable: false });
    await g.assertExchange(exNo, 'direct', { durable: false });

    const b = uid('binder');
    await addUser(b, 'b-pw');
    await setPerms(b, vh, '', '^b-q-ok-', '^b-ex-ok-');
    const conn = await connect(b, 'b-pw', vh);

    expect(await refused(conn, (c) => c.bindQueue(qOk, exOk, 'k'))).toBeNull();
    const noWrite = await refused(conn, (c) => c.bindQueue(qNo, exOk, 'k'));
    expect(noWrite?.code).toBe(403);
    expect(noWrite?.message).toContain(qNo);
    const noRead = await refused(conn, (c) => c.bindQueue(qOk, exNo, 'k'));
    expect(noRead?.code).toBe(403);
    expect(noRead?.message).toContain(exNo);
    // Unbinding needs the same, even when the binding (or the queue) is not there.
    expect((await refused(conn, (c) => c.unbindQueue(qOk, exNo, 'k')))?.code).toBe(403);
    expect((await refused(conn, (c) => c.unbindQueue(uid('b-q-gone'), exOk, 'k')))?.code).toBe(403);
    expect(await refused(conn, (c) => c.unbindQueue(uid('b-q-ok-gone'), exOk, 'k'))).toBeNull();

    const bindings = (await api('GET', `/api/bindings/${enc(vh)}`)).json as { source: string; destination: string }[];
    expect(bindings.some((x) => x.source === exOk && x.destination === qOk)).toBe(true);
    // The default exchange's implicit binding (source '') is listed for every queue, as in RabbitMQ 3.10.8.
    expect(bindings.some((x) => x.source !== '' && x.destination === qNo)).toBe(false);
    expect(bindings.some((x) => x.source === exNo)).toBe(false);

    expect(await refused(conn, (c) => c.unbindQueue(qOk, exOk, 'k'))).toBeNull();
    await g.deleteQueue(qOk);
    await g.deleteQueue(qNo);
    await g.deleteExchange(exOk);
    await g.deleteExchange(exNo);
  });
});

describe('permissions come before existence (RabbitMQ Java client, server/Permissions)', () => {
  it('deleting, purging, consuming from, binding or publishing to something that is not there is refused (403) without the permission, as 3.10.8 does', async () => {
    const vh = uid('perm-order-vh');
    await addVhost(vh);
    const u = uid('nobody');
    await addUser(u, 'n-pw');
    await setPerms(u, vh, '^$', '^$', '^$');
    const conn = await connect(u, 'n-pw', vh);
    const missing = uid('missing');
    for (const op of [
      (c: Channel) => c.deleteQueue(missing),
      (c: Channel) => c.deleteExchange(missing),
      (c: Channel) => c.purgeQueue(missing),
      (c: Channel) => c.consume(missing, () => undefined),
      (c: Channel) => c.bindQueue(missing, 'amq.direct', 'k'),
      (c: Channel) => c.bindExchange(missing, 'amq.direct', 'k'),
    ]) {
      const e = await refused(conn, op);
      expect(e?.code).toBe(403);
      expect(e?.message).toContain(`refused for user '${u}'`);
    }
    expect((await publishRefused(conn, missing, 'k'))?.code).toBe(403);
    // With every permission, what is missing is named: the exchange before the queue.
    const both = await refused(await connect('guest', 'guest', vh), (c) => c.bindQueue(missing, `${missing}-x`, 'k'));
    expect(both?.code).toBe(404);
    expect(both?.message).toContain(`no exchange '${missing}-x'`);
  });
});

// ---------------------------------------------------------------- vhost isolation and deletion

describe('vhost isolation and deletion', () => {
  it('two vhosts keep separate queues with the same name', async () => {
    const vh1 = uid('iso-a');
    const vh2 = uid('iso-b');
    await addVhost(vh1);
    await addVhost(vh2);
    const c1 = await connect('guest', 'guest', vh1);
    const c2 = await connect('guest', 'guest', vh2);
    const ch1 = await channel(c1);
    const ch2 = await channel(c2);
    await ch1.assertQueue('shared', { durable: false });
    await ch2.assertQueue('shared', { durable: true });
    ch1.sendToQueue('shared', Buffer.from('one'));
    ch2.sendToQueue('shared', Buffer.from('two-a'));
    ch2.sendToQueue('shared', Buffer.from('two-b'));
    await eventually(async () => (await ch1.checkQueue('shared')).messageCount === 1 && (await ch2.checkQueue('shared')).messageCount === 2, 'counts');

    const q1 = (await api('GET', `/api/queues/${enc(vh1)}/shared`)).json;
    const q2 = (await api('GET', `/api/queues/${enc(vh2)}/shared`)).json;
    expect(q1).toMatchObject({ vhost: vh1, durable: false, messages: 1 });
    expect(q2).toMatchObject({ vhost: vh2, durable: true, messages: 2 });

    const m = await ch1.get('shared', { noAck: true });
    expect(m && m.content.toString()).toBe('one');
    expect((await ch2.checkQueue('shared')).messageCount).toBe(2);

    // Deleting in one vhost leaves the other's.
    await ch1.deleteQueue('shared');
    expect((await ch2.checkQueue('shared')).messageCount).toBe(2);
    // Exchanges are per vhost too.
    await ch1.assertExchange('iso-ex', 'direct', { durable: false });
    const err = await refused(c2, (c) => c.checkExchange('iso-ex'));
    expect(err?.code).toBe(404);
    await ch2.deleteQueue('shared');
  });

  it('deleting a vhost closes its connections with 320 and removes its queues', async () => {
    const vh = uid('doomed');
    const other = uid('survivor');
    await addVhost(vh);
    await addVhost(other);
    const conn = await connect('guest', 'guest', vh);
    const ch = await channel(conn);
    await ch.assertQueue('doomed-q', { durable: true });
    ch.sendToQueue('doomed-q', Buffer.from('x'), { persistent: true });
    await eventually(async () => (await ch.checkQueue('doomed-q')).messageCount === 1, 'message in');
    const bystander = await connect('guest', 'guest', other);
    const bch = await channel(bystander);
    await bch.assertQueue('doomed-q', { durable: true });
    let bystanderClosed = false;
    bystander.on('close', () => {
      bystanderClosed = true;
    });

    const closed = connectionClosed(conn);
    const del = await api('DELETE', `/api/vhosts/${enc(vh)}`);
    expect(del.status, del.text).toBe(204);
    const err = await withTimeout(closed, 5000, 'connection to the deleted vhost closed');
    expect(err?.code).toBe(320);
    expect(err?.message).toMatch(/CONNECTION_FORCED/);

    expect((await api('GET', `/api/queues/${enc(vh)}/doomed-q`)).status).toBe(404);
    expect(((await api('GET', '/api/queues')).json as { vhost: string }[]).some((q) => q.vhost === vh)).toBe(false);
    expect(((await api('GET', '/api/permissions')).json as { vhost: string }[]).some((p) => p.vhost === vh)).toBe(false);
    const reopen = await openCloseCode('guest', 'guest', vh);
    expect(reopen).toMatchObject({ replyCode: 530 });

    // Connections to other vhosts and their same-named queues are untouched.
    await sleep(100);
    expect(bystanderClosed).toBe(false);
    await bch.checkQueue('doomed-q');

    // Re-creating the vhost gives an empty one.
    await addVhost(vh);
    const again = await connect('guest', 'guest', vh);
    const ach = await channel(again);
    const e404 = await ach.checkQueue('doomed-q').then(() => null, (e: AmqpErr) => e);
    expect(e404?.code).toBe(404);
    await bch.deleteQueue('doomed-q');
  });
});

// ---------------------------------------------------------------- passwords and durability

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(dir)) {
    const p = path.join(dir, f);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

function grepDir(dir: string, needle: string): string[] {
  const n = Buffer.from(needle, 'utf8');
  return filesUnder(dir).filter((f) => readFileSync(f).includes(n));
}

async function waitForApi(url: string, proc: BrokerProcess): Promise<void> {
  let exited = false;
  void proc.exited.then(() => {
    exited = true;
  });
  try {
    await eventually(async () => {
      if (exited) throw new Error('the broker process exited');
      const r = await fetch(`${url}/api/overview`, { headers: { authorization: 'Basic ' + Buffer.from('guest:guest').toString('base64') } });
      return r.status === 200;
    }, `management API at ${url}`, 15_000, () => exited);
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${proc.output()}`);
  }
}

describe('passwords at rest and durability', () => {
  it('GET /api/users shows only password_hash', async () => {
    const u = uid('hashed');
    const password = 'Plain-Text-' + randomUUID();
    await addUser(u, password);
    const list = await api('GET', '/api/users');
    expect(list.text).not.toContain(password);
    const row = (list.json as Record<string, unknown>[]).find((x) => x.name === u)!;
    expect(Object.keys(row)).not.toContain('password');
    expect(typeof row.password_hash).toBe('string');
    expect(row.password_hash).not.toBe(password);
    expect(row.hashing_algorithm).toBe('rabbit_password_hashing_sha256');
    expect((await api('GET', `/api/users/${enc(u)}`)).text).not.toContain(password);
    expect((await api('GET', '/api/definitions')).text).not.toContain(password);
  });

  it('users, vhosts and permissions survive a restart, and no plain password reaches the LevelDB files', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'warren-perm-'));
    let proc: BrokerProcess | undefined;
    try {
      const user = uid('durable-user');
      const vh = uid('durable-vh');
      const password = 'PlainSecret-' + randomUUID();
      const tagged = uid('tagged-user');

      let mport = await freePort();
      proc = await spawnBroker({ dataDir, args: ['--management-port', String(mport), '--management-host', '127.0.0.1'] });
      let url = `http://127.0.0.1:${mport}`;
      await waitForApi(url, proc);
      let a = apiClient(url);
      expect((await a('PUT', `/api/vhosts/${enc(vh)}`)).status).toBe(201);
      expect((await a('PUT', `/api/users/${enc(user)}`, { body: { password, tags: '' } })).status).toBe(201);
      expect((await a('PUT', `/api/users/${enc(tagged)}`, { body: { password: 'tagged-pw', tags: ['monitoring'] } })).status).toBe(201);
      expect([201, 204]).toContain((await a('PUT', `/api/permissions/${enc(vh)}/${enc(user)}`, { body: { configure: '^d-.*', write: '.*', read: '.*' } })).status);
      const hash = (await a('GET', `/api/users/${enc(user)}`)).json.password_hash as string;

      // The user declares a durable queue in its vhost.
      let conn = await connect(user, password, vh, proc.port);
      let ch = await channel(conn);
      await ch.assertQueue('d-queue', { durable: true });
      ch.sendToQueue('d-queue', Buffer.from('persisted'), { persistent: true });
      await eventually(async () => (await ch.checkQueue('d-queue')).messageCount === 1, 'message stored');
      await conn.close();

      expect(await proc.stop(), proc.output()).toBe(0);

      // The files hold the user (sanity: the grep works) but not its password.
      expect(grepDir(dataDir, user).length, 'user name should be in the store').toBeGreaterThan(0);
      expect(grepDir(dataDir, password)).toEqual([]);
      expect(grepDir(dataDir, 'tagged-pw')).toEqual([]);
      expect(proc.output()).not.toContain(password);

      mport = await freePort();
      proc = await spawnBroker({ dataDir, args: ['--management-port', String(mport), '--management-host', '127.0.0.1'] });
      url = `http://127.0.0.1:${mport}`;
      await waitForApi(url, proc);
      a = apiClient(url);

      const u = await a('GET', `/api/users/${enc(user)}`);
      expect(u.status).toBe(200);
      expect(u.json).toMatchObject({ name: user, password_hash: hash, tags: [] });
      expect((await a('GET', `/api/users/${enc(tagged)}`)).json.tags).toEqual(['monitoring']);
      expect((await a('GET', `/api/overview`, { auth: [tagged, 'tagged-pw'] })).status).toBe(200);
      expect((await a('GET', `/api/vhosts/${enc(vh)}`)).status).toBe(200);
      expect((await a('GET', `/api/permissions/${enc(vh)}/${enc(user)}`)).json).toMatchObject({ user, vhost: vh, configure: '^d-.*', write: '.*', read: '.*' });
      // The default user was not re-created over the stored ones, and guest is still there.
      expect((await a('GET', '/api/users/guest')).status).toBe(200);

      conn = await connect(user, password, vh, proc.port);
      ch = await channel(conn);
      expect((await ch.checkQueue('d-queue')).messageCount).toBe(1);
      const m = await ch.get('d-queue', { noAck: true });
      expect(m && m.content.toString()).toBe('persisted');
      // The permission regexes still apply after the restart.
      const err = await refused(conn, (c) => c.assertQueue('not-d', { durable: false }));
      expect(err?.code).toBe(403);
      await conn.close();

      // A deleted user stays deleted across a restart.
      expect((await a('DELETE', `/api/users/${enc(tagged)}`)).status).toBe(204);
      expect(await proc.stop(), proc.output()).toBe(0);
      mport = await freePort();
      proc = await spawnBroker({ dataDir, args: ['--management-port', String(mport), '--management-host', '127.0.0.1'] });
      url = `http://127.0.0.1:${mport}`;
      await waitForApi(url, proc);
      a = apiClient(url);
      expect((await a('GET', `/api/users/${enc(tagged)}`)).status).toBe(404);
      expect((await a('GET', `/api/users/${enc(user)}`)).status).toBe(200);
      expect(await proc.stop(), proc.output()).toBe(0);
      proc = undefined;
      expect(grepDir(dataDir, password)).toEqual([]);
    } finally {
      if (proc) await proc.kill9().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
