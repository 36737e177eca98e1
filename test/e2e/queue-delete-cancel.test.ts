// queue.delete of a queue the deleting channel consumes from: RabbitMQ 3.10.8 writes the
// queue.delete-ok first and the basic.cancel for that channel's consumer after it, in one writev
// (strace of its node: `\x00\x32\x00\x29` then `\x00\x3c\x00\x1e` in the same buffer). Warren wrote
// the cancel at once and the delete-ok after the store's write, and amqplib's own "cancelled
// consumer" test, which closes its channel when the cancel comes, lost its delete's answer
// ("Channel ended, no reply will be forthcoming", an unhandled rejection: 1 run in 6 here).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { bits, methodFrame, queueDeclareFrame, RawAmqp, M, shortstr, table, u16 } from '../helpers/raw-amqp.js';

let broker: RunningBroker;
let dir: string;

beforeAll(async () => {
  // A data directory: a durable queue's delete-ok waits for the store's write.
  dir = mkdtempSync(join(tmpdir(), 'warren-delete-cancel-'));
  broker = await startBroker({ dataDir: dir, logLevel: 'silent', managementPort: -1 });
});
afterAll(async () => {
  await broker?.close();
  rmSync(dir, { recursive: true, force: true });
});

const BASIC_CONSUME = [60, 20] as const;
const BASIC_CONSUME_OK = [60, 21] as const;
const BASIC_CANCEL = [60, 30] as const;
const QUEUE_DELETE = [50, 40] as const;
const QUEUE_DELETE_OK = [50, 41] as const;

describe('queue.delete of a queue its own channel consumes from', () => {
  it('answers delete-ok first, then cancels the consumer (RabbitMQ 3.10.8 order)', async () => {
    const raw = await RawAmqp.connect(broker.port);
    await raw.handshake();
    await raw.openChannel(1);
    raw.write(queueDeclareFrame(1, 'dc-raw', { durable: true }));
    await raw.expectMethod(M.queueDeclareOk);
    raw.write(methodFrame(1, BASIC_CONSUME, u16(0), shortstr('dc-raw'), shortstr('dc-tag'), bits(false, false, false, false), table({})));
    await raw.expectMethod(BASIC_CONSUME_OK);
    raw.write(methodFrame(1, QUEUE_DELETE, u16(0), shortstr('dc-raw'), bits(false, false, false)));
    // expectMethod fails on any other method first: the delete-ok, then the cancel.
    await raw.expectMethod(QUEUE_DELETE_OK);
    const cancel = await raw.expectMethod(BASIC_CANCEL);
    expect(cancel.args.subarray(1, 1 + cancel.args[0]!).toString()).toBe('dc-tag');
    raw.socket.destroy();
  });

  it("amqplib's cancelled-consumer pattern: the channel closed on the cancel still gets its delete answered", async () => {
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}`);
    try {
      for (let i = 0; i < 10; i++) {
        const ch = await conn.createChannel();
        await ch.assertQueue('dc-amqplib');
        let deleted: Promise<unknown> = Promise.resolve();
        await new Promise<void>((resolve, reject) => {
          void ch
            .consume('dc-amqplib', (m) => (m === null ? resolve() : reject(new Error('no message expected'))))
            .then(() => {
              deleted = ch.deleteQueue('dc-amqplib');
            });
        });
        await ch.close();
        await expect(deleted).resolves.toEqual({ messageCount: 0 });
      }
    } finally {
      await conn.close();
    }
  });
});
