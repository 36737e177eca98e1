// Durability of the other queue types under kill -9 (as crash.test.ts does for classic queues): a
// real broker process on a LevelDB data dir, amqplib clients over TCP, SIGKILL while a confirming
// publisher and a consumer are busy, then a restart on the same data dir.
// - Quorum queue: transient (delivery_mode 1) and persistent messages alike are stored; every
//   confirmed message the consumer never acked is there after the restart, nothing is there twice
//   or that was never published, and no return is counted (x-delivery-count) that never happened.
//   Run once with everything in memory and once with the queue paged out (--page-out-messages).
// - Stream: a consumer reads from 'first' while the publisher runs; after each of two crashes the
//   log read from 'first' has dense offsets 0, 1, 2, …, holds every confirmed message, in publish
//   order, and every message the consumer saw before the crash at the offset it saw it at.
// An ack is never confirmed to its client in AMQP 0-9-1, so an acked message may come back after a
// crash (its deletion may not have been written): only "confirmed and never acked ⇒ present" holds.
// Needs the built CLI (`npm run build` -> dist/cli.js).
import { describe, expect, it } from 'vitest';
import type { Channel, ChannelModel, ConfirmChannel, ConsumeMessage, GetMessage } from 'amqplib';
import { resources } from '../helpers/resources.js';
import { sleep, waitUntil } from '../helpers/async.js';
import type { BrokerProcess } from '../helpers/broker-process.js';

const res = resources();

/** How many unconfirmed publishes one publisher keeps in flight. */
const WINDOW = 500;

interface Publisher {
  /** Ids the broker acked. */
  confirmed: Set<number>;
  nacked: number;
  /** Ids below this were sent (from the first id on). */
  readonly sentUpTo: number;
  /** Resolves once the publisher stopped: its channel closed (the broker died) or stop() was called. */
  done: Promise<void>;
  stop(): void;
}

/**
 * Publishes id, id+1, … to queue with confirms until stopped or its channel dies, keeping a bounded
 * window of unconfirmed messages. props(id) gives each message's body and delivery mode.
 */
function publish(ch: ConfirmChannel, queue: string, firstId: number, props: (id: number) => { body: string; deliveryMode: 1 | 2 }): Publisher {
  const confirmed = new Set<number>();
  let nacked = 0;
  let sentUpTo = firstId;
  let settled = 0;
  let stop = false;
  let closed = false;
  const chClosed = new Promise<void>((r) =>
    ch.once('close', () => {
      closed = true;
      r();
    }),
  );
  const done = (async () => {
    for (let i = firstId; !stop && !closed; i++) {
      const { body, deliveryMode } = props(i);
      let ok: boolean;
      try {
        ok = ch.sendToQueue(queue, Buffer.from(body), { deliveryMode, messageId: String(i) }, (err) => {
          settled++;
          // amqplib also fails pending callbacks with 'channel closed' when the socket dies
          if (err?.message === 'message nacked') nacked++;
          else if (!err) confirmed.add(i);
        });
      } catch {
        return; // the channel went with the broker
      }
      sentUpTo = i + 1;
      if (!ok) await Promise.race([new Promise<void>((r) => ch.once('drain', () => r())), chClosed]);
      else if (i % 50 === 0) await new Promise<void>((r) => setImmediate(r));
      while (!stop && !closed && sentUpTo - firstId - settled > WINDOW) await sleep(1);
    }
  })();
  return {
    confirmed,
    get nacked() {
      return nacked;
    },
    get sentUpTo() {
      return sentUpTo;
    },
    done,
    stop: () => (stop = true),
  };
}

/** Kills the broker, then waits for the clients to notice and the publisher to stop. */
async function crash(b: BrokerProcess, pub: Publisher, conns: ChannelModel[]): Promise<void> {
  // Listening first: the sockets may close before kill9() has seen the process exit.
  const closed = Promise.all(conns.map((c) => new Promise<void>((r) => c.once('close', () => r()))));
  await b.kill9();
  await Promise.race([closed, sleep(5000)]);
  pub.stop();
  await pub.done;
}

const idOf = (m: { properties: { messageId?: unknown } }): number => Number(m.properties.messageId);

/** A header as a number (amqplib decodes AMQP longs to numbers), or undefined. */
function numericHeader(m: { properties: { headers?: Record<string, unknown> } }, name: string): number | undefined {
  const v = m.properties.headers?.[name];
  return v === undefined ? undefined : Number(v);
}

describe('kill -9 on quorum queues and streams', () => {
  for (const paged of [false, true]) {
    it(`quorum queue${paged ? ' (paged out)' : ''}: every confirmed message never acked survives, transient ones included`, async () => {
      const dataDir = await res.tempDir('warren-crash-qq-');
      // Paged: at most 100 ready messages in memory, the rest of the queue waits in the store.
      const args = paged ? ['--page-out-messages', '100'] : [];
      const Q = 'crash-qq';
      const QQ = { durable: true, arguments: { 'x-queue-type': 'quorum' } };
      const body = (i: number): string => `qq-${i}`;
      // Three of four messages transient: a quorum queue stores them anyway (and confirms after).
      const modeOf = (i: number): 1 | 2 => (i % 4 === 0 ? 2 : 1);

      const b1 = await res.broker(dataDir, args);
      const pubConn = await res.connect(b1.port);
      const subConn = await res.connect(b1.port);
      const pubCh = await pubConn.createConfirmChannel();
      pubCh.on('error', () => undefined);
      await pubCh.assertQueue(Q, QQ);

      // The consumer holds each message 25 ms before acking, with at most 50 unacked: it cannot take
      // more than ~2000 a second, so a backlog builds behind it. The first delivery of every id
      // ending in 3 is returned instead (nack, requeue): it goes to the back with x-delivery-count 1.
      const sub: Channel = await subConn.createChannel();
      sub.on('error', () => undefined);
      await sub.prefetch(50);
      // No ack is sent once the kill begins: the messages held then must all still be there.
      let acking = true;
      const ackSent = new Set<number>();
      const returns = new Map<number, number>();
      const deliveries = new Map<number, number>();
      const anomalies: string[] = [];
      await sub.consume(Q, (m: ConsumeMessage | null) => {
        if (!m) return;
        const id = idOf(m);
        const n = (deliveries.get(id) ?? 0) + 1;
        deliveries.set(id, n);
        const count = numericHeader(m, 'x-delivery-count');
        // Before any crash the broker knows every return: the count is exactly the returns so far.
        if ((count ?? 0) !== (returns.get(id) ?? 0)) anomalies.push(`id ${id}: x-delivery-count ${count} after ${returns.get(id) ?? 0} returns`);
        if (m.fields.redelivered !== returns.has(id)) anomalies.push(`id ${id}: redelivered=${m.fields.redelivered} after ${returns.get(id) ?? 0} returns`);
        if (n === 1 && id % 10 === 3) {
          returns.set(id, 1);
          try {
            sub.nack(m, false, true);
          } catch {
            // the channel went with the broker
          }
          return;
        }
        setTimeout(() => {
          if (!acking) return;
          // Counted before it is sent: whether an ack reached the broker is never known to the client.
          ackSent.add(id);
          try {
            sub.ack(m);
          } catch {
            // the channel went with the broker
          }
        }, 25);
      });

      const pub = publish(pubCh, Q, 0, (i) => ({ body: body(i), deliveryMode: modeOf(i) }));
      // A good number of confirms, acks and returns, and a backlog, then pull the plug mid-stream.
      await waitUntil(
        () => pub.confirmed.size >= 3000 && ackSent.size >= 300 && returns.size >= 30 && pub.confirmed.size - ackSent.size >= 1000,
        'confirms, acks and a backlog before the crash',
        60_000,
      );
      acking = false;
      await crash(b1, pub, [pubConn, subConn]);
      const confirmed = new Set(pub.confirmed);
      const acked = new Set(ackSent);
      const returned = new Map(returns);
      expect(anomalies, 'deliveries before the crash').toEqual([]);
      expect(pub.nacked, 'the broker nacked publishes before the crash').toBe(0);
      const mustSurvive = [...confirmed].filter((i) => !acked.has(i));
      expect(mustSurvive.some((i) => modeOf(i) === 1) && mustSurvive.some((i) => modeOf(i) === 2)).toBe(true);

      const b2 = await res.broker(dataDir, args);
      const conn2 = await res.connect(b2.port);
      const ch2 = await conn2.createChannel();
      ch2.on('error', () => undefined);
      const { messageCount } = await ch2.checkQueue(Q);
      const recovered: number[] = [];
      const wrong: string[] = [];
      // Counted once more than its returns: it was out to the consumer when the broker died.
      let countedOut = 0;
      for (;;) {
        const m: GetMessage | false = await ch2.get(Q, { noAck: true });
        if (m === false) break;
        const id = idOf(m);
        recovered.push(id);
        if (!(id >= 0 && id < pub.sentUpTo)) wrong.push(`id ${id} was never published`);
        else if (m.content.toString() !== body(id)) wrong.push(`id ${id}: body ${JSON.stringify(m.content.toString().slice(0, 40))}`);
        else if (m.properties.deliveryMode !== modeOf(id)) wrong.push(`id ${id}: delivery mode ${m.properties.deliveryMode}`);
        // A return is counted only if it happened (it may be lost with the crash, if not yet
        // written), and a message out to the consumer at the crash once more (RabbitMQ's log knows
        // which were out; the rest come back as they were). Redelivered means counted, as on 3.10.8.
        const count = numericHeader(m, 'x-delivery-count');
        const returnedN = returned.get(id) ?? 0;
        if (count === undefined || count > returnedN + 1) wrong.push(`id ${id}: x-delivery-count ${count} after ${returnedN} returns`);
        else if (m.fields.redelivered !== count > 0) wrong.push(`id ${id}: redelivered=${m.fields.redelivered} with x-delivery-count ${count}`);
        if (count !== undefined && count > returnedN) countedOut++;
      }
      expect(wrong.slice(0, 10), 'messages after recovery').toEqual([]);
      // Out at the crash: at most the prefetch window (50), and acked ones whose ack died with it.
      const ackedBack = recovered.filter((i) => acked.has(i)).length;
      expect(countedOut, 'counted as out at the crash').toBeGreaterThan(0);
      expect(countedOut, 'counted as out at the crash').toBeLessThanOrEqual(50 + ackedBack);
      const present = new Set(recovered);
      expect(present.size, 'a message twice after recovery').toBe(recovered.length);
      const lost = mustSurvive.filter((i) => !present.has(i));
      expect(lost.length, `confirmed, never acked, and lost (first few: ${lost.slice(0, 10).join(', ')})`).toBe(0);
      // Messages never returned keep the publisher's order (a return moves one to the back).
      const inPlace = recovered.filter((i) => !returned.has(i));
      expect(inPlace).toEqual([...inPlace].sort((a, b) => a - b));
      expect(messageCount).toBe(recovered.length);
      console.log(
        JSON.stringify({
          test: `quorum${paged ? ' paged' : ''}`,
          published: pub.sentUpTo,
          confirmed: confirmed.size,
          transientConfirmed: [...confirmed].filter((i) => modeOf(i) === 1).length,
          ackSent: acked.size,
          returned: returned.size,
          mustSurvive: mustSurvive.length,
          recovered: recovered.length,
          ackedCameBack: ackedBack,
          countedOut,
        }),
      );
    });
  }

  for (const type of ['quorum', 'classic'] as const) {
    it(`${type} queue: messages published after a crash was recovered and drained are not flagged redelivered`, async () => {
      const dataDir = await res.tempDir('warren-crash-flags-');
      const Q = `crash-flags-${type}`;
      const decl = { durable: true, arguments: { 'x-queue-type': type } };
      const deliveryMode = type === 'quorum' ? 1 : 2;
      const publishN = async (b: BrokerProcess, prefix: string, n: number): Promise<void> => {
        const ch = await (await res.connect(b.port)).createConfirmChannel();
        await ch.assertQueue(Q, decl);
        for (let i = 0; i < n; i++) ch.sendToQueue(Q, Buffer.from(`${prefix}${i}`), { deliveryMode });
        await ch.waitForConfirms();
      };
      const get = async (b: BrokerProcess, max: number): Promise<{ body: string; redelivered: boolean; count: number | undefined }[]> => {
        const ch = await (await res.connect(b.port)).createChannel();
        const out: { body: string; redelivered: boolean; count: number | undefined }[] = [];
        while (out.length < max) {
          const m = await ch.get(Q, { noAck: true });
          if (m === false) break;
          out.push({ body: m.content.toString(), redelivered: m.fields.redelivered, count: numericHeader(m, 'x-delivery-count') });
        }
        return out;
      };
      // A crash with messages in the queue, none delivered: a classic queue's all come back flagged
      // (it does not know which were delivered), a quorum queue's none (it does), as on 3.10.8.
      const b1 = await res.broker(dataDir);
      await publishN(b1, 'a', 100);
      await b1.kill9();
      const b2 = await res.broker(dataDir);
      const recovered = await get(b2, 1000);
      expect(recovered.length).toBe(100);
      expect(recovered.filter((m) => m.redelivered).length).toBe(type === 'classic' ? 100 : 0);
      await b2.stop();
      // New messages, never delivered, with 10 in memory and the rest paged out: none is flagged,
      // read back in this run or after a restart.
      const b3 = await res.broker(dataDir, ['--page-out-messages', '10']);
      await publishN(b3, 'b', 50);
      const now = await get(b3, 25);
      await b3.stop();
      const b4 = await res.broker(dataDir);
      const later = await get(b4, 1000);
      expect([...now, ...later].map((m) => m.body)).toEqual(Array.from({ length: 50 }, (_, i) => `b${i}`));
      expect([...now, ...later].filter((m) => m.redelivered).map((m) => m.body)).toEqual([]);
      // A quorum queue's basic.get carries x-delivery-count, 0 for a message never returned.
      if (type === 'quorum') expect([...recovered, ...now, ...later].every((m) => m.count === 0)).toBe(true);
    });
  }

  it('stream: offsets stay dense and unchanged over two crashes, every confirmed message kept, in publish order', async () => {
    const dataDir = await res.tempDir('warren-crash-stream-');
    const S = 'crash-stream';
    // Small segments: recovery rebuilds many of them (no retention: the log keeps starting at 0).
    const decl = { durable: true, arguments: { 'x-queue-type': 'stream', 'x-stream-max-segment-size-bytes': 20_000 } };
    // The log after the last recovery (body by offset): what every later read must agree with.
    let log: string[] = [];
    const summary: object[] = [];
    for (let round = 1; round <= 2; round++) {
      const b = await res.broker(dataDir, round === 1 ? ['--fsync'] : []);
      const pubConn = await res.connect(b.port);
      const subConn = await res.connect(b.port);
      const pubCh = await pubConn.createConfirmChannel();
      pubCh.on('error', () => undefined);
      await pubCh.assertQueue(S, decl);

      // A consumer from 'first' reads what earlier rounds left and this round's messages as they come.
      const seen = new Map<number, string>();
      const anomalies: string[] = [];
      let expected = 0;
      const sub = await subConn.createChannel();
      sub.on('error', () => undefined);
      await sub.prefetch(500);
      await sub.consume(
        S,
        (m) => {
          if (!m) return;
          const offset = numericHeader(m, 'x-stream-offset');
          if (offset !== expected) anomalies.push(`offset ${offset} delivered where ${expected} was next`);
          expected = (offset ?? expected) + 1;
          const b = m.content.toString();
          if (offset !== undefined) {
            if (offset < log.length && log[offset] !== b) anomalies.push(`offset ${offset}: ${b}, was ${log[offset]} before the crash`);
            seen.set(offset, b);
          }
          try {
            sub.ack(m);
          } catch {
            // the channel went with the broker
          }
        },
        { noAck: false, arguments: { 'x-stream-offset': 'first' } },
      );

      // Ids continue at the offset the next message should get: with one publisher and a log that
      // holds a prefix of what it sent, the message with id n is at offset n.
      const firstId = log.length;
      // Round 1 all transient: a stream stores them anyway, and confirms only after the write. (Mixed
      // with persistent ones, in-order confirms would hide a transient message confirmed early.)
      const mode = (i: number): 1 | 2 => (round === 1 || i % 2 === 0 ? 1 : 2);
      const pub = publish(pubCh, S, firstId, (i) => ({ body: `r${round}-${i}`, deliveryMode: mode(i) }));
      await waitUntil(
        () => pub.confirmed.size >= 2000 && seen.size >= firstId + 1000,
        'confirms, and the consumer reading this round’s messages, before the crash',
        60_000,
      );
      await crash(b, pub, [pubConn, subConn]);
      expect(anomalies.slice(0, 10), `round ${round}: deliveries before the crash`).toEqual([]);
      expect(pub.nacked).toBe(0);
      const confirmed = [...pub.confirmed].map((i) => `r${round}-${i}`);
      const seenBefore = new Map(seen);

      // Restart and read the whole log from 'first'.
      const b2 = await res.broker(dataDir);
      const conn2 = await res.connect(b2.port);
      const after = await readAll(conn2, S, decl);
      const badOffsets = after.map((r, i) => (r.offset === i ? null : `position ${i}: offset ${r.offset}`)).filter((x) => x !== null);
      expect(badOffsets.slice(0, 10), `round ${round}: offsets dense from 0`).toEqual([]);
      const now = after.map((r) => r.body);
      // Each message at the offset equal to its id (the log is a prefix of the publish order), and
      // the rounds' messages one after the other.
      const misplaced = now.filter((body, off) => Number(/^r\d+-(\d+)$/.exec(body)?.[1]) !== off);
      expect(misplaced.slice(0, 10), `round ${round}: a message not at the offset of its publish position`).toEqual([]);
      const rounds = now.map((body) => Number(/^r(\d+)-/.exec(body)?.[1]));
      expect(rounds).toEqual([...rounds].sort((a, b) => a - b));
      const changed = [...seenBefore].filter(([off, body]) => now[off] !== body);
      expect(changed.slice(0, 10), `round ${round}: seen before the crash, different after`).toEqual([]);
      const present = new Set(now);
      const lost = confirmed.filter((m) => !present.has(m));
      expect(lost.slice(0, 10), `round ${round}: confirmed and lost`).toEqual([]);
      const earlier = log.filter((body, off) => now[off] !== body);
      expect(earlier.slice(0, 10), `round ${round}: the log of the earlier round changed`).toEqual([]);
      summary.push({ round, published: pub.sentUpTo - firstId, confirmed: confirmed.length, seenBeforeCrash: seenBefore.size, logAfter: now.length });
      log = now;
      await conn2.close();
      await b2.stop();
    }

    // A last start: new messages continue the offsets, the old ones are still where they were.
    const b = await res.broker(dataDir);
    const conn = await res.connect(b.port);
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
    for (let i = 0; i < 10; i++) ch.sendToQueue(S, Buffer.from(`last-${i}`));
    await ch.waitForConfirms();
    const all = await readAll(conn, S, decl);
    expect(all.map((r) => r.offset)).toEqual(all.map((_, i) => i));
    expect(all.map((r) => r.body)).toEqual([...log, ...Array.from({ length: 10 }, (_, i) => `last-${i}`)]);
    console.log(JSON.stringify({ test: 'stream', rounds: summary, final: all.length }));
  });
});

/** Reads a stream from 'first' until it has delivered as many messages as its declare counts. */
async function readAll(conn: ChannelModel, stream: string, decl: object): Promise<{ offset: number | undefined; body: string }[]> {
  const ch = await conn.createChannel();
  ch.on('error', () => undefined);
  const { messageCount } = await ch.assertQueue(stream, decl);
  await ch.prefetch(1000);
  const got: { offset: number | undefined; body: string }[] = [];
  const { consumerTag } = await ch.consume(
    stream,
    (m) => {
      if (!m) return;
      got.push({ offset: numericHeader(m, 'x-stream-offset'), body: m.content.toString() });
      ch.ack(m);
    },
    { noAck: false, arguments: { 'x-stream-offset': 'first' } },
  );
  await waitUntil(() => got.length >= messageCount, `${messageCount} messages from 'first'`, 30_000);
  // Nothing past what the declare counted may follow (no publisher runs now).
  await sleep(100);
  await ch.cancel(consumerTag);
  await ch.close();
  expect(got.length).toBe(messageCount);
  return got;
}
