/**
 * Clients for cluster tests that keep going through whichever node is up: when their node closes
 * the connection (320 at a planned stop) or dies, they connect to the next one and carry on.
 */
import type { ChannelModel, ConfirmChannel } from 'amqplib';
import { sleep } from './async.js';
import type { WarrenCluster } from './warren-cluster.js';

export interface RoamingPublisher {
  /** Message numbers whose publish was confirmed (acked, not nacked or failed). */
  readonly confirmed: Set<number>;
  published(): number;
  /** The node it is connected to (or about to try). */
  node(): number;
  stop(): Promise<void>;
}

/**
 * Publishes persistent messages numbered 0, 1, 2 … with confirms to queue, in batches of 50
 * awaited together, at a bounded rate (a short pause per batch) so the queue does not outgrow
 * what a test can drain on a busy machine.
 */
export function roamingPublisher(c: WarrenCluster, queue: string, start: number): RoamingPublisher {
  const confirmed = new Set<number>();
  let stop = false;
  let n = 0;
  let node = start;
  const done = (async () => {
    while (!stop) {
      let ch: ConfirmChannel;
      let conn: ChannelModel;
      try {
        conn = await c.connect(node);
        ch = await conn.createConfirmChannel();
        ch.on('error', () => undefined);
      } catch {
        node = (node + 1) % c.nodes.length;
        await sleep(100);
        continue;
      }
      let broken = false;
      ch.on('close', () => (broken = true));
      while (!stop && !broken) {
        const batch: Promise<void>[] = [];
        for (let k = 0; k < 50 && !broken; k++) {
          const i = n++;
          batch.push(
            new Promise<void>((resolve) => {
              try {
                // amqplib calls back with an error for every unconfirmed publish when the channel closes.
                ch.sendToQueue(queue, Buffer.from(String(i)), { persistent: true }, (err) => {
                  if (!err) confirmed.add(i);
                  resolve();
                });
              } catch {
                broken = true;
                resolve();
              }
            }),
          );
        }
        await Promise.race([Promise.all(batch), sleep(20_000)]);
        await sleep(5);
      }
      await conn.close().catch(() => undefined);
      node = (node + 1) % c.nodes.length;
    }
  })();
  return {
    confirmed,
    published: () => n,
    node: () => node,
    async stop() {
      stop = true;
      await done;
    },
  };
}
