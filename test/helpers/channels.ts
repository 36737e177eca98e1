// amqplib channels for tests that provoke errors: an unhandled 'error' event would crash the
// worker, so tests look at the rejected promises and close events instead.
import type { Channel, ChannelModel, ConfirmChannel } from 'amqplib';

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
