// Global runtime parameters and the cluster's name, as RabbitMQ 3.10.8 answers them (each answer
// here was taken from a private 3.10.8 node first: /api/global-parameters[/name], /api/cluster-name,
// rabbitmqctl set_cluster_name, set_global_parameter and clear_global_parameter, a definitions
// import). The name reaches clients (connection.start's cluster_name, read here by amqplib), the
// overview and the metrics; both, and every other parameter, live in the store across a restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { apiClient, runCtl, type Api } from '../helpers/management-client.js';

let dir: string;
let broker: RunningBroker;
let api: Api;
let url: string;

async function start(): Promise<void> {
  broker = await startBroker({ managementPort: -1, prometheusPort: 0, logLevel: 'silent', dataDir: path.join(dir, 'data') });
  url = `http://127.0.0.1:${broker.managementPort}`;
  api = apiClient(url);
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'warren-globals-'));
  await start();
});

afterAll(async () => {
  await broker?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** cluster_name in connection.start, as amqplib received it. */
async function announcedName(): Promise<unknown> {
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}`);
  const name = (conn.connection as unknown as { serverProperties: Record<string, unknown> }).serverProperties.cluster_name;
  await conn.close();
  return name;
}

/** rabbitmq_identity_info's labels on /metrics. */
async function identity(): Promise<Record<string, string>> {
  const text = await (await fetch(`http://127.0.0.1:${broker.prometheusPort}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('rabbitmq_identity_info{'));
  return Object.fromEntries([...(line ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
}

describe('global parameters and the cluster name', () => {
  let clusterId: string;

  it('a new broker has internal_cluster_id and is named warren', async () => {
    const list = await api('GET', '/api/global-parameters');
    expect(list.json).toEqual([{ name: 'internal_cluster_id', value: expect.stringMatching(/^rabbitmq-cluster-id-[\w-]{22}$/) }]);
    clusterId = list.json[0].value;
    expect((await api('GET', '/api/cluster-name')).json).toEqual({ name: 'warren' });
    expect(await announcedName()).toBe('warren');
    expect(await identity()).toMatchObject({ rabbitmq_cluster: 'warren', rabbitmq_cluster_permanent_id: clusterId });
  });

  it('PUT /api/cluster-name names the cluster for clients, the overview, the metrics and rabbitmqctl', async () => {
    const missing = await api('PUT', '/api/cluster-name', { body: {} });
    expect([missing.status, missing.json]).toEqual([400, { error: 'bad_request', reason: '[{key_missing,name}]' }]);
    expect((await api('PUT', '/api/cluster-name', { body: { name: 'orders-eu' } })).status).toBe(204);
    expect((await api('GET', '/api/cluster-name')).json).toEqual({ name: 'orders-eu' });
    expect((await api('GET', '/api/overview')).json.cluster_name).toBe('orders-eu');
    expect(await announcedName()).toBe('orders-eu');
    expect(await identity()).toMatchObject({ rabbitmq_cluster: 'orders-eu', rabbitmq_cluster_permanent_id: clusterId });
    expect((await api('GET', '/api/global-parameters')).json).toEqual([
      { name: 'cluster_name', value: 'orders-eu' },
      { name: 'internal_cluster_id', value: clusterId },
    ]);
    const status = await runCtl(url, ['cluster_status']);
    expect(status.stdout).toContain('Cluster name: orders-eu');
  });

  it('any other global parameter: 201 then 204, read with its value first, 404 once cleared', async () => {
    expect((await api('PUT', '/api/global-parameters/foo', { body: { value: { a: 1 } } })).status).toBe(201);
    expect((await api('PUT', '/api/global-parameters/foo', { body: { value: 'x' } })).status).toBe(204);
    const noValue = await api('PUT', '/api/global-parameters/foo2', { body: {} });
    expect([noValue.status, noValue.json]).toEqual([400, { error: 'bad_request', reason: '[{key_missing,value}]' }]);
    const one = await api('GET', '/api/global-parameters/foo');
    expect(one.text).toBe('{"value":"x","name":"foo"}');
    expect((await api('GET', '/api/global-parameters/nope')).status).toBe(404);
    expect((await api('DELETE', '/api/global-parameters/foo')).status).toBe(204);
    expect((await api('DELETE', '/api/global-parameters/foo')).status).toBe(404);
    // cluster_name is a global parameter like any other: cleared, the default name is back.
    expect((await api('PUT', '/api/global-parameters/cluster_name', { body: { value: 'via-param' } })).status).toBe(204);
    expect((await api('GET', '/api/cluster-name')).json).toEqual({ name: 'via-param' });
    expect((await api('DELETE', '/api/global-parameters/cluster_name')).status).toBe(204);
    expect((await api('GET', '/api/cluster-name')).json).toEqual({ name: 'warren' });
    // Administrators only.
    expect((await api('PUT', '/api/users/mon', { body: { password: 'mon', tags: 'monitoring' } })).status).toBe(201);
    expect((await api('GET', '/api/global-parameters', { auth: ['mon', 'mon'] })).json).toEqual({ error: 'not_authorised', reason: 'User not authorised to access object' });
    expect((await api('PUT', '/api/cluster-name', { auth: ['mon', 'mon'], body: { name: 'x' } })).json).toEqual({ error: 'not_authorised', reason: 'Not administrator user' });
    expect((await api('GET', '/api/cluster-name', { auth: ['mon', 'mon'] })).json).toEqual({ name: 'warren' });
  });

  it('warren ctl set_cluster_name, set_global_parameter, clear_global_parameter, list_global_parameters as rabbitmqctl 3.10.8', async () => {
    const named = await runCtl(url, ['set_cluster_name', 'ctlname']);
    expect([named.code, named.stdout]).toEqual([0, 'Setting cluster name to ctlname ...\n']);
    const set = await runCtl(url, ['set_global_parameter', 'g1', '{"x":1}']);
    expect([set.code, set.stdout]).toEqual([0, 'Setting global runtime parameter "g1" to "{"x":1}" ...\n']);
    const bad = await runCtl(url, ['set_global_parameter', 'g2', 'notjson']);
    expect(bad.code).toBe(69);
    expect(bad.stderr).toContain('JSON decoding error');
    const listed = await runCtl(url, ['list_global_parameters']);
    expect(listed.stdout.split('\n')).toEqual([
      'Listing global runtime parameters ...',
      'name\tvalue',
      'cluster_name\t"ctlname"',
      'g1\t{"x":1}',
      `internal_cluster_id\t"${clusterId}"`,
      '',
    ]);
    const cleared = await runCtl(url, ['clear_global_parameter', 'g1']);
    expect([cleared.code, cleared.stdout]).toEqual([0, 'Clearing global runtime parameter "g1" ...\n']);
    const again = await runCtl(url, ['clear_global_parameter', 'g1']);
    expect([again.code, again.stderr]).toEqual([69, 'Error:\nParameter does not exist\n']);
  });

  it('the name, the id and other parameters survive a restart; an export carries them and an import sets them', async () => {
    expect((await api('PUT', '/api/global-parameters/kept', { body: { value: [1, 2] } })).status).toBe(201);
    await broker.close();
    await start();
    expect((await api('GET', '/api/global-parameters')).json).toEqual([
      { name: 'cluster_name', value: 'ctlname' },
      { name: 'internal_cluster_id', value: clusterId },
      { name: 'kept', value: [1, 2] },
    ]);
    expect(await announcedName()).toBe('ctlname');
    const exported = (await api('GET', '/api/definitions')).json;
    expect(exported.global_parameters).toEqual((await api('GET', '/api/global-parameters')).json);
    // As 3.10.8: an import sets every global parameter it carries, the id and the name too.
    const post = await api('POST', '/api/definitions', {
      body: { global_parameters: [{ name: 'cluster_name', value: 'imp' }, { name: 'internal_cluster_id', value: 'rabbitmq-cluster-id-IMPORTED' }, { name: 'zzz', value: [1, 2] }] },
    });
    expect(post.status, post.text).toBeLessThan(300);
    expect((await api('GET', '/api/cluster-name')).json).toEqual({ name: 'imp' });
    expect((await api('GET', '/api/global-parameters/internal_cluster_id')).json).toEqual({ value: 'rabbitmq-cluster-id-IMPORTED', name: 'internal_cluster_id' });
    expect((await api('POST', '/api/definitions', { body: { global_parameters: [{ name: 'novalue' }] } })).status).toBe(400);
  });
});
