// Conformance tests: exchanges, bindings and routing as RabbitMQ 3.x does them, through amqplib.
// Every test asserts what a client can observe: reply codes and texts, which queues got which
// messages, basic.return, confirms, and what survives a broker restart.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConfirmChannel, GetMessage, Message, Options } from 'amqplib';
import { brokerUnderTest, onWarren, type BrokerUnderTest } from '../helpers/broker-under-test.js';
import { spawnBroker, type BrokerProcess } from '../helpers/broker-process.js';
import { sleep, withTimeout } from '../helpers/async.js';
import { channel, confirmChannel, drain } from '../helpers/channels.js';

type AmqpError = Error & { code?: number; classId?: number; methodId?: number };

let broker: BrokerUnderTest;
const openConns: ChannelModel[] = [];

beforeAll(async () => {
  broker = await brokerUnderTest(); // Warren in-process, or the broker at AMQP_URL
});

afterAll(async () => {
  await broker?.close();
});

afterEach(async () => {
  const conns = openConns.splice(0);
  await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
});

// ---------------------------------------------------------------- helpers

const name = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

/** A connection to the broker under test, or to a Warren process of this test on `port`. */
async function connect(port?: number): Promise<ChannelModel> {
  const conn = await amqp.connect(port === undefined ? broker.url() : `amqp://guest:guest@127.0.0.1:${port}`);
  conn.on('error', () => undefined);
  openConns.push(conn);
  return conn;
}

/** amqplib puts the server's reply-text in the message: ... with message "<reply-text>". */
function replyText(err: AmqpError): string {
  return /with message "(.*)"/s.exec(err.message)?.[1] ?? err.message;
}

interface Closed {
  code: number | undefined;
  text: string;
  message: string;
}

/**
 * Runs `action` on a fresh channel of `conn` and expects the server to close that channel.
 * Then checks that the same connection still opens a working channel.
 */
async function channelError(conn: ChannelModel, action: (ch: Channel) => unknown): Promise<Closed> {
  const ch = await conn.createChannel();
  const errP = new Promise<AmqpError>((resolve) => ch.on('error', (e: AmqpError) => resolve(e)));
  const closed = new Promise<void>((r) => ch.once('close', () => r()));
  try {
    await action(ch);
  } catch {
    // the rpc is rejected as well; the 'error' event carries the close reason
  }
  const err = await withTimeout(errP, 5000, 'channel.close from the server');
  await withTimeout(closed, 5000, 'channel closed');
  await assertConnWorks(conn);
  return { code: err.code, text: replyText(err), message: err.message };
}

/** Runs `action` and expects the server to close the whole connection. */
async function connectionError(conn: ChannelModel, action: () => unknown): Promise<Closed> {
  const errP = new Promise<AmqpError>((resolve) => conn.on('error', (e: AmqpError) => resolve(e)));
  const closed = new Promise<void>((r) => conn.once('close', () => r()));
  try {
    await action();
  } catch {
    // pending rpcs are rejected when the connection goes
  }
  const err = await withTimeout(errP, 5000, 'connection.close from the server');
  await withTimeout(closed, 5000, 'connection closed');
  return { code: err.code, text: replyText(err), message: err.message };
}

async function assertConnWorks(conn: ChannelModel): Promise<void> {
  const ch = await withTimeout(channel(conn), 5000, 'createChannel');
  const { queue } = await ch.assertQueue('', { exclusive: true });
  ch.sendToQueue(queue, Buffer.from('alive'));
  let m: GetMessage | false = false;
  for (let i = 0; i < 200 && m === false; i++) {
    m = await ch.get(queue, { noAck: true });
    if (m === false) await sleep(5);
  }
  expect(m === false ? null : m.content.toString(), 'connection still usable').toBe('alive');
  await ch.deleteQueue(queue);
  await ch.close();
}

/** Does the exchange exist? A passive declare on a throw-away channel (a 404 closes it). */
async function exchangeExists(conn: ChannelModel, exchange: string): Promise<boolean> {
  const ch = await channel(conn);
  try {
    await ch.checkExchange(exchange);
    await ch.close();
    return true;
  } catch (err) {
    if ((err as AmqpError).code === 404) return false;
    throw err;
  }
}

const bodies = (ms: Message[]) => ms.map((m) => m.content.toString());

/** Publishes and waits for every confirm, so routing has happened when it resolves. */
async function publishAll(ch: ConfirmChannel, items: [string, string, string, Options.Publish?][]): Promise<void> {
  for (const [exchange, key, body, opts] of items) ch.publish(exchange, key, Buffer.from(body), opts ?? {});
  await withTimeout(ch.waitForConfirms(), 5000, 'publisher confirms');
}

/** A fresh connection with a plain and a confirm channel. */
async function setup(): Promise<{ conn: ChannelModel; ch: Channel; pub: ConfirmChannel }> {
  const conn = await connect();
  return { conn, ch: await channel(conn), pub: await confirmChannel(conn) };
}

async function exclusiveQueue(ch: Channel): Promise<string> {
  return (await ch.assertQueue('', { exclusive: true })).queue;
}

// tx.* has no amqplib API; the channel's public rpc() sends any method and awaits its reply.
const TX = {
  select: [0x005a000a, 0x005a000b],
  commit: [0x005a0014, 0x005a0015],
  rollback: [0x005a001e, 0x005a001f],
} as const;
type RpcChannel = { rpc(method: number, fields: object, expect: number): Promise<unknown> };
const tx = (ch: Channel, what: keyof typeof TX) => (ch as unknown as RpcChannel).rpc(TX[what][0], {}, TX[what][1]);

// ------------------------------------------------------------------ exchange.declare

describe('exchange.declare', () => {
  it('passive declare of a missing exchange -> 404 channel close; of an existing one of another type -> ok', async () => {
    const conn = await connect();
    const missing = name('missing');
    const err = await channelError(conn, (ch) => ch.checkExchange(missing));
    expect(err.code, err.message).toBe(404);
    expect(err.text).toBe(`NOT_FOUND - no exchange '${missing}' in vhost '/'`);

    const ch = await channel(conn);
    const ex = name('direct');
    await ch.assertExchange(ex, 'direct', { durable: false });
    // passive ignores type and flags (amqplib sends type '' and durable false)
    await expect(ch.checkExchange(ex)).resolves.toBeDefined();
    await ch.deleteExchange(ex);
  });

  it('passive declare of the default exchange "" -> 403 (RabbitMQ refuses any declare of it)', async () => {
    const conn = await connect();
    const err = await channelError(conn, (ch) => ch.checkExchange(''));
    expect(err.code, err.message).toBe(403);
    expect(err.text).toBe('ACCESS_REFUSED - operation not permitted on the default exchange');
  });

  it('redeclaring with a different type or durability -> 406 PRECONDITION_FAILED; the original is kept', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const ex = name('typed');
    await ch.assertExchange(ex, 'direct', { durable: false });
    await ch.assertExchange(ex, 'direct', { durable: false }); // equivalent: ok

    const e1 = await channelError(conn, (c) => c.assertExchange(ex, 'fanout', { durable: false }));
    expect(e1.code, e1.message).toBe(406);
    expect(e1.text).toBe(`PRECONDITION_FAILED - inequivalent arg 'type' for exchange '${ex}' in vhost '/': received 'fanout' but current is 'direct'`);

    const e2 = await channelError(conn, (c) => c.assertExchange(ex, 'direct', { durable: true }));
    expect(e2.code, e2.message).toBe(406);
    expect(e2.text).toMatch(/^PRECONDITION_FAILED - inequivalent arg 'durable'/);

    const e3 = await channelError(conn, (c) => c.assertExchange(ex, 'direct', { durable: false, autoDelete: true }));
    expect(e3.code, e3.message).toBe(406);
    expect(e3.text).toMatch(/^PRECONDITION_FAILED - inequivalent arg 'auto_delete'/);

    // still a direct exchange
    const ch2 = await channel(conn);
    await expect(ch2.assertExchange(ex, 'direct', { durable: false })).resolves.toBeDefined();
    await ch2.deleteExchange(ex);
  });

  it('redeclaring with another alternate-exchange, or none, -> 406 in RabbitMQ 3.10.8\'s words', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const ex = name('ae-redeclare');
    await ch.assertExchange(ex, 'direct', { durable: false, alternateExchange: 'alt1' });
    await ch.assertExchange(ex, 'direct', { durable: false, alternateExchange: 'alt1' });
    const where = `for exchange '${ex}' in vhost '/'`;
    const other = await channelError(conn, (c) => c.assertExchange(ex, 'direct', { durable: false, alternateExchange: 'alt2' }));
    expect(other.text).toBe(`PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' ${where}: received 'alt2' but current is 'alt1'`);
    const none = await channelError(conn, (c) => c.assertExchange(ex, 'direct', { durable: false }));
    expect(none.text).toBe(`PRECONDITION_FAILED - inequivalent arg 'alternate-exchange' ${where}: received none but current is the value 'alt1' of type 'longstr'`);
    await ch.deleteExchange(ex);
  });

  it('a queue argument on one side only is named with its value and type, as RabbitMQ 3.10.8 does', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const q = name('arg-redeclare');
    await ch.assertQueue(q, { durable: false, maxLength: 5 });
    const where = `for queue '${q}' in vhost '/'`;
    const none = await channelError(conn, (c) => c.assertQueue(q, { durable: false }));
    expect(none.text).toBe(`PRECONDITION_FAILED - inequivalent arg 'x-max-length' ${where}: received none but current is the value '5' of type 'byte'`);
    const other = await channelError(conn, (c) => c.assertQueue(q, { durable: false, maxLength: 6 }));
    expect(other.text).toBe(`PRECONDITION_FAILED - inequivalent arg 'x-max-length' ${where}: received '6' but current is '5'`);
    const extra = await channelError(conn, (c) => c.assertQueue(q, { durable: false, maxLength: 5, deadLetterExchange: 'd' }));
    expect(extra.text).toBe(`PRECONDITION_FAILED - inequivalent arg 'x-dead-letter-exchange' ${where}: received the value 'd' of type 'longstr' but current is none`);
    await ch.deleteQueue(q);
  });

  it("declaring a new exchange named 'amq.*' -> 403 ACCESS_REFUSED and nothing is created", async () => {
    const conn = await connect();
    const err = await channelError(conn, (ch) => ch.assertExchange('amq.foo', 'direct', { durable: false }));
    expect(err.code, err.message).toBe(403);
    expect(err.text).toBe("ACCESS_REFUSED - exchange name 'amq.foo' contains reserved prefix 'amq.*'");
    expect(await exchangeExists(conn, 'amq.foo')).toBe(false);
  });

  it("declaring an unknown type 'foo' -> 503 COMMAND_INVALID closes the connection", async () => {
    const conn = await connect();
    const ch = await channel(conn);
    const ex = name('badtype');
    const err = await connectionError(conn, () => ch.assertExchange(ex, 'foo', { durable: false }));
    expect(err.code, err.message).toBe(503);
    expect(err.text).toMatch(/^COMMAND_INVALID - (unknown|invalid) exchange type 'foo'$/);
    expect(await exchangeExists(await connect(), ex)).toBe(false);
  });

  it('the standard exchanges amq.direct/fanout/topic/headers/match exist, durable, with their types', async () => {
    const conn = await connect();
    const types: Record<string, string> = {
      'amq.direct': 'direct',
      'amq.fanout': 'fanout',
      'amq.topic': 'topic',
      'amq.headers': 'headers',
      'amq.match': 'headers',
    };
    const ch = await channel(conn);
    for (const [ex, type] of Object.entries(types)) {
      await expect(ch.checkExchange(ex), ex).resolves.toBeDefined();
      // an equivalent redeclare of a standard exchange is allowed
      await expect(ch.assertExchange(ex, type, { durable: true }), ex).resolves.toBeDefined();
    }
    const err = await channelError(conn, (c) => c.assertExchange('amq.direct', 'fanout', { durable: true }));
    expect(err.code, err.message).toBe(406);
    expect(err.text).toMatch(/^PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'amq.direct'/);
  });

  it('amq.rabbitmq.trace exists, internal: bindable, never published to by a client, not deletable (RabbitMQ 3.10.8)', async () => {
    const conn = await connect();
    const ch = await channel(conn);
    await expect(ch.checkExchange('amq.rabbitmq.trace')).resolves.toBeDefined();
    await expect(ch.assertExchange('amq.rabbitmq.trace', 'topic', { durable: true, internal: true })).resolves.toBeDefined();
    const q = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(q.queue, 'amq.rabbitmq.trace', '#');
    const pub = await channelError(conn, (c) => {
      c.publish('amq.rabbitmq.trace', 'k', Buffer.from('x'));
      return c.checkExchange('amq.rabbitmq.trace');
    });
    expect(pub.code, pub.message).toBe(403);
    expect(pub.text).toBe("ACCESS_REFUSED - cannot publish to internal exchange 'amq.rabbitmq.trace' in vhost '/'");
    const del = await channelError(conn, (c) => c.deleteExchange('amq.rabbitmq.trace'));
    expect(del.code, del.message).toBe(403);
    expect(del.text).toBe("ACCESS_REFUSED - deletion of system exchange 'amq.rabbitmq.trace' in vhost '/' not allowed");
    const redeclare = await channelError(conn, (c) => c.assertExchange('amq.rabbitmq.trace', 'topic', { durable: true }));
    expect(redeclare.code, redeclare.message).toBe(406);
    expect(redeclare.text).toMatch(/^PRECONDITION_FAILED - inequivalent arg 'internal' for exchange 'amq.rabbitmq.trace'/);
  });
});

// ------------------------------------------------------------------ exchange.delete

describe('exchange.delete', () => {
  it('deleting a missing exchange is ok', async () => {
    const { ch } = await setup();
    await expect(ch.deleteExchange(name('never-declared'))).resolves.toBeDefined();
    await expect(ch.deleteExchange(name('never-declared'), { ifUnused: true })).resolves.toBeDefined();
  });

  it('if_unused with a binding -> 406 and the exchange stays; without bindings it goes', async () => {
    const { conn, ch, pub } = await setup();
    const ex = name('used');
    await ch.assertExchange(ex, 'fanout', { durable: false });
    const q = await exclusiveQueue(ch);
    await ch.bindQueue(q, ex, '');

    const err = await channelError(conn, (c) => c.deleteExchange(ex, { ifUnused: true }));
    expect(err.code, err.message).toBe(406);
    expect(err.text).toBe(`PRECONDITION_FAILED - exchange '${ex}' in vhost '/' in use`);
    await publishAll(pub, [[ex, '', 'still routed']]);
    expect(bodies(await drain(ch, q))).toEqual(['still routed']);

    await ch.unbindQueue(q, ex, '');
    await ch.deleteExchange(ex, { ifUnused: true });
    expect(await exchangeExists(conn, ex)).toBe(false);
  });

  it('if_unused counts only bindings the exchange is the source of', async () => {
    const { conn, ch } = await setup();
    const src = name('src');
    const dst = name('dst');
    await ch.assertExchange(src, 'fanout', { durable: false });
    await ch.assertExchange(dst, 'fanout', { durable: false });
    await ch.bindExchange(dst, src, '');
    await ch.deleteExchange(dst, { ifUnused: true });
    expect(await exchangeExists(conn, dst)).toBe(false);
    await ch.deleteExchange(src);
  });

  it("deleting 'amq.direct' -> 403; deleting the default exchange -> 403", async () => {
    const conn = await connect();
    const e1 = await channelError(conn, (ch) => ch.deleteExchange('amq.direct'));
    expect(e1.code, e1.message).toBe(403);
    expect(e1.text).toBe("ACCESS_REFUSED - deletion of system exchange 'amq.direct' in vhost '/' not allowed");
    expect(await exchangeExists(conn, 'amq.direct')).toBe(true);

    const e2 = await channelError(conn, (ch) => ch.deleteExchange(''));
    expect(e2.code, e2.message).toBe(403);
    expect(e2.text).toBe('ACCESS_REFUSED - operation not permitted on the default exchange');
  });

  it('deleting an exchange drops its bindings: a re-created one routes nowhere', async () => {
    const { ch, pub } = await setup();
    const ex = name('recreated');
    await ch.assertExchange(ex, 'direct', { durable: false });
    const q = await exclusiveQueue(ch);
    await ch.bindQueue(q, ex, 'k');
    await ch.deleteExchange(ex);
    await ch.assertExchange(ex, 'direct', { durable: false });
    await publishAll(pub, [[ex, 'k', 'after recreate']]);
    expect(bodies(await drain(ch, q))).toEqual([]);
    await ch.deleteExchange(ex);
  });
});

// ------------------------------------------------------------------ routing per type

describe('routing', () => {
  it('direct: exact routing-key match, several keys per queue, empty key, amq.direct', async () => {
    const { ch, pub } = await setup();
    const ex = name('direct');
    await ch.assertExchange(ex, 'direct', { durable: false });
    const qa = await exclusiveQueue(ch);
    const qab = await exclusiveQueue(ch);
    const qempty = await exclusiveQueue(ch);
    await ch.bindQueue(qa, ex, 'a');
    await ch.bindQueue(qab, ex, 'a');
    await ch.bindQueue(qab, ex, 'b');
    await ch.bindQueue(qempty, ex, '');
    await publishAll(pub, [
      [ex, 'a', 'to a'],
      [ex, 'b', 'to b'],
      [ex, 'c', 'to c'],
      [ex, '', 'to empty'],
      [ex, 'A', 'case'],
      [ex, 'a.b', 'not a'],
    ]);
    expect(bodies(await drain(ch, qa))).toEqual(['to a']);
    expect(bodies(await drain(ch, qab))).toEqual(['to a', 'to b']);
    expect(bodies(await drain(ch, qempty))).toEqual(['to empty']);

    const qd = await exclusiveQueue(ch);
    await ch.bindQueue(qd, 'amq.direct', qd);
    await publishAll(pub, [['amq.direct', qd, 'via amq.direct'], ['amq.direct', 'other', 'x']]);
    const got = await drain(ch, qd);
    expect(bodies(got)).toEqual(['via amq.direct']);
    expect(got[0]!.fields).toMatchObject({ exchange: 'amq.direct', routingKey: qd });
    await ch.deleteExchange(ex);
  });

  it('default exchange: routing key = queue name; nothing else', async () => {
    const { ch, pub } = await setup();
    const q = await exclusiveQueue(ch);
    await publishAll(pub, [['', q, 'direct to queue'], ['', `${q}-nope`, 'lost']]);
    const got = await drain(ch, q);
    expect(bodies(got)).toEqual(['direct to queue']);
    expect(got[0]!.fields).toMatchObject({ exchange: '', routingKey: q });
  });

  it('fanout: every bound queue gets every message whatever the key; one copy per queue', async () => {
    const { ch, pub } = await setup();
    const ex = name('fanout');
    await ch.assertExchange(ex, 'fanout', { durable: false });
    const q1 = await exclusiveQueue(ch);
    const q2 = await exclusiveQueue(ch);
    await ch.bindQueue(q1, ex, '');
    await ch.bindQueue(q2, ex, 'x');
    await ch.bindQueue(q2, ex, 'y'); // two bindings, still one copy
    await publishAll(pub, [[ex, '', 'm1'], [ex, 'x', 'm2'], [ex, 'anything', 'm3']]);
    expect(bodies(await drain(ch, q1))).toEqual(['m1', 'm2', 'm3']);
    const got = await drain(ch, q2);
    expect(bodies(got)).toEqual(['m1', 'm2', 'm3']);
    expect(got.map((m) => m.fields.routingKey)).toEqual(['', 'x', 'anything']);
    await ch.deleteExchange(ex);
  });

  it('topic: * is exactly one word, # zero or more; the empty routing key has zero words', async () => {
    const { ch, pub } = await setup();
    const ex = name('topic');
    await ch.assertExchange(ex, 'topic', { durable: false });
    const bindingKeys = ['*', '#', '', 'a.#.b', '*.#', '#.*', 'a.*.#', '#.#', 'a.*', 'a'];
    const queues: Record<string, string> = {};
    for (const k of bindingKeys) {
      queues[k] = await exclusiveQueue(ch);
      await ch.bindQueue(queues[k]!, ex, k);
    }
    // routing key -> binding keys that match it (RabbitMQ: split on '.', '' is zero words)
    const matrix: [string, string[]][] = [
      ['', ['#', '', '#.#']],
      ['a', ['*', '#', '*.#', '#.*', '#.#', 'a']],
      ['b', ['*', '#', '*.#', '#.*', '#.#']],
      ['a.b', ['#', 'a.#.b', '*.#', '#.*', 'a.*.#', '#.#', 'a.*']],
      ['a.x.b', ['#', 'a.#.b', '*.#', '#.*', 'a.*.#', '#.#']],
      ['a.x.y.b', ['#', 'a.#.b', '*.#', '#.*', 'a.*.#', '#.#']],
      ['a.b.c', ['#', '*.#', '#.*', 'a.*.#', '#.#']],
      ['b.a', ['#', '*.#', '#.*', '#.#']],
      ['.', ['#', '*.#', '#.*', '#.#']], // two empty words
      ['a.', ['#', '*.#', '#.*', 'a.*.#', '#.#', 'a.*']], // 'a' and ''
    ];
    await publishAll(pub, matrix.map(([rk]) => [ex, rk, `rk=${rk}`] as [string, string, string]));
    for (const k of bindingKeys) {
      const want = matrix.filter(([, ks]) => ks.includes(k)).map(([rk]) => rk);
      const got = (await drain(ch, queues[k]!)).map((m) => m.fields.routingKey);
      expect(got, `binding key '${k}'`).toEqual(want);
    }
    await ch.deleteExchange(ex);
  });

  it('topic: a queue matched by several of its bindings gets one copy', async () => {
    const { ch, pub } = await setup();
    const q = await exclusiveQueue(ch);
    for (const k of ['#', 'a.*', '*.b', 'a.b', 'a.#']) await ch.bindQueue(q, 'amq.topic', k);
    await publishAll(pub, [['amq.topic', 'a.b', 'once']]);
    expect(bodies(await drain(ch, q))).toEqual(['once']);
    for (const k of ['#', 'a.*', '*.b', 'a.b', 'a.#']) await ch.unbindQueue(q, 'amq.topic', k);
  });

  it('headers: x-match all/any, all-with-x/any-with-x, void values, binding arguments nothing matches', async () => {
    const { ch, pub } = await setup();
    const ex = name('headers');
    await ch.assertExchange(ex, 'headers', { durable: false });
    const bindings: Record<string, Record<string, unknown>> = {
      all: { 'x-match': 'all', format: 'pdf', type: 'report' },
      any: { 'x-match': 'any', format: 'pdf', type: 'report' },
      defaultAll: { format: 'zip' }, // no x-match means all
      emptyAll: { 'x-match': 'all' }, // nothing to compare: matches everything
      emptyAny: { 'x-match': 'any' }, // nothing to compare: matches nothing
      anyWithX: { 'x-match': 'any-with-x', 'x-tenant': 'acme' },
      allWithX: { 'x-match': 'all-with-x', 'x-tenant': 'acme', format: 'pdf' },
      anyIgnoresX: { 'x-match': 'any', 'x-tenant': 'acme' }, // x- keys ignored: nothing left
      voidPresent: { 'x-match': 'all', present: null }, // void: header present, any value
      never: { 'x-match': 'all', format: 'pdf', never: 'set' },
      num: { 'x-match': 'all', size: 42 },
    };
    const queues: Record<string, string> = {};
    for (const [k, args] of Object.entries(bindings)) {
      queues[k] = await exclusiveQueue(ch);
      await ch.bindQueue(queues[k]!, ex, 'ignored-routing-key', args);
    }
    const messages: [string, Record<string, unknown> | undefined, string[]][] = [
      ['m1', { format: 'pdf', type: 'report' }, ['all', 'any', 'emptyAll']],
      ['m2', { format: 'pdf', type: 'log' }, ['any', 'emptyAll']],
      ['m3', { format: 'zip' }, ['defaultAll', 'emptyAll']],
      ['m4', undefined, ['emptyAll']],
      ['m5', { 'x-tenant': 'acme' }, ['anyWithX', 'emptyAll']],
      ['m6', { 'x-tenant': 'acme', format: 'pdf' }, ['any', 'anyWithX', 'allWithX', 'emptyAll']],
      ['m7', { 'x-tenant': 'other', format: 'pdf' }, ['any', 'emptyAll']],
      ['m8', { present: 'whatever' }, ['voidPresent', 'emptyAll']],
      ['m9', { present: 7, format: 'pdf', type: 'report', never: 'nope' }, ['all', 'any', 'voidPresent', 'emptyAll']],
      ['m10', { size: 42 }, ['num', 'emptyAll']],
      ['m11', { size: '42' }, ['emptyAll']], // a string is not the number 42
      ['m12', { format: 'pdf', type: 'report', never: 'set' }, ['all', 'any', 'never', 'emptyAll']],
    ];
    await publishAll(
      pub,
      messages.map(([body, headers]) => [ex, 'rk', body, headers ? { headers } : {}] as [string, string, string, Options.Publish]),
    );
    for (const k of Object.keys(bindings)) {
      const want = messages.filter(([, , qs]) => qs.includes(k)).map(([b]) => b);
      expect(bodies(await drain(ch, queues[k]!)), `binding ${k}: ${JSON.stringify(bindings[k])}`).toEqual(want);
    }
    await ch.deleteExchange(ex);
  });

  it("headers: an invalid x-match value -> 406 on queue.bind", async () => {
    const { conn, ch } = await setup();
    const q = await exclusiveQueue(ch);
    const err = await channelError(conn, (c) => c.bindQueue(q, 'amq.headers', '', { 'x-match': 'some' }));
    expect(err.code, err.message).toBe(406);
    expect(err.text).toMatch(/^PRECONDITION_FAILED - Invalid x-match field value/);
  });

  it('amq.match is a headers exchange', async () => {
    const { ch, pub } = await setup();
    const q = await exclusiveQueue(ch);
    await ch.bindQueue(q, 'amq.match', '', { 'x-match': 'any', k: 'v' });
    await publishAll(pub, [['amq.match', 'x', 'yes', { headers: { k: 'v' } }], ['amq.match', 'x', 'no', { headers: { k: 'w' } }]]);
    expect(bodies(await drain(ch, q))).toEqual(['yes']);
    await ch.unbindQueue(q, 'amq.match', '', { 'x-match': 'any', k: 'v' });
  });

  it('binding arguments in another order name the same binding (RabbitMQ sorts them): bound once, unbound by either order', async () => {
    const { ch, pub } = await setup();
    const q = await exclusiveQueue(ch);
    const ex = name('headers-order');
    await ch.assertExchange(ex, 'headers', { durable: false });
    await ch.bindQueue(q, ex, '', { 'x-match': 'all', b: '2', a: '1' });
    await ch.bindQueue(q, ex, '', { a: '1', b: '2', 'x-match': 'all' });
    await publishAll(pub, [[ex, '', 'bound', { headers: { a: '1', b: '2' } }]]);
    expect(bodies(await drain(ch, q))).toEqual(['bound']);
    // One unbind, with the keys in a third order, removes it: nothing is left to route by.
    await ch.unbindQueue(q, ex, '', { b: '2', 'x-match': 'all', a: '1' });
    await publishAll(pub, [[ex, '', 'unbound', { headers: { a: '1', b: '2' } }]]);
    expect(bodies(await drain(ch, q))).toEqual([]);
    await ch.deleteExchange(ex);
  });
});

// ------------------------------------------------------------------ bindings

describe('bindings', () => {
  it('exchange-to-exchange: direct -> fanout -> queues, routing key filtered at the source', async () => {
    const { ch, pub } = await setup();
    const src = name('e2e-src');
    const dst = name('e2e-dst');
    await ch.assertExchange(src, 'direct', { durable: false });
    await ch.assertExchange(dst, 'fanout', { durable: false });
    await ch.bindExchange(dst, src, 'k');
    const q1 = await exclusiveQueue(ch);
    const q2 = await exclusiveQueue(ch);
    await ch.bindQueue(q1, dst, '');
    await ch.bindQueue(q2, dst, '');
    await publishAll(pub, [[src, 'k', 'through'], [src, 'other', 'filtered'], [dst, 'z', 'direct to dst']]);
    for (const q of [q1, q2]) {
      const got = await drain(ch, q);
      expect(bodies(got)).toEqual(['through', 'direct to dst']);
      expect(got[0]!.fields).toMatchObject({ exchange: src, routingKey: 'k' });
    }
    await ch.unbindExchange(dst, src, 'k');
    await publishAll(pub, [[src, 'k', 'after unbind']]);
    expect(bodies(await drain(ch, q1))).toEqual([]);
    await ch.deleteExchange(src);
    await ch.deleteExchange(dst);
  });

  it('a cycle A -> B -> A delivers exactly one copy to a queue bound to both', async () => {
    const { ch, pub } = await setup();
    const a = name('cycle-a');
    const b = name('cycle-b');
    await ch.assertExchange(a, 'fanout', { durable: false });
    await ch.assertExchange(b, 'topic', { durable: false });
    await ch.bindExchange(b, a, '');
    await ch.bindExchange(a, b, '#');
    const q = await exclusiveQueue(ch);
    const onlyB = await exclusiveQueue(ch);
    await ch.bindQueue(q, a, '');
    await ch.bindQueue(q, b, '#');
    await ch.bindQueue(onlyB, b, 'x.*');
    await publishAll(pub, [[a, 'x.1', 'into A'], [b, 'x.2', 'into B'], [a, 'y', 'A, not x.*']]);
    expect(bodies(await drain(ch, q))).toEqual(['into A', 'into B', 'A, not x.*']);
    expect(bodies(await drain(ch, onlyB))).toEqual(['into A', 'into B']);
    await ch.deleteExchange(a);
    await ch.deleteExchange(b);
  });

  it('queue.unbind stops delivery; unbinding a binding that does not exist is ok', async () => {
    const { ch, pub } = await setup();
    const ex = name('unbind');
    await ch.assertExchange(ex, 'direct', { durable: false });
    const q = await exclusiveQueue(ch);
    await ch.bindQueue(q, ex, 'k');
    await publishAll(pub, [[ex, 'k', 'before']]);
    await ch.unbindQueue(q, ex, 'k');
    await publishAll(pub, [[ex, 'k', 'after']]);
    expect(bodies(await drain(ch, q))).toEqual(['before']);
    await expect(ch.unbindQueue(q, ex, 'never-bound')).resolves.toBeDefined();
    await ch.deleteExchange(ex);
  });

  it('unbinding from a queue or exchange that does not exist is unbind-ok (RabbitMQ 3.x); the default exchange stays 403', async () => {
    const { conn, ch } = await setup();
    const ex = name('unbind-missing');
    await ch.assertExchange(ex, 'direct', { durable: false });
    const q = await exclusiveQueue(ch);
    await expect(ch.unbindQueue(name('no-such-queue'), ex, 'k')).resolves.toBeDefined();
    await expect(ch.unbindQueue(q, name('no-such-exchange'), 'k')).resolves.toBeDefined();
    await expect(ch.unbindQueue(name('no-q'), name('no-x'), 'k')).resolves.toBeDefined();
    await expect(ch.unbindExchange(ex, name('no-such-source'), 'k')).resolves.toBeDefined();
    await expect(ch.unbindExchange(name('no-such-destination'), ex, 'k')).resolves.toBeDefined();
    await expect(ch.unbindExchange(ex, 'amq.direct', 'never-bound')).resolves.toBeDefined();
    const refused = await channelError(conn, (c) => c.unbindQueue(q, '', q));
    expect(refused.code).toBe(403);
    await ch.deleteExchange(ex);
  });

  it('binding the same queue twice with the same key is one binding: one copy, one unbind removes it', async () => {
    const { ch, pub } = await setup();
    const ex = name('twice');
    await ch.assertExchange(ex, 'direct', { durable: false });
    const q = await exclusiveQueue(ch);
    await ch.bindQueue(q, ex, 'k');
    await ch.bindQueue(q, ex, 'k');
    await publishAll(pub, [[ex, 'k', 'one copy']]);
    expect(bodies(await drain(ch, q))).toEqual(['one copy']);
    await ch.unbindQueue(q, ex, 'k');
    await publishAll(pub, [[ex, 'k', 'unbound']]);
    expect(bodies(await drain(ch, q))).toEqual([]);
    await ch.deleteExchange(ex);
  });

  it("binding or unbinding on the default exchange '' -> 403", async () => {
    const { conn, ch } = await setup();
    const q = await exclusiveQueue(ch);
    const ex = name('plain');
    await ch.assertExchange(ex, 'fanout', { durable: false });
    const cases: [string, (c: Channel) => unknown][] = [
      ['queue.bind', (c) => c.bindQueue(q, '', 'k')],
      ['queue.unbind', (c) => c.unbindQueue(q, '', q)],
      ['exchange.bind source', (c) => c.bindExchange(ex, '', 'k')],
      ['exchange.bind destination', (c) => c.bindExchange('', ex, 'k')],
      ['exchange.unbind', (c) => c.unbindExchange(ex, '', 'k')],
    ];
    for (const [what, action] of cases) {
      const err = await channelError(conn, action);
      expect(err.code, `${what}: ${err.message}`).toBe(403);
      expect(err.text, what).toBe('ACCESS_REFUSED - operation not permitted on the default exchange');
    }
    await ch.deleteExchange(ex);
  });

  it('binding to a missing exchange or a missing queue -> 404', async () => {
    const { conn, ch } = await setup();
    const q = await exclusiveQueue(ch);
    const missingEx = name('no-ex');
    const e1 = await channelError(conn, (c) => c.bindQueue(q, missingEx, 'k'));
    expect(e1.code, e1.message).toBe(404);
    expect(e1.text).toBe(`NOT_FOUND - no exchange '${missingEx}' in vhost '/'`);
    const missingQ = name('no-q');
    const e2 = await channelError(conn, (c) => c.bindQueue(missingQ, 'amq.direct', 'k'));
    expect(e2.code, e2.message).toBe(404);
    expect(e2.text).toBe(`NOT_FOUND - no queue '${missingQ}' in vhost '/'`);
  });

  it('an auto-delete exchange is deleted when its last binding goes (unbind, queue deletion, e2e unbind), not before', async () => {
    const { conn, ch } = await setup();
    // unbind
    const ad1 = name('ad1');
    await ch.assertExchange(ad1, 'direct', { durable: false, autoDelete: true });
    expect(await exchangeExists(conn, ad1), 'no binding yet: still there').toBe(true);
    const q = await exclusiveQueue(ch);
    await ch.bindQueue(q, ad1, 'a');
    await ch.bindQueue(q, ad1, 'b');
    await ch.unbindQueue(q, ad1, 'a');
    expect(await exchangeExists(conn, ad1), 'one binding left').toBe(true);
    await ch.unbindQueue(q, ad1, 'b');
    expect(await exchangeExists(conn, ad1), 'last binding removed').toBe(false);

    // the bound queue is deleted
    const ad2 = name('ad2');
    await ch.assertExchange(ad2, 'fanout', { durable: false, autoDelete: true });
    const q2 = (await ch.assertQueue(name('adq'), { durable: false })).queue;
    await ch.bindQueue(q2, ad2, '');
    await ch.deleteQueue(q2);
    expect(await exchangeExists(conn, ad2), 'queue deleted').toBe(false);

    // exchange-to-exchange binding with the auto-delete exchange as source
    const ad3 = name('ad3');
    const dst = name('ad3-dst');
    await ch.assertExchange(ad3, 'fanout', { durable: false, autoDelete: true });
    await ch.assertExchange(dst, 'fanout', { durable: false });
    await ch.bindExchange(dst, ad3, '');
    await ch.unbindExchange(dst, ad3, '');
    expect(await exchangeExists(conn, ad3), 'e2e unbind').toBe(false);
    await ch.deleteExchange(dst);
  });
});

// ------------------------------------------------------------------ publishing

describe('publishing', () => {
  it('to a missing exchange -> 404 channel close; the connection and its other channels go on', async () => {
    const { conn, ch } = await setup();
    const q = await exclusiveQueue(ch);
    const got: string[] = [];
    await ch.consume(q, (m) => m && got.push(m.content.toString()), { noAck: true });

    const missing = name('no-such-exchange');
    const err = await channelError(conn, (c) => c.publish(missing, 'rk', Buffer.from('x')));
    expect(err.code, err.message).toBe(404);
    expect(err.text).toBe(`NOT_FOUND - no exchange '${missing}' in vhost '/'`);

    ch.sendToQueue(q, Buffer.from('other channel still works'));
    const deadline = Date.now() + 5000;
    while (got.length === 0 && Date.now() < deadline) await sleep(5);
    expect(got).toEqual(['other channel still works']);
  });

  it('to an exchange deleted (or re-declared) since the channel last published to it', async () => {
    // The channel keeps the exchange of its latest publish: a delete from elsewhere must still
    // be seen, and a new exchange of the same name used.
    const { conn, ch } = await setup();
    const ex = name('gone-x');
    await ch.assertExchange(ex, 'fanout', { durable: false });
    const q1 = await exclusiveQueue(ch);
    await ch.bindQueue(q1, ex, '');
    const err = await channelError(conn, async (c) => {
      c.publish(ex, '', Buffer.from('1'));
      await ch.deleteExchange(ex);
      c.publish(ex, '', Buffer.from('2'));
    });
    expect(err.code, err.message).toBe(404);
    expect(err.text).toBe(`NOT_FOUND - no exchange '${ex}' in vhost '/'`);

    const pub = await conn.createChannel();
    pub.publish('amq.fanout', 'nowhere', Buffer.from('warm')); // another exchange first
    await ch.assertExchange(ex, 'fanout', { durable: false });
    const q2 = await exclusiveQueue(ch);
    await ch.bindQueue(q2, ex, '');
    pub.publish(ex, '', Buffer.from('3'));
    await ch.deleteExchange(ex);
    await ch.assertExchange(ex, 'direct', { durable: false });
    const q3 = await exclusiveQueue(ch);
    await ch.bindQueue(q3, ex, 'k');
    pub.publish(ex, 'k', Buffer.from('4'));
    const deadline = Date.now() + 5000;
    let counts = [0, 0, 0];
    while (Date.now() < deadline) {
      counts = await Promise.all([q1, q2, q3].map(async (q) => (await ch.checkQueue(q)).messageCount));
      if (counts[2] === 1) break;
      await sleep(5);
    }
    expect(counts).toEqual([1, 1, 1]);
  });

  it('through the default exchange to a queue deleted and declared again since the last publish', async () => {
    // The vhost keeps the queue the default exchange routed to last: a delete must still be seen.
    const { conn, ch } = await setup();
    const q = name('again-q');
    const pub = await confirmChannel(conn);
    await ch.assertQueue(q, { durable: false });
    pub.sendToQueue(q, Buffer.from('1'));
    await pub.waitForConfirms();
    await ch.deleteQueue(q);
    pub.sendToQueue(q, Buffer.from('2')); // routed nowhere
    await pub.waitForConfirms();
    await ch.assertQueue(q, { durable: false });
    pub.sendToQueue(q, Buffer.from('3'));
    await pub.waitForConfirms();
    const m = await ch.get(q, { noAck: true });
    expect(m && m.content.toString()).toBe('3');
    expect((await ch.checkQueue(q)).messageCount).toBe(0);
    await ch.deleteQueue(q);
  });

  it('mandatory with no route -> basic.return 312 NO_ROUTE, before the confirm ack', async () => {
    const { conn, ch } = await setup();
    const pub = await confirmChannel(conn);
    const events: string[] = [];
    const returned: Message[] = [];
    pub.on('return', (m: Message) => {
      returned.push(m);
      events.push(`return ${m.content.toString()}`);
    });
    const ex = name('mand');
    await ch.assertExchange(ex, 'direct', { durable: false });
    const q = await exclusiveQueue(ch);
    await ch.bindQueue(q, ex, 'routed');

    const confirmed = (body: string, exchange: string, key: string, mandatory: boolean) =>
      new Promise<void>((resolve, reject) =>
        pub.publish(exchange, key, Buffer.from(body), { mandatory, messageId: body }, (err) => {
          events.push(`${err ? 'nack' : 'ack'} ${body}`);
          if (err) reject(err);
          else resolve();
        }),
      );
    await withTimeout(
      Promise.all([
        confirmed('unroutable', ex, 'nowhere', true),
        confirmed('routed', ex, 'routed', true),
        confirmed('dropped', ex, 'nowhere', false),
        confirmed('no-such-queue', '', name('no-queue'), true),
      ]),
      5000,
      'confirms',
    );
    await sleep(50);
    expect(returned.map((m) => [m.content.toString(), m.fields])).toEqual([
      ['unroutable', { replyCode: 312, replyText: 'NO_ROUTE', exchange: ex, routingKey: 'nowhere' }],
      ['no-such-queue', expect.objectContaining({ replyCode: 312, replyText: 'NO_ROUTE', exchange: '' })],
    ]);
    expect(returned[0]!.properties.messageId).toBe('unroutable');
    expect(events.indexOf('return unroutable')).toBeLessThan(events.indexOf('ack unroutable'));
    expect(events.indexOf('return no-such-queue')).toBeLessThan(events.indexOf('ack no-such-queue'));
    expect(events.filter((e) => e.startsWith('ack')).length).toBe(4);
    expect(bodies(await drain(ch, q))).toEqual(['routed']);
    await ch.deleteExchange(ex);
  });

  it('publishing to an internal exchange -> 403; it still routes what other exchanges pass it', async () => {
    const { conn, ch, pub } = await setup();
    const internal = name('internal');
    const front = name('front');
    await ch.assertExchange(internal, 'fanout', { durable: false, internal: true });
    await ch.assertExchange(front, 'direct', { durable: false });
    await ch.bindExchange(internal, front, 'in');
    const q = await exclusiveQueue(ch);
    await ch.bindQueue(q, internal, '');

    const err = await channelError(conn, (c) => c.publish(internal, '', Buffer.from('direct')));
    expect(err.code, err.message).toBe(403);
    expect(err.text).toBe(`ACCESS_REFUSED - cannot publish to internal exchange '${internal}' in vhost '/'`);

    await publishAll(pub, [[front, 'in', 'via front'], [front, 'out', 'not bound']]);
    expect(bodies(await drain(ch, q))).toEqual(['via front']);
    await ch.deleteExchange(front);
    await ch.deleteExchange(internal);
  });
});

// ------------------------------------------------------------------ transactions

describe('tx (through amqplib channel.rpc, as amqplib has no tx API)', () => {
  it('publishes are invisible until tx.commit; tx.rollback discards them', async () => {
    const { conn, ch } = await setup();
    const q = (await ch.assertQueue(name('txq'), { durable: false })).queue;
    const txch = await channel(conn);
    await tx(txch, 'select');
    txch.sendToQueue(q, Buffer.from('t1'));
    txch.sendToQueue(q, Buffer.from('t2'));
    // a synchronous method on the same channel: the broker has seen both publishes
    expect((await txch.checkQueue(q)).messageCount, 'before commit').toBe(0);
    expect((await ch.checkQueue(q)).messageCount, 'before commit, seen from another channel').toBe(0);
    await tx(txch, 'commit');
    expect((await ch.checkQueue(q)).messageCount, 'after commit').toBe(2);

    txch.sendToQueue(q, Buffer.from('t3'));
    await tx(txch, 'rollback');
    await tx(txch, 'commit'); // an empty commit: t3 is gone for good
    expect((await ch.checkQueue(q)).messageCount, 'after rollback').toBe(2);
    expect(bodies(await drain(ch, q))).toEqual(['t1', 't2']);
    await ch.deleteQueue(q);
  });

  it('an ack in a transaction is undone by rollback: the delivery stays unacked and comes back on channel close', async () => {
    const { conn, ch } = await setup();
    const q = (await ch.assertQueue(name('txack'), { durable: false })).queue;
    ch.sendToQueue(q, Buffer.from('job'));
    await ch.checkQueue(q);

    const txch = await channel(conn);
    await tx(txch, 'select');
    const m = await txch.get(q, { noAck: false });
    expect(m && m.content.toString()).toBe('job');
    txch.ack(m as GetMessage);
    await tx(txch, 'rollback');
    expect(await ch.checkQueue(q)).toMatchObject({ messageCount: 0 }); // still held, unacked
    await txch.close();

    const back = await drain(ch, q);
    expect(bodies(back)).toEqual(['job']);
    expect(back[0]!.fields.redelivered).toBe(true);
    await ch.deleteQueue(q);
  });

  it('an ack in a transaction takes effect only at tx.commit', async () => {
    const { conn, ch } = await setup();
    const q = (await ch.assertQueue(name('txack2'), { durable: false })).queue;
    ch.sendToQueue(q, Buffer.from('a'));
    ch.sendToQueue(q, Buffer.from('b'));
    await ch.checkQueue(q);

    // ack of 'a' committed, ack of 'b' left uncommitted when the channel closes
    const txch = await channel(conn);
    await tx(txch, 'select');
    const a = (await txch.get(q, { noAck: false })) as GetMessage;
    txch.ack(a);
    await tx(txch, 'commit');
    const b = (await txch.get(q, { noAck: false })) as GetMessage;
    expect(bodies([a, b])).toEqual(['a', 'b']);
    txch.ack(b);
    await txch.checkQueue(q); // the broker has the ack of 'b', not committed
    await txch.close();

    const left = await drain(ch, q);
    expect(bodies(left)).toEqual(['b']);
    expect(left[0]!.fields.redelivered).toBe(true);
    await ch.deleteQueue(q);
  });
});

// ------------------------------------------------------------------ durability

// Restarts Warren processes of its own: not run against an external broker.
describe.skipIf(!onWarren)('durable exchanges and bindings across a broker restart', () => {
  let dataDir: string | undefined;
  let proc: BrokerProcess | undefined;

  afterEach(async () => {
    const conns = openConns.splice(0);
    await Promise.all(conns.map((c) => c.close().catch(() => undefined)));
    if (proc) await proc.kill9().catch(() => undefined);
    proc = undefined;
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    dataDir = undefined;
  });

  async function declareTopology(port: number): Promise<void> {
    const conn = await connect(port);
    const ch = await channel(conn);
    // durable: exchange dx, queue dq, binding dx -k-> dq, exchange front, binding front -> dx
    await ch.assertExchange('dx', 'direct', { durable: true });
    await ch.assertExchange('front', 'fanout', { durable: true });
    await ch.assertQueue('dq', { durable: true });
    await ch.bindQueue('dq', 'dx', 'k');
    await ch.bindExchange('dx', 'front', '');
    // not durable: the queue tq bound to dx; the exchange tx with the durable queue dq2 bound;
    // the e2e binding dx -> tfan (non-durable destination) with durable dq3 bound to tfan
    await ch.assertQueue('tq', { durable: false });
    await ch.bindQueue('tq', 'dx', 'k');
    await ch.assertExchange('tx', 'direct', { durable: false });
    await ch.assertQueue('dq2', { durable: true });
    await ch.bindQueue('dq2', 'tx', 'k');
    await ch.assertExchange('tfan', 'fanout', { durable: false });
    await ch.assertQueue('dq3', { durable: true });
    await ch.bindExchange('tfan', 'dx', 'k');
    await ch.bindQueue('dq3', 'tfan', '');

    // everything routes before the restart
    const pub = await confirmChannel(conn);
    await publishAll(pub, [['dx', 'k', 'before']]);
    for (const q of ['dq', 'tq', 'dq3']) expect(bodies(await drain(ch, q)), q).toEqual(['before']);
    await publishAll(pub, [['tx', 'k', 'before']]);
    expect(bodies(await drain(ch, 'dq2'))).toEqual(['before']);
    await conn.close();
  }

  async function checkAfterRestart(b: BrokerProcess): Promise<void> {
    const conn = await connect(b.port);
    const ch = await channel(conn);
    const pub = await confirmChannel(conn);
    expect(await exchangeExists(conn, 'dx'), b.output()).toBe(true);
    expect(await exchangeExists(conn, 'front'), b.output()).toBe(true);
    expect(await exchangeExists(conn, 'tx'), 'non-durable exchange tx gone').toBe(false);
    expect(await exchangeExists(conn, 'tfan'), 'non-durable exchange tfan gone').toBe(false);
    // the durable exchange kept its type
    const err = await channelError(conn, (c) => c.assertExchange('dx', 'fanout', { durable: true }));
    expect(err.code, err.message).toBe(406);

    // re-create the non-durable things by hand; their old bindings must not come back
    await ch.assertQueue('tq', { durable: false });
    await ch.assertExchange('tx', 'direct', { durable: false });
    await ch.assertExchange('tfan', 'fanout', { durable: false });
    await ch.bindQueue('dq3', 'tfan', '');

    await publishAll(pub, [['dx', 'k', 'via dx'], ['front', 'k', 'via front'], ['dx', 'other', 'unrouted'], ['tx', 'k', 'via tx']]);
    const dq = await drain(ch, 'dq');
    expect(bodies(dq), `durable binding dx -> dq\n${b.output()}`).toEqual(['via dx', 'via front']);
    expect(dq[1]!.fields).toMatchObject({ exchange: 'front', routingKey: 'k' });
    expect(bodies(await drain(ch, 'tq')), 'binding to a non-durable queue must not survive').toEqual([]);
    expect(bodies(await drain(ch, 'dq2')), 'binding from a non-durable exchange must not survive').toEqual([]);
    expect(bodies(await drain(ch, 'dq3')), 'e2e binding to a non-durable exchange must not survive').toEqual([]);
    await conn.close();
  }

  it('after a clean restart (SIGTERM)', async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'warren-routing-'));
    const b1 = await spawnBroker({ dataDir });
    proc = b1;
    await declareTopology(b1.port);
    expect(await b1.stop(), b1.output()).toBe(0);
    proc = undefined;
    const b2 = await spawnBroker({ dataDir });
    proc = b2;
    await checkAfterRestart(b2);
    expect(await b2.stop(), b2.output()).toBe(0);
    proc = undefined;
  });

  it('after kill -9 right after the bind-ok replies', async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'warren-routing-'));
    const b1 = await spawnBroker({ dataDir });
    proc = b1;
    await declareTopology(b1.port);
    await b1.kill9();
    proc = undefined;
    const b2 = await spawnBroker({ dataDir });
    proc = b2;
    await checkAfterRestart(b2);
  });
});
