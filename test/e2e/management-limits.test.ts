// Vhost and user limits (/api/vhost-limits, /api/user-limits, warren ctl *_limits), enforced as a
// RabbitMQ 3.10.8 node (rabbitmq_management, same machine) enforces them: each code and text
// below was read off that node's answers and its channel/connection close frames.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import amqp, { type ChannelModel } from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { apiClient, connectionClosed, runCtl, type Api } from '../helpers/management-client.js';

let broker: RunningBroker;
let api: Api;
let url: string;
const dataDir = mkdtempSync(path.join(tmpdir(), 'warren-limits-'));
const open: ChannelModel[] = [];

async function start(): Promise<void> {
  broker = await startBroker({ managementPort: -1, logLevel: 'silent', dataDir });
  url = `http://127.0.0.1:${broker.managementPort}`;
  api = apiClient(url);
}
async function connect(vhost: string): Promise<ChannelModel> {
  const c = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}/${encodeURIComponent(vhost)}`);
  c.on('error', () => undefined);
  open.push(c);
  return c;
}
/** The reply text of a refused connection.open (amqplib hides it in the close frame). */
async function refusedOpen(vhost: string): Promise<string> {
  try {
    await connect(vhost);
  } catch (e) {
    return String((e as Error).message);
  }
  return 'opened';
}

beforeAll(start);
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close().catch(() => undefined)));
});
afterAll(async () => {
  await broker?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('vhost limits', () => {
  it('answers the API as 3.10.8: PUT 204, list [{vhost, value}], 400/404 bodies', async () => {
    expect((await api('PUT', '/api/vhosts/lim1')).status).toBe(201);
    expect((await api('PUT', '/api/vhost-limits/lim1/max-queues', { body: { value: 1 } })).status).toBe(204);
    expect((await api('GET', '/api/vhost-limits')).json).toEqual([{ vhost: 'lim1', value: { 'max-queues': 1 } }]);
    expect((await api('GET', '/api/vhost-limits/lim1')).json).toEqual([{ vhost: 'lim1', value: { 'max-queues': 1 } }]);
    // 3.10.8: {"error":"bad_request","reason":"Validation failed\n\nUnrecognised terms [{<<\"bogus\">>,3}] in limits\n"}
    const bad = await api('PUT', '/api/vhost-limits/lim1/bogus', { body: { value: 3 } });
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({ error: 'bad_request', reason: 'Validation failed\n\nUnrecognised terms [{<<"bogus">>,3}] in limits\n' });
    // 3.10.8: 404 {"error":"not_found","reason":"vhost_not_found"}; GET of a missing vhost: Object Not Found.
    expect((await api('PUT', '/api/vhost-limits/nov/max-queues', { body: { value: 3 } })).json).toEqual({ error: 'not_found', reason: 'vhost_not_found' });
    expect((await api('GET', '/api/vhost-limits/nov')).json).toEqual({ error: 'Object Not Found', reason: 'Not Found' });
    // 3.10.8: 400 "[{key_missing,value}]" without a value.
    expect((await api('PUT', '/api/vhost-limits/lim1/max-queues', { body: {} })).json.reason).toBe('[{key_missing,value}]');
    // 3.10.8 takes numbers only, a string of digits too is refused; the value as an Erlang term,
    // not escaped as HTML; user limits say it without "Validation failed" (run against 3.10.8).
    for (const [path, value, reason] of [
      ['/api/vhost-limits/lim1/max-queues', '7', 'Validation failed\n\nmax-queues should be a number, actually was <<"7">>\n'],
      ['/api/vhost-limits/lim1/max-queues', 1.5, 'Validation failed\n\nmax-queues should be a number, actually was 1.5\n'],
      ['/api/vhost-limits/lim1/max-queues', { a: 1 }, 'Validation failed\n\nmax-queues should be a number, actually was #{<<"a">> => 1}\n'],
      ['/api/user-limits/guest/max-channels', '7', 'max-channels should be a number, actually was <<"7">>'],
      ['/api/user-limits/guest/max-channels', [1], 'max-channels should be a number, actually was [1]'],
    ] as const) {
      const r = await api('PUT', path, { body: { value } });
      expect([path, r.status, r.json]).toEqual([path, 400, { error: 'bad_request', reason }]);
    }
    expect((await api('GET', '/api/vhost-limits/lim1')).json).toEqual([{ vhost: 'lim1', value: { 'max-queues': 1 } }]);
  });

  it('refuses a queue over max-queues with 406 and 3.10.8 text', async () => {
    const ch = await (await connect('lim1')).createChannel();
    ch.on('error', () => undefined);
    await ch.assertQueue('a');
    // 3.10.8: 406 PRECONDITION_FAILED - cannot declare queue 'b': queue limit in vhost 'lim1' (1) is reached
    await expect(ch.assertQueue('b')).rejects.toThrow("406 (PRECONDITION-FAILED) with message \"PRECONDITION_FAILED - cannot declare queue 'b': queue limit in vhost 'lim1' (1) is reached\"");
  });

  it('refuses a connection over max-connections with 530 and 3.10.8 text, logged by the broker', async () => {
    await api('PUT', '/api/vhost-limits/lim1/max-connections', { body: { value: 1 } });
    await connect('lim1');
    // 3.10.8 closes the connection.open with 530 "NOT_ALLOWED - access to vhost 'lim1' refused for
    // user 'guest': connection limit (1) is reached" (amqplib shows only that a close came).
    expect(await refusedOpen('lim1')).toContain('ConnectionClose');
    const limits = (await api('GET', '/api/vhost-limits/lim1')).json[0].value;
    expect(limits).toEqual({ 'max-queues': 1, 'max-connections': 1 });
  });

  it('keeps limits across a restart and exports them as 3.10.8 (parameters vhost-limits/limits)', async () => {
    await broker.close();
    await start();
    expect((await api('GET', '/api/vhost-limits/lim1')).json).toEqual([{ vhost: 'lim1', value: { 'max-queues': 1, 'max-connections': 1 } }]);
    const defs = (await api('GET', '/api/definitions')).json;
    expect(defs.parameters).toContainEqual({ value: { 'max-queues': 1, 'max-connections': 1 }, vhost: 'lim1', component: 'vhost-limits', name: 'limits' });
    // An import with limits is accepted now, and applies them.
    const file = { vhosts: [{ name: 'lim2' }], parameters: [{ value: { 'max-queues': 7 }, vhost: 'lim2', component: 'vhost-limits', name: 'limits' }] };
    expect((await api('POST', '/api/definitions', { body: file })).status).toBe(204);
    expect((await api('GET', '/api/vhost-limits/lim2')).json).toEqual([{ vhost: 'lim2', value: { 'max-queues': 7 } }]);
    expect((await api('DELETE', '/api/vhost-limits/lim1/max-connections')).status).toBe(204);
    expect((await api('DELETE', '/api/vhost-limits/lim1/max-queues')).status).toBe(204);
    expect((await api('GET', '/api/vhost-limits/lim1')).json).toEqual([]);
  });
});

describe('user limits', () => {
  it('max-channels closes the connection with 530 and 3.10.8 text', async () => {
    expect((await api('PUT', '/api/user-limits/guest/max-channels', { body: { value: 1 } })).status).toBe(204);
    expect((await api('GET', '/api/user-limits/guest')).json).toEqual([{ user: 'guest', value: { 'max-channels': 1 } }]);
    // 3.10.8's user objects carry their limits ({} when none).
    expect((await api('GET', '/api/users/guest')).json.limits).toEqual({ 'max-channels': 1 });
    expect(((await api('GET', '/api/users')).json as { name: string; limits: unknown }[]).find((u) => u.name === 'guest')?.limits).toEqual({ 'max-channels': 1 });
    const c = await connect('/');
    const closed = connectionClosed(c);
    await c.createChannel();
    await c.createChannel().catch(() => undefined);
    const err = await closed;
    // 3.10.8: 530 NOT_ALLOWED - number of channels opened for user 'guest' has reached the maximum allowed user limit of (1)
    expect(err?.code).toBe(530);
    expect(err?.message).toContain("NOT_ALLOWED - number of channels opened for user 'guest' has reached the maximum allowed user limit of (1)");
    expect((await api('DELETE', '/api/user-limits/guest/max-channels')).status).toBe(204);
    expect((await api('GET', '/api/users/guest')).json.limits).toEqual({});
  });

  it('max-connections refuses the next connection.open', async () => {
    await api('PUT', '/api/user-limits/guest/max-connections', { body: { value: 1 } });
    await connect('/');
    // 3.10.8 logs "connection refused for user 'guest': user connection limit (1) is reached" and closes with 530.
    expect(await refusedOpen('/')).toContain('ConnectionClose');
    await api('DELETE', '/api/user-limits/guest/max-connections');
    // 3.10.8: 400 ["no_such_user","nobody"] for a missing user.
    expect((await api('PUT', '/api/user-limits/nobody/max-channels', { body: { value: 3 } })).status).toBe(400);
  });
});

describe('warren ctl limits commands (rabbitmqctl 3.10.8 lines)', () => {
  it('sets, lists and clears', async () => {
    let r = await runCtl(url, ['set_vhost_limits', '-p', 'lim2', '{"max-connections": 10}']);
    expect(r.stdout).toBe('Setting vhost limits to "{"max-connections": 10}" for vhost "lim2" ...\n');
    r = await runCtl(url, ['list_vhost_limits', '-p', 'lim2']);
    expect(r.stdout).toBe('Listing limits for vhost "lim2" ...\n{"max-connections":10}\n');
    r = await runCtl(url, ['list_vhost_limits', '--global']);
    expect(r.stdout).toBe('Listing limits for all vhosts ...\nvhost\tlimits\nlim2\t{"max-connections":10}\n');
    r = await runCtl(url, ['clear_vhost_limits', '-p', 'lim2']);
    expect(r.stdout).toBe('Clearing vhost "lim2" limits ...\n');
    r = await runCtl(url, ['set_user_limits', 'guest', '{"max-channels": 5}']);
    expect(r.stdout).toBe('Setting user limits to "{"max-channels": 5}" for user "guest" ...\n');
    r = await runCtl(url, ['list_user_limits', '--user', 'guest']);
    expect(r.stdout).toBe('Listing limits for user "guest" ...\n{"max-channels":5}\n');
    r = await runCtl(url, ['clear_user_limits', 'guest', 'max-channels']);
    expect(r.stdout).toBe('Clearing "max-channels" limit for user "guest" ...\n');
    // 3.10.8: exit 69, "Error:\nValidation failed\n\nUnrecognised terms [{<<"bogus">>,10}] in limits"
    r = await runCtl(url, ['set_vhost_limits', '-p', 'lim2', '{"bogus": 10}']);
    expect(r.code).toBe(69);
    expect(r.stderr).toContain('Unrecognised terms [{<<"bogus">>,10}] in limits');
  });
});
