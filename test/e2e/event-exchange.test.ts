// The event exchange (`--event-exchange`, RabbitMQ's rabbitmq_event_exchange): what a scenario of
// AMQP operations (amqplib), a refused login and management API calls makes the broker tell on
// amq.rabbitmq.event, compared event by event, header by header, with what RabbitMQ 3.10.8 with the
// plugin told for the same scenario (test/fixtures/event-exchange-3.10.8.txt; timestamps, ports and
// the node's name left out, process ids numbered in order of appearance). With AMQP_URL and
// EVENT_MGMT_URL (http://guest:guest@host:port) the scenario runs against that broker instead;
// RECORD=1 writes the fixture from it.
import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel, ChannelModel, ConsumeMessage } from 'amqplib';
import { sleep, waitUntil } from '../helpers/async.js';
import { eventExchangePlugin, startBroker, type RunningBroker } from '../../src/index.js';

const FIXTURE = new URL('../fixtures/event-exchange-3.10.8.txt', import.meta.url);
const external = process.env.AMQP_URL !== undefined && process.env.EVENT_MGMT_URL !== undefined;

let broker: RunningBroker | null = null;
let amqpUrl = '';
let mgmt = '';
let auth = '';

beforeAll(async () => {
  if (external) {
    amqpUrl = process.env.AMQP_URL!;
    const u = new URL(process.env.EVENT_MGMT_URL!);
    auth = `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}`;
    mgmt = `${u.protocol}//${u.host}`;
    return;
  }
  broker = await startBroker({ port: 0, host: '127.0.0.1', managementPort: -1, logLevel: 'silent', plugins: [eventExchangePlugin()] });
  amqpUrl = `amqp://guest:guest@127.0.0.1:${broker.port}`;
  mgmt = `http://127.0.0.1:${broker.managementPort}`;
  auth = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
});

afterAll(async () => {
  await broker?.close();
});

const api = async (method: string, path: string, body?: unknown): Promise<void> => {
  const r = await fetch(`${mgmt}/api${path}`, { method, headers: { authorization: auth, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
};

/** One line per event: its key, then each header as name=JSON, in order; what varies by run replaced. */
function normalise(events: ConsumeMessage[]): string[] {
  const pids = new Map<string, string>();
  const ports = new Map<string, string>();
  // An Erlang process id: <node.…>, the node's name holding an @.
  const pid = (s: string): string => s.replace(/<[^<>"]*@[^<>"]*>/g, (p) => pids.get(p) ?? (pids.set(p, `<pid${pids.size + 1}>`), pids.get(p)!));
  const port = (s: string): string => s.replace(/(\d+\.\d+\.\d+\.\d+):(\d+)/g, (_m, host: string, p: string) => `${host}:${ports.get(p) ?? (ports.set(p, `port${ports.size + 1}`), ports.get(p)!)}`);
  return events.map((m) => {
    const h = m.properties.headers ?? {};
    const fields = Object.entries(h)
      .filter(([k]) => !['timestamp_in_ms', 'connected_at', 'peer_port', 'port'].includes(k))
      .map(([k, v]) => {
        let text = JSON.stringify(v);
        if (k === 'peer_host' || k === 'host') text = '"<loopback>"';
        if (k === 'node') text = '"<node>"';
        if (k === 'cluster_state') text = '"<node: running>"';
        // The client's platform names the Node.js it runs on.
        return `${k}=${port(pid(text)).replace(/Node\.JS v[0-9.]+/g, 'Node.JS <version>')}`;
      });
    // Present, and typed as 3.10.8 sends them, though their values vary.
    expect(typeof h.timestamp_in_ms, m.fields.routingKey).toBe('number');
    expect([m.properties.deliveryMode, typeof m.properties.timestamp, m.content.length]).toEqual([2, 'number', 0]);
    return `${m.fields.routingKey} ${fields.join(' | ')}`;
  });
}

async function scenario(observer: Channel, got: ConsumeMessage[]): Promise<void> {
  // AMQP: a connection, its channel, an exchange, a queue, a binding, a consumer, and their ends.
  const conn = await amqp.connect(amqpUrl);
  const ch = await conn.createChannel();
  await ch.assertExchange('ev-x', 'topic', { durable: false });
  await ch.assertQueue('ev-q', { durable: true, arguments: { 'x-max-length': 5 } });
  await ch.bindQueue('ev-q', 'ev-x', 'a.*');
  await ch.prefetch(7);
  await ch.consume('ev-q', () => undefined, { consumerTag: 'ev-tag', exclusive: true, arguments: { 'x-priority': 3 } });
  await ch.cancel('ev-tag');
  await ch.unbindQueue('ev-q', 'ev-x', 'a.*');
  await ch.deleteQueue('ev-q');
  await ch.deleteExchange('ev-x');
  await ch.assertQueue('ev-exclusive', { exclusive: true });
  // Deleted with what hangs on them: an exchange with a binding, a queue with a binding and a
  // consumer, a channel closed with its consumer.
  await ch.assertQueue('ev-q2', { durable: false });
  await ch.bindQueue('ev-q2', 'amq.topic', 'x.y');
  await ch.assertExchange('ev-x2', 'fanout', { durable: false });
  await ch.bindQueue('ev-q2', 'ev-x2', '');
  await ch.consume('ev-q2', () => undefined, { consumerTag: 'ev-tag2' });
  await ch.deleteExchange('ev-x2');
  await ch.deleteQueue('ev-q2');
  const ch2 = await conn.createChannel();
  await ch2.assertQueue('ev-q3', { durable: false });
  await ch2.consume('ev-q3', () => undefined, { consumerTag: 'ev-tag3' });
  await ch2.close();
  await ch.deleteQueue('ev-q3');
  await ch.close();
  await conn.close();
  // A refused login.
  await amqp.connect(amqpUrl.replace('guest:guest', 'guest:wrong')).then(
    (c) => c.close(),
    () => undefined,
  );
  // The management API: a user, its permissions, a policy, a vhost.
  await api('PUT', '/users/ev-u', { password: 'p', tags: 'monitoring' });
  await api('PUT', '/permissions/%2F/ev-u', { configure: '.*', write: 'w', read: 'r' });
  await api('PUT', '/policies/%2F/ev-p', { pattern: '^ev-', definition: { 'max-length': 9 }, 'apply-to': 'queues', priority: 2 });
  await api('DELETE', '/policies/%2F/ev-p');
  await api('PUT', '/users/ev-u', { password: 'q', tags: 'administrator' });
  await api('DELETE', '/permissions/%2F/ev-u');
  await api('DELETE', '/users/ev-u');
  await api('PUT', '/vhosts/ev-vh', { description: 'events', tags: 'a,b' });
  // The last event of the scenario: nothing more comes after it.
  await waitUntil(() => got.some((m) => m.fields.routingKey === 'permission.created' && m.properties.headers?.vhost === 'ev-vh'), 'the last event', 10_000);
  await sleep(200);
  void observer;
}

describe('event exchange', () => {
  let conn: ChannelModel;
  let observer: Channel;
  const got: ConsumeMessage[] = [];

  beforeAll(async () => {
    conn = await amqp.connect(amqpUrl);
    observer = await conn.createChannel();
    const { queue } = await observer.assertQueue('', { exclusive: true });
    await observer.bindQueue(queue, 'amq.rabbitmq.event', '#');
    await sleep(200);
    await observer.consume(queue, (m) => m && got.push(m), { noAck: true });
    await sleep(200);
    got.length = 0; // the observer's own binding.created and consumer events
  });

  afterAll(async () => {
    await api('DELETE', '/vhosts/ev-vh').catch(() => undefined);
    await conn?.close().catch(() => undefined);
  });

  it("tells what 3.10.8 tells, in its order, with its headers", async () => {
    await scenario(observer, got);
    const lines = normalise(got);
    if (process.env.RECORD === '1') writeFileSync(FIXTURE, `${lines.join('\n')}\n`);
    const expected = readFileSync(FIXTURE, 'utf8').trimEnd().split('\n');
    expect(lines).toEqual(expected);
  });

  it.runIf(!external)('a deleted vhost: its permissions, every exchange, the vhost, its policies, then vhost.down', async () => {
    await api('PUT', '/policies/ev-vh/ev-p2', { pattern: '.*', definition: { 'max-length': 1 } });
    await waitUntil(() => got.some((m) => m.fields.routingKey === 'policy.set' && m.properties.headers?.name === 'ev-p2'), 'policy.set', 10_000);
    got.length = 0;
    await api('DELETE', '/vhosts/ev-vh');
    await waitUntil(() => got.some((m) => m.fields.routingKey === 'vhost.down'), 'vhost.down', 10_000);
    const keys = got.map((m) => m.fields.routingKey);
    expect(keys[0]).toBe('permission.deleted');
    // The standard exchanges, each between a parameter set and cleared (3.10.8's order among them varies).
    const deleted = got.filter((m) => m.fields.routingKey === 'exchange.deleted').map((m) => String(m.properties.headers?.name));
    expect(deleted.sort()).toEqual(['', 'amq.direct', 'amq.fanout', 'amq.headers', 'amq.match', 'amq.rabbitmq.trace', 'amq.topic']);
    expect(keys.slice(-3)).toEqual(['vhost.deleted', 'policy.cleared', 'vhost.down']);
    expect(got.at(-1)!.properties.headers?.user_who_performed_action).toBe('rmq-internal');
  });
});
