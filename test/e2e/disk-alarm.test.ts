// The disk alarm: free space below --disk-free-limit blocks publishing connections (consumers go
// on), as RabbitMQ's disk_free_limit does. A limit above any real disk raises it at once.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import { expect, it } from 'vitest';
import { spawnBroker } from '../helpers/broker-process.js';
import { basicAuth, freePort } from '../helpers/management-client.js';

it('blocks a publisher while free disk is under the limit, and lets a consumer drain', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'warren-disk-'));
  const mgmt = await freePort();
  const b = await spawnBroker({ dataDir, args: ['--disk-free-limit', String(1e18), '--management-port', String(mgmt), '--management-host', '127.0.0.1'] });
  try {
    const url = `amqp://127.0.0.1:${b.port}`;
    const setup = await amqp.connect(url);
    setup.on('error', () => {}); // the broker is killed under it at the end
    const sch = await setup.createChannel();
    await sch.assertQueue('disk-alarm');
    sch.sendToQueue('disk-alarm', Buffer.from('before'));
    // That connection published: it is blocked now, but what it sent first went in.
    const blocked = await new Promise<string>((r) => setup.once('blocked', r));
    expect(blocked).toMatch(/low on disk/);
    // The management API names every connection's state as 3.10.8 does under an alarm.
    const listed = await fetch(`http://127.0.0.1:${mgmt}/api/connections`, { headers: { authorization: basicAuth('guest', 'guest') } });
    expect(((await listed.json()) as { state: string }[]).map((c) => c.state)).toEqual(['blocking']);

    const consumer = await amqp.connect(url);
    const cch = await consumer.createChannel();
    const m = await cch.get('disk-alarm', { noAck: true });
    expect(m && m.content.toString()).toBe('before');
    await consumer.close();
  } finally {
    await b.kill9();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
