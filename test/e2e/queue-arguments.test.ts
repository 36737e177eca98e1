// Queue arguments and publish expirations refused as RabbitMQ 3.10.8 refuses them, through amqplib:
// each expected text below is what a private 3.10.8 node answered to the same amqplib call (its
// Erlang terms included: {value_negative,-5}, "expected integer, got longstr", invalid_overflow),
// and the order it checks them in when several are wrong. Also: TTLs and x-expires beyond Node's
// longest timer (~24.8 days), which once deleted a queue at once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel, Options } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { apiClient } from '../helpers/management-client.js';

let broker: RunningBroker;
let conn: ChannelModel;

beforeAll(async () => {
  broker = await startBroker({ logLevel: 'silent', managementPort: -1 });
  conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}`);
  conn.on('error', () => undefined);
});

afterAll(async () => {
  await conn?.close().catch(() => undefined);
  await broker?.close();
});

/** Runs fn on a channel of a fresh connection of user; 'ok', or the text the channel or connection was closed with. */
async function attempt(fn: (ch: Channel) => Promise<unknown>, user = 'guest:guest'): Promise<string> {
  const c = await amqp.connect(`amqp://${user}@127.0.0.1:${broker.port}`);
  c.on('error', () => undefined);
  const ch = await c.createChannel();
  ch.on('error', () => undefined);
  try {
    await fn(ch);
    return 'ok';
  } catch (e) {
    return /with message "(.*)"$/.exec((e as Error).message)?.[1] ?? (e as Error).message;
  } finally {
    await c.close().catch(() => undefined);
  }
}

/** Declares queue q with args; 'ok', or the text the channel was closed with. */
async function declare(q: string, args: Options.AssertQueue['arguments'], durable = false): Promise<string> {
  const ch = await conn.createChannel();
  ch.on('error', () => undefined);
  try {
    await ch.assertQueue(q, { durable, arguments: args });
    await ch.deleteQueue(q);
    await ch.close();
    return 'ok';
  } catch (e) {
    return /with message "(.*)"$/.exec((e as Error).message)?.[1] ?? (e as Error).message;
  }
}

const long = (value: number) => ({ '!': 'long', value });
const bad = (q: string, key: string, reason: string): string => `PRECONDITION_FAILED - invalid arg '${key}' for queue '${q}' in vhost '/': ${reason}`;
const refused = (q: string, key: string, type = 'rabbit_classic_queue'): string => `PRECONDITION_FAILED - invalid arg '${key}' for queue '${q}' in vhost '/' of queue type ${type}`;

describe('queue arguments, as 3.10.8 refuses them', () => {
  // [queue, arguments, expected reason or 'ok'] (amqplib sends small integers as byte, 'b').
  const cases: [string, Options.AssertQueue['arguments'], (q: string) => string][] = [
    ['qa-ttl-str', { 'x-message-ttl': 'ten' }, (q) => bad(q, 'x-message-ttl', '"expected integer, got longstr"')],
    ['qa-ttl-neg', { 'x-message-ttl': -5 }, (q) => bad(q, 'x-message-ttl', '{value_negative,-5}')],
    ['qa-ttl-big', { 'x-message-ttl': 2 ** 40 }, (q) => bad(q, 'x-message-ttl', '{value_too_large,1099511627776}')],
    ['qa-ttl-bool', { 'x-message-ttl': true }, (q) => bad(q, 'x-message-ttl', '"expected integer, got bool"')],
    ['qa-exp-zero', { 'x-expires': 0 }, (q) => bad(q, 'x-expires', '{value_zero,0}')],
    ['qa-exp-neg', { 'x-expires': -1 }, (q) => bad(q, 'x-expires', '{value_negative,-1}')],
    ['qa-exp-2-32', { 'x-expires': 4294967296 }, () => 'ok'],
    ['qa-exp-10y', { 'x-expires': long(315360000000) }, () => 'ok'],
    ['qa-exp-10y-1', { 'x-expires': long(315360000001) }, (q) => bad(q, 'x-expires', '{value_too_large,315360000001}')],
    ['qa-len-neg', { 'x-max-length': -1 }, (q) => bad(q, 'x-max-length', '{value_negative,-1}')],
    ['qa-len-str', { 'x-max-length': '5' }, (q) => bad(q, 'x-max-length', '"expected integer, got longstr"')],
    ['qa-len-long', { 'x-max-length': long(-3) }, (q) => bad(q, 'x-max-length', '{value_negative,-3}')],
    ['qa-bytes-neg', { 'x-max-length-bytes': -1 }, (q) => bad(q, 'x-max-length-bytes', '{value_negative,-1}')],
    ['qa-pri-big', { 'x-max-priority': 256 }, (q) => bad(q, 'x-max-priority', '{max_value_exceeded,256}')],
    ['qa-pri-neg', { 'x-max-priority': -1 }, (q) => bad(q, 'x-max-priority', '{value_negative,-1}')],
    ['qa-dlx-int', { 'x-dead-letter-exchange': 5 }, (q) => `PRECONDITION_FAILED - invalid type 'byte' for arg 'x-dead-letter-exchange' in queue '${q}' in vhost '/'`],
    ['qa-dlrk-nodlx', { 'x-dead-letter-routing-key': 'k' }, (q) => bad(q, 'x-dead-letter-routing-key', 'routing_key_but_no_dlx_defined')],
    ['qa-dlrk-int', { 'x-dead-letter-exchange': 'd', 'x-dead-letter-routing-key': 5 }, (q) => bad(q, 'x-dead-letter-routing-key', '{unacceptable_type,byte}')],
    ['qa-of-bogus', { 'x-overflow': 'bogus' }, (q) => bad(q, 'x-overflow', 'invalid_overflow')],
    ['qa-of-int', { 'x-overflow': 1 }, (q) => bad(q, 'x-overflow', '{unacceptable_type,byte}')],
    ['qa-mode-bogus', { 'x-queue-mode': 'bogus' }, (q) => bad(q, 'x-queue-mode', `"unsupported queue mode 'bogus'"`)],
    ['qa-mode-int', { 'x-queue-mode': 1 }, (q) => bad(q, 'x-queue-mode', '{unacceptable_type,byte}')],
    ['qa-sac-str', { 'x-single-active-consumer': 'yes' }, (q) => bad(q, 'x-single-active-consumer', '{unacceptable_type,longstr}')],
    ['qa-type-int', { 'x-queue-type': 1 }, (q) => bad(q, 'x-queue-type', '{unacceptable_type,byte}')],
    ['qa-type-bogus', { 'x-queue-type': 'bogus' }, (q) => bad(q, 'x-queue-type', `"unsupported queue type 'bogus'"`)],
    // Other types' arguments on a classic queue.
    ['qa-classic-dl', { 'x-delivery-limit': 5 }, (q) => refused(q, 'x-delivery-limit')],
    ['qa-classic-age', { 'x-max-age': '1D' }, (q) => refused(q, 'x-max-age')],
    ['qa-classic-inmem', { 'x-max-in-memory-length': 'x' }, (q) => refused(q, 'x-max-in-memory-length')],
    ['qa-classic-dls', { 'x-dead-letter-strategy': 'at-most-once' }, (q) => refused(q, 'x-dead-letter-strategy')],
    ['qa-classic-leader', { 'x-queue-leader-locator': 'balanced' }, (q) => refused(q, 'x-queue-leader-locator')],
    // Several wrong: x-dead-letter-exchange's type first, then the values in RabbitMQ's order, then
    // the arguments the type does not take.
    ['qa-order-ttl-exp', { 'x-message-ttl': -1, 'x-expires': -1 }, (q) => bad(q, 'x-expires', '{value_negative,-1}')],
    ['qa-order-of-len', { 'x-overflow': 'bogus', 'x-max-length': -1 }, (q) => bad(q, 'x-max-length', '{value_negative,-1}')],
    ['qa-order-refused-last', { 'x-delivery-limit': 'x', 'x-message-ttl': -1 }, (q) => bad(q, 'x-message-ttl', '{value_negative,-1}')],
    ['qa-order-age-last', { 'x-max-age': '1D', 'x-message-ttl': -1 }, (q) => bad(q, 'x-message-ttl', '{value_negative,-1}')],
    ['qa-order-pri-inmem', { 'x-max-priority': 500, 'x-max-in-memory-length': 5 }, (q) => bad(q, 'x-max-priority', '{max_value_exceeded,500}')],
    ['qa-order-dlx-first', { 'x-expires': 0, 'x-dead-letter-exchange': 1 }, (q) => `PRECONDITION_FAILED - invalid type 'byte' for arg 'x-dead-letter-exchange' in queue '${q}' in vhost '/'`],
  ];
  it.each(cases)('%s', async (q, args, expected) => {
    expect(await declare(q, args)).toBe(expected(q));
  });

  it('quorum queues: their own arguments checked, the others refused after the values', async () => {
    const Q = { 'x-queue-type': 'quorum' };
    expect(await declare('qa-qq-inmem-str', { ...Q, 'x-max-in-memory-length': 'x' }, true)).toBe(bad('qa-qq-inmem-str', 'x-max-in-memory-length', '"expected integer, got longstr"'));
    expect(await declare('qa-qq-inmem-neg', { ...Q, 'x-max-in-memory-length': -1 }, true)).toBe(bad('qa-qq-inmem-neg', 'x-max-in-memory-length', '{value_negative,-1}'));
    expect(await declare('qa-qq-dl-str', { ...Q, 'x-delivery-limit': 'x' }, true)).toBe('ok');
    expect(await declare('qa-qq-pri-ttl', { ...Q, 'x-max-priority': 5, 'x-message-ttl': -1 }, true)).toBe(bad('qa-qq-pri-ttl', 'x-message-ttl', '{value_negative,-1}'));
    expect(await declare('qa-qq-version-ttl', { 'x-queue-version': 2, ...Q, 'x-message-ttl': -1 }, true)).toBe(bad('qa-qq-version-ttl', 'x-message-ttl', '{value_negative,-1}'));
    expect(await declare('qa-qq-pri-exp', { ...Q, 'x-max-priority': 5, 'x-expires': 0 }, true)).toBe(bad('qa-qq-pri-exp', 'x-expires', '{value_zero,0}'));
    expect(await declare('qa-qq-ics', { ...Q, 'x-initial-cluster-size': 1 }, true)).toBe(refused('qa-qq-ics', 'x-initial-cluster-size', 'rabbit_quorum_queue'));
  });
});

describe('publish expirations, as 3.10.8 reads them (Erlang string:to_integer)', () => {
  const cases: [string, string][] = [
    ['+5', 'ok'],
    ['007', 'ok'],
    ['-0', 'ok'],
    ['99999999999', 'ok'],
    ['315360000000', 'ok'],
    ['315360000001', '{value_too_large,315360000001}'],
    ['5 ', '{leftover_string," "}'],
    [' 5', 'no_integer'],
    ['', 'no_integer'],
    ['5abc', '{leftover_string,"abc"}'],
    ['-5x', '{leftover_string,"x"}'],
    ['1e3', '{leftover_string,"e3"}'],
    ['1.5', '{leftover_string,".5"}'],
    ['-1', '{value_negative,-1}'],
    ['abc', 'no_integer'],
  ];
  it.each(cases)('expiration %j', async (expiration, expected) => {
    const ch = await conn.createChannel();
    let closed: string | null = null;
    ch.on('error', (e: Error) => (closed = /with message "(.*)"$/.exec(e.message)?.[1] ?? e.message));
    await ch.assertQueue('qa-exp', { durable: false });
    ch.sendToQueue('qa-exp', Buffer.from('x'), { expiration });
    await ch.checkQueue('qa-exp').catch(() => undefined);
    if (closed === null) await ch.close();
    expect(closed ?? 'ok').toBe(expected === 'ok' ? 'ok' : `PRECONDITION_FAILED - invalid expiration '${expiration}': ${expected}`);
  });
});

describe('timers longer than Node allows', () => {
  it('a queue with x-expires of 30 days stays; a 30-day TTL keeps its message without a timer firing every millisecond', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      const ch = await conn.createChannel();
      const days30 = 30 * 86_400_000; // past 2^31-1 ms
      await ch.assertQueue('qa-long-expires', { durable: false, arguments: { 'x-expires': days30 } });
      await ch.assertQueue('qa-long-ttl', { durable: false, arguments: { 'x-message-ttl': days30 } });
      ch.sendToQueue('qa-long-ttl', Buffer.from('kept'));
      ch.sendToQueue('qa-long-ttl', Buffer.from('kept too'), { expiration: String(days30 * 2) });
      await new Promise((r) => setTimeout(r, 300));
      // Before: deleted 1 ms after the declare (Node ran the 30-day timer at once).
      expect((await ch.checkQueue('qa-long-expires')).queue).toBe('qa-long-expires');
      expect((await ch.checkQueue('qa-long-ttl')).messageCount).toBe(2);
      expect(warnings).not.toContain('TimeoutOverflowWarning');
      await ch.deleteQueue('qa-long-expires');
      await ch.deleteQueue('qa-long-ttl');
      await ch.close();
    } finally {
      process.off('warning', onWarning);
    }
  });
});

describe('exchange and consumer arguments, as 3.10.8 refuses them', () => {
  const exclusiveQueue = async (ch: Channel): Promise<string> => (await ch.assertQueue('', { exclusive: true })).queue;

  it('alternate-exchange that is not a string', async () => {
    expect(await attempt((ch) => ch.assertExchange('qa-ae-int', 'direct', { arguments: { 'alternate-exchange': 5 } }))).toBe(
      "PRECONDITION_FAILED - invalid type 'byte' for arg 'alternate-exchange' in exchange 'qa-ae-int' in vhost '/'",
    );
  });
  it('x-match that is not a string names the type as RabbitMQ does', async () => {
    expect(await attempt(async (ch) => ch.bindQueue(await exclusiveQueue(ch), 'amq.headers', '', { 'x-match': 1 }))).toBe(
      'PRECONDITION_FAILED - Invalid x-match field type byte (value 1); expected longstr',
    );
  });
  it("a consumer's x-priority that is not an integer, and x-stream-offset on a classic queue", async () => {
    let q = '';
    expect(await attempt(async (ch) => ch.consume((q = await exclusiveQueue(ch)), () => undefined, { arguments: { 'x-priority': 'hi' } }))).toBe(
      `PRECONDITION_FAILED - invalid arg 'x-priority' for queue '${q}' in vhost '/': "expected integer, got longstr"`,
    );
    expect(await attempt(async (ch) => ch.consume((q = await exclusiveQueue(ch)), () => undefined, { arguments: { 'x-stream-offset': 'first' } }))).toBe(
      `PRECONDITION_FAILED - invalid arg 'x-stream-offset' for queue '${q}' in vhost '/' of queue type rabbit_classic_queue`,
    );
  });
  it('deleting an amq.* exchange is refused whether it exists or not', async () => {
    expect(await attempt((ch) => ch.deleteExchange('amq.not-there'))).toBe("ACCESS_REFUSED - deletion of system exchange 'amq.not-there' in vhost '/' not allowed");
  });
});

describe('the same refusals through the management API, as 3.10.8 answers them', () => {
  it('JSON integers are longs, as RabbitMQ types them; the reasons are the channel\'s, in a 400', async () => {
    const api = apiClient(`http://127.0.0.1:${broker.managementPort}`);
    const put = async (path: string, body: object): Promise<[number, unknown]> => {
      const r = await api('PUT', path, { body });
      return [r.status, r.json];
    };
    const badRequest = (reason: string) => ({ error: 'bad_request', reason });
    expect(await put('/api/queues/%2F/qa-api', { arguments: { 'x-dead-letter-exchange': 5 } })).toEqual([400, badRequest("invalid type 'long' for arg 'x-dead-letter-exchange' in queue 'qa-api' in vhost '/'")]);
    expect(await put('/api/queues/%2F/qa-api', { arguments: { 'x-message-ttl': 1.5 } })).toEqual([400, badRequest(`invalid arg 'x-message-ttl' for queue 'qa-api' in vhost '/': "expected integer, got double"`)]);
    expect(await put('/api/queues/%2F/qa-api', { arguments: { 'x-delivery-limit': 5 } })).toEqual([400, badRequest("invalid arg 'x-delivery-limit' for queue 'qa-api' in vhost '/' of queue type rabbit_classic_queue")]);
    expect(await put('/api/exchanges/%2F/qa-api-x', { type: 'direct', arguments: { 'alternate-exchange': 5 } })).toEqual([400, badRequest("invalid type 'long' for arg 'alternate-exchange' in exchange 'qa-api-x' in vhost '/'")]);
    // amq.* exchanges: refused when there, 404 when not (over AMQP both are refused).
    expect((await api('DELETE', '/api/exchanges/%2F/amq.direct')).status).toBe(401);
    expect((await api('DELETE', '/api/exchanges/%2F/amq.not-there')).status).toBe(404);
  });
});

describe('the permissions a dead-letter or alternate exchange needs, as 3.10.8 checks them', () => {
  it('a new queue with a DLX: read on the queue, write on the DLX; a new exchange with an AE: read on it, write on the AE', async () => {
    const api = apiClient(`http://127.0.0.1:${broker.managementPort}`);
    expect((await api('PUT', '/api/users/qa-lim', { body: { password: 'lim', tags: '' } })).status).toBe(201);
    expect((await api('PUT', '/api/permissions/%2F/qa-lim', { body: { configure: '.*', write: '^lim-w', read: '^lim-r' } })).status).toBe(201);
    const as = (fn: (ch: Channel) => Promise<unknown>): Promise<string> => attempt(fn, 'qa-lim:lim');
    const refusedTo = (type: string, name: string) => `ACCESS_REFUSED - access to ${type} '${name}' in vhost '/' refused for user 'qa-lim'`;
    const queue = (name: string, dlx: string) => as((ch) => ch.assertQueue(name, { durable: false, autoDelete: true, arguments: { 'x-dead-letter-exchange': dlx } }));
    const exchange = (name: string, ae: string) => as((ch) => ch.assertExchange(name, 'direct', { autoDelete: true, arguments: { 'alternate-exchange': ae } }));
    expect(await queue('lim-w-q', 'lim-w-dlx')).toBe(refusedTo('queue', 'lim-w-q'));
    expect(await queue('lim-r-q', 'dlx')).toBe(refusedTo('exchange', 'dlx'));
    expect(await queue('lim-r-q', '')).toBe(refusedTo('exchange', 'amq.default'));
    expect(await queue('lim-r-q', 'lim-w-dlx')).toBe('ok');
    expect(await exchange('px', 'lim-w-ae')).toBe(refusedTo('exchange', 'px'));
    expect(await exchange('lim-r-x', 'ae')).toBe(refusedTo('exchange', 'ae'));
    expect(await exchange('lim-r-x', 'lim-w-ae')).toBe('ok');
    // A redeclare of an existing queue is not checked again (3.10.8).
    const guest = await conn.createChannel();
    await guest.assertQueue('lim-r-kept', { durable: false, arguments: { 'x-dead-letter-exchange': 'dlx' } });
    expect(await as((ch) => ch.assertQueue('lim-r-kept', { durable: false, arguments: { 'x-dead-letter-exchange': 'dlx' } }))).toBe('ok');
    await guest.deleteQueue('lim-r-kept');
    await guest.close();
  });
});
