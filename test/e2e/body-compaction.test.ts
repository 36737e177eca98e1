// Compaction of body files with a real broker process and amqplib over TCP: a slow queue beside a
// busy one keeps only its own bodies on disk (not every file of the busy queue's, acked long
// ago), its messages come back byte for byte after a restart, and a kill -9 while bodies are being
// moved loses no confirmed message. Files of 256 KiB here (--body-file-size), so that a few MiB
// of 20 KiB bodies fill many; RabbitMQ's own store compacts its files the same way.
// Needs the built CLI (`npm run build` -> dist/cli.js).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Channel, ConfirmChannel, ConsumeMessage, GetMessage } from 'amqplib';
import { resources } from '../helpers/resources.js';
import { sleep, waitUntil } from '../helpers/async.js';

const res = resources();
const KiB = 1024;
const FILE = 256 * KiB;
const SIZE = 20 * KiB;
const ARGS = ['--body-file-size', String(FILE), '--body-compaction-interval', '50'];

/** A body that says which id it is in its first bytes, and in every other byte. */
const body = (id: number): Buffer => {
  const b = Buffer.alloc(SIZE, id & 0xff);
  b.writeUInt32BE(id, 0);
  return b;
};
const bodyBytes = (dataDir: string): number => {
  const dir = join(dataDir, 'bodies');
  // A compaction may remove a file between the listing and its stat: it then holds nothing.
  const sizeOf = (f: string): number => {
    try {
      return statSync(join(dir, f)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
  };
  return readdirSync(dir).reduce((n, f) => n + sizeOf(f), 0);
};
const compactions = (logs: Array<Record<string, unknown>>): number => logs.filter((l) => typeof l.msg === 'string' && l.msg.includes('compacted')).length;

/** Acks everything 'busy' delivers; the count of acks. */
async function drainBusy(ch: Channel): Promise<{ acked: () => number }> {
  let acked = 0;
  await ch.prefetch(100);
  await ch.consume('busy', (m: ConsumeMessage | null) => {
    if (!m) return;
    try {
      ch.ack(m);
      acked++;
    } catch {
      // the channel went with the broker
    }
  });
  return { acked: () => acked };
}

async function declare(ch: Channel): Promise<void> {
  await ch.assertQueue('slow', { durable: true });
  await ch.assertQueue('busy', { durable: true });
}

/** Gets every message of 'slow' (no ack); checks each body against its id. */
async function slowIds(ch: Channel): Promise<{ ids: number[]; wrong: string[] }> {
  const ids: number[] = [];
  const wrong: string[] = [];
  for (;;) {
    const m: GetMessage | false = await ch.get('slow', { noAck: true });
    if (m === false) break;
    const id = Number(m.properties.messageId);
    ids.push(id);
    if (!m.content.equals(body(id))) wrong.push(`id ${id}: body of ${m.content.length} bytes starting ${m.content.readUInt32BE(0)}`);
  }
  return { ids, wrong };
}

describe('body file compaction (broker process, amqplib)', () => {
  it('a slow queue beside a busy one keeps only its own bodies on disk, and gets them back after a restart', async () => {
    const dataDir = await res.tempDir('warren-compact-');
    const b1 = await res.broker(dataDir, ARGS);
    const conn = await res.connect(b1.port);
    const pub: ConfirmChannel = await conn.createConfirmChannel();
    await declare(pub);
    const busy = await drainBusy(await conn.createChannel());
    // 480 persistent bodies of 20 KiB (~9.4 MiB, ~37 files): one in twelve to 'slow', the rest to
    // 'busy', whose consumer acks them. Without compaction every file keeps one slow body.
    const slow: number[] = [];
    for (let id = 1; id <= 480; id++) {
      const q = id % 12 === 0 ? 'slow' : 'busy';
      if (q === 'slow') slow.push(id);
      pub.sendToQueue(q, body(id), { persistent: true, messageId: String(id) });
      if (id % 24 === 0) await pub.waitForConfirms();
    }
    await pub.waitForConfirms();
    await waitUntil(() => busy.acked() === 440, 'the busy queue drained');
    // What is left on disk comes down to the slow queue's 40 bodies, at most as much garbage beside
    // them (a file is compacted once half of it or more is), and the file appended to now.
    const BOUND = 2 * 40 * SIZE + FILE;
    await waitUntil(() => bodyBytes(dataDir) <= BOUND, 'body files compacted', 20_000);
    expect(compactions(b1.logs())).toBeGreaterThan(10);
    expect(await b1.stop()).toBe(0);

    const b2 = await res.broker(dataDir, ARGS);
    expect(bodyBytes(dataDir)).toBeLessThanOrEqual(BOUND);
    const ch = await (await res.connect(b2.port)).createChannel();
    const { ids, wrong } = await slowIds(ch);
    expect(wrong).toEqual([]);
    expect(ids).toEqual(slow);
  });

  it('kill -9 while bodies are being moved loses no confirmed message', async () => {
    const dataDir = await res.tempDir('warren-compact-crash-');
    const b1 = await res.broker(dataDir, ARGS);
    const conn = await res.connect(b1.port);
    const pub: ConfirmChannel = await conn.createConfirmChannel();
    pub.on('error', () => undefined);
    await declare(pub);
    const busy = await drainBusy(await conn.createChannel());
    const confirmed: number[] = [];
    let stop = false;
    const publishing = (async () => {
      for (let id = 1; !stop; id++) {
        const q = id % 12 === 0 ? 'slow' : 'busy';
        try {
          pub.sendToQueue(q, body(id), { persistent: true, messageId: String(id) }, (err) => {
            if (!err && q === 'slow') confirmed.push(id);
          });
          if (id % 24 === 0) await pub.waitForConfirms();
        } catch {
          return; // the channel went with the broker
        }
      }
    })();
    // Kill once bodies have been moved a few times, at a moment that varies from run to run.
    await waitUntil(() => compactions(b1.logs()) >= 5 && busy.acked() > 500, 'compactions under load', 30_000);
    await sleep(Math.floor(Math.random() * 200));
    await b1.kill9();
    stop = true;
    await Promise.race([publishing, sleep(5000)]);
    const mustSurvive = [...confirmed];
    expect(mustSurvive.length).toBeGreaterThan(30);

    const b2 = await res.broker(dataDir, ARGS);
    const ch = await (await res.connect(b2.port)).createChannel();
    const { ids, wrong } = await slowIds(ch);
    expect(wrong).toEqual([]);
    const got = new Set(ids);
    expect(mustSurvive.filter((id) => !got.has(id))).toEqual([]);
    // Nothing twice.
    expect(ids.length).toBe(got.size);
  });
});
