// PUT of a queue or exchange that exists with other properties: RabbitMQ 3.10.8 answers 400 with
// the same "inequivalent arg" text as AMQP's 406, and leaves the object as it was; amqplib sees
// the same object afterwards.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { apiClient, type Api } from '../helpers/management-client.js';

let broker: RunningBroker;
let api: Api;

beforeAll(async () => {
  broker = await startBroker({ managementPort: -1, logLevel: 'silent' });
  api = apiClient(`http://127.0.0.1:${broker.managementPort}`);
});

afterAll(async () => {
  await broker?.close();
});

const inequivalent = (kind: string, name: string, arg: string, received: string, current: string) => ({
  error: 'bad_request',
  reason: `inequivalent arg '${arg}' for ${kind} '${name}' in vhost '/': received ${received} but current is ${current}`,
});

describe('PUT /api/queues/{vhost}/{name} of an existing queue', () => {
  it('answers 400 inequivalent arg for durable, auto_delete and compared arguments; 204 when equal', async () => {
    expect((await api('PUT', '/api/queues/%2F/redeclare-q', { body: { durable: true, arguments: { 'x-max-length': 10 } } })).status).toBe(201);
    const cases: [object, object][] = [
      [{ durable: false, arguments: { 'x-max-length': 10 } }, inequivalent('queue', 'redeclare-q', 'durable', "'false'", "'true'")],
      // RabbitMQ's default for a body without durable is a transient queue.
      [{ arguments: { 'x-max-length': 10 } }, inequivalent('queue', 'redeclare-q', 'durable', "'false'", "'true'")],
      [{ durable: true, auto_delete: true, arguments: { 'x-max-length': 10 } }, inequivalent('queue', 'redeclare-q', 'auto_delete', "'true'", "'false'")],
      [{ durable: true, arguments: { 'x-max-length': 5 } }, inequivalent('queue', 'redeclare-q', 'x-max-length', "'5'", "'10'")],
    ];
    for (const [body, answer] of cases) {
      const r = await api('PUT', '/api/queues/%2F/redeclare-q', { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json, JSON.stringify(body)).toEqual(answer);
    }
    expect((await api('PUT', '/api/queues/%2F/redeclare-q', { body: { durable: true, auto_delete: false, arguments: { 'x-max-length': 10 } } })).status).toBe(204);

    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}`);
    try {
      const ch = await conn.createChannel();
      // Still durable with x-max-length 10: an equal redeclare over AMQP succeeds.
      await ch.assertQueue('redeclare-q', { durable: true, arguments: { 'x-max-length': 10 } });
    } finally {
      await conn.close();
    }
  });

  it('a queue PUT without durable is transient, as in RabbitMQ', async () => {
    expect((await api('PUT', '/api/queues/%2F/redeclare-default', { body: {} })).status).toBe(201);
    expect((await api('GET', '/api/queues/%2F/redeclare-default')).json.durable).toBe(false);
  });
});

describe('PUT /api/exchanges/{vhost}/{name} of an existing exchange', () => {
  it('answers 400 inequivalent arg for type, durable, auto_delete and internal; 204 when equal', async () => {
    expect((await api('PUT', '/api/exchanges/%2F/redeclare-x', { body: { type: 'direct', durable: true } })).status).toBe(201);
    const cases: [object, object][] = [
      [{ type: 'fanout', durable: true }, inequivalent('exchange', 'redeclare-x', 'type', "'fanout'", "'direct'")],
      [{ type: 'direct', durable: false }, inequivalent('exchange', 'redeclare-x', 'durable', "'false'", "'true'")],
      [{ type: 'direct' }, inequivalent('exchange', 'redeclare-x', 'durable', "'false'", "'true'")],
      [{ type: 'direct', durable: true, auto_delete: true }, inequivalent('exchange', 'redeclare-x', 'auto_delete', "'true'", "'false'")],
      [{ type: 'direct', durable: true, internal: true }, inequivalent('exchange', 'redeclare-x', 'internal', "'true'", "'false'")],
      // The first mismatch in RabbitMQ's order is the one named.
      [{ type: 'fanout', durable: false, auto_delete: true }, inequivalent('exchange', 'redeclare-x', 'type', "'fanout'", "'direct'")],
    ];
    for (const [body, answer] of cases) {
      const r = await api('PUT', '/api/exchanges/%2F/redeclare-x', { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.json, JSON.stringify(body)).toEqual(answer);
    }
    expect((await api('PUT', '/api/exchanges/%2F/redeclare-x', { body: { type: 'direct', durable: true } })).status).toBe(204);
    expect((await api('GET', '/api/exchanges/%2F/redeclare-x')).json).toMatchObject({ type: 'direct', durable: true, auto_delete: false, internal: false });
  });
});
