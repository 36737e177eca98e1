// RabbitMQ's topic permissions (topic authorisation) through the management API and amqplib: on a
// topic exchange, a user's write pattern limits the routing keys it publishes with and its read
// pattern the keys it binds with. Every answer here was first taken from a private RabbitMQ 3.10.8
// node (`rabbitmqctl set_topic_permissions`, the same amqplib calls, the same API requests).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import type { Channel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { apiClient, type Api } from '../helpers/management-client.js';

let dir: string;
let broker: RunningBroker;
let api: Api;

const refused = (key: string, exchange: string, user = 'tp'): string =>
  `ACCESS_REFUSED - access to topic '${key}' in exchange '${exchange}' in vhost '/' refused for user '${user}'`;

async function start(): Promise<void> {
  broker = await startBroker({ managementPort: -1, logLevel: 'silent', dataDir: path.join(dir, 'data') });
  api = apiClient(`http://127.0.0.1:${broker.managementPort}`);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'warren-topic-perms-'));
  await start();
  expect((await api('PUT', '/api/users/tp', { body: { password: 'tp', tags: '' } })).status).toBe(201);
  expect((await api('PUT', '/api/permissions/%2F/tp', { body: { configure: '.*', write: '.*', read: '.*' } })).status).toBe(201);
  // A new pair is 201, another exchange for the same pair 204, as 3.10.8 answers.
  expect((await api('PUT', '/api/topic-permissions/%2F/tp', { body: { exchange: 'amq.topic', write: '^allowed\\..*', read: '^readable\\..*' } })).status).toBe(201);
  expect((await api('PUT', '/api/topic-permissions/%2F/tp', { body: { exchange: 'tp-x', write: '^{username}\\.', read: '' } })).status).toBe(204);
});

afterAll(async () => {
  await broker?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Runs fn on a fresh channel of user tp; resolves with the channel's close text, or 'ok'. */
async function attempt(fn: (ch: Channel) => Promise<unknown>): Promise<string> {
  const conn = await amqp.connect(`amqp://tp:tp@127.0.0.1:${broker.port}`);
  conn.on('error', () => undefined);
  try {
    const ch = await conn.createChannel();
    let closed: string | null = null;
    ch.on('error', (e: Error) => (closed = e.message));
    try {
      await fn(ch);
      // A refused publish has no reply: a round trip after it shows whether the channel was closed.
      await ch.checkExchange('amq.topic');
    } catch (e) {
      closed ??= (e as Error).message;
    }
    return closed === null ? 'ok' : (/with message "(.*)"$/.exec(closed)?.[1] ?? closed);
  } finally {
    await conn.close().catch(() => undefined);
  }
}

describe('topic permissions', () => {
  it('publish: the routing key must match the write pattern on that topic exchange; other exchanges are not limited', async () => {
    expect(await attempt(async (ch) => ch.publish('amq.topic', 'allowed.x', Buffer.from('a')))).toBe('ok');
    expect(await attempt(async (ch) => ch.publish('amq.topic', 'denied.x', Buffer.from('a')))).toBe(refused('denied.x', 'amq.topic'));
    expect(await attempt(async (ch) => ch.publish('amq.topic', '', Buffer.from('a')))).toBe(refused('', 'amq.topic'));
    // Not a topic exchange, or a topic exchange without a topic permission: nothing to check.
    expect(await attempt(async (ch) => ch.publish('amq.direct', 'denied.x', Buffer.from('a')))).toBe('ok');
    expect(await attempt(async (ch) => ch.publish('', 'denied.x', Buffer.from('a')))).toBe('ok');
    expect(
      await attempt(async (ch) => {
        await ch.assertExchange('tp-free', 'topic', { durable: false });
        ch.publish('tp-free', 'denied.x', Buffer.from('a'));
      }),
    ).toBe('ok');
  });

  it('{username} in a pattern is the user; an empty pattern allows only the empty key', async () => {
    expect(
      await attempt(async (ch) => {
        await ch.assertExchange('tp-x', 'topic', { durable: false });
        ch.publish('tp-x', 'tp.a', Buffer.from('a'));
      }),
    ).toBe('ok');
    expect(await attempt(async (ch) => ch.publish('tp-x', 'x.a', Buffer.from('a')))).toBe(refused('x.a', 'tp-x'));
    expect(
      await attempt(async (ch) => {
        const q = await ch.assertQueue('', { exclusive: true });
        await ch.bindQueue(q.queue, 'tp-x', 'anything');
      }),
    ).toBe(refused('anything', 'tp-x'));
  });

  it('queue.bind, queue.unbind and exchange.bind from a topic exchange: the key must match the read pattern', async () => {
    const bindQ = (key: string, unbind = false) =>
      attempt(async (ch) => {
        const q = await ch.assertQueue('', { exclusive: true });
        if (unbind) await ch.unbindQueue(q.queue, 'amq.topic', key);
        else await ch.bindQueue(q.queue, 'amq.topic', key);
      });
    expect(await bindQ('readable.x')).toBe('ok');
    expect(await bindQ('denied.x')).toBe(refused('denied.x', 'amq.topic'));
    expect(await bindQ('denied.x', true)).toBe(refused('denied.x', 'amq.topic'));
    expect(
      await attempt(async (ch) => {
        await ch.assertExchange('tp-dest', 'topic', { durable: false });
        await ch.bindExchange('tp-dest', 'amq.topic', 'denied.x');
      }),
    ).toBe(refused('denied.x', 'amq.topic'));
  });

  it('the API lists, refuses and deletes them as 3.10.8 does', async () => {
    const all = [
      { user: 'tp', vhost: '/', exchange: 'amq.topic', write: '^allowed\\..*', read: '^readable\\..*' },
      { user: 'tp', vhost: '/', exchange: 'tp-x', write: '^{username}\\.', read: '' },
    ];
    expect((await api('GET', '/api/topic-permissions')).json).toEqual(all);
    expect((await api('GET', '/api/topic-permissions/%2F/tp')).json).toEqual(all);
    expect((await api('GET', '/api/users/tp/topic-permissions')).json).toEqual(all);
    expect((await api('GET', '/api/vhosts/%2F/topic-permissions')).json).toEqual(all);
    expect((await api('GET', '/api/topic-permissions/%2F/guest')).status).toBe(404);
    expect((await api('GET', '/api/users/nosuch/topic-permissions')).status).toBe(404);
    const put = (user: string, body: object, vhost = '%2F') => api('PUT', `/api/topic-permissions/${vhost}/${user}`, { body });
    expect((await put('tp', { write: 'a', read: 'b' })).json).toEqual({ error: 'bad_request', reason: '[{key_missing,exchange}]' });
    expect((await put('tp', { exchange: 'e' })).json).toEqual({ error: 'bad_request', reason: '[{key_missing,write},{key_missing,read}]' });
    expect((await put('nosuch', { exchange: 'e', write: '.*', read: '.*' })).json).toEqual({ error: 'bad_request', reason: 'vhost_or_user_not_found' });
    expect((await put('tp', { exchange: 'e', write: '.*', read: '.*' }, 'nosuch')).json).toEqual({ error: 'bad_request', reason: 'vhost_or_user_not_found' });
    expect((await put('tp', { exchange: 'e', write: '(', read: '.*' })).status).toBe(400);
    expect((await api('GET', '/api/topic-permissions')).json).toEqual(all);
    // An export carries them.
    expect((await api('GET', '/api/definitions')).json.topic_permissions).toEqual(all);
  });

  it('they survive a restart; deleting the pair or the user drops them', async () => {
    await broker.close();
    await start();
    expect(await attempt(async (ch) => ch.publish('amq.topic', 'denied.x', Buffer.from('a')))).toBe(refused('denied.x', 'amq.topic'));
    expect((await api('GET', '/api/topic-permissions')).json).toHaveLength(2);

    // ?exchange= (Warren's, what `warren ctl clear_topic_permissions USER EXCHANGE` sends) clears
    // that exchange's alone; the other stays in force throughout, and after a restart.
    expect((await api('DELETE', '/api/topic-permissions/%2F/tp?exchange=tp-x')).status).toBe(204);
    expect((await api('DELETE', '/api/topic-permissions/%2F/tp?exchange=tp-x')).status).toBe(404);
    expect(await attempt(async (ch) => ch.publish('amq.topic', 'denied.x', Buffer.from('a')))).toBe(refused('denied.x', 'amq.topic'));
    await broker.close();
    await start();
    expect((await api('GET', '/api/topic-permissions')).json).toEqual([{ user: 'tp', vhost: '/', exchange: 'amq.topic', write: '^allowed\\..*', read: '^readable\\..*' }]);

    expect((await api('DELETE', '/api/topic-permissions/%2F/tp')).status).toBe(204);
    expect((await api('DELETE', '/api/topic-permissions/%2F/tp')).status).toBe(404);
    expect(await attempt(async (ch) => ch.publish('amq.topic', 'denied.x', Buffer.from('a')))).toBe('ok');

    expect((await api('PUT', '/api/topic-permissions/%2F/tp', { body: { exchange: 'amq.topic', write: '^a', read: '^a' } })).status).toBe(201);
    expect((await api('DELETE', '/api/users/tp')).status).toBe(204);
    expect((await api('GET', '/api/topic-permissions')).json).toEqual([]);
    await broker.close();
    await start();
    expect((await api('GET', '/api/topic-permissions')).json).toEqual([]);
  });
});
