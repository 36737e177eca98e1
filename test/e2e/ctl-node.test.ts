// warren ctl version, set_log_level, await_online_nodes, list_unresponsive_queues and stop on one node,
// with rabbitmqctl 3.10.8's lines and exit codes (run side by side with it; the cluster's
// await_online_nodes is in cluster.test.ts). Runs `node dist/cli.js ctl`: needs `npm run build`.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import amqp from 'amqplib';
import { pino } from 'pino';
import { startBroker, type RunningBroker } from '../../src/index.js';
import { RABBITMQ_VERSION } from '../../src/server/server-properties.js';
import { apiClient, freePort, runCtl } from '../helpers/management-client.js';
import { waitUntil } from '../helpers/async.js';
import { resources } from '../helpers/resources.js';

const res = resources();

let broker: RunningBroker;
let url: string;
let node: string;
const lines: { level: number; msg: string }[] = [];

beforeAll(async () => {
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s) as { level: number; msg: string }) });
  broker = await startBroker({ managementPort: -1, logger });
  url = `http://127.0.0.1:${broker.managementPort}`;
  node = broker.broker.nodeName;
});

afterAll(async () => {
  await broker?.close();
});

const ctl = (...args: string[]) => runCtl(url, args);

describe('warren ctl: node commands', () => {
  it('version prints the RabbitMQ version Warren answers as; json names the node', async () => {
    expect(await ctl('version')).toMatchObject({ code: 0, stdout: `${RABBITMQ_VERSION}\n` });
    expect(await ctl('-q', 'version')).toMatchObject({ code: 0, stdout: `${RABBITMQ_VERSION}\n` });
    const j = await ctl('version', '--formatter', 'json');
    expect(JSON.parse(j.stdout)).toEqual({ node, result: 'ok', value: { version: RABBITMQ_VERSION } });
  });

  it('set_log_level changes the level of the broker and of connections already open; a level it does not know exits 69', async () => {
    const debugClosings = (): number => lines.filter((l) => l.level === 20 && l.msg === 'client closed connection').length;
    const url0 = `amqp://127.0.0.1:${broker.port}`;
    const before = await amqp.connect(url0);
    expect(await ctl('set_log_level', 'debug')).toMatchObject({ code: 0, stdout: 'Setting log level to "debug" ...\n' });
    // A connection open before the change logs at debug now, as one opened after it does.
    await before.close();
    await waitUntil(() => debugClosings() === 1, 'the debug line of the connection opened before');
    await (await amqp.connect(url0)).close();
    await waitUntil(() => debugClosings() === 2, 'the debug line of a new connection');
    expect(await ctl('set_log_level', 'warning')).toMatchObject({ code: 0, stdout: 'Setting log level to "warning" ...\n' });
    await (await amqp.connect(url0)).close();
    await new Promise((r) => setTimeout(r, 200));
    expect(debugClosings()).toBe(2);
    expect(broker.broker.log.level).toBe('warn');
    const bad = await ctl('set_log_level', 'bogus');
    expect([bad.code, bad.stdout, bad.stderr.trim()]).toEqual([69, '', 'Error:\nlevel bogus is not supported. Try one of debug, info, warning, error, critical, none']);
    expect((await ctl('set_log_level')).code).toBe(64);
    await ctl('set_log_level', 'info');
  });

  it('the API calls behind stop and set_log_level are for administrators only', async () => {
    const api = apiClient(url);
    expect((await api('PUT', '/api/users/watcher', { body: { password: 'pw', tags: 'monitoring' } })).status).toBe(201);
    const as = { auth: ['watcher', 'pw'] as [string, string] };
    expect((await api('POST', '/api/warren/stop', as)).status).toBe(401);
    expect((await api('PUT', '/api/warren/log-level', { ...as, body: { level: 'debug' } })).status).toBe(401);
    expect(broker.broker.log.level).not.toBe('debug');
    // Still running: the refused stop did nothing.
    expect((await api('GET', '/api/overview')).status).toBe(200);
    expect((await api('PUT', '/api/warren/log-level', { body: { level: 'loud' } })).status).toBe(400);
  });

  it('await_online_nodes returns once enough nodes run, exits 70 past -t, 65 for a count that is not positive', async () => {
    const one = await ctl('await_online_nodes', '1');
    expect([one.code, one.stdout]).toEqual([0, `Will wait for at least 1 nodes to join the cluster of ${node}. Timeout: 300 seconds.\n`]);
    const t0 = Date.now();
    const two = await ctl('await_online_nodes', '2', '-t', '1');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect([two.code, two.stderr.trim()]).toEqual([70, `Error:\nError: timed out while waiting. Not enough nodes joined ${node}'s cluster.`]);
    for (const bad of ['x', '0', '1.5']) {
      const r = await ctl('await_online_nodes', bad);
      expect(r.code).toBe(65);
      expect(r.stderr).toContain('Bad argument: Argument must be a positive integer');
    }
    expect((await ctl('await_online_nodes')).code).toBe(64);
  });

  it('list_unresponsive_queues: a node’s own queues always answer; columns are checked', async () => {
    const conn = await amqp.connect(`amqp://127.0.0.1:${broker.port}`);
    const ch = await conn.createChannel();
    await ch.assertQueue('answers', { durable: false });
    expect(await ctl('list_unresponsive_queues')).toMatchObject({ code: 0, stdout: 'Listing unresponsive queues for vhost / ...\n' });
    expect(await ctl('list_unresponsive_queues', '--local', 'name', 'durable')).toMatchObject({ code: 0, stdout: 'Listing unresponsive queues for vhost / ...\n' });
    expect(await ctl('list_unresponsive_queues', '--formatter', 'json')).toMatchObject({ code: 0, stdout: '[\n]\n' });
    const bad = await ctl('list_unresponsive_queues', 'foo');
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('Info key(s) foo are not supported');
    await conn.close();
  });

  it('stop [pidfile] stops a broker process as SIGTERM does and waits for it; a broker gone is 69, or 0 with --idempotent', async () => {
    const dir = await res.tempDir('warren-ctl-stop-');
    const pidFile = `${dir}/warren.pid`;
    const mgmt = await freePort();
    const b = await res.broker(`${dir}/data`, ['--management-port', String(mgmt), '--pid-file', pidFile]);
    const at = `http://127.0.0.1:${mgmt}`;
    const conn = await amqp.connect(`amqp://127.0.0.1:${b.port}`);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('kept', { durable: true });
    ch.sendToQueue('kept', Buffer.from('across the stop'), { persistent: true });
    await ch.waitForConfirms();
    conn.on('error', () => undefined);
    const pid = b.proc.pid!;
    const r = await runCtl(at, ['stop', pidFile]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Stopping and halting node \\S+ \\(will monitor pid file ${pidFile}\\) \\.\\.\\.\nprocess ${pid} \\(take from pid file ${pidFile}\\) is no longer running\n$`));
    // A clean shutdown: exit 0, the pid file gone, and the durable message there after a restart.
    expect((await b.exited).code).toBe(0);
    expect(b.logs().some((l) => l.msg === 'stopped')).toBe(true);
    const again = await res.broker(`${dir}/data`);
    const c2 = await amqp.connect(`amqp://127.0.0.1:${again.port}`);
    const got = await (await c2.createChannel()).get('kept', { noAck: true });
    expect(got && got.content.toString()).toBe('across the stop');
    await c2.close();
    expect((await runCtl(at, ['stop'])).code).toBe(69);
    const idem = await runCtl(at, ['stop', '--idempotent']);
    expect([idem.code, idem.stdout]).toEqual([0, `Node ${at} is no longer running\n`]);
  });
});
