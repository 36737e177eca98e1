// Binding arguments are kept in RabbitMQ's order (sorted by key: server/binding-arguments.ts). A
// durable binding an earlier Warren stored in the client's order is rewritten at start, so that an
// unbind, which names the sorted table, also removes its record and it stays gone after a restart.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { LevelStore } from '../../src/store/level-store.js';
import { toFieldTable } from '../../src/frames/index.js';
import { writeTableBytes } from '../../src/server/table-bytes.js';
import { apiClient } from '../helpers/management-client.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const start = (dataDir: string): Promise<RunningBroker> => startBroker({ port: 0, dataDir, fsync: false, managementPort: -1, logLevel: 'silent' });

describe('binding arguments stored in the client\'s order by an earlier Warren', () => {
  it('are listed sorted, and one unbind removes the binding for good', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'warren-binding-order-'));
    dirs.push(dir);
    let b = await start(dir);
    let conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${b.port}`);
    let ch = await conn.createChannel();
    await ch.assertQueue('bo.q', { durable: true });
    await ch.assertExchange('bo.x', 'headers', { durable: true });
    await conn.close();
    await b.close();

    // The record as a Warren before the sorting wrote it: x-match first, then b, then a.
    const old = new LevelStore(dir);
    await old.open();
    const unsorted = writeTableBytes(toFieldTable({ 'x-match': 'all', b: '2', a: '1' }));
    const sb = { vhost: '/', source: 'bo.x', destinationKind: 'queue' as const, destination: 'bo.q', routingKey: '', arguments: unsorted };
    old.putDefinition('binding', ['/', 'bo.x', 'queue', 'bo.q', '', unsorted.toString('base64')].join('\0'), sb);
    await old.close();

    b = await start(dir);
    const api = apiClient(`http://127.0.0.1:${b.managementPort}`);
    const listed = (await api('GET', '/api/exchanges/%2F/bo.x/bindings/source')).json as { arguments: Record<string, unknown> }[];
    expect(listed.map((x) => Object.keys(x.arguments))).toEqual([['a', 'b', 'x-match']]);
    conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${b.port}`);
    ch = await conn.createChannel();
    await ch.unbindQueue('bo.q', 'bo.x', '', { 'x-match': 'all', b: '2', a: '1' });
    await conn.close();
    await b.close();

    b = await start(dir);
    const after = (await apiClient(`http://127.0.0.1:${b.managementPort}`)('GET', '/api/exchanges/%2F/bo.x/bindings/source')).json;
    expect(after).toEqual([]);
    await b.close();
  });
});
