// Management API endpoints found missing by asking RabbitMQ 3.10.8 and Warren the same paths
// side by side (twenty-sixth session): their codes and bodies as 3.10.8 answers them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp, { type ChannelModel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { apiClient, enc, type Api } from '../helpers/management-client.js';

let broker: RunningBroker;
let api: Api;
let node: string;
const conns: ChannelModel[] = [];

beforeAll(async () => {
  broker = await startBroker({ port: 0, managementPort: -1, logLevel: 'silent' });
  api = apiClient(`http://127.0.0.1:${broker.managementPort}`);
  node = (await api('GET', '/api/overview')).json.node;
});

afterAll(async () => {
  for (const c of conns) await c.close().catch(() => undefined);
  await broker?.close();
});

describe('endpoints 3.10.8 has', () => {
  it('/api/vhosts/V/connections and /channels list that vhost\'s only; 404 for a vhost that is not there', async () => {
    expect((await api('PUT', '/api/vhosts/ep-other')).status).toBe(201);
    expect((await api('PUT', '/api/permissions/ep-other/guest', { body: { configure: '.*', write: '.*', read: '.*' } })).status).toBe(201);
    const root = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}`);
    const other = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}/ep-other`);
    conns.push(root, other);
    await root.createChannel();
    await other.createChannel();
    await other.createChannel();
    const inOther = (await api('GET', '/api/vhosts/ep-other/connections')).json as { vhost: string; channels: number }[];
    expect(inOther.map((c) => [c.vhost, c.channels])).toEqual([['ep-other', 2]]);
    const channels = (await api('GET', '/api/vhosts/ep-other/channels')).json as { vhost: string }[];
    expect(channels.map((c) => c.vhost)).toEqual(['ep-other', 'ep-other']);
    expect(((await api('GET', `/api/vhosts/${enc('/')}/connections`)).json as { vhost: string }[]).every((c) => c.vhost === '/')).toBe(true);
    expect((await api('GET', '/api/vhosts/ep-nowhere/connections')).status).toBe(404);
    expect((await api('GET', '/api/vhosts/ep-nowhere/channels')).status).toBe(404);
  });

  it('/api/users/without-permissions: users with no permissions anywhere, administrators only', async () => {
    expect((await api('PUT', '/api/users/ep-lonely', { body: { password: 'pw', tags: 'monitoring' } })).status).toBe(201);
    const list = (await api('GET', '/api/users/without-permissions')).json as { name: string; limits: object }[];
    expect(list.map((u) => u.name)).toContain('ep-lonely');
    expect(list.map((u) => u.name)).not.toContain('guest');
    expect(list.find((u) => u.name === 'ep-lonely')).toMatchObject({ tags: ['monitoring'], limits: {} });
    const asMonitor = await api('GET', '/api/users/without-permissions', { auth: ['ep-lonely', 'pw'] });
    expect([asMonitor.status, asMonitor.json]).toEqual([401, { error: 'not_authorised', reason: 'Not administrator user' }]);
  });

  it('POST /api/rebalance/queues: 204 for an administrator (a single node has nothing to move), 401 for others, 405 for other methods', async () => {
    expect((await api('POST', '/api/rebalance/queues')).status).toBe(204);
    expect((await api('POST', '/api/rebalance/queues', { body: {} })).status).toBe(204);
    expect((await api('PUT', '/api/users/ep-manager', { body: { password: 'pw', tags: 'management' } })).status).toBe(201);
    const asManager = await api('POST', '/api/rebalance/queues', { auth: ['ep-manager', 'pw'] });
    expect([asManager.status, asManager.json]).toEqual([401, { error: 'not_authorised', reason: 'Not administrator user' }]);
    expect((await api('GET', '/api/rebalance/queues')).status).toBe(405);
    expect((await api('PUT', '/api/rebalance/queues', { body: {} })).status).toBe(405);
  });

  it('health checks of 3.10.8: node-is-mirror-sync-critical and the deprecated /api/healthchecks/node', async () => {
    expect((await api('GET', '/api/health/checks/node-is-mirror-sync-critical')).json).toEqual({ status: 'ok', reason: 'single node cluster' });
    expect((await api('GET', '/api/healthchecks/node')).json).toEqual({ status: 'ok' });
    expect((await api('GET', `/api/healthchecks/node/${enc(node)}`)).json).toEqual({ status: 'ok' });
    expect((await api('GET', '/api/healthchecks/node/nobody@nowhere')).status).toBe(404);
    expect((await api('GET', '/api/extensions')).json).toEqual([]);
  });

  it('/api/auth/attempts/NODE counts logins per protocol since the last DELETE; /source is []; monitors only', async () => {
    const path = `/api/auth/attempts/${enc(node)}`;
    expect((await api('DELETE', path)).status).toBe(204);
    await api('GET', '/api/overview', { auth: null }); // no credentials: not an attempt
    await api('GET', '/api/overview', { auth: ['guest', 'wrong'] });
    await expect(amqp.connect(`amqp://guest:wrong@127.0.0.1:${broker.port}`)).rejects.toThrow();
    const c = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}`);
    conns.push(c);
    expect((await api('GET', path)).json).toEqual([
      { protocol: 'http', auth_attempts: 2, auth_attempts_failed: 1, auth_attempts_succeeded: 1 },
      { protocol: 'amqp091', auth_attempts: 2, auth_attempts_failed: 1, auth_attempts_succeeded: 1 },
    ]);
    expect((await api('GET', `${path}/source`)).json).toEqual([]);
    expect((await api('GET', '/api/auth/attempts/nobody@nowhere')).status).toBe(404);
    expect((await api('PUT', '/api/users/ep-mgmt', { body: { password: 'pw', tags: 'management' } })).status).toBe(201);
    const asManagement = await api('GET', path, { auth: ['ep-mgmt', 'pw'] });
    expect([asManagement.status, asManagement.json]).toEqual([401, { error: 'not_authorised', reason: 'Not monitor user' }]);
  });
});
