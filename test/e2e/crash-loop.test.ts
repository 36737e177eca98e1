// Crash safety under load: a child-process broker is killed with SIGKILL at random moments while
// a confirming publisher sends persistent messages and a consumer acks them. After each restart
// no confirmed message is missing, and the only duplicates are messages whose ack was in flight.
// CRASH_KILLS=N runs N kills (npm run crash-loop runs many); the test suite runs a few. Every other
// run keeps only 10 messages of a queue in memory, so kills also land while the queue is paged.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { describe, expect, it } from 'vitest';
import { spawnBroker, type BrokerProcess } from '../helpers/broker-process.js';
import { sleep } from '../helpers/async.js';

const KILLS = Number(process.env.CRASH_KILLS ?? 3);

interface Round {
  confirmed: Set<number>;
  acked: Set<number>;
}

/** Publishes and consumes until the broker dies under it; returns what it saw confirmed and acked. */
async function runUntilKilled(b: BrokerProcess, next: { id: number }, round: Round): Promise<void> {
  const pubConn = await amqp.connect(`amqp://127.0.0.1:${b.port}`);
  const subConn = await amqp.connect(`amqp://127.0.0.1:${b.port}`);
  for (const c of [pubConn, subConn]) {
    c.on('error', () => {});
    c.on('close', () => {});
  }
  const pub = await pubConn.createConfirmChannel();
  pub.on('error', () => {});
  await pub.assertQueue('crash-loop', { durable: true });
  const sub = await subConn.createChannel();
  sub.on('error', () => {});
  await sub.prefetch(200);
  await sub.consume('crash-loop', (m) => {
    if (!m) return;
    sub.ack(m);
    round.acked.add(m.content.readUInt32BE(0));
  });
  let alive = true;
  pubConn.once('close', () => (alive = false));
  let inflight = 0;
  while (alive) {
    if (inflight >= 500) {
      await sleep(1);
      continue;
    }
    const id = next.id++;
    const body = Buffer.alloc(64);
    body.writeUInt32BE(id, 0);
    inflight++;
    try {
      pub.sendToQueue('crash-loop', body, { persistent: true }, (err) => {
        inflight--;
        if (!err) round.confirmed.add(id);
      });
    } catch {
      break; // the channel went with the broker
    }
    if (id % 100 === 0) await sleep(0);
  }
}

describe('kill -9 at random moments under load', () => {
  it(`loses no confirmed message over ${KILLS} kills`, { timeout: 60_000 + KILLS * 15_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'warren-crashloop-'));
    const next = { id: 0 };
    const everConfirmed = new Set<number>();
    const everAcked = new Set<number>();
    let duplicates = 0;
    let messages = 0;
    try {
      for (let k = 0; k < KILLS; k++) {
        const b = await spawnBroker({ dataDir, args: k % 2 === 1 ? ['--page-out-messages', '10'] : [] });
        const round: Round = { confirmed: new Set(), acked: new Set() };
        const killer = sleep(300 + Math.random() * 900).then(() => b.kill9());
        await Promise.all([runUntilKilled(b, next, round), killer]);
        for (const id of round.confirmed) everConfirmed.add(id);
        for (const id of round.acked) {
          if (everAcked.has(id)) duplicates++;
          everAcked.add(id);
        }
        messages = next.id;
      }
      // A last run drains what is left.
      const b = await spawnBroker({ dataDir });
      const conn = await amqp.connect(`amqp://127.0.0.1:${b.port}`);
      const ch = await conn.createChannel();
      await ch.assertQueue('crash-loop', { durable: true });
      for (;;) {
        const m = await ch.get('crash-loop', { noAck: true });
        if (!m) break;
        const id = m.content.readUInt32BE(0);
        if (everAcked.has(id)) duplicates++;
        everAcked.add(id);
      }
      await conn.close();
      await b.stop();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
    const lost = [...everConfirmed].filter((id) => !everAcked.has(id));
    console.log(JSON.stringify({ kills: KILLS, published: messages, confirmed: everConfirmed.size, lost: lost.length, duplicates }));
    expect(everConfirmed.size).toBeGreaterThan(0);
    expect(lost).toEqual([]);
    // Redelivered after a crash: only messages whose ack had not reached the store yet, which is
    // bounded by what one consumer window (prefetch 200) and one store batch can hold per kill.
    expect(duplicates).toBeLessThanOrEqual(KILLS * 1000);
  });
});
