// /api/parameters writes, each answer read off a RabbitMQ 3.10.8 node (rabbitmq_management, no
// federation or shovel plugin) on the same machine: vhost-limits/limits and operator_policy set
// (201, then 204), read back, enforced, cleared (204, then 404); components whose plugin Warren
// does not have refused as 3.10.8 refuses them without it; a body that is not JSON is "not_json".
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { apiClient, type Api } from '../helpers/management-client.js';

let broker: RunningBroker;
let api: Api;
let url: string;

beforeAll(async () => {
  broker = await startBroker({ managementPort: -1, logLevel: 'silent' });
  url = `http://127.0.0.1:${broker.managementPort}`;
  api = apiClient(url);
  await api('PUT', '/api/vhosts/params');
});
afterAll(async () => {
  await broker?.close();
});

const P = '/api/parameters';

describe('/api/parameters writes (3.10.8)', () => {
  it('sets, reads, enforces and clears vhost-limits/limits (the whole set of limits)', async () => {
    // 3.10.8: 201, then 204; GET {"value":{"max-connections":10},"vhost":"/","component":"vhost-limits","name":"limits"}
    expect((await api('PUT', `${P}/vhost-limits/params/limits`, { body: { value: { 'max-connections': 10 } } })).status).toBe(201);
    expect((await api('GET', `${P}/vhost-limits/params/limits`)).json).toEqual({ value: { 'max-connections': 10 }, vhost: 'params', component: 'vhost-limits', name: 'limits' });
    // A later value replaces the set: max-connections goes.
    expect((await api('PUT', `${P}/vhost-limits/params/limits`, { body: { vhost: 'other', component: 'x', name: 'y', value: { 'max-queues': 1 } } })).status).toBe(204);
    expect((await api('GET', '/api/vhost-limits/params')).json).toEqual([{ vhost: 'params', value: { 'max-queues': 1 } }]);
    const c = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}/params`);
    c.on('error', () => undefined);
    const ch = await c.createChannel();
    ch.on('error', () => undefined);
    await ch.assertQueue('first', { durable: false });
    await expect(ch.assertQueue('second', { durable: false })).rejects.toThrow(/max queue limit|queue limit/i);
    await c.close().catch(() => undefined);
    expect((await api('DELETE', `${P}/vhost-limits/params/limits`)).status).toBe(204);
    expect((await api('DELETE', `${P}/vhost-limits/params/limits`)).json).toEqual({ error: 'Object Not Found', reason: 'Not Found' });
    expect((await api('GET', '/api/vhost-limits/params')).json).toEqual([]);
  });

  // This route escapes <, > and & in its texts (3.10.8, checked again 2026-12-05), /api/vhost-limits does not.
  it('refuses invalid vhost limits with 3.10.8 texts (HTML-escaped, as this route escapes them)', async () => {
    const put = async (body: unknown) => api('PUT', `${P}/vhost-limits/params/limits`, { body });
    expect((await put({ value: { 'max-foo': 10 } })).json).toEqual({ error: 'bad_request', reason: 'Validation failed\n\nUnrecognised terms [{&lt;&lt;"max-foo"&gt;&gt;,10}] in limits\n' });
    expect((await put({ value: { 'max-queues': 'x' } })).json.reason).toBe('Validation failed\n\nmax-queues should be a number, actually was &lt;&lt;"x"&gt;&gt;\n');
    // 3.10.8 takes no numeric string here.
    expect((await put({ value: { 'max-queues': '7' } })).json.reason).toBe('Validation failed\n\nmax-queues should be a number, actually was &lt;&lt;"7"&gt;&gt;\n');
    expect((await put({ value: 5 })).json.reason).toBe('Validation failed\n\nlimits not a list 5\n');
    expect((await put({})).json).toEqual({ error: 'bad_request', reason: '[{key_missing,value}]' });
    const notJson = await fetch(`${url}${P}/vhost-limits/params/limits`, {
      method: 'PUT',
      headers: { authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`, 'content-type': 'application/json' },
      body: 'notjson',
    });
    expect(notJson.status).toBe(400);
    expect(await notJson.json()).toEqual({ error: 'bad_request', reason: 'not_json' });
    expect((await api('PUT', `${P}/vhost-limits/nov/limits`, { body: { value: { 'max-queues': 1 } } })).json).toEqual({ error: 'not_found', reason: 'vhost_not_found' });
  });

  it('sets and clears an operator policy as the operator_policy component', async () => {
    const value = { pattern: '^capped', definition: { 'max-length': 5 }, priority: 0, 'apply-to': 'queues' };
    expect((await api('PUT', `${P}/operator_policy/params/op1`, { body: { value } })).status).toBe(201);
    expect((await api('GET', `${P}/operator_policy/params/op1`)).json).toEqual({ value, vhost: 'params', component: 'operator_policy', name: 'op1' });
    expect((await api('GET', '/api/operator-policies/params/op1')).json).toEqual({ vhost: 'params', name: 'op1', pattern: '^capped', 'apply-to': 'queues', definition: { 'max-length': 5 }, priority: 0 });
    expect((await api('PUT', `${P}/operator_policy/params/op1`, { body: { value: { ...value, priority: 1 } } })).status).toBe(204);
    // 3.10.8: the policy's problems, and the missing priority a parameter must have.
    expect((await api('PUT', `${P}/operator_policy/params/op2`, { body: { value: { pattern: '^x', definition: { bogus: 5 } } } })).json.reason).toBe(
      'Validation failed\n\n[{&lt;&lt;"bogus"&gt;&gt;,5}] are not recognised policy settings\nKey "priority" not found in op2\n',
    );
    expect((await api('PUT', `${P}/operator_policy/params/op2`, { body: { value: 5 } })).json.reason).toBe('Validation failed\n\nop2 not a list 5\n');
    expect((await api('DELETE', `${P}/operator_policy/params/op1`)).status).toBe(204);
    expect((await api('DELETE', `${P}/operator_policy/params/op1`)).status).toBe(404);
    expect((await api('GET', '/api/operator-policies/params')).json).toEqual([]);
  });

  it('refuses components whose plugin is absent, as 3.10.8 without it (shovels and federation: their own tests)', async () => {
    for (const component of ['mqtt-retained', 'bogus']) {
      const r = await api('PUT', `${P}/${component}/params/x`, { body: { value: { uri: 'amqp://elsewhere' } } });
      expect(r.status).toBe(400);
      expect(r.json).toEqual({ error: 'bad_request', reason: `Validation failed\n\ncomponent ${component} not found\n` });
      expect((await api('GET', `${P}/${component}`)).json).toEqual([]);
      expect((await api('GET', `${P}/${component}/params`)).json).toEqual([]);
      expect((await api('GET', `${P}/${component}/params/x`)).status).toBe(404);
      expect((await api('DELETE', `${P}/${component}/params/x`)).status).toBe(404);
    }
    // The vhost is checked first: 404 vhost_not_found.
    expect((await api('PUT', `${P}/bogus/nov/x`, { body: { value: {} } })).json).toEqual({ error: 'not_found', reason: 'vhost_not_found' });
  });

  it('is for administrators', async () => {
    await api('PUT', '/api/users/pm', { body: { password: 'pw', tags: 'management' } });
    const r = await api('PUT', `${P}/vhost-limits/params/limits`, { auth: ['pm', 'pw'], body: { value: { 'max-queues': 1 } } });
    expect(r.status).toBe(401);
    // 3.10.8, to a management user: {"error":"not_authorised","reason":"User not authorised to access object"}
    expect(r.json).toEqual({ error: 'not_authorised', reason: 'User not authorised to access object' });
    expect((await api('GET', P, { auth: ['pm', 'pw'] })).status).toBe(401);
  });
});
