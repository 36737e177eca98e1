// Policies (RabbitMQ 3.10 semantics) over real sockets: amqplib for behaviour, the management API
// and `warren ctl` (child process; needs the build) for the rest. Every assertion below was
// checked against RabbitMQ 3.10.8 with the management plugin (curl, rabbitmqctl and amqplib on a
// private node); the comment on each says what RabbitMQ answered.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { ChannelModel, GetMessage } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { apiClient, ctlTable, eventually, runCtl, sleep, type Api } from '../helpers/management-client.js';
import { channel, confirmChannel } from '../helpers/channels.js';

let broker: RunningBroker;
let api: Api;
let url: string;
const openConns: ChannelModel[] = [];
const extraBrokers: RunningBroker[] = [];

beforeAll(async () => {
  broker = await startBroker({ managementPort: -1, logLevel: 'silent' });
  url = `http://127.0.0.1:${broker.managementPort}`;
  api = apiClient(url);
});

afterAll(async () => {
  await broker?.close();
});

afterEach(async () => {
  await Promise.all(openConns.splice(0).map((c) => c.close().catch(() => undefined)));
  await Promise.all(extraBrokers.splice(0).map((b) => b.close().catch(() => undefined)));
});

const uid = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

async function connect(port = broker.port): Promise<ChannelModel> {
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${port}`);
  conn.on('error', () => undefined);
  openConns.push(conn);
  return conn;
}

async function putPolicy(name: string, body: object, a: Api = api, vhost = '%2F'): Promise<void> {
  const r = await a('PUT', `/api/policies/${vhost}/${name}`, { body });
  expect([201, 204], r.text).toContain(r.status);
}

async function queueJson(name: string, a: Api = api): Promise<Record<string, unknown>> {
  const r = await a('GET', `/api/queues/%2F/${encodeURIComponent(name)}`);
  expect(r.status, r.text).toBe(200);
  return r.json as Record<string, unknown>;
}

describe('policies on quorum queues', () => {
  it("delivery-limit: the lower of the policy's and the argument's applies; apply-to quorum_queues skips classic ones", async () => {
    // RabbitMQ 3.10.8 (policy delivery-limit 1, queue x-delivery-limit 5 or none): either queue
    // delivered the message twice (1 + the limit) and then dropped it.
    const p = uid('pol-dl');
    await putPolicy(p, { pattern: `^${p}-`, definition: { 'delivery-limit': 1 }, 'apply-to': 'quorum_queues' });
    const ch = await channel(await connect());
    const classic = `${p}-classic`;
    await ch.assertQueue(classic, { durable: false });
    for (const [q, args] of [[`${p}-arg5`, { 'x-delivery-limit': 5 }], [`${p}-none`, {}]] as const) {
      await ch.assertQueue(q, { durable: true, arguments: { 'x-queue-type': 'quorum', ...args } });
      expect((await queueJson(q)).policy).toBe(p);
      ch.sendToQueue(q, Buffer.from('poison'));
      let deliveries = 0;
      for (let i = 0; i < 6; i++) {
        const m = await eventually(async () => (await ch.get(q)) || (deliveries >= 2 ? 'gone' : null), `delivery ${i + 1} from ${q}`);
        if (m === 'gone') break;
        deliveries++;
        ch.nack(m, false, true);
      }
      expect(deliveries, q).toBe(2);
      await ch.deleteQueue(q);
    }
    expect((await queueJson(classic)).policy).toBeNull();
    await ch.deleteQueue(classic);
    await api('DELETE', `/api/policies/%2F/${p}`);
  });

  it('dead-letter-strategy at-least-once from a policy; the argument wins; a policy change re-routes or deletes what is owed', async () => {
    // RabbitMQ 3.10.8, policy {dead-letter-strategy at-least-once, overflow reject-publish,
    // dead-letter-exchange X}, X with no binding, two messages rejected per queue: a queue without
    // arguments kept both (messages 3, messages_dlx 2); one declared with x-dead-letter-strategy
    // at-most-once kept none. Its policy then changed to another dead-letter exchange, with a
    // queue bound: both were there 11 ms later, from the new exchange. A higher-priority policy
    // with at-most-once, or with only message-ttl (no dead-letter exchange any more), deleted them
    // ("Deleted 2 dead-lettered messages (with total messages size of 2 bytes) in queue
    // 'pp-switch' in vhost '/'").
    const p = uid('pol-dls');
    const ch = await confirmChannel(await connect());
    await ch.assertExchange(`${p}-x1`, 'fanout', { durable: false });
    await putPolicy(p, { pattern: `^${p}-q`, 'apply-to': 'queues', definition: { 'dead-letter-strategy': 'at-least-once', overflow: 'reject-publish', 'dead-letter-exchange': `${p}-x1` } });
    const Q = { 'x-queue-type': 'quorum' };
    const queues: [string, object][] = [
      [`${p}-qnone`, Q],
      [`${p}-qamo`, { ...Q, 'x-dead-letter-strategy': 'at-most-once' }],
      [`${p}-qswitch`, Q],
      [`${p}-qclear`, Q],
    ];
    for (const [q, args] of queues) {
      await ch.assertQueue(q, { durable: true, arguments: args });
      for (const body of ['a', 'b', 'c']) ch.sendToQueue(q, Buffer.from(body));
    }
    await ch.waitForConfirms();
    for (const [q] of queues) {
      for (let i = 0; i < 2; i++) ch.reject((await ch.get(q)) as GetMessage, false);
      await ch.checkQueue(q);
    }
    const dlx = async (q: string): Promise<unknown[]> => {
      const j = await queueJson(q);
      return [j.messages, j.messages_ready, j.messages_dlx];
    };
    expect(await dlx(`${p}-qnone`)).toEqual([3, 1, 2]);
    expect(await dlx(`${p}-qamo`)).toEqual([1, 1, 0]);
    expect(await dlx(`${p}-qswitch`)).toEqual([3, 1, 2]);
    expect(await dlx(`${p}-qclear`)).toEqual([3, 1, 2]);

    await ch.assertExchange(`${p}-x2`, 'fanout', { durable: false });
    const tgt = `${p}-tgt`;
    await ch.assertQueue(tgt, { durable: false });
    await ch.bindQueue(tgt, `${p}-x2`, '');
    await putPolicy(`${p}-sw`, { pattern: `^${p}-qswitch$`, priority: 5, 'apply-to': 'queues', definition: { 'dead-letter-strategy': 'at-most-once', overflow: 'reject-publish', 'dead-letter-exchange': `${p}-x2` } });
    await putPolicy(`${p}-cl`, { pattern: `^${p}-qclear$`, priority: 5, 'apply-to': 'queues', definition: { 'message-ttl': 100000 } });
    expect(await dlx(`${p}-qswitch`)).toEqual([1, 1, 0]);
    expect(await dlx(`${p}-qclear`)).toEqual([1, 1, 0]);
    await putPolicy(p, { pattern: `^${p}-q`, 'apply-to': 'queues', definition: { 'dead-letter-strategy': 'at-least-once', overflow: 'reject-publish', 'dead-letter-exchange': `${p}-x2` } });
    await eventually(async () => ((await ch.checkQueue(tgt)).messageCount === 2 ? true : null), 'the owed messages re-routed to the new exchange');
    expect(await dlx(`${p}-qnone`)).toEqual([1, 1, 0]);
    const m = (await ch.get(tgt, { noAck: true })) as GetMessage;
    expect([m.fields.exchange, m.fields.routingKey, m.properties.headers?.['x-first-death-queue']]).toEqual([`${p}-x2`, `${p}-qnone`, `${p}-qnone`]);
    for (const [q] of queues) await ch.deleteQueue(q);
    for (const x of [p, `${p}-sw`, `${p}-cl`]) await api('DELETE', `/api/policies/%2F/${x}`);
  });
});

describe('policies change existing queues and exchanges at once', () => {
  it('a policy added after the queues exist gives them a TTL and a dead-letter exchange; removed, they stop expiring', async () => {
    const p = uid('pol-a');
    const conn = await connect();
    const ch = await channel(conn);
    const q1 = `${p}-q1`;
    const q2 = `${p}-q2`;
    const other = uid('other');
    for (const q of [q1, q2, other]) await ch.assertQueue(q, { durable: false });
    await ch.assertExchange(`${p}-dlx`, 'fanout', { durable: false });
    const dead = (await ch.assertQueue(uid('dead'), { durable: false })).queue;
    await ch.bindQueue(dead, `${p}-dlx`, '');

    // RabbitMQ 3.10.8: 201 on create, and the queues it matches show it at once.
    await putPolicy(`${p}-ttl`, { pattern: `^${p}-`, definition: { 'message-ttl': 150, 'dead-letter-exchange': `${p}-dlx` }, 'apply-to': 'queues' });
    const j = await queueJson(q1);
    expect(j.policy).toBe(`${p}-ttl`);
    expect(j.effective_policy_definition).toEqual({ 'message-ttl': 150, 'dead-letter-exchange': `${p}-dlx` });
    // RabbitMQ 3.10.8: a queue no policy matches has "policy": null, "effective_policy_definition": {}.
    const o = await queueJson(other);
    expect(o.policy).toBeNull();
    expect(o.effective_policy_definition).toEqual({});

    for (const q of [q1, q2, other]) ch.sendToQueue(q, Buffer.from(q));
    // Both matching queues' messages expire into the policy's dead-letter exchange, with x-death 'expired'.
    await eventually(async () => ((await ch.checkQueue(dead)).messageCount === 2 ? true : null), 'both messages dead-lettered', 3000);
    const m = await ch.get(dead, { noAck: true });
    expect(m && (m.properties.headers?.['x-death'] as { reason: string }[])[0]!.reason).toBe('expired');
    expect((await ch.checkQueue(other)).messageCount).toBe(1);

    // Cleared: the queues lose the TTL and the dead-letter exchange at once (RabbitMQ 3.10.8: 204, then 404).
    expect((await api('DELETE', `/api/policies/%2F/${p}-ttl`)).status).toBe(204);
    expect((await api('DELETE', `/api/policies/%2F/${p}-ttl`)).status).toBe(404);
    expect((await queueJson(q1)).policy).toBeNull();
    ch.sendToQueue(q1, Buffer.from('kept'));
    ch.sendToQueue(q2, Buffer.from('kept'));
    await sleep(400);
    expect((await ch.checkQueue(q1)).messageCount).toBe(1);
    expect((await ch.checkQueue(q2)).messageCount).toBe(1);
    expect((await ch.checkQueue(dead)).messageCount).toBe(1);
  });

  it('the highest-priority matching policy applies, and apply-to limits what it matches', async () => {
    const p = uid('pol-prio');
    const conn = await connect();
    const ch = await channel(conn);
    const q = `${p}-q`;
    await ch.assertQueue(q, { durable: false });
    await putPolicy(`${p}-low`, { pattern: `^${p}`, definition: { 'max-length': 2 }, priority: 1 });
    await putPolicy(`${p}-high`, { pattern: `^${p}`, definition: { 'max-length': 3 }, priority: 5 });
    // Higher priority still, but for exchanges only: queues ignore it.
    await putPolicy(`${p}-x`, { pattern: `^${p}`, definition: { 'alternate-exchange': 'nowhere' }, priority: 9, 'apply-to': 'exchanges' });
    expect((await queueJson(q)).policy).toBe(`${p}-high`);
    for (let i = 0; i < 5; i++) ch.sendToQueue(q, Buffer.from(String(i)));
    await sleep(100);
    // drop-head keeps the newest 3.
    expect((await ch.checkQueue(q)).messageCount).toBe(3);
    expect((await ch.get(q, { noAck: true }) || null)?.content.toString()).toBe('2');
    // Lowering the limit drops the head at once.
    await putPolicy(`${p}-high`, { pattern: `^${p}`, definition: { 'max-length': 1 }, priority: 5 });
    expect((await ch.checkQueue(q)).messageCount).toBe(1);
    for (const n of ['low', 'high', 'x']) await api('DELETE', `/api/policies/%2F/${p}-${n}`);
  });

  it('queue arguments win over the policy for the dead-letter exchange and overflow, the lower value for TTL and lengths', async () => {
    // RabbitMQ 3.10.8: a queue with x-max-length 10, x-message-ttl 500 and x-dead-letter-exchange
    // argdlx under a policy {max-length 5, message-ttl 1000, dead-letter-exchange dlx, overflow
    // reject-publish}: of 12 confirmed publishes 5 are acked and 7 nacked, and after 800 ms all 5
    // have expired into argdlx; effective_policy_definition shows the policy's definition as is.
    const p = uid('pol-prec');
    const conn = await connect();
    const ch = await confirmChannel(conn);
    await ch.assertExchange(`${p}-argdlx`, 'fanout', { durable: false });
    await ch.assertExchange(`${p}-poldlx`, 'fanout', { durable: false });
    const argDead = (await ch.assertQueue(uid('argdead'), { durable: false })).queue;
    const polDead = (await ch.assertQueue(uid('poldead'), { durable: false })).queue;
    await ch.bindQueue(argDead, `${p}-argdlx`, '');
    await ch.bindQueue(polDead, `${p}-poldlx`, '');
    const q = `${p}-q`;
    await ch.assertQueue(q, { durable: false, arguments: { 'x-max-length': 10, 'x-message-ttl': 500, 'x-dead-letter-exchange': `${p}-argdlx` } });
    const def = { 'message-ttl': 60_000, 'dead-letter-exchange': `${p}-poldlx`, 'max-length': 5, overflow: 'reject-publish' };
    await putPolicy(p, { pattern: `^${p}-q$`, definition: def, 'apply-to': 'queues' });
    expect((await queueJson(q)).effective_policy_definition).toEqual(def);
    let acked = 0;
    let nacked = 0;
    await Promise.all(
      Array.from(
        { length: 12 },
        (_, i) =>
          new Promise<void>((resolve) =>
            ch.sendToQueue(q, Buffer.from(String(i)), {}, (err) => {
              if (err) nacked++;
              else acked++;
              resolve();
            }),
          ),
      ),
    );
    expect([acked, nacked]).toEqual([5, 7]);
    await eventually(async () => ((await ch.checkQueue(argDead)).messageCount === 5 ? true : null), 'expired into the argument dlx', 3000);
    expect((await ch.checkQueue(q)).messageCount).toBe(0);
    expect((await ch.checkQueue(polDead)).messageCount).toBe(0);
    await api('DELETE', `/api/policies/%2F/${p}`);
  });

  it("an exchange's alternate-exchange comes from its policy unless its argument names one", async () => {
    // RabbitMQ 3.10.8: unroutable messages go to the policy's alternate exchange, but to the
    // argument's when the exchange has one; GET /api/exchanges shows "policy" only when one applies.
    const p = uid('pol-ae');
    const conn = await connect();
    const ch = await channel(conn);
    await ch.assertExchange(`${p}-ae`, 'fanout', { durable: false });
    await ch.assertExchange(`${p}-argae`, 'fanout', { durable: false });
    const aeQ = (await ch.assertQueue(uid('aeq'), { durable: false })).queue;
    const argAeQ = (await ch.assertQueue(uid('argaeq'), { durable: false })).queue;
    await ch.bindQueue(aeQ, `${p}-ae`, '');
    await ch.bindQueue(argAeQ, `${p}-argae`, '');
    await ch.assertExchange(`${p}-x1`, 'direct', { durable: false });
    await ch.assertExchange(`${p}-x2`, 'direct', { durable: false, arguments: { 'alternate-exchange': `${p}-argae` } });
    expect((await api('GET', `/api/exchanges/%2F/${p}-x1`)).json).not.toHaveProperty('policy');
    await putPolicy(p, { pattern: `^${p}-x`, definition: { 'alternate-exchange': `${p}-ae` }, 'apply-to': 'exchanges' });
    expect((await api('GET', `/api/exchanges/%2F/${p}-x1`)).json.policy).toBe(p);
    ch.publish(`${p}-x1`, 'nowhere', Buffer.from('a'));
    ch.publish(`${p}-x2`, 'nowhere', Buffer.from('b'));
    await eventually(async () => ((await ch.checkQueue(aeQ)).messageCount === 1 && (await ch.checkQueue(argAeQ)).messageCount === 1 ? true : null), 'alternate routes', 3000);
    await api('DELETE', `/api/policies/%2F/${p}`);
    ch.publish(`${p}-x1`, 'nowhere', Buffer.from('c'));
    await sleep(100);
    expect((await ch.checkQueue(aeQ)).messageCount).toBe(1);

    // RabbitMQ 3.10.8: amq.direct and the default exchange show a policy that matches them; amq.direct
    // uses its alternate exchange, the default exchange does not.
    await putPolicy(`${p}-std`, { pattern: '^(amq\\.direct)?$', definition: { 'alternate-exchange': `${p}-ae` }, 'apply-to': 'exchanges', priority: 99 });
    expect((await api('GET', '/api/exchanges/%2F/amq.direct')).json.policy).toBe(`${p}-std`);
    const listed = (await api('GET', '/api/exchanges/%2F')).json as { name: string; policy?: string }[];
    expect(listed.find((e) => e.name === '')?.policy).toBe(`${p}-std`);
    ch.publish('amq.direct', `${p}-no-such-queue`, Buffer.from('d'));
    ch.publish('', `${p}-no-such-queue`, Buffer.from('e'));
    await sleep(150);
    expect((await ch.checkQueue(aeQ)).messageCount).toBe(2);
    expect((await ch.get(aeQ, { noAck: true }) || null)?.content.toString()).toBe('a');
    expect((await ch.get(aeQ, { noAck: true }) || null)?.content.toString()).toBe('d');
    await api('DELETE', `/api/policies/%2F/${p}-std`);
  });
});

describe('/api/policies', () => {
  it("answers in RabbitMQ's JSON with its status codes and validation texts", async () => {
    const p = uid('pol-api');
    // RabbitMQ 3.10.8: 201 then 204; defaults apply-to "all" and priority 0.
    expect((await api('PUT', `/api/policies/%2F/${p}`, { body: { pattern: '^x', definition: { 'max-length': 1 } } })).status).toBe(201);
    expect((await api('PUT', `/api/policies/%2F/${p}`, { body: { pattern: '^x', definition: { 'max-length': 1 } } })).status).toBe(204);
    const one = { vhost: '/', name: p, pattern: '^x', 'apply-to': 'all', definition: { 'max-length': 1 }, priority: 0 };
    expect((await api('GET', `/api/policies/%2F/${p}`)).json).toEqual(one);
    expect((await api('GET', '/api/policies/%2F')).json).toContainEqual(one);
    expect((await api('GET', '/api/policies')).json).toContainEqual(one);
    expect((await api('GET', '/api/policies/%2F/nope')).status).toBe(404);
    expect((await api('GET', '/api/policies/no-such-vhost')).status).toBe(404);
    const noVhost = await api('PUT', '/api/policies/no-such-vhost/x', { body: { pattern: 'x', definition: { 'message-ttl': 1 } } });
    expect([noVhost.status, noVhost.json]).toEqual([404, { error: 'not_found', reason: 'vhost_not_found' }]);
    const bad = async (body: object): Promise<string> => {
      const r = await api('PUT', `/api/policies/%2F/${p}-bad`, { body });
      expect(r.status, r.text).toBe(400);
      expect(r.json.error).toBe('bad_request');
      return r.json.reason as string;
    };
    const v = (d: object): Promise<string> => bad({ pattern: '.*', definition: d });
    expect(await v({ foo: 1, bar: 2 })).toBe('Validation failed\n\n[{<<"bar">>,2},{<<"foo">>,1}] are not recognised policy settings\n');
    expect(await v({ 'message-ttl': -1 })).toBe('Validation failed\n\n-1 is not a valid message TTL\n');
    expect(await v({ 'message-ttl': 'a' })).toBe('Validation failed\n\n<<"a">> is not a valid message TTL\n');
    expect(await v({ expires: 0 })).toBe('Validation failed\n\n0 is not a valid queue expiry\n');
    expect(await v({ overflow: 'x' })).toBe('Validation failed\n\n<<"x">> is not a valid overflow value\n');
    expect(await v({ 'delivery-limit': -3 })).toBe('Validation failed\n\n-3 is not a valid delivery limit\n');
    expect(await v({ 'max-age': '1x' })).toBe('Validation failed\n\n<<"1x">> is not a valid max age\n');
    expect(await v({ 'ha-mode': 'exactly' })).toBe('Validation failed\n\nha-mode="exactly" takes an integer, none given\n');
    expect(await v({ 'ha-params': 2 })).toBe('Validation failed\n\nha-mode must be specified to specify ha-params, ha-sync-mode or ha-promote-on-shutdown\n');
    expect(await v({})).toBe('Validation failed\n\nno policy provided\n');
    expect(await bad({ definition: { 'message-ttl': 1 } })).toBe('[{key_missing,pattern}]');
    expect(await bad({ pattern: 'x' })).toBe('[{key_missing,definition}]');
    expect(await bad({ pattern: 'x', definition: { 'message-ttl': 1 }, priority: 'a' })).toBe('Validation failed\n\npriority should be a number, actually was <<"a">>\n');
    expect(await bad({ pattern: 'x', definition: { 'message-ttl': 1 }, 'apply-to': 'bogus' })).toMatch(/^Validation failed\n\napply-to 'bogus' unrecognised/);
    // Accepted although Warren's classic queues do nothing with them yet (RabbitMQ 3.10.8: 201/204).
    for (const d of [{ 'queue-mode': 'lazy' }, { 'delivery-limit': 3 }, { 'max-age': '1D' }, { 'ha-mode': 'all', 'ha-sync-mode': 'automatic' }, { 'dead-letter-strategy': 'at-least-once' }]) {
      await putPolicy(`${p}-ok`, { pattern: '^nothing-matches-this$', definition: d });
    }
    expect((await api('GET', `/api/policies/%2F/${p}-bad`)).status).toBe(404);
    for (const n of [p, `${p}-ok`]) expect((await api('DELETE', `/api/policies/%2F/${n}`)).status).toBe(204);
  });

  it('administrators and policymakers with permissions in the vhost change policies; management users only read them', async () => {
    const pm = uid('pm');
    const mg = uid('mg');
    expect((await api('PUT', `/api/users/${pm}`, { body: { password: 'pw', tags: 'policymaker' } })).status).toBe(201);
    expect((await api('PUT', `/api/users/${mg}`, { body: { password: 'pw', tags: 'management' } })).status).toBe(201);
    const body = { body: { pattern: '^nothing$', definition: { 'message-ttl': 1 } } };
    const name = uid('pol-authz');
    // RabbitMQ 3.10.8: without permissions in the vhost, a policymaker gets 401 and an empty list.
    const refused = await api('PUT', `/api/policies/%2F/${name}`, { ...body, auth: [pm, 'pw'] });
    expect([refused.status, refused.json]).toEqual([401, { error: 'not_authorised', reason: 'User not authorised to access object' }]);
    expect((await api('GET', '/api/policies', { auth: [pm, 'pw'] })).json).toEqual([]);
    expect((await api('GET', '/api/policies/%2F', { auth: [pm, 'pw'] })).status).toBe(401);
    for (const u of [pm, mg]) expect((await api('PUT', `/api/permissions/%2F/${u}`, { body: { configure: '', write: '', read: '' } })).status).toBe(201);
    expect((await api('PUT', `/api/policies/%2F/${name}`, { ...body, auth: [pm, 'pw'] })).status).toBe(201);
    // A management user reads them but may not change them.
    expect((await api('GET', '/api/policies/%2F', { auth: [mg, 'pw'] })).json.map((x: { name: string }) => x.name)).toContain(name);
    expect((await api('PUT', `/api/policies/%2F/${name}`, { ...body, auth: [mg, 'pw'] })).status).toBe(401);
    expect((await api('DELETE', `/api/policies/%2F/${name}`, { auth: [mg, 'pw'] })).status).toBe(401);
    expect((await api('DELETE', `/api/policies/%2F/${name}`, { auth: [pm, 'pw'] })).status).toBe(204);
  });
});

describe('durability and definitions', () => {
  it('policies survive a restart and apply to the recovered queues', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'warren-policies-'));
    try {
      const first = await startBroker({ managementPort: -1, logLevel: 'silent', dataDir: dir });
      const a1 = apiClient(`http://127.0.0.1:${first.managementPort}`);
      const c1 = await amqp.connect(`amqp://guest:guest@127.0.0.1:${first.port}`);
      const ch1 = await c1.createChannel();
      await ch1.assertQueue('durable-limited', { durable: true });
      await c1.close();
      await putPolicy('limit', { pattern: '^durable-', definition: { 'max-length': 2 }, priority: 3, 'apply-to': 'queues' }, a1);
      expect((await a1('PUT', '/api/operator-policies/%2F/op', { body: { pattern: '^durable-', definition: { expires: 3_600_000 } } })).status).toBe(201);
      await first.close();

      const second = await startBroker({ managementPort: -1, logLevel: 'silent', dataDir: dir });
      extraBrokers.push(second);
      const a2 = apiClient(`http://127.0.0.1:${second.managementPort}`);
      expect((await a2('GET', '/api/policies/%2F/limit')).json).toEqual({
        vhost: '/',
        name: 'limit',
        pattern: '^durable-',
        'apply-to': 'queues',
        definition: { 'max-length': 2 },
        priority: 3,
      });
      const recovered = await queueJson('durable-limited', a2);
      expect([recovered.policy, recovered.operator_policy, recovered.effective_policy_definition]).toEqual(['limit', 'op', { 'max-length': 2, expires: 3_600_000 }]);
      const ch2 = await channel(await connect(second.port));
      for (let i = 0; i < 4; i++) ch2.sendToQueue('durable-limited', Buffer.from(String(i)), { persistent: true });
      await sleep(100);
      expect((await ch2.checkQueue('durable-limited')).messageCount).toBe(2);
      // Cleared policies stay cleared.
      expect((await a2('DELETE', '/api/policies/%2F/limit')).status).toBe(204);
      expect((await a2('DELETE', '/api/operator-policies/%2F/op')).status).toBe(204);
      await second.close();
      const third = await startBroker({ managementPort: -1, logLevel: 'silent', dataDir: dir });
      extraBrokers.push(third);
      const a3 = apiClient(`http://127.0.0.1:${third.managementPort}`);
      expect((await a3('GET', '/api/policies')).json).toEqual([]);
      expect((await a3('GET', '/api/operator-policies')).json).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("definitions export policies in RabbitMQ's format and import them back equal, applied to the imported queues", async () => {
    const src = await startBroker({ managementPort: -1, logLevel: 'silent' });
    extraBrokers.push(src);
    const a = apiClient(`http://127.0.0.1:${src.managementPort}`);
    expect((await a('PUT', '/api/vhosts/pv', { body: {} })).status).toBe(201);
    await putPolicy('ttl', { pattern: '^t\\.', definition: { 'message-ttl': 1000, 'dead-letter-exchange': 'dlx' }, priority: 2, 'apply-to': 'queues' }, a);
    await putPolicy('ae', { pattern: '.*', definition: { 'alternate-exchange': 'ae' }, 'apply-to': 'exchanges' }, a, 'pv');
    expect((await a('PUT', '/api/queues/%2F/t.one', { body: { durable: true } })).status).toBe(201);
    const exported = (await a('GET', '/api/definitions')).json;
    // The shape RabbitMQ 3.10.8 exports: {vhost, name, pattern, apply-to, definition, priority}.
    expect(exported.policies).toEqual([
      { vhost: '/', name: 'ttl', pattern: '^t\\.', 'apply-to': 'queues', definition: { 'message-ttl': 1000, 'dead-letter-exchange': 'dlx' }, priority: 2 },
      { vhost: 'pv', name: 'ae', pattern: '.*', 'apply-to': 'exchanges', definition: { 'alternate-exchange': 'ae' }, priority: 0 },
    ]);
    const dst = await startBroker({ managementPort: -1, logLevel: 'silent' });
    extraBrokers.push(dst);
    const b = apiClient(`http://127.0.0.1:${dst.managementPort}`);
    const imp = await b('POST', '/api/definitions', { body: exported });
    expect(imp.status, imp.text).toBe(204);
    const again = (await b('GET', '/api/definitions')).json;
    expect(again.policies).toEqual(exported.policies);
    expect((await queueJson('t.one', b)).policy).toBe('ttl');
    // An invalid policy in a file is named, and nothing is imported.
    const refused = await b('POST', '/api/definitions', {
      body: { vhosts: [{ name: 'nv' }], policies: [{ vhost: 'nv', name: 'p', pattern: '.*', definition: { overflow: 'sideways' } }] },
    });
    expect(refused.status).toBe(400);
    expect(refused.json.problems).toEqual([`policy 'p' in vhost 'nv': <<"sideways">> is not a valid overflow value`]);
    expect((await b('GET', '/api/vhosts/nv')).status).toBe(404);
  });
});

describe('warren ctl', () => {
  it('set_policy, list_policies and clear_policy take and print what rabbitmqctl does', async () => {
    const name = uid('ctlp');
    // rabbitmqctl 3.10.8: set_policy [-p vhost] [--priority N] [--apply-to X] NAME PATTERN DEFINITION.
    const set = await runCtl(url, ['set_policy', '--priority', '3', '--apply-to', 'queues', name, '^c', '{"max-length":4}']);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stdout).toBe(`Setting policy "${name}" for pattern "^c" to "{"max-length":4}" with priority "3" for vhost "/" ...\n`);
    const list = await runCtl(url, ['list_policies']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout.split('\n')[0]).toBe('Listing policies for vhost "/" ...');
    const t = ctlTable(list.stdout, ['vhost', 'name', 'pattern', 'apply-to', 'definition', 'priority']);
    expect(t?.rows).toContainEqual(['/', name, '^c', 'queues', '{"max-length":4}', '3']);
    // --formatter json: the definition as JSON text, as rabbitmqctl prints it.
    const json = await runCtl(url, ['list_policies', '--formatter', 'json']);
    expect(JSON.parse(json.stdout)).toContainEqual({ vhost: '/', name, pattern: '^c', 'apply-to': 'queues', definition: '{"max-length":4}', priority: 3 });
    // Refused definitions: exit 69 with RabbitMQ's text; a missing vhost: 65.
    const bad = await runCtl(url, ['set_policy', `${name}-bad`, '^c', '{"foo":1}']);
    expect(bad.code).toBe(69);
    expect(bad.stderr).toContain('Validation failed\n\n[{<<"foo">>,1}] are not recognised policy settings');
    expect((await runCtl(url, ['set_policy', '-p', 'no-such-vhost', 'x', '^c', '{"max-length":4}'])).code).toBe(65);
    expect((await runCtl(url, ['set_policy', 'onlytwo', '^c'])).code).toBe(64);
    const clear = await runCtl(url, ['clear_policy', name]);
    expect([clear.code, clear.stdout]).toEqual([0, `Clearing policy "${name}" on vhost "/" ...\n`]);
    const again = await runCtl(url, ['clear_policy', name]);
    expect(again.code).toBe(69);
    expect(again.stderr).toContain('Parameter does not exist');
  });
});

describe('operator policies', () => {
  it('the stricter of policy, operator policy and argument applies; only administrators set them; limits only', async () => {
    // RabbitMQ 3.10.8: a queue with x-max-length 10, a policy {max-length 5, message-ttl 1000} and an
    // operator policy {max-length 3, message-ttl 60000}: "policy", "operator_policy" and
    // effective_policy_definition {max-length 3, message-ttl 1000}; of 6 messages 3 stay, and expire.
    const p = uid('pol-op');
    const conn = await connect();
    const ch = await channel(conn);
    const q = `${p}-q`;
    await ch.assertQueue(q, { durable: false, arguments: { 'x-max-length': 10 } });
    await putPolicy(`${p}-u`, { pattern: `^${p}-`, definition: { 'max-length': 5, 'message-ttl': 1000 }, 'apply-to': 'queues' });
    const r = await api('PUT', `/api/operator-policies/%2F/${p}-o`, { body: { pattern: `^${p}-`, definition: { 'max-length': 3, 'message-ttl': 60_000 }, 'apply-to': 'queues' } });
    expect(r.status, r.text).toBe(201);
    const j = await queueJson(q);
    expect([j.policy, j.operator_policy, j.effective_policy_definition]).toEqual([`${p}-u`, `${p}-o`, { 'max-length': 3, 'message-ttl': 1000 }]);
    for (let i = 0; i < 6; i++) ch.sendToQueue(q, Buffer.from(String(i)));
    await sleep(100);
    expect((await ch.checkQueue(q)).messageCount).toBe(3);
    await eventually(async () => ((await ch.checkQueue(q)).messageCount === 0 ? true : null), 'expired', 3000);

    // RabbitMQ 3.10.8: an operator policy may only hold limits; a policymaker may read but not set them.
    const bad = await api('PUT', `/api/operator-policies/%2F/${p}-bad`, { body: { pattern: 'x', definition: { overflow: 'drop-head' } } });
    expect([bad.status, bad.json.reason]).toEqual([400, 'Validation failed\n\n[{<<"overflow">>,<<"drop-head">>}] are not recognised policy settings\n']);
    const pm = uid('pm');
    await api('PUT', `/api/users/${pm}`, { body: { password: 'pw', tags: 'policymaker' } });
    await api('PUT', `/api/permissions/%2F/${pm}`, { body: { configure: '.*', write: '.*', read: '.*' } });
    const refused = await api('PUT', `/api/operator-policies/%2F/${p}-pm`, { body: { pattern: 'x', definition: { 'max-length': 1 } }, auth: [pm, 'pw'] });
    expect([refused.status, refused.json.reason]).toEqual([401, 'Not administrator user']);
    expect((await api('GET', '/api/operator-policies/%2F', { auth: [pm, 'pw'] })).json.map((x: { name: string }) => x.name)).toContain(`${p}-o`);

    // Exported as RabbitMQ does, as a runtime parameter of the component operator_policy.
    const defs = (await api('GET', '/api/definitions')).json;
    expect(defs.parameters).toContainEqual({
      value: { pattern: `^${p}-`, definition: { 'max-length': 3, 'message-ttl': 60_000 }, priority: 0, 'apply-to': 'queues' },
      vhost: '/',
      component: 'operator_policy',
      name: `${p}-o`,
    });
    const other = await startBroker({ managementPort: -1, logLevel: 'silent' });
    extraBrokers.push(other);
    const b = apiClient(`http://127.0.0.1:${other.managementPort}`);
    expect((await b('POST', '/api/definitions', { body: defs })).status).toBe(204);
    expect((await b('GET', '/api/definitions')).json.parameters).toEqual(defs.parameters);

    // Cleared: the user policy's limit is back.
    expect((await api('DELETE', `/api/operator-policies/%2F/${p}-o`)).status).toBe(204);
    expect((await queueJson(q)).effective_policy_definition).toEqual({ 'max-length': 5, 'message-ttl': 1000 });
    await api('DELETE', `/api/policies/%2F/${p}-u`);
  });

  it('warren ctl set_operator_policy, list_operator_policies and clear_operator_policy print what rabbitmqctl does', async () => {
    const name = uid('ctlop');
    const set = await runCtl(url, ['set_operator_policy', '--priority', '3', '--apply-to', 'queues', name, '^c', '{"max-length":4}']);
    expect([set.code, set.stdout]).toEqual([0, `Setting operator policy override "${name}" for pattern "^c" to "{"max-length":4}" with priority "3" for vhost "/" ...\n`]);
    const list = await runCtl(url, ['list_operator_policies']);
    expect(list.stdout.split('\n')[0]).toBe('Listing operator policy overrides for vhost "/" ...');
    expect(ctlTable(list.stdout, ['vhost', 'name', 'pattern', 'apply-to', 'definition', 'priority'])?.rows).toContainEqual(['/', name, '^c', 'queues', '{"max-length":4}', '3']);
    const bad = await runCtl(url, ['set_operator_policy', `${name}-2`, '^c', '{"overflow":"drop-head"}']);
    expect(bad.code).toBe(69);
    expect(bad.stderr).toContain('[{<<"overflow">>,<<"drop-head">>}] are not recognised policy settings');
    const clear = await runCtl(url, ['clear_operator_policy', name]);
    expect([clear.code, clear.stdout]).toEqual([0, `Clearing operator policy "${name}" on vhost "/" ...\n`]);
    expect((await runCtl(url, ['clear_operator_policy', name])).code).toBe(69);
  });
});
