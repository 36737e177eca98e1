// amqplib channels for tests that provoke errors: an unhandled 'error' event would crash the
// worker, so tests look at the rejected promises and close events instead.
import type { Channel, ChannelModel, ConfirmChannel, GetMessage } from 'amqplib';

export async function channel(conn: ChannelModel): Promise<Channel> {
  const ch = await conn.createChannel();
  ch.on('error', () => undefined);
  return ch;
}

export async function confirmChannel(conn: ChannelModel): Promise<ConfirmChannel> {
  const ch = await conn.createConfirmChannel();
  ch.on('error', () => undefined);
  return ch;
}

/** Everything a queue holds, taken with basic.get and no acks, in order. */
export async function drain(ch: Channel, queue: string): Promise<GetMessage[]> {
  const out: GetMessage[] = [];
  for (;;) {
    const m = await ch.get(queue, { noAck: true });
    if (m === false) return out;
    out.push(m);
  }
}

/**
 * Consumes n messages (prefetch as set on ch), acking each: their bodies as text in arrival order,
 * and how many of them came without the redelivered flag.
 */
export async function consumeAll(ch: Channel, queue: string, n: number): Promise<{ bodies: string[]; notRedelivered: number }> {
  const bodies: string[] = [];
  let notRedelivered = 0;
  await new Promise<void>((resolve) => {
    void ch.consume(queue, (m) => {
      if (!m) return;
      bodies.push(m.content.toString());
      if (!m.fields.redelivered) notRedelivered++;
      ch.ack(m);
      if (bodies.length === n) resolve();
    });
  });
  return { bodies, notRedelivered };
}

/**
 * Consumes n messages with a prefetch window, acking each; returns the bodies in arrival order.
 * Past n, prefetched messages stay unacked (a later consumer or run gets them again), and a round
 * trip on the channel at the end makes sure the broker had every ack: amqplib may send a
 * connection.close ahead of the channel's last frames, and an ack lost so comes back.
 */
export async function consumeN(ch: Channel, queue: string, n: number, prefetch = 37): Promise<string[]> {
  await ch.prefetch(prefetch);
  const got: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`only ${got.length} of ${n} arrived`)), 20_000);
    void ch.consume(queue, (m) => {
      if (!m || got.length === n) return;
      got.push(m.content.toString());
      ch.ack(m);
      if (got.length === n) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await ch.checkQueue(queue);
  return got;
}
