/**
 * End-to-end: the seed tutorial (RabbitMQ基础学习, pika code) against Warren,
 * using real pika (Debian python3-pika) scripts from test/pika/.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { copyFileSync, existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBroker } from '../../src/index.js';
import { REPO_ROOT, spawnBroker, type BrokerProcess } from '../helpers/broker-process.js';

import { waitUntil } from '../helpers/async.js';
import { fib, killAllPy, runPy, startPy, type Event } from '../helpers/pika-process.js';

describe('seed tutorial with pika (in-process broker)', () => {
  let broker: { port: number; close(): Promise<void> } | undefined;
  let P: string[];

  beforeEach(async () => {
    const b = await startBroker({ port: 0, host: '127.0.0.1', logLevel: 'silent' });
    broker = b;
    P = ['--port', String(b.port)];
  });

  afterEach(async () => {
    await killAllPy();
    await broker?.close();
    broker = undefined;
  });

  it('hello world: send then receive gets HelloWorld!!', async () => {
    const send = await runPy('send.py', [...P, '--queue', 'hello1']);
    expect(send.events('sent').map((e) => e.body), send.describe()).toEqual(['HelloWorld!!']);

    const recv = await runPy('receive.py', [...P, '--queue', 'hello1', '--count', '1', '--timeout', '10']);
    const ctx = `${send.describe()}\n${recv.describe()}`;
    expect(recv.events('declared')[0]?.message_count, ctx).toBe(1);
    const got = recv.events('received');
    expect(got.map((e) => e.body), ctx).toEqual(['HelloWorld!!']);
    expect(got[0]!.redelivered, ctx).toBe(false);
    expect(got[0]!.exchange, ctx).toBe('');
    expect(got[0]!.routing_key, ctx).toBe('hello1');
    expect(recv.events('timeout'), ctx).toEqual([]);

    // acked => queue is now empty
    const info = await runPy('queue_info.py', [...P, '--queue', 'hello1']);
    expect(info.events('exists')[0]?.message_count, info.describe()).toBe(0);
  });

  it('an unacked message is redelivered to another consumer after the first consumer is SIGKILLed', async () => {
    const q = 'redeliver_q';
    await runPy('send.py', [...P, '--queue', q, '--body', 'task-A']);

    const first = startPy('noack_consumer.py', [...P, '--queue', q]);
    const firstMsg = await first.waitFor((e) => e.event === 'received', 15_000, 'first delivery');
    expect(firstMsg.body, first.describe()).toBe('task-A');
    expect(firstMsg.redelivered, first.describe()).toBe(false);

    // While the first consumer holds it unacked, nothing is ready in the queue.
    const during = await runPy('queue_info.py', [...P, '--queue', q]);
    expect(during.events('exists')[0], during.describe()).toMatchObject({ message_count: 0, consumer_count: 1 });

    await first.kill('SIGKILL');

    const second = await runPy('receive.py', [...P, '--queue', q, '--count', '1', '--timeout', '10']);
    const ctx = `${first.describe()}\n${second.describe()}`;
    const got = second.events('received');
    expect(got.map((e) => e.body), ctx).toEqual(['task-A']);
    expect(got[0]!.redelivered, ctx).toBe(true);
  });

  it('prefetch_count=1 dispatches fairly: the fast worker handles clearly more than the slow one', async () => {
    const q = 'task_queue';
    const slow = startPy('worker.py', [...P, '--queue', q, '--name', 'slow', '--sleep', '0.5']);
    const fast = startPy('worker.py', [...P, '--queue', q, '--name', 'fast', '--sleep', '0']);
    await slow.waitFor((e) => e.event === 'ready', 15_000, 'slow worker ready');
    await fast.waitFor((e) => e.event === 'ready', 15_000, 'fast worker ready');

    const N = 10;
    await runPy('send.py', [...P, '--queue', q, '--body', 'task', '--count', String(N)]);

    const handled = (): Event[] => [...slow.events('handled'), ...fast.events('handled')];
    const deadline = Date.now() + 20_000;
    while (handled().length < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    // give a stray extra (duplicate) delivery a moment to show up
    await new Promise((r) => setTimeout(r, 300));
    await slow.kill('SIGTERM');
    await fast.kill('SIGTERM');

    const ctx = `${slow.describe()}\n${fast.describe()}`;
    const bodies = handled().map((e) => e.body as string).sort();
    const expected = Array.from({ length: N }, (_, i) => `task-${i}`).sort();
    expect(bodies, ctx).toEqual(expected);
    const nSlow = slow.events('handled').length;
    const nFast = fast.events('handled').length;
    expect(nSlow, `slow=${nSlow} fast=${nFast}\n${ctx}`).toBeGreaterThanOrEqual(1);
    expect(nFast, `slow=${nSlow} fast=${nFast}\n${ctx}`).toBeGreaterThanOrEqual(7);
    expect(nFast, `slow=${nSlow} fast=${nFast}\n${ctx}`).toBeGreaterThan(2 * nSlow);
  });

  it('RPC: Fibonacci server and 3 concurrent clients each get their own right answers', async () => {
    const server = startPy('rpc_server.py', [...P]);
    await server.waitFor((e) => e.event === 'ready', 15_000, 'rpc server ready');

    const plan: Record<string, number[]> = {
      a: [10, 3, 7, 1],
      b: [20, 0, 12, 2],
      c: [15, 25, 5, 9],
    };
    const clients = Object.entries(plan).map(([name, ns]) =>
      startPy('rpc_client.py', [...P, '--name', name, ...ns.map(String)]),
    );
    const exits = await Promise.all(clients.map((c) => c.finish(45_000)));
    const ctx = [server, ...clients].map((p) => p.describe()).join('\n');

    exits.forEach(({ code }) => expect(code, ctx).toBe(0));
    Object.entries(plan).forEach(([name, ns], i) => {
      const c = clients[i]!;
      expect(c.events('result').map((e) => [e.n, e.result]), `client ${name}\n${ctx}`).toEqual(ns.map((n) => [n, fib(n)]));
      expect(c.events('mismatch'), `client ${name}\n${ctx}`).toEqual([]);
    });
    expect(clients[0]!.events('result')[0]?.result, ctx).toBe(55); // fib(10)

    // each client got its own server-named exclusive reply queue
    const replyQueues = clients.map((c) => c.events('callback_queue')[0]?.queue as string);
    expect(new Set(replyQueues).size, ctx).toBe(3);
    replyQueues.forEach((rq) => expect(rq, ctx).toMatch(/^amq\.gen-/));

    const served = server.events('served');
    expect(served.length, ctx).toBe(12);
    served.forEach((s) => expect(s.result, ctx).toBe(fib(s.n as number)));
  });
});

describe('seed tutorial 消息持久化 across a broker process restart', () => {
  let dataDir: string;
  let broker: BrokerProcess | undefined;

  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'warren-pika-'));
  });

  afterEach(async () => {
    await killAllPy();
    if (broker) await broker.kill9().catch(() => undefined);
    broker = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  const restart = async (b: BrokerProcess): Promise<BrokerProcess> => {
    const code = await b.stop();
    expect(code, `broker did not exit 0 on SIGTERM\n${b.output()}`).toBe(0);
    broker = undefined;
    broker = await spawnBroker({ dataDir });
    return broker;
  };

  it('durable queue + delivery_mode=2 survives a restart; non-durable queue and transient message do not', async () => {
    broker = await spawnBroker({ dataDir });
    let P = ['--port', String(broker.port)];

    // seed: durable queue 'hello1', persistent message
    await runPy('durable_send.py', [...P, '--queue', 'hello1', '--body', 'HelloWorld!!']);
    // non-durable queue (seed's first send)
    await runPy('send.py', [...P, '--queue', 'transient_q', '--body', 'gone']);
    // durable queue, but transient (delivery_mode=1) message
    await runPy('durable_send.py', [...P, '--queue', 'durable_q_transient_msg', '--body', 'gone-too', '--delivery-mode', '1']);

    const before = await runPy('queue_info.py', [...P, '--queue', 'hello1']);
    expect(before.events('exists')[0]?.message_count, before.describe()).toBe(1);

    const b1 = broker;
    const b2 = await restart(b1);
    P = ['--port', String(b2.port)];
    const bctx = (): string => `${b1.output()}\n${b2.output()}`;

    const recv = await runPy('durable_receive.py', [...P, '--queue', 'hello1', '--count', '1', '--timeout', '10']);
    expect(recv.events('declared')[0]?.message_count, `${recv.describe()}\n${bctx()}`).toBe(1);
    const got = recv.events('received');
    expect(got.map((e) => e.body), `${recv.describe()}\n${bctx()}`).toEqual(['HelloWorld!!']);
    expect(got[0]!.delivery_mode, recv.describe()).toBe(2);

    const tq = await runPy('queue_info.py', [...P, '--queue', 'transient_q']);
    expect(tq.events('channel_closed')[0]?.reply_code, `non-durable queue should be gone after restart\n${tq.describe()}\n${bctx()}`).toBe(404);

    const dq = await runPy('queue_info.py', [...P, '--queue', 'durable_q_transient_msg']);
    expect(dq.events('exists')[0], `durable queue should survive, its transient message not\n${dq.describe()}\n${bctx()}`)
      .toMatchObject({ message_count: 0 });

    // the ack of the persistent message is persisted too: not redelivered after another restart
    const b3 = await restart(b2);
    const again = await runPy('queue_info.py', ['--port', String(b3.port), '--queue', 'hello1']);
    expect(again.events('exists')[0]?.message_count, `acked message came back after restart\n${again.describe()}\n${b3.output()}`).toBe(0);

    expect(await b3.stop(), b3.output()).toBe(0);
    broker = undefined;
  });

  it('a durable queue longer than the in-memory limit (paged to the store) comes back whole and in order', async () => {
    const paged = ['--page-out-messages', '5'];
    broker = await spawnBroker({ dataDir, args: paged });
    await runPy('durable_send.py', ['--port', String(broker.port), '--queue', 'long_durable', '--body', 'm', '--count', '40']);
    const b1 = broker;
    expect(await b1.stop(), b1.output()).toBe(0);
    broker = await spawnBroker({ dataDir, args: paged });
    const recv = await runPy('durable_receive.py', ['--port', String(broker.port), '--queue', 'long_durable', '--count', '40', '--timeout', '20']);
    expect(recv.events('declared')[0]?.message_count, recv.describe()).toBe(40);
    expect(recv.events('received').map((e) => e.body), `${recv.describe()}\n${broker.output()}`).toEqual(
      Array.from({ length: 40 }, (_, i) => `m-${i}`),
    );
  });
});

describe('seed tutorial 消息持久化 with the broker started as the README says (npm start)', () => {
  let dir: string;
  let broker: BrokerProcess | undefined;

  beforeEach(() => {
    // A fresh checkout's view of the package: its package.json, with the built dist/ and the
    // installed node_modules, so the default data directory lands here and not in the repo.
    dir = mkdtempSync(path.join(os.tmpdir(), 'warren-npm-start-'));
    copyFileSync(path.join(REPO_ROOT, 'package.json'), path.join(dir, 'package.json'));
    symlinkSync(path.join(REPO_ROOT, 'dist'), path.join(dir, 'dist'));
    symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  });

  afterEach(async () => {
    await killAllPy();
    if (broker) await broker.kill9().catch(() => undefined);
    broker = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  // Only the ports differ from the README's command (5672 is not the tests' to take), set the way
  // the README documents: WARREN_<FLAG> environment variables.
  const npmStart = (): Promise<BrokerProcess> =>
    spawnBroker({
      command: { file: 'npm', args: ['start'], cwd: dir },
      env: { WARREN_PORT: '0', WARREN_MANAGEMENT_PORT: '0', WARREN_PROMETHEUS_PORT: '-1', WARREN_HOST: '127.0.0.1' },
    });

  // npm itself exits at SIGTERM, possibly before the broker under it has closed its store: the
  // broker's own "stopped" line (after the store is closed) is what says it is done.
  const stop = async (b: BrokerProcess): Promise<void> => {
    await b.stop();
    await waitUntil(() => b.logs().some((l) => l.msg === 'stopped'), `the broker's "stopped" line\n${b.output()}`, 10_000);
  };

  it('send, restart, receive: the persistent message is still there, in ./warren-data', async () => {
    const b1 = (broker = await npmStart());
    const dataDir = path.join(dir, 'warren-data');
    expect(b1.logs().find((l) => l.dataDir !== undefined)?.dataDir, b1.output()).toBe(dataDir);
    const send = await runPy('durable_send.py', ['--port', String(b1.port), '--queue', 'hello1', '--body', 'HelloWorld!!']);
    expect(send.events('done'), send.describe()).toHaveLength(1);
    await stop(b1);
    expect(existsSync(path.join(dataDir, 'CURRENT'))).toBe(true);

    const b2 = (broker = await npmStart());
    const recv = await runPy('durable_receive.py', ['--port', String(b2.port), '--queue', 'hello1', '--count', '1', '--timeout', '10']);
    const ctx = `${recv.describe()}\n${b1.output()}\n${b2.output()}`;
    expect(recv.events('received').map((e) => e.body), ctx).toEqual(['HelloWorld!!']);
    await stop(b2);
  });

  it('--in-memory is the explicit way to keep nothing', async () => {
    const b1 = (broker = await spawnBroker({
      command: { file: 'npm', args: ['start', '--', '--in-memory'], cwd: dir },
      env: { WARREN_PORT: '0', WARREN_MANAGEMENT_PORT: '0', WARREN_PROMETHEUS_PORT: '-1', WARREN_HOST: '127.0.0.1' },
    }));
    await runPy('durable_send.py', ['--port', String(b1.port), '--queue', 'hello1', '--body', 'gone']);
    await stop(b1);
    expect(existsSync(path.join(dir, 'warren-data')), b1.output()).toBe(false);
    const b2 = (broker = await npmStart());
    const info = await runPy('queue_info.py', ['--port', String(b2.port), '--queue', 'hello1']);
    expect(info.events('channel_closed')[0]?.reply_code, info.describe()).toBe(404);
  });
});
