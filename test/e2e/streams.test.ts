// Streams (x-queue-type: stream) on a single node, through amqplib over sockets.
//
// Every behaviour asserted here was first observed on RabbitMQ 3.10.8 (a private node, amqplib
// probes, December 2026): the declare refusals and their texts (non-durable, exclusive,
// auto-delete, server-named, the arguments of other types, a bad x-max-age); redeclare
// mismatches on x-max-length-bytes (compared before x-queue-type), x-max-age and
// x-stream-max-segment-size-bytes; basic.consume without a prefetch (406, also with only a global
// one, and before the no-ack check), with no-ack (540), with a bad interval (406); basic.get,
// queue.purge, basic.nack/basic.reject (540); x-stream-offset first, next, a number, -1 (first),
// past the end (nothing), an interval "30m", a timestamp before and after; every delivery
// carrying x-stream-offset as a long, redelivered=false; deliveries stopping at the prefetch until
// acked; retention removing whole old segments only (a consumer from 'first' starts past them),
// x-max-age included, and only when a new segment begins: 1s-old messages were all still there
// 2.5s later, and went once later publishes rolled the segment.
// Where Warren differs: 'last' is the last message appended in the latest tick (RabbitMQ: the start of
// its last chunk); a string offset that is no interval gets 406 (RabbitMQ 3.10.8 crashed the
// channel: 541 INTERNAL_ERROR); retention counts body bytes only (RabbitMQ counts its segment files,
// headers included, so it keeps fewer); Warren's offsets are dense (RabbitMQ 3.10.8's skipped
// numbers after retention: 15 messages, 10 left, starting at offset 6). Warren's own: the management API, definitions, kill -9.
import { afterEach, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { sleep, waitUntil } from '../helpers/async.js';
import { channel, confirmChannel } from '../helpers/channels.js';
import { apiClient } from '../helpers/management-client.js';
import { resources } from '../helpers/resources.js';

const S = { 'x-queue-type': 'stream' };
const running: RunningBroker[] = [];
const conns: ChannelModel[] = [];
const res = resources();

afterEach(async () => {
  for (const c of conns.splice(0)) await c.close().catch(() => undefined);
  for (const b of running.splice(0)) await b.close().catch(() => undefined);
});

async function start(managementPort = 0): Promise<RunningBroker> {
  const b = await startBroker({ dataDir: await res.tempDir('warren-stream-'), logLevel: 'silent', managementPort });
  running.push(b);
  return b;
}

async function connect(b: RunningBroker): Promise<ChannelModel> {
  const c = await amqp.connect(`amqp://guest:guest@127.0.0.1:${b.port}`);
  c.on('error', () => undefined);
  conns.push(c);
  return c;
}

async function expectChannelError(p: Promise<unknown>, code: number, text: string): Promise<void> {
  const err = (await p.then(
    () => new Error('expected a channel error'),
    (e: unknown) => e,
  )) as Error & { code?: number };
  expect(err.message).toContain(text);
  expect(err.code).toBe(code);
}

/** The connection closes with this text once f runs. */
async function expectConnectionClosed(conn: ChannelModel, f: () => Promise<unknown>, text: string): Promise<void> {
  const closed = new Promise<Error>((resolve) => conn.once('close', resolve));
  await f().catch(() => undefined);
  expect(String(await closed)).toContain(text);
}

async function publish(conn: ChannelModel, q: string, bodies: string[]): Promise<void> {
  const ch = await confirmChannel(conn);
  for (const b of bodies) ch.sendToQueue(q, Buffer.from(b));
  await ch.waitForConfirms();
  await ch.close();
}

/** Consumes from offset (acking each) until n deliveries came or quietMs passed without one. */
async function read(conn: ChannelModel, q: string, offset: unknown, n: number, prefetch = 10, quietMs = 300): Promise<[string, unknown, boolean][]> {
  const ch = await channel(conn);
  await ch.prefetch(prefetch);
  const got: [string, unknown, boolean][] = [];
  const args = offset === undefined ? {} : { 'x-stream-offset': offset };
  await ch.consume(q, (m) => {
    if (!m) return;
    got.push([m.content.toString(), m.properties.headers?.['x-stream-offset'], m.fields.redelivered]);
    ch.ack(m);
  }, { arguments: args });
  let seen = -1;
  while (got.length < n && seen !== got.length) {
    seen = got.length;
    await sleep(quietMs);
  }
  await ch.close();
  return got;
}

describe('declaring streams', () => {
  it('refuses what RabbitMQ 3.10 refuses, with its texts', async () => {
    const conn = await connect(await start());
    const refused: [string, amqp.Options.AssertQueue, string][] = [
      ['s-nd', { durable: false, arguments: S }, "PRECONDITION_FAILED - invalid property 'non-durable' for queue 's-nd' in vhost '/'"],
      ['s-ex', { durable: true, exclusive: true, arguments: S }, "PRECONDITION_FAILED - invalid property 'exclusive-owner' for queue 's-ex' in vhost '/'"],
      ['s-ad', { durable: true, autoDelete: true, arguments: S }, "PRECONDITION_FAILED - invalid property 'auto-delete' for queue 's-ad' in vhost '/'"],
      ['', { durable: true, arguments: S }, 'PRECONDITION_FAILED - Cannot declare a server-named queue for type rabbit_stream_queue'],
      ['s-age', { durable: true, arguments: { ...S, 'x-max-age': '7X' } }, "PRECONDITION_FAILED - invalid arg 'x-max-age' for queue 's-age' in vhost '/': invalid_max_age"],
      ['s-age2', { durable: true, arguments: { ...S, 'x-max-age': 7 } }, "PRECONDITION_FAILED - invalid arg 'x-max-age' for queue 's-age2' in vhost '/': {unacceptable_type,byte}"],
    ];
    const typeArgs: [string, unknown][] = [
      ['x-max-priority', 5],
      ['x-queue-mode', 'lazy'],
      ['x-dead-letter-exchange', 'dlx'],
      ['x-message-ttl', 1000],
      ['x-max-length', 10],
      ['x-overflow', 'reject-publish'],
      ['x-single-active-consumer', true],
      ['x-expires', 10000],
      ['x-delivery-limit', 3],
      ['x-queue-version', 2],
      ['x-dead-letter-strategy', 'at-least-once'],
    ];
    for (const [arg, v] of typeArgs) {
      refused.push([`s-${arg}`, { durable: true, arguments: { ...S, [arg]: v } }, `PRECONDITION_FAILED - invalid arg '${arg}' for queue 's-${arg}' in vhost '/' of queue type rabbit_stream_queue`]);
    }
    for (const [name, opts, text] of refused) {
      const ch = await channel(conn);
      await expectChannelError(ch.assertQueue(name, opts), 406, text);
    }
    const args = { ...S, 'x-max-age': '7D', 'x-max-length-bytes': 1000000, 'x-stream-max-segment-size-bytes': 100000 };
    const ch = await channel(conn);
    expect(await ch.assertQueue('s1', { durable: true, arguments: args })).toEqual({ queue: 's1', messageCount: 0, consumerCount: 0 });
    expect(await ch.assertQueue('s1', { durable: true, arguments: args })).toEqual({ queue: 's1', messageCount: 0, consumerCount: 0 });
    const mismatches: [object, string][] = [
      [{}, "inequivalent arg 'x-max-length-bytes' for queue 's1' in vhost '/': received none but current is the value '1000000' of type 'signedint'"],
      [{ ...args, 'x-max-age': '1h' }, "inequivalent arg 'x-max-age' for queue 's1' in vhost '/': received '1h' but current is '7D'"],
      [{ ...args, 'x-max-length-bytes': 5 }, "inequivalent arg 'x-max-length-bytes' for queue 's1' in vhost '/': received '5' but current is '1000000'"],
      [{ ...args, 'x-stream-max-segment-size-bytes': 5 }, "inequivalent arg 'x-stream-max-segment-size-bytes' for queue 's1' in vhost '/': received '5' but current is '100000'"],
    ];
    for (const [a, text] of mismatches) await expectChannelError((await channel(conn)).assertQueue('s1', { durable: true, arguments: a }), 406, text);
  });
});

describe('consuming a stream', () => {
  it('refuses consumers without a prefetch or with no-ack, basic.get, purge, nack and reject, as RabbitMQ 3.10.8', async () => {
    const b = await start();
    const setup = await connect(b);
    await (await channel(setup)).assertQueue('s2', { durable: true, arguments: S });
    await publish(setup, 's2', ['m0', 'm1']);
    const noQos = "PRECONDITION_FAILED - consumer prefetch count is not set for 'queue 's2' in vhost '/''";
    await expectChannelError((await channel(setup)).consume('s2', () => undefined), 406, noQos);
    await expectChannelError((await channel(setup)).consume('s2', () => undefined, { noAck: true }), 406, noQos);
    const globalOnly = await channel(setup);
    await globalOnly.prefetch(10, true);
    await expectChannelError(globalOnly.consume('s2', () => undefined), 406, noQos);
    // A global prefetch beside a consumer prefetch is fine.
    const both = await channel(setup);
    await both.prefetch(10, true);
    await both.prefetch(5);
    expect((await both.consume('s2', () => undefined)).consumerTag).toMatch(/^amq\.ctag-/);
    const bad = await channel(setup);
    await bad.prefetch(5);
    await expectChannelError(
      bad.consume('s2', () => undefined, { arguments: { 'x-stream-offset': '30x' } }),
      406,
      `PRECONDITION_FAILED - invalid arg 'x-stream-offset' for queue 's2' in vhost '/': {invalid_stream_offset_arg,{longstr,<<"30x">>}}`,
    );

    const c1 = await connect(b);
    await expectConnectionClosed(c1, async () => {
      const ch = await channel(c1);
      await ch.prefetch(5);
      await ch.consume('s2', () => undefined, { noAck: true });
    }, `540 (NOT-IMPLEMENTED) with message "NOT_IMPLEMENTED - automatic acknowledgement not supported by stream queues queue 's2' in vhost '/'"`);
    const c2 = await connect(b);
    await expectConnectionClosed(c2, async () => (await channel(c2)).get('s2'), `540 (NOT-IMPLEMENTED) with message "NOT_IMPLEMENTED - basic.get not supported by stream queues queue 's2' in vhost '/'"`);
    const c3 = await connect(b);
    await expectConnectionClosed(c3, async () => (await channel(c3)).purgeQueue('s2'), `540 (NOT-IMPLEMENTED) with message "NOT_IMPLEMENTED - queue.purge not supported by stream queues queue 's2' in vhost '/'"`);
    for (const requeue of [true, false]) {
      const c = await connect(b);
      await expectConnectionClosed(c, async () => {
        const ch = await channel(c);
        await ch.prefetch(5);
        await ch.consume('s2', (m) => m && ch.nack(m, false, requeue), { arguments: { 'x-stream-offset': 'first' } });
      }, `540 (NOT-IMPLEMENTED) with message "NOT_IMPLEMENTED - basic.nack and basic.reject not supported by stream queues queue 's2' in vhost '/'"`);
    }
    const c4 = await connect(b);
    await expectConnectionClosed(c4, async () => {
      const ch = await channel(c4);
      await ch.prefetch(5);
      await ch.consume('s2', (m) => m && ch.reject(m, true), { arguments: { 'x-stream-offset': 'first' } });
    }, 'basic.nack and basic.reject not supported by stream queues');
    // Nothing was removed by any of it.
    expect((await (await channel(setup)).checkQueue('s2')).messageCount).toBe(2);
  });

  it('x-stream-offset first, next, a number, -1, past the end and an interval; each delivery carries x-stream-offset', async () => {
    const conn = await connect(await start());
    await (await channel(conn)).assertQueue('s-off', { durable: true, arguments: S });
    await publish(conn, 's-off', Array.from({ length: 10 }, (_, i) => `m${i}`));
    const all = Array.from({ length: 10 }, (_, i) => [`m${i}`, i, false]);
    expect(await read(conn, 's-off', 'first', 10)).toEqual(all);
    expect(await read(conn, 's-off', -1, 10)).toEqual(all);
    expect(await read(conn, 's-off', '30m', 10)).toEqual(all);
    expect(await read(conn, 's-off', 3, 7)).toEqual(all.slice(3));
    expect(await read(conn, 's-off', 'next', 1)).toEqual([]);
    expect(await read(conn, 's-off', undefined, 1)).toEqual([]);
    expect(await read(conn, 's-off', 100, 1)).toEqual([]);
    // 'next' then sees what is published after it started.
    const ch = await channel(conn);
    await ch.prefetch(10);
    const later: unknown[] = [];
    await ch.consume('s-off', (m) => {
      if (m) later.push(m.properties.headers?.['x-stream-offset']);
      if (m) ch.ack(m);
    });
    await publish(conn, 's-off', ['n0', 'n1']);
    await waitUntil(() => later.length === 2, 'the two new messages');
    expect(later).toEqual([10, 11]);
    expect((await ch.checkQueue('s-off')).messageCount).toBe(12);
  });

  it('three consumers read the same stream from first, a numeric offset and a timestamp, each getting its slice', async () => {
    const conn = await connect(await start());
    await (await channel(conn)).assertQueue('s-three', { durable: true, arguments: S });
    await publish(conn, 's-three', ['a0', 'a1', 'a2']);
    // RabbitMQ's timestamps are in seconds: the second batch is published a second after t.
    await sleep(1100);
    const t = Math.floor(Date.now() / 1000) + 1;
    await sleep(t * 1000 - Date.now() + 50);
    await publish(conn, 's-three', ['b0', 'b1', 'b2']);
    const [fromFirst, fromTwo, fromTime] = await Promise.all([
      read(conn, 's-three', 'first', 6, 2),
      read(conn, 's-three', 2, 4, 2),
      read(conn, 's-three', { '!': 'timestamp', value: t }, 3, 2),
    ]);
    expect(fromFirst).toEqual([['a0', 0, false], ['a1', 1, false], ['a2', 2, false], ['b0', 3, false], ['b1', 4, false], ['b2', 5, false]]);
    expect(fromTwo).toEqual([['a2', 2, false], ['b0', 3, false], ['b1', 4, false], ['b2', 5, false]]);
    expect(fromTime).toEqual([['b0', 3, false], ['b1', 4, false], ['b2', 5, false]]);
    // A timestamp in the future: nothing yet.
    expect(await read(conn, 's-three', { '!': 'timestamp', value: t + 100 }, 1)).toEqual([]);
    // Reading removed nothing.
    expect((await (await channel(conn)).checkQueue('s-three')).messageCount).toBe(6);
  });

  it('deliveries stop at the prefetch until acked; acks remove nothing', async () => {
    const conn = await connect(await start());
    await (await channel(conn)).assertQueue('s-win', { durable: true, arguments: S });
    await publish(conn, 's-win', ['m0', 'm1', 'm2', 'm3']);
    const ch = await channel(conn);
    await ch.prefetch(2);
    const got: ConsumeMessage[] = [];
    await ch.consume('s-win', (m) => m && got.push(m), { arguments: { 'x-stream-offset': 'first' } });
    await sleep(300);
    expect(got.map((m) => m.properties.headers?.['x-stream-offset'])).toEqual([0, 1]);
    ch.ack(got[1]!, true);
    await waitUntil(() => got.length === 4, 'the other two');
    expect(got.map((m) => m.properties.headers?.['x-stream-offset'])).toEqual([0, 1, 2, 3]);
    await ch.close();
    expect(await read(conn, 's-win', 'first', 4)).toEqual([['m0', 0, false], ['m1', 1, false], ['m2', 2, false], ['m3', 3, false]]);
  });
});

describe('long streams', () => {
  it('a consumer reads 20,000 messages page by page, in offset order; queue.delete answers 0 (as RabbitMQ 3.10.8)', async () => {
    const conn = await connect(await start());
    const ch = await confirmChannel(conn);
    await ch.assertQueue('s-long', { durable: true, arguments: S });
    for (let i = 0; i < 20_000; i++) {
      ch.sendToQueue('s-long', Buffer.from(String(i)));
      if (i % 2000 === 1999) await ch.waitForConfirms();
    }
    await ch.waitForConfirms();
    const reader = await channel(conn);
    await reader.prefetch(200);
    let next = 0;
    let wrong = 0;
    await reader.consume('s-long', (m) => {
      if (!m) return;
      if (m.properties.headers?.['x-stream-offset'] !== next || m.content.toString() !== String(next)) wrong++;
      next++;
      reader.ack(m);
    }, { arguments: { 'x-stream-offset': 'first' } });
    await waitUntil(() => next === 20_000, 'all 20,000', 30_000);
    expect(wrong).toBe(0);
    await reader.close();
    expect(await ch.deleteQueue('s-long')).toEqual({ messageCount: 0 });
  }, 60_000);
});

describe('retention', () => {
  it('x-max-length-bytes removes whole old segments only, while a consumer reads', async () => {
    const conn = await connect(await start());
    const ch = await confirmChannel(conn);
    // Segments of 1000 bytes hold ten 100-byte messages.
    await ch.assertQueue('s-ret', { durable: true, arguments: { ...S, 'x-max-length-bytes': 3000, 'x-stream-max-segment-size-bytes': 1000 } });
    const reader = await channel(conn);
    await reader.prefetch(5);
    const seen: number[] = [];
    await reader.consume('s-ret', (m) => {
      if (!m) return;
      seen.push(Number(m.properties.headers?.['x-stream-offset']));
      reader.ack(m);
    }, { arguments: { 'x-stream-offset': 'first' } });
    for (let i = 0; i < 55; i++) {
      ch.sendToQueue('s-ret', Buffer.alloc(100, 'a'));
      if (i % 10 === 0) await ch.waitForConfirms();
    }
    await ch.waitForConfirms();
    // 55 messages = five full segments and one of five: when the sixth began, the stream held
    // 5000+100 bytes, so segments 0-2 went (3000 bytes would have meant dropping into the active
    // one, never done); 25 messages are left, offsets 30..54, a bit more than 3000 bytes' worth.
    expect((await ch.checkQueue('s-ret')).messageCount).toBe(25);
    const fromFirst = await read(conn, 's-ret', 'first', 25);
    expect(fromFirst.map((r) => r[1])).toEqual(Array.from({ length: 25 }, (_, i) => 30 + i));
    // The live consumer saw a dense run of offsets ending at the last one.
    await waitUntil(() => seen[seen.length - 1] === 54, 'the live consumer to reach the end');
    for (let i = 1; i < seen.length; i++) expect(seen[i]! - seen[i - 1]!).toBeGreaterThan(0);
  });
});

describe('x-max-age', () => {
  it('removes whole segments older than the age when a new segment begins (not on a timer, as osiris)', async () => {
    const conn = await connect(await start());
    await (await channel(conn)).assertQueue('s-age', { durable: true, arguments: { ...S, 'x-max-age': '1s', 'x-stream-max-segment-size-bytes': 1000 } });
    await publish(conn, 's-age', Array.from({ length: 10 }, () => 'x'.repeat(100)));
    await sleep(1200);
    // Old, but nothing rolled a segment yet: all still there.
    expect((await (await channel(conn)).checkQueue('s-age')).messageCount).toBe(10);
    // The 11th starts a second segment: the first, older than 1s, goes whole.
    await publish(conn, 's-age', ['y'.repeat(100)]);
    expect((await (await channel(conn)).checkQueue('s-age')).messageCount).toBe(1);
    expect((await read(conn, 's-age', 'first', 1)).map((r) => r[1])).toEqual([10]);
  });
});

describe('policies on streams', () => {
  /** Sets a policy through the management API of b. */
  async function policy(b: RunningBroker, name: string, body: object): Promise<void> {
    const r = await apiClient(`http://127.0.0.1:${b.managementPort}`)('PUT', `/api/policies/%2F/${name}`, { body });
    expect([201, 204], r.text).toContain(r.status);
  }
  const count = async (conn: ChannelModel, q: string): Promise<number> => (await (await channel(conn)).checkQueue(q)).messageCount;
  /** Ten 100-byte messages, 1.2 s, then one more: with 1000-byte segments and a 1 s max-age the ten go. */
  async function ageOut(conn: ChannelModel, q: string): Promise<number> {
    await publish(conn, q, Array.from({ length: 10 }, () => 'x'.repeat(100)));
    await sleep(1200);
    await publish(conn, q, ['y'.repeat(100)]);
    return count(conn, q);
  }

  it('max-age, stream-max-segment-size-bytes and max-length-bytes: the policy wins over the argument, lower or higher', async () => {
    // RabbitMQ 3.10.8 (rabbit_stream_queue's policy_precedence): x-max-age 1h with a policy
    // max-age 1s and 10 kB segments lost its old segments; x-max-age 1s with a policy max-age 1h
    // kept everything; x-stream-max-segment-size-bytes 500 MB with a policy of 10 kB rolled
    // segments, and the reverse did not; x-max-length-bytes 20 kB under a policy of 1 GB kept all
    // 60 kB, 1 GB under a policy of 20 kB did not.
    const b = await start(-1);
    const conn = await connect(b);
    const ch = await channel(conn);
    const cases: [string, object, object, number][] = [
      ['sp-age-policy', { 'x-max-age': '1h' }, { 'max-age': '1s', 'stream-max-segment-size-bytes': 1000 }, 1],
      ['sp-age-arg', { 'x-max-age': '1s', 'x-stream-max-segment-size-bytes': 1000 }, { 'max-age': '1h' }, 11],
      ['sp-seg-policy', { 'x-max-age': '1s', 'x-stream-max-segment-size-bytes': 500_000_000 }, { 'stream-max-segment-size-bytes': 1000 }, 1],
      ['sp-seg-arg', { 'x-max-age': '1s', 'x-stream-max-segment-size-bytes': 1000 }, { 'stream-max-segment-size-bytes': 500_000_000 }, 11],
    ];
    for (const [q, args, definition] of cases) {
      await policy(b, q, { pattern: `^${q}$`, 'apply-to': 'queues', definition });
      await ch.assertQueue(q, { durable: true, arguments: { ...S, ...args } });
    }
    for (const [q, , , left] of cases) expect([q, await ageOut(conn, q)]).toEqual([q, left]);
    await policy(b, 'sp-bytes', { pattern: '^sp-bytes$', 'apply-to': 'queues', definition: { 'max-length-bytes': 1_000_000_000 } });
    await ch.assertQueue('sp-bytes', { durable: true, arguments: { ...S, 'x-max-length-bytes': 3000, 'x-stream-max-segment-size-bytes': 1000 } });
    await publish(conn, 'sp-bytes', Array.from({ length: 55 }, () => 'a'.repeat(100)));
    expect(await count(conn, 'sp-bytes')).toBe(55);
  });

  it('a policy set on an existing stream: max-age applies at once, the segment size from the next start', async () => {
    // RabbitMQ 3.10.8: a policy max-age 1s set after the declare removed old segments at the next
    // roll; a policy segment size set after the declare did not change the running stream's
    // segments, and did after a restart (rabbitmqctl stop, start).
    const dir = await res.tempDir('warren-stream-policy-');
    let b = await startBroker({ dataDir: dir, logLevel: 'silent', managementPort: -1 });
    running.push(b);
    let conn = await connect(b);
    const ch = await channel(conn);
    await ch.assertQueue('sl-age', { durable: true, arguments: { ...S, 'x-stream-max-segment-size-bytes': 1000 } });
    await ch.assertQueue('sl-seg', { durable: true, arguments: { ...S, 'x-max-age': '1s' } });
    await policy(b, 'sl-age', { pattern: '^sl-age$', 'apply-to': 'queues', definition: { 'max-age': '1s' } });
    await policy(b, 'sl-seg', { pattern: '^sl-seg$', 'apply-to': 'queues', definition: { 'stream-max-segment-size-bytes': 1000 } });
    expect(await ageOut(conn, 'sl-age')).toBe(1);
    expect(await ageOut(conn, 'sl-seg')).toBe(11);
    await b.close();
    running.splice(running.indexOf(b), 1);
    b = await startBroker({ dataDir: dir, logLevel: 'silent', managementPort: -1 });
    running.push(b);
    conn = await connect(b);
    await sleep(1200);
    // Now in 1000-byte segments: the tenth publish rolls one, and the segment of offsets 0-9,
    // older than 1 s, goes.
    await publish(conn, 'sl-seg', Array.from({ length: 10 }, () => 'z'.repeat(100)));
    expect(await count(conn, 'sl-seg')).toBe(11);
    expect((await read(conn, 'sl-seg', 'first', 11)).map((r) => r[1])).toEqual(Array.from({ length: 11 }, (_, i) => 10 + i));
  });
});

describe('restarts and crashes (Warren only)', () => {
  it('a stream keeps its messages and offsets across a restart; new messages continue the offsets', async () => {
    const dir = await res.tempDir('warren-stream-restart-');
    let b = await startBroker({ dataDir: dir, logLevel: 'silent' });
    running.push(b);
    let conn = await connect(b);
    await (await channel(conn)).assertQueue('s-rs', { durable: true, arguments: { ...S, 'x-max-length-bytes': 300, 'x-stream-max-segment-size-bytes': 100 } });
    await publish(conn, 's-rs', Array.from({ length: 12 }, (_, i) => `m${String(i).padStart(2, '0')}`.padEnd(50, '.')));
    // Segments of two 50-byte messages: when the sixth began (offset 10) the stream held 550
    // bytes, so three went whole; offsets 6..11 are left.
    const before = (await read(conn, 's-rs', 'first', 12)).map((r) => r[1]);
    expect(before).toEqual([6, 7, 8, 9, 10, 11]);
    await b.close();
    running.splice(running.indexOf(b), 1);
    b = await startBroker({ dataDir: dir, logLevel: 'silent' });
    running.push(b);
    conn = await connect(b);
    expect((await read(conn, 's-rs', 'first', 12)).map((r) => r[1])).toEqual(before);
    await publish(conn, 's-rs', ['after'.padEnd(50, '.')]);
    const after = await read(conn, 's-rs', 'last', 1);
    expect(after.map((r) => [r[0].slice(0, 5), r[1]])).toEqual([['after', 12]]);
    // Offset 12 began the seventh segment: retention, rebuilt from the store, dropped one more.
    expect((await read(conn, 's-rs', 'first', 12)).map((r) => r[1])).toEqual([8, 9, 10, 11, 12]);
  });

  it('kill -9 during confirmed publishing: no confirmed message lost, offsets dense after recovery', async () => {
    const dir = await res.tempDir('warren-stream-crash-');
    const b1 = await res.broker(dir);
    const conn = await res.connect(b1.port);
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
    await ch.assertQueue('s-crash', { durable: true, arguments: S });
    const confirmed = new Set<number>();
    let n = 0;
    let stop = false;
    const pump = (async () => {
      while (!stop) {
        for (let k = 0; k < 200 && !stop; k++) {
          const i = n++;
          try {
            ch.sendToQueue('s-crash', Buffer.from(String(i)), {}, (err) => {
              if (!err) confirmed.add(i);
            });
          } catch {
            return;
          }
        }
        await sleep(1);
      }
    })();
    await waitUntil(() => confirmed.size > 2000, 'confirms', 20_000);
    await b1.kill9();
    stop = true;
    await pump;
    const b2 = await res.broker(dir);
    const c2 = await res.connect(b2.port);
    const got = await read(c2, 's-crash', 'first', n, 1000);
    const offsets = got.map((r) => r[1] as number);
    expect(offsets).toEqual(Array.from({ length: got.length }, (_, i) => i));
    const bodies = new Set(got.map((r) => Number(r[0])));
    expect([...confirmed].filter((i) => !bodies.has(i))).toEqual([]);
    // One publisher, one channel: the log holds a prefix of what was sent, in order.
    expect(got.map((r) => Number(r[0]))).toEqual(Array.from({ length: got.length }, (_, i) => i));
  }, 60_000);
});

describe('management and definitions (Warren only: the RabbitMQ node had no management plugin)', () => {
  it("the API shows type 'stream' and its message count; an export holds the stream and imports into another broker", async () => {
    const a = await start(-1);
    const conn = await connect(a);
    const args = { ...S, 'x-max-age': '7D', 'x-stream-max-segment-size-bytes': 100000 };
    await (await channel(conn)).assertQueue('s-mgmt', { durable: true, arguments: args });
    await publish(conn, 's-mgmt', ['a', 'b', 'c']);
    const auth = { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}` };
    const base = `http://127.0.0.1:${a.managementPort}`;
    await waitUntil(async () => {
      const q = (await (await fetch(`${base}/api/queues/%2F/s-mgmt`, { headers: auth })).json()) as { messages: number };
      return q.messages === 3;
    }, 'the API to count 3 messages');
    const q = (await (await fetch(`${base}/api/queues/%2F/s-mgmt`, { headers: auth })).json()) as { type: string; messages: number };
    expect(q).toMatchObject({ type: 'stream', messages: 3 });
    const defs = (await (await fetch(`${base}/api/definitions`, { headers: auth })).json()) as { queues: object[] };
    const entry = { name: 's-mgmt', vhost: '/', durable: true, auto_delete: false, arguments: args };
    expect(defs.queues).toContainEqual(entry);
    const b = await start(-1);
    const base2 = `http://127.0.0.1:${b.managementPort}`;
    const post = await fetch(`${base2}/api/definitions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(defs) });
    expect(post.status).toBeLessThan(300);
    const q2 = (await (await fetch(`${base2}/api/queues/%2F/s-mgmt`, { headers: auth })).json()) as { type: string; arguments: object };
    expect(q2).toMatchObject({ type: 'stream', arguments: args });
    const bad = { queues: [{ name: 's-bad', vhost: '/', durable: false, auto_delete: false, arguments: S }] };
    const r = await fetch(`${base2}/api/definitions`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify(bad) });
    expect(r.status).toBe(400);
    expect(JSON.stringify(await r.json())).toContain("invalid property 'non-durable' for queue 's-bad' in vhost '/'");
  });
});
