// The firehose tracer (`warren ctl trace_on`, or "tracing": true through the management API), driven
// by amqplib. The expected trace messages are what a private RabbitMQ 3.10.8 node sent for the same
// calls (`rabbitmqctl trace_on`, the same amqplib script; only the connection's ports differ).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { apiClient, eventually, runCtl, type Api } from '../helpers/management-client.js';

let broker: RunningBroker;
let api: Api;
let url: string;
const NODE = 'rabbit@tracehost';

beforeAll(async () => {
  broker = await startBroker({ managementPort: -1, logLevel: 'silent', nodeName: NODE });
  url = `http://127.0.0.1:${broker.managementPort}`;
  api = apiClient(url);
});

afterAll(async () => {
  await broker?.close();
});

interface Seen {
  rk: string;
  exchange: string;
  headers: Record<string, unknown>;
  body: string;
  /** Properties other than headers the trace message carries (none, as RabbitMQ's). */
  others: string[];
}

/** A connection with a queue bound to amq.rabbitmq.trace for everything; what it receives, in order. */
async function tracer(conn: ChannelModel): Promise<{ seen: Seen[]; ch: Channel; queue: string }> {
  const ch = await conn.createChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(queue, 'amq.rabbitmq.trace', '#');
  const seen: Seen[] = [];
  await ch.consume(
    queue,
    (m: ConsumeMessage | null) => {
      if (!m) return;
      const others = Object.entries(m.properties)
        .filter(([k, v]) => k !== 'headers' && v !== undefined)
        .map(([k]) => k);
      seen.push({ rk: m.fields.routingKey, exchange: m.fields.exchange, headers: m.properties.headers ?? {}, body: m.content.toString(), others });
    },
    { noAck: true },
  );
  return { seen, ch, queue };
}

describe('firehose tracer', () => {
  it('traces publishes and deliveries with the headers RabbitMQ 3.10.8 gives them; trace_off stops it', async () => {
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}`);
    try {
      const { seen, queue: traceQueue } = await tracer(conn);
      const ch = await conn.createConfirmChannel(); // channel 2, as in the RabbitMQ run
      await ch.assertQueue('fhq', { durable: false });
      await ch.assertExchange('fhx', 'direct', { durable: false });
      await ch.bindQueue('fhq', 'fhx', 'k1');

      // Off: nothing is traced.
      ch.publish('', 'fhq', Buffer.from('before'));
      await ch.waitForConfirms();
      expect(await ch.get('fhq', { noAck: true })).toBeTruthy();
      await new Promise((r) => setTimeout(r, 50));
      expect(seen).toEqual([]);

      const on = await runCtl(url, ['trace_on']);
      expect(on.code).toBe(0);
      expect(on.stdout).toBe('Starting tracing for vhost "/" ...\nTrace enabled for vhost /\n');
      expect((await api('GET', '/api/vhosts/%2F')).json).toMatchObject({ tracing: true });

      ch.publish('fhx', 'k1', Buffer.from('hello'), {
        persistent: true,
        contentType: 'text/plain',
        headers: { a: 1, CC: ['k2'] },
        messageId: 'm1',
        priority: 3,
        expiration: '60000',
        timestamp: 1700000000,
        correlationId: 'c',
        replyTo: 'r',
        type: 't',
        userId: 'guest',
        appId: 'app',
        contentEncoding: 'enc',
      });
      ch.publish('', 'fhq', Buffer.from('direct'));
      ch.publish('fhx', 'nowhere', Buffer.from('unroutable'), { mandatory: true });
      await ch.waitForConfirms();
      const m1 = await ch.get('fhq', { noAck: false });
      if (!m1) throw new Error('no message');
      ch.nack(m1, false, true);
      const m2 = await ch.get('fhq', { noAck: false });
      if (!m2) throw new Error('no message');
      ch.ack(m2);
      await ch.consume('fhq', (m) => m && ch.ack(m));
      await eventually(() => expect(seen.length).toBe(6));

      const local = conn.connection as unknown as { stream: { localPort: number } };
      const connection = `127.0.0.1:${local.stream.localPort} -> 127.0.0.1:${broker.port}`;
      const origin = { vhost: '/', connection, channel: 2, user: 'guest' };
      const props = {
        app_id: 'app',
        user_id: 'guest',
        type: 't',
        timestamp: 1700000000,
        message_id: 'm1',
        expiration: '60000',
        reply_to: 'r',
        correlation_id: 'c',
        priority: 3,
        delivery_mode: 2,
        headers: { a: 1, CC: ['k2'] },
        content_encoding: 'enc',
        content_type: 'text/plain',
      };
      const hello = { exchange_name: 'fhx', routing_keys: ['k1', 'k2'], properties: props, node: NODE };
      const direct = { exchange_name: '', routing_keys: ['fhq'], properties: { headers: {} }, node: NODE };
      expect(seen.map((s) => [s.rk, s.body])).toEqual([
        ['publish.fhx', 'hello'],
        ['publish.', 'direct'],
        ['publish.fhx', 'unroutable'],
        ['deliver.fhq', 'hello'],
        ['deliver.fhq', 'hello'],
        ['deliver.fhq', 'direct'],
      ]);
      for (const s of seen) {
        expect(s.exchange).toBe('amq.rabbitmq.trace');
        expect(s.others).toEqual([]);
      }
      // Key order too (amqplib keeps the table's order; RabbitMQ's is this one), so compared as JSON text.
      expect(JSON.stringify(seen[0]!.headers)).toBe(JSON.stringify({ ...hello, ...origin, routed_queues: ['fhq'] }));
      expect(seen[1]!.headers).toStrictEqual({ ...direct, ...origin, routed_queues: ['fhq'] });
      expect(seen[2]!.headers).toStrictEqual({ exchange_name: 'fhx', routing_keys: ['nowhere'], properties: { headers: {} }, node: NODE, ...origin, routed_queues: [] });
      expect(JSON.stringify(seen[3]!.headers)).toBe(JSON.stringify({ ...hello, redelivered: 0, ...origin }));
      expect(seen[4]!.headers).toStrictEqual({ ...hello, redelivered: 1, ...origin });
      expect(seen[5]!.headers).toStrictEqual({ ...direct, redelivered: 0, ...origin });
      // The tracer's own deliveries (of amq.rabbitmq.trace's messages) are never traced.
      expect(seen.some((s) => s.rk === `deliver.${traceQueue}`)).toBe(false);

      const off = await runCtl(url, ['trace_off']);
      expect(off.stdout).toBe('Stopping tracing for vhost "/" ...\nTrace disabled for vhost /\n');
      expect((await api('GET', '/api/vhosts/%2F')).json).toMatchObject({ tracing: false });
      ch.publish('', 'fhq', Buffer.from('after'));
      await ch.waitForConfirms();
      await new Promise((r) => setTimeout(r, 100));
      expect(seen.length).toBe(6);
    } finally {
      await conn.close();
    }
  });

  it('a reply through direct reply-to is traced as a publish routed to no queue; a publish lists its BCC keys', async () => {
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}`);
    try {
      const { seen } = await tracer(conn);
      const ch = await conn.createChannel();
      const replies: string[] = [];
      await ch.consume('amq.rabbitmq.reply-to', (m) => m && replies.push(m.content.toString()), { noAck: true });
      await ch.assertQueue('fh-rpc', { durable: false });
      await ch.assertQueue('fh-bcc', { durable: false });
      const server = await conn.createChannel();
      await server.consume('fh-rpc', (m) => {
        if (!m) return;
        server.publish('', m.properties.replyTo as string, Buffer.from('pong'));
        server.ack(m);
      });
      expect((await runCtl(url, ['trace_on', '-q'])).code).toBe(0);
      ch.publish('', 'fh-rpc', Buffer.from('ping'), { replyTo: 'amq.rabbitmq.reply-to' });
      await eventually(() => expect(replies).toEqual(['pong']));
      ch.publish('', 'fh-none', Buffer.from('b'), { headers: { BCC: ['fh-bcc'] } });
      await eventually(() => expect(seen.length).toBe(4));
      expect(await ch.get('fh-bcc', { noAck: true })).toBeTruthy();
      await eventually(() => expect(seen.length).toBe(5));
      const keys = (s: Seen): unknown => [s.rk, s.headers.routing_keys, s.headers.routed_queues];
      // As 3.10.8 sent them: through the default exchange every key is listed as a queue, in byte
      // order, 'fh-none' too, though no queue has that name.
      expect(seen.map(keys)).toEqual([
        ['publish.', ['fh-rpc'], ['fh-rpc']],
        ['deliver.fh-rpc', ['fh-rpc'], undefined],
        ['publish.', [expect.stringMatching(/^amq\.rabbitmq\.reply-to\./)], []],
        ['publish.', ['fh-none', 'fh-bcc'], ['fh-bcc', 'fh-none']],
        // Its BCC keys too, which the message keeps beside its headers, as 3.10.8 lists them.
        ['deliver.fh-bcc', ['fh-none', 'fh-bcc'], undefined],
      ]);
      expect(seen[4]!.headers.properties).toEqual({ headers: {} });
      expect((await runCtl(url, ['trace_off', '-q'])).code).toBe(0);
    } finally {
      await conn.close();
    }
  });

  it('a vhost PUT takes tracing as 3.10.8 does: booleans or their strings; left out, unchanged; else 400 not_boolean', async () => {
    expect((await api('PUT', '/api/vhosts/fh-v', { body: { tracing: true, description: 'd' } })).status).toBe(201);
    expect((await api('GET', '/api/vhosts/fh-v')).json).toMatchObject({ tracing: true, description: 'd' });
    expect((await api('PUT', '/api/vhosts/fh-v', { body: {} })).status).toBe(204);
    expect((await api('GET', '/api/vhosts/fh-v')).json).toMatchObject({ tracing: true });
    expect((await api('PUT', '/api/vhosts/fh-v', { body: { tracing: 'false' } })).status).toBe(204);
    expect((await api('GET', '/api/vhosts/fh-v')).json).toMatchObject({ tracing: false });
    for (const bad of ['yes', 1, null]) {
      const r = await api('PUT', '/api/vhosts/fh-v', { body: { tracing: bad } });
      expect(r.status).toBe(400);
      expect(r.json).toEqual({ error: 'bad_request', reason: ['not_boolean', bad] });
    }
    // Refused before anything is made.
    expect((await api('PUT', '/api/vhosts/fh-new', { body: { tracing: 'yes' } })).status).toBe(400);
    expect((await api('GET', '/api/vhosts/fh-new')).status).toBe(404);
    expect(((await api('GET', '/api/vhosts')).json as { name: string; tracing: boolean }[]).find((v) => v.name === 'fh-v')?.tracing).toBe(false);
  });

  it('trace_on -p for a vhost that does not exist says what rabbitmqctl says and creates nothing; --formatter json', async () => {
    const r = await runCtl(url, ['trace_on', '-p', 'fh-none']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('Starting tracing for vhost "fh-none" ...\nTrace enabled for vhost fh-none\n');
    expect((await api('GET', '/api/vhosts/fh-none')).status).toBe(404);
    const j = await runCtl(url, ['trace_on', '--formatter', 'json']);
    expect(JSON.parse(j.stdout)).toEqual({ node: NODE, result: 'ok', value: 'Trace enabled for vhost /' });
    expect((await runCtl(url, ['trace_off', '-q'])).stdout).toBe('Trace disabled for vhost /\n');
    expect((await runCtl(url, ['trace_off', 'extra'])).code).toBe(64);
  });
});
