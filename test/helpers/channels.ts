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
