// The broker a conformance test talks to: Warren started in-process by default or, with AMQP_URL
// set (amqp://user:pass@host:port), that external broker instead. This is how the tests are
// checked against a real RabbitMQ (`npm run differential` runs them on a private 3.10 node).
// Tests that need Warren itself (restarts, its internals) skip when `onWarren` is false.
import { startBroker } from '../../src/index.js';

export const EXTERNAL_AMQP_URL = process.env.AMQP_URL || undefined;
export const onWarren = !EXTERNAL_AMQP_URL;

export interface BrokerUnderTest {
  host: string;
  port: number;
  /** amqp://user:pass@host:port (guest/guest unless given). */
  url(user?: string, pass?: string): string;
  close(): Promise<void>;
}

export async function brokerUnderTest(): Promise<BrokerUnderTest> {
  let host = '127.0.0.1';
  let port: number;
  let close = async (): Promise<void> => undefined;
  if (EXTERNAL_AMQP_URL) {
    const u = new URL(EXTERNAL_AMQP_URL);
    host = u.hostname;
    port = Number(u.port || 5672);
  } else {
    const b = await startBroker({ port: 0, host, logLevel: 'silent' });
    port = b.port;
    close = () => b.close();
  }
  return {
    host,
    port,
    url: (user = 'guest', pass = 'guest') => `amqp://${encodeURIComponent(user)}:${encodeURIComponent(pass)}@${host}:${port}`,
    close,
  };
}
