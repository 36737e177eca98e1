// A shovel's broker killed with kill -9 while it moves a queue from another broker: nothing the
// source held is lost (the source is acked only after this broker synced and confirmed), the
// shovel (set by --load-definitions, then kept in the store) runs again after the restart, and
// duplicates are the only cost. Needs the built CLI (`npm run build` -> dist/cli.js).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { resources } from '../helpers/resources.js';
import { drain } from '../helpers/channels.js';
import { apiClient, eventually } from '../helpers/management-client.js';

const res = resources();
let source: RunningBroker;

beforeAll(async () => {
  source = await startBroker({ managementPort: -1, logLevel: 'silent' });
});
afterAll(async () => {
  await source?.close();
});

describe('a shovel under kill -9', () => {
  it('loses nothing of the source queue when its broker is killed and started again', async () => {
    const N = 20_000;
    const conn = await res.connect(source.port);
    const pub = await conn.createConfirmChannel();
    await pub.assertQueue('crash-src', { durable: true });
    for (let i = 0; i < N; i++) pub.sendToQueue('crash-src', Buffer.from(String(i)), { persistent: true });
    await pub.waitForConfirms();

    const dir = await res.tempDir('warren-shovel-crash-');
    const defs = path.join(dir, 'defs.json');
    const value = { 'src-uri': `amqp://guest:guest@127.0.0.1:${source.port}`, 'src-queue': 'crash-src', 'src-prefetch-count': 100, 'dest-uri': 'amqp://', 'dest-queue': 'crash-dst', 'reconnect-delay': 1 };
    await writeFile(defs, JSON.stringify({ parameters: [{ vhost: '/', component: 'shovel', name: 'crash', value }] }));
    const data = path.join(dir, 'data');
    const first = await res.broker(data, ['--load-definitions', defs]);
    const c1 = await res.connect(first.port);
    const ch1 = await c1.createChannel();
    await eventually(async () => ((await ch1.assertQueue('crash-dst', { durable: true })).messageCount >= N / 10 ? true : null), 'the shovel under way', 20_000);
    await first.kill9();
    // Killed half-way: the source still had messages, some of them delivered and unacked.
    const left = (await apiClient(`http://127.0.0.1:${source.managementPort}`)('GET', '/api/queues/%2F/crash-src')).json;
    console.log(`[shovel-crash] killed with ${left.messages} of ${N} still at the source (${left.messages_unacknowledged} unacked)`);
    expect(left.messages).toBeGreaterThan(0);

    // Started again without the definitions file: the shovel is in its store.
    const second = await res.broker(data);
    const c2 = await res.connect(second.port);
    const ch2 = await c2.createChannel();
    const api = apiClient(`http://127.0.0.1:${source.managementPort}`);
    await eventually(async () => ((await api('GET', '/api/queues/%2F/crash-src')).json?.messages === 0 ? true : null), 'the source empty and acked', 30_000);
    const got = (await drain(ch2, 'crash-dst')).map((m) => Number(m.content.toString()));
    expect(new Set(got).size).toBe(N);
    expect(got.length).toBeGreaterThanOrEqual(N);
    console.log(`[shovel-crash] ${got.length} received, ${got.length - N} duplicates`);
  }, 90_000);
});
