// Crash safety under load: a child-process broker is killed with SIGKILL at random moments while
// a confirming publisher sends messages and consumers ack them. After each restart no confirmed
// message is missing, and the only duplicates are messages whose ack was in flight.
// CRASH_KILLS=N runs N kills (npm run crash-loop runs many); the test suite runs a few. CRASH_BODY
// sets the body size (64 bytes; 16 KiB and more are large bodies, whose writes may wait for their
// consumers' acks: src/store/write-hold.ts), CRASH_ARGS more broker flags. Every other
// run keeps only 10 messages of a queue in memory, so kills also land while the queue is paged.
// The publisher takes turns between four queues: a classic one (persistent messages), a priority
// one (persistent, priorities 0..6 over x-max-priority 4: paged by level), a quorum one (transient
// messages, which it stores anyway) and a stream (transient too), whose consumer
// resumes each run at the offset after the last one it saw; at the end the stream read from
// 'first' must have dense offsets, every confirmed message, and each message seen at its offset.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import type { ChannelModel, ConsumeMessage } from 'amqplib';
import { describe, expect, it } from 'vitest';
import { spawnBroker, type BrokerProcess } from '../helpers/broker-process.js';
import { sleep, waitUntil } from '../helpers/async.js';

const KILLS = Number(process.env.CRASH_KILLS ?? 3);
const BODY = Number(process.env.CRASH_BODY ?? 64);
/** More broker flags for every run, e.g. CRASH_ARGS='--body-file-size 1048576 --body-compaction-interval 100'. */
const EXTRA = (process.env.CRASH_ARGS ?? '').split(' ').filter((a) => a !== '');

const CLASSIC = 'crash-loop';
const QUORUM = 'crash-loop-qq';
const STREAM = 'crash-loop-stream';
const PRIORITY = 'crash-loop-prio';
const DECLARE: Record<string, amqp.Options.AssertQueue> = {
  [CLASSIC]: { durable: true },
  [PRIORITY]: { durable: true, arguments: { 'x-max-priority': 4 } },
  [QUORUM]: { durable: true, arguments: { 'x-queue-type': 'quorum' } },
  [STREAM]: { durable: true, arguments: { 'x-queue-type': 'stream' } },
};
/** Message id → the queue it goes to. */
const QUEUES = [CLASSIC, QUORUM, STREAM, PRIORITY] as const;
const queueOf = (id: number): string => QUEUES[id % 4]!;
/** Stored (persistent) by the publisher: the classic and the priority queue's messages. */
const STORED = new Set([CLASSIC, PRIORITY]);

/** What the consumers of the classic, priority and quorum queues acked, over all runs. */
interface Acked {
  ids: Set<number>;
  duplicates: number;
}

/** The stream as its consumer saw it, over all runs: the id at each offset, and where to resume. */
interface StreamSeen {
  at: Map<number, number>;
  next: number;
  anomalies: string[];
}

interface Round {
  confirmed: Set<number>;
  acked: Set<number>;
}

const idOf = (m: { content: Buffer }): number => m.content.readUInt32BE(0);

/** Publishes and consumes until the broker dies under it; returns what it saw confirmed and acked. */
async function runUntilKilled(b: BrokerProcess, next: { id: number }, round: Round, stream: StreamSeen): Promise<void> {
  try {
    await publishAndConsume(b, next, round, stream);
  } catch (e) {
    // The kill may land while the clients are still setting up (a long stream takes a while to
    // open): then nothing of this round was confirmed. Any other failure is the test's.
    await Promise.race([b.exited, sleep(3000)]);
    if (b.proc.signalCode === 'SIGKILL') return;
    throw e;
  }
}

async function publishAndConsume(b: BrokerProcess, next: { id: number }, round: Round, stream: StreamSeen): Promise<void> {
  const pubConn = await amqp.connect(`amqp://127.0.0.1:${b.port}`);
  const subConn = await amqp.connect(`amqp://127.0.0.1:${b.port}`);
  for (const c of [pubConn, subConn]) {
    c.on('error', () => {});
    c.on('close', () => {});
  }
  const pub = await pubConn.createConfirmChannel();
  pub.on('error', () => {});
  for (const q of QUEUES) await pub.assertQueue(q, DECLARE[q]);
  const sub = await subConn.createChannel();
  sub.on('error', () => {});
  await sub.prefetch(200);
  for (const q of [CLASSIC, QUORUM, PRIORITY]) {
    await sub.consume(q, (m) => {
      if (!m) return;
      sub.ack(m);
      round.acked.add(idOf(m));
    });
  }
  // The stream's consumer resumes after the last offset it saw (as a client tracking its offset).
  const ss = await subConn.createChannel();
  ss.on('error', () => {});
  await ss.prefetch(500);
  let expected = stream.next;
  await ss.consume(
    STREAM,
    (m: ConsumeMessage | null) => {
      if (!m) return;
      const offset = Number(m.properties.headers?.['x-stream-offset']);
      if (offset !== expected) stream.anomalies.push(`offset ${offset} delivered where ${expected} was next`);
      expected = offset + 1;
      stream.at.set(offset, idOf(m));
      stream.next = offset + 1;
      ss.ack(m);
    },
    { arguments: { 'x-stream-offset': stream.next } },
  );
  let alive = true;
  pubConn.once('close', () => (alive = false));
  let inflight = 0;
  while (alive) {
    if (inflight >= 500) {
      await sleep(1);
      continue;
    }
    const id = next.id++;
    const body = Buffer.alloc(BODY);
    body.writeUInt32BE(id, 0);
    inflight++;
    try {
      // Classic and priority: persistent; quorum and stream: transient, which both store all the same.
      pub.sendToQueue(queueOf(id), body, { persistent: STORED.has(queueOf(id)), priority: id % 7 }, (err) => {
        inflight--;
        if (!err) round.confirmed.add(id);
      });
    } catch {
      break; // the channel went with the broker
    }
    if (id % 100 === 0) await sleep(0);
  }
}

/** Counts what a final run drains from a queue into acked (no-ack gets). */
async function drain(conn: ChannelModel, q: string, acked: Acked): Promise<void> {
  const ch = await conn.createChannel();
  for (;;) {
    const m = await ch.get(q, { noAck: true });
    if (!m) break;
    const id = idOf(m);
    if (acked.ids.has(id)) acked.duplicates++;
    acked.ids.add(id);
  }
  await ch.close();
}

/** The whole stream from 'first': the id at each position and the offset it carries. */
async function readStream(conn: ChannelModel): Promise<{ offset: number; id: number }[]> {
  const ch = await conn.createChannel();
  const { messageCount } = await ch.assertQueue(STREAM, DECLARE[STREAM]);
  await ch.prefetch(1000);
  const got: { offset: number; id: number }[] = [];
  await ch.consume(
    STREAM,
    (m) => {
      if (!m) return;
      got.push({ offset: Number(m.properties.headers?.['x-stream-offset']), id: idOf(m) });
      ch.ack(m);
    },
    { arguments: { 'x-stream-offset': 'first' } },
  );
  await waitUntil(() => got.length >= messageCount, `${messageCount} stream messages`, 60_000);
  await ch.close();
  return got;
}

describe('kill -9 at random moments under load', () => {
  it(`loses no confirmed message over ${KILLS} kills`, { timeout: 60_000 + KILLS * 15_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'warren-crashloop-'));
    const next = { id: 0 };
    const everConfirmed = new Set<number>();
    const acked: Acked = { ids: new Set(), duplicates: 0 };
    const stream: StreamSeen = { at: new Map(), next: 0, anomalies: [] };
    let log: { offset: number; id: number }[] = [];
    try {
      for (let k = 0; k < KILLS; k++) {
        const b = await spawnBroker({ dataDir, args: [...(k % 2 === 1 ? ['--page-out-messages', '10'] : []), ...EXTRA] });
        const round: Round = { confirmed: new Set(), acked: new Set() };
        const killer = sleep(300 + Math.random() * 900).then(() => b.kill9());
        await Promise.all([runUntilKilled(b, next, round, stream), killer]);
        for (const id of round.confirmed) everConfirmed.add(id);
        for (const id of round.acked) {
          if (acked.ids.has(id)) acked.duplicates++;
          acked.ids.add(id);
        }
      }
      // A last run drains what is left.
      const b = await spawnBroker({ dataDir, args: EXTRA });
      const conn = await amqp.connect(`amqp://127.0.0.1:${b.port}`);
      for (const q of [CLASSIC, QUORUM, PRIORITY]) await drain(conn, q, acked);
      log = await readStream(conn);
      await conn.close();
      await b.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
    const inLog = new Set(log.map((r) => r.id));
    const lost = [...everConfirmed].filter((id) => (queueOf(id) === STREAM ? !inLog.has(id) : !acked.ids.has(id)));
    const byQueue = (ids: Iterable<number>): Record<string, number> => {
      const n: Record<string, number> = { [CLASSIC]: 0, [QUORUM]: 0, [STREAM]: 0, [PRIORITY]: 0 };
      for (const id of ids) n[queueOf(id)]!++;
      return n;
    };
    console.log(
      JSON.stringify({ kills: KILLS, published: next.id, confirmed: byQueue(everConfirmed), lost: lost.length, duplicates: acked.duplicates, stream: log.length }),
    );
    expect(everConfirmed.size).toBeGreaterThan(0);
    expect(lost).toEqual([]);
    // Redelivered after a crash: only messages whose ack had not reached the store yet, which is
    // bounded by what one consumer window (prefetch 200 per queue) and one store batch can hold per kill.
    expect(acked.duplicates).toBeLessThanOrEqual(KILLS * 1200);
    // The stream: offsets dense from 0, each holding what the consumer saw there before a crash,
    // and in publish order (one publisher at a time, ids only grow).
    expect(stream.anomalies.slice(0, 10)).toEqual([]);
    expect(log.filter((r, i) => r.offset !== i).slice(0, 10)).toEqual([]);
    expect([...stream.at].filter(([offset, id]) => log[offset]?.id !== id).slice(0, 10)).toEqual([]);
    expect(log.filter((r, i) => i > 0 && r.id <= log[i - 1]!.id).slice(0, 10)).toEqual([]);
    expect(log.filter((r) => queueOf(r.id) !== STREAM || r.id >= next.id).slice(0, 10)).toEqual([]);
  });
});
