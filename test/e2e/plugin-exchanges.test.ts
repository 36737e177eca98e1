// The exchange types of RabbitMQ's bundled plugins that Warren has: x-consistent-hash
// (rabbitmq_consistent_hash_exchange), x-random (rabbitmq_random_exchange) and x-recent-history
// (rabbitmq_recent_history_exchange), through amqplib and the management API. Where each message goes was recorded from RabbitMQ 3.10.8 with the plugin
// (test/fixtures/consistent-hash-3.10.8.json): Warren hashes as the Erlang VM does, so every key
// reaches the same queue. With AMQP_URL the AMQP cases run against that broker (its plugins on).
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel } from 'amqplib';
import { brokerUnderTest, onWarren, type BrokerUnderTest } from '../helpers/broker-under-test.js';
import { sleep } from '../helpers/async.js';
import { startBroker, type RunningBroker } from '../../src/index.js';

const fixture = JSON.parse(readFileSync(new URL('../fixtures/consistent-hash-3.10.8.json', import.meta.url), 'utf8')) as Record<string, string>;

let broker: BrokerUnderTest;
let conn: ChannelModel;
let ch: Channel;
const QS = ['fx1', 'fx2', 'fx3'];

beforeAll(async () => {
  broker = await brokerUnderTest();
  conn = await amqp.connect(broker.url());
  conn.on('error', () => undefined);
  ch = await conn.createChannel();
  for (const q of QS) await ch.assertQueue(q, { durable: false });
});

afterAll(async () => {
  for (const q of QS) await ch.deleteQueue(q).catch(() => undefined);
  await conn?.close().catch(() => undefined);
  await broker?.close();
});

/** Where the messages went, as the fixture writes it: `body:queue` sorted by body. */
async function drain(): Promise<string> {
  await sleep(200);
  const at: Record<string, string> = {};
  for (const q of QS) {
    for (let m = await ch.get(q, { noAck: true }); m; m = await ch.get(q, { noAck: true })) at[m.content.toString()] = q.slice(2);
  }
  return Object.keys(at)
    .sort()
    .map((k) => `${k}:${at[k]}`)
    .join(' ');
}

async function hashExchange(name: string, args: Record<string, unknown>, weights: string[]): Promise<void> {
  await ch.deleteExchange(name).catch(() => undefined);
  await ch.assertExchange(name, 'x-consistent-hash', { durable: false, arguments: args });
  for (let i = 0; i < weights.length; i++) await ch.bindQueue(QS[i]!, name, weights[i]!);
}

/** The channel error of action on a fresh channel. */
async function refusal(action: (c: Channel) => Promise<unknown>): Promise<Error & { code?: number; classId?: number; methodId?: number }> {
  const c = await conn.createChannel();
  let err: (Error & { code?: number }) | null = null;
  c.on('error', (e: Error) => (err = e));
  await action(c).catch(() => undefined);
  await sleep(50);
  expect(err).not.toBeNull();
  return err!;
}

describe('x-consistent-hash', () => {
  it('routes each routing key to the queue 3.10.8 routes it to, by weight (1, 2, 3), and only by the first of its keys', async () => {
    await hashExchange('fx-rk', {}, ['1', '2', '3']);
    for (let i = 0; i < 60; i++) ch.publish('fx-rk', `order-${i}`, Buffer.from(`order-${i}`));
    expect(await drain()).toBe(fixture.routingKey);
    // CC and BCC keys are not hashed: order-1 goes to queue 1 alone (order-0 and order-10 would be 2 and 3).
    ch.publish('fx-rk', 'order-1', Buffer.from('cc'), { CC: ['order-0'], BCC: ['order-10'] });
    expect(await drain()).toBe('cc:1');
    await ch.deleteExchange('fx-rk');
  });

  it('hash-header: a header (strings and integers; missing: all to one queue) decides, as on 3.10.8', async () => {
    await hashExchange('fx-h', { 'hash-header': 'customer' }, ['10', '10', '10']);
    for (let i = 0; i < 20; i++) ch.publish('fx-h', 'ignored', Buffer.from(`c${i}`), { headers: { customer: `customer-${i}` } });
    for (let i = -3; i < 5; i++) ch.publish('fx-h', 'ignored', Buffer.from(`n${i}`), { headers: { customer: i } });
    ch.publish('fx-h', 'ignored', Buffer.from('absent'));
    expect(await drain()).toBe(fixture.header);
    await ch.deleteExchange('fx-h');
  });

  it('hash-property: message_id, correlation_id or timestamp decides, as on 3.10.8', async () => {
    const cases: [string, string, (i: number) => amqp.Options.Publish][] = [
      ['message_id', 'messageId', (i) => ({ messageId: `msg-${i}` })],
      ['correlation_id', 'correlationId', (i) => ({ correlationId: `corr-${i}` })],
      ['timestamp', 'timestamp', (i) => ({ timestamp: 1764900000 + i })],
    ];
    for (const [property, key, props] of cases) {
      await hashExchange('fx-p', { 'hash-property': property }, ['4', '4', '4']);
      const prefix = { messageId: 'm', correlationId: 'c', timestamp: 't' }[key];
      for (let i = 0; i < 20; i++) ch.publish('fx-p', 'ignored', Buffer.from(`${prefix}${i}`), props(i));
      expect(await drain(), property).toBe(fixture[key]);
    }
    await ch.deleteExchange('fx-p');
  });

  it("a second binding to a queue adds no buckets; unbinding either takes the queue's buckets away (3.10.8)", async () => {
    await ch.deleteExchange('fx-2').catch(() => undefined);
    await ch.assertExchange('fx-2', 'x-consistent-hash', { durable: false });
    await ch.bindQueue('fx1', 'fx-2', '1');
    await ch.bindQueue('fx2', 'fx-2', '2');
    await ch.bindQueue('fx1', 'fx-2', '3');
    for (let i = 0; i < 30; i++) ch.publish('fx-2', `k${i}`, Buffer.from(`k${i}`));
    expect(await drain()).toBe(fixture.secondBinding);
    await ch.unbindQueue('fx1', 'fx-2', '3');
    for (let i = 0; i < 30; i++) ch.publish('fx-2', `k${i}`, Buffer.from(`k${i}`));
    expect((await drain()).split(' ').every((x) => x.endsWith(':2'))).toBe(true);
    await ch.deleteExchange('fx-2');
  });

  it("refuses a binding key that is not a weight, and arguments it cannot hash by, with 3.10.8's texts", async () => {
    await ch.assertExchange('fx-e', 'x-consistent-hash', { durable: false });
    const cases: [string, string][] = [
      ['abc', 'The binding key must be an integer: <<"abc">>'],
      ['', 'The binding key must be an integer: <<>>'],
      [' 5', 'The binding key must be an integer: <<" 5">>'],
      ['0', 'The binding key must be greater than 0'],
      ['-3', 'The binding key must be greater than 0'],
    ];
    for (const [key, text] of cases) {
      const e = await refusal((c) => c.bindQueue('fx1', 'fx-e', key));
      expect(e.message, key).toContain(`406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - ${text}"`);
      expect([e.classId, e.methodId]).toEqual([50, 20]);
    }
    // Erlang's list_to_integer takes a sign.
    await ch.bindQueue('fx1', 'fx-e', '+5');
    let e = await refusal((c) => c.assertExchange('fx-e2', 'x-consistent-hash', { arguments: { 'hash-header': 'h', 'hash-property': 'message_id' } }));
    expect(e.message).toContain('PRECONDITION_FAILED - hash-header and hash-property are mutually exclusive');
    expect([e.classId, e.methodId]).toEqual([40, 10]);
    e = await refusal((c) => c.assertExchange('fx-e3', 'x-consistent-hash', { arguments: { 'hash-property': 'app_id' } }));
    expect(e.message).toContain('PRECONDITION_FAILED - Unsupported property: app_id');
    await ch.deleteExchange('fx-e');
  });
});

describe('x-random', () => {
  it('hands each message to one of its bound queues, at random', async () => {
    await ch.assertExchange('fx-r', 'x-random', { durable: false });
    for (const q of QS) await ch.bindQueue(q, 'fx-r', 'any');
    for (let i = 0; i < 300; i++) ch.publish('fx-r', `k${i % 2}`, Buffer.from(`r${i}`));
    await sleep(300);
    const counts = await Promise.all(QS.map(async (q) => (await ch.checkQueue(q)).messageCount));
    expect(counts.reduce((a, b) => a + b, 0)).toBe(300);
    // Each of the three gets a share (a uniform pick leaves one under 50 of 300 about once in 10^9).
    for (const n of counts) expect(n).toBeGreaterThan(50);
    for (const q of QS) await ch.purgeQueue(q);
    await ch.deleteExchange('fx-r');
  });
});

describe('x-recent-history', () => {
  /** What reached q, as `body[exchange/key]` in order. */
  async function got(q: string): Promise<string[]> {
    await sleep(200);
    const out: string[] = [];
    for (let m = await ch.get(q, { noAck: true }); m; m = await ch.get(q, { noAck: true })) out.push(`${m.content}[${m.fields.exchange}/${m.fields.routingKey}]`);
    return out;
  }

  it('routes as a fanout and hands every new binding its last 20 messages (not those marked no-store), as 3.10.8', async () => {
    await ch.assertExchange('fx-h20', 'x-recent-history', { durable: false });
    await ch.bindQueue('fx1', 'fx-h20', 'x');
    for (let i = 0; i < 25; i++) ch.publish('fx-h20', `k${i}`, Buffer.from(`m${i}`), i === 22 ? { headers: { 'x-recent-history-no-store': true } } : {});
    expect((await got('fx1')).length).toBe(25);
    const last20 = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 23, 24].map((i) => `m${i}[fx-h20/k${i}]`);
    await ch.bindQueue('fx2', 'fx-h20', 'anything');
    expect(await got('fx2')).toEqual(last20);
    // Every binding gets them again, the same queue's second one too.
    await ch.bindQueue('fx2', 'fx-h20', 'other');
    expect(await got('fx2')).toEqual(last20);
    await ch.deleteExchange('fx-h20');
  });

  it('keeps x-recent-history-length messages; a queue gets them oldest first, an exchange newest first (3.10.8)', async () => {
    await ch.assertExchange('fx-h3', 'x-recent-history', { durable: false, arguments: { 'x-recent-history-length': 3 } });
    for (let i = 0; i < 6; i++) ch.publish('fx-h3', 'k', Buffer.from(`n${i}`), { headers: { a: i }, messageId: `id${i}` });
    await sleep(100);
    await ch.bindQueue('fx1', 'fx-h3', '');
    await sleep(200);
    const first = await ch.get('fx1', { noAck: true });
    expect(first && [first.content.toString(), first.properties.headers, first.properties.messageId, first.fields.redelivered]).toEqual(['n3', { a: 3 }, 'id3', false]);
    expect(await got('fx1')).toEqual(['n4[fx-h3/k]', 'n5[fx-h3/k]']);
    await ch.assertExchange('fx-hd', 'fanout', { durable: false });
    await ch.bindQueue('fx3', 'fx-hd', '');
    await ch.bindExchange('fx-hd', 'fx-h3', '');
    expect(await got('fx3')).toEqual(['n5[fx-h3/k]', 'n4[fx-h3/k]', 'n3[fx-h3/k]']);
    await ch.deleteExchange('fx-hd');
    await ch.deleteExchange('fx-h3');
  });

  it("refuses a length that is not a positive integer, with 3.10.8's text", async () => {
    for (const [v, printed] of [[0, '0'], [-1, '-1'], ['ten', '<<"ten">>']] as const) {
      const e = await refusal((c) => c.assertExchange('fx-hbad', 'x-recent-history', { arguments: { 'x-recent-history-length': v } }));
      expect(e.message).toContain(`406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - Invalid argument ${printed}, 'x-recent-history-length' must be a positive integer"`);
      expect([e.classId, e.methodId]).toEqual([40, 10]);
    }
  });
});

describe.runIf(onWarren)('plugin exchange types through the management API and definitions', () => {
  let w: RunningBroker;
  const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, 'content-type': 'application/json' };
  beforeAll(async () => {
    w = await startBroker({ port: 0, host: '127.0.0.1', managementPort: -1, logLevel: 'silent' });
  });
  afterAll(async () => {
    await w?.close();
  });
  const api = (method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(`http://127.0.0.1:${w.managementPort}/api${path}`, { method, headers: auth, body: body === undefined ? undefined : JSON.stringify(body) });

  it("lists them in the overview and refuses bad bindings and arguments with 3.10.8's 400s", async () => {
    const overview = (await (await api('GET', '/overview')).json()) as { exchange_types: { name: string; description: string }[] };
    expect(overview.exchange_types.map((t) => t.name)).toEqual(['direct', 'fanout', 'headers', 'topic', 'x-consistent-hash', 'x-delayed-message', 'x-federation-upstream', 'x-random', 'x-recent-history']);
    expect(overview.exchange_types.find((t) => t.name === 'x-consistent-hash')!.description).toBe('Consistent Hashing Exchange');
    expect((await api('PUT', '/exchanges/%2F/chxa', { type: 'x-consistent-hash' })).status).toBe(201);
    expect((await api('PUT', '/queues/%2F/chqa', {})).status).toBe(201);
    let r = await api('POST', '/bindings/%2F/e/chxa/q/chqa', { routing_key: 'abc' });
    expect([r.status, await r.json()]).toEqual([400, { error: 'bad_request', reason: 'The binding key must be an integer: <<"abc">>' }]);
    r = await api('POST', '/bindings/%2F/e/chxa/q/chqa', { routing_key: '0' });
    expect([r.status, await r.json()]).toEqual([400, { error: 'bad_request', reason: 'The binding key must be greater than 0' }]);
    expect((await api('POST', '/bindings/%2F/e/chxa/q/chqa', { routing_key: '4' })).status).toBe(201);
    r = await api('PUT', '/exchanges/%2F/chxb', { type: 'x-consistent-hash', arguments: { 'hash-property': 'app_id' } });
    expect([r.status, await r.json()]).toEqual([400, { error: 'bad_request', reason: 'Unsupported property: app_id' }]);
    // A definitions import is checked the same way, before anything is made.
    r = await api('POST', '/definitions', {
      exchanges: [{ name: 'chxd', vhost: '/', type: 'x-consistent-hash', durable: true, auto_delete: false, internal: false, arguments: {} }],
      queues: [{ name: 'chqd', vhost: '/', durable: true, auto_delete: false, arguments: {} }],
      bindings: [{ source: 'chxd', vhost: '/', destination: 'chqd', destination_type: 'queue', routing_key: 'heavy', arguments: {} }],
    });
    expect(r.status).toBe(400);
    expect(JSON.stringify(await r.json())).toContain('The binding key must be an integer');
    expect((await api('GET', '/exchanges/%2F/chxd')).status).toBe(404);
    // A delayed-message exchange routing as a consistent-hash one takes only weights too.
    r = await api('POST', '/definitions', {
      exchanges: [{ name: 'dchx', vhost: '/', type: 'x-delayed-message', durable: true, auto_delete: false, internal: false, arguments: { 'x-delayed-type': 'x-consistent-hash' } }],
      queues: [{ name: 'chqd', vhost: '/', durable: true, auto_delete: false, arguments: {} }],
      bindings: [{ source: 'dchx', vhost: '/', destination: 'chqd', destination_type: 'queue', routing_key: 'heavy', arguments: {} }],
    });
    expect(r.status).toBe(400);
    expect(JSON.stringify(await r.json())).toContain('The binding key must be an integer');
  });
});
