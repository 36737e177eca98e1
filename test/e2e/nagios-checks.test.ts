// The monitoring checks operators run against RabbitMQ's management API: Debian's
// nagios-plugins-rabbitmq (check_rabbitmq_*, Perl with LWP), against Warren's management port.
// LWP sends credentials only in answer to a 401 challenge of a realm it holds them for, "RabbitMQ
// Management": under Warren's earlier realm every check said "Access refused". Outputs compared
// with RabbitMQ 3.10.8 with rabbitmq_management (the same lines, the same counts for the same state),
// except check_rabbitmq_server: 3.10.8 reports sockets_used 0 even with clients connected, so the
// plugin says "CRITICAL - Unable to get values for Sockets" there; Warren counts its sockets.
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { startBroker, type RunningBroker } from '../../src/index.js';

let broker: RunningBroker;

beforeAll(async () => {
  broker = await startBroker({ managementPort: -1, logLevel: 'silent' });
});

afterAll(async () => {
  await broker?.close();
});

/** A check's exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) and its one line of output. */
function check(name: string, ...args: string[]): Promise<{ code: number; out: string }> {
  return checkOn(broker, name, ...args);
}

function checkOn(b: RunningBroker, name: string, ...args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(`/usr/bin/check_rabbitmq_${name}`, ['-H', '127.0.0.1', '--port', String(b.managementPort), ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? Number((err as { code?: unknown }).code ?? 3) : 0;
      resolve({ code, out: `${String(stdout)}${String(stderr)}`.trim() });
    });
  });
}

const GUEST = ['-u', 'guest', '-p', 'guest'];

describe('nagios-plugins-rabbitmq against Warren', () => {
  it('aliveness, overview, objects, connections and queue checks pass, with the broker state in their figures', async () => {
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.port}`);
    const ch = await conn.createChannel();
    await ch.assertQueue('nagios-q');
    for (let i = 0; i < 3; i++) ch.sendToQueue('nagios-q', Buffer.from(`m${i}`));
    await ch.checkQueue('nagios-q');

    const alive = await check('aliveness', ...GUEST);
    expect(alive, alive.out).toEqual({ code: 0, out: 'RABBITMQ_ALIVENESS OK - vhost: /' });

    // The management API's totals are sampled: the overview sees the 3 messages once sampled.
    let overview = await check('overview', ...GUEST);
    for (let i = 0; i < 40 && !/messages OK \(3\)/.test(overview.out); i++) {
      await new Promise((r) => setTimeout(r, 250));
      overview = await check('overview', ...GUEST);
    }
    expect(overview.code, overview.out).toBe(0);
    expect(overview.out).toMatch(/^RABBITMQ_OVERVIEW OK - messages OK \(3\) messages_ready OK \(3\) messages_unacknowledged OK \(0\)/);

    // The plugin prints each list's last index (Perl's $#), not its length: 2 queues (nagios-q and
    // the aliveness check's own aliveness-test, which RabbitMQ leaves too) print 1, 1 channel 0.
    const objects = await check('objects', ...GUEST);
    expect(objects.code, objects.out).toBe(0);
    expect(objects.out).toMatch(/^RABBITMQ_OBJECTS OK - Gathered Object Counts \| vhost=0;; exchange=\d+;; binding=1;; queue=1;; channel=0;;$/);

    const conns = await check('connections', ...GUEST);
    expect(conns.code, conns.out).toBe(0);
    expect(conns.out).toMatch(/^RABBITMQ_CONNECTIONS OK - connections OK \(1\) connections_notrunning OK \(0\)/);

    const queue = await check('queue', ...GUEST, '--queue', 'nagios-q');
    expect(queue.code, queue.out).toBe(0);
    expect(queue.out).toMatch(/^RABBITMQ_QUEUE OK - messages OK \(3\) messages_ready OK \(3\) messages_unacknowledged OK \(0\) consumers OK \(0\)/);
    // Past a threshold the check says so (messages, ready, unacked, consumers: warning and critical).
    const full = await check('queue', ...GUEST, '--queue', 'nagios-q', '-w', '2,2,10,10', '-c', '5,5,20,20');
    expect(full.code, full.out).toBe(1);
    expect(full.out).toMatch(/^RABBITMQ_QUEUE WARNING - messages WARNING \(3\)/);

    const missing = await check('queue', ...GUEST, '--queue', 'no-such-queue');
    expect(missing.code).toBe(2);
    expect(missing.out).toMatch(/^RABBITMQ_QUEUE CRITICAL - Not Found/);
    await conn.close();
  });

  it('server, watermark and partition checks find a node named rabbit@HOST, the name they ask for', async () => {
    // The three ask for /api/nodes/rabbit@NODE (NODE: -n, else the -H host's first label), so they
    // serve a node started with --node-name rabbit@HOST; Warren's default, warren@<hostname>, is not found.
    const named = await startBroker({ managementPort: -1, logLevel: 'silent', nodeName: 'rabbit@nagios-test' });
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${named.port}`);
    try {
      const server = await checkOn(named, 'server', ...GUEST, '-n', 'nagios-test');
      expect(server.code, server.out).toBe(0);
      expect(server.out).toMatch(/^RABBITMQ_SERVER OK - Memory OK \([\d.]+%\) Process OK \([\d.]+%\) FD OK \([\d.]+%\) Sockets OK \([\d.]+%\) \| Memory=/);
      // Past its thresholds (memory, processes, descriptors, sockets in %): CRITICAL.
      const tight = await checkOn(named, 'server', ...GUEST, '-n', 'nagios-test', '-w', '0,80,80,80', '-c', '0.0001,90,90,90');
      expect(tight.code, tight.out).toBe(2);
      expect(tight.out).toMatch(/^RABBITMQ_SERVER CRITICAL - Memory CRITICAL/);
      // As RabbitMQ 3.10.8 prints them.
      expect(await checkOn(named, 'watermark', ...GUEST, '-n', 'nagios-test')).toEqual({ code: 0, out: 'RABBITMQ_WATERMARK OK - mem_alarm disk_free_alarm' });
      expect(await checkOn(named, 'partition', ...GUEST, '-n', 'nagios-test')).toEqual({ code: 0, out: 'RABBITMQ_PARTITION OK - No Partitions' });
      const other = await checkOn(named, 'server', ...GUEST, '-n', 'elsewhere');
      expect(other.code, other.out).not.toBe(0);
      expect(other.out).toMatch(/nodes\/rabbit@elsewhere/);
    } finally {
      await conn.close();
      await named.close();
    }
  });

  it('a wrong password is refused, as by RabbitMQ', async () => {
    const r = await check('aliveness', '-u', 'guest', '-p', 'wrong');
    expect(r).toEqual({ code: 3, out: 'RABBITMQ_ALIVENESS UNKNOWN - Access refused: /' });
  });
});
