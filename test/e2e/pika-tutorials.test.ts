/**
 * End-to-end: RabbitMQ's six classic tutorials (https://www.rabbitmq.com/tutorials, Python
 * version) against Warren, with real pika (Debian python3-pika) scripts test/pika/tutorial_*.py.
 *
 * Subscribers in tutorials 3-5 stop on an '__END__' sentinel that the emitter publishes to each
 * subscriber's queue through the default exchange *after* its log messages, on the same channel:
 * by per-channel ordering, a subscriber that has seen its sentinel has seen everything routed to
 * it, so the tests can assert exact delivered sets without sleeping.
 */
import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBroker } from '../../src/index.js';
import { spawnBroker, type BrokerProcess } from '../helpers/broker-process.js';

import { fib, killAllPy, runPy, startPy, type PyProc, type Event } from '../helpers/pika-process.js';

/** Start a subscriber and wait until its queue is declared, bound and consumed from. */
async function startSubscriber(script: string, args: string[]): Promise<{ p: PyProc; queue: string }> {
  const p = startPy(script, args);
  const ready = await p.waitFor((e) => e.event === 'ready', 15_000, `${script} ready`);
  return { p, queue: ready.queue as string };
}

/** Wait for every subscriber to see its sentinel and exit 0. */
async function finishAll(ps: PyProc[]): Promise<string> {
  const exits = await Promise.all(ps.map((p) => p.finish(20_000)));
  const ctx = ps.map((p) => p.describe()).join('\n');
  exits.forEach(({ code }, i) => expect(code, `${ps[i]!.name} failed\n${ctx}`).toBe(0));
  ps.forEach((p) => expect(p.events('end').length, `${p.name} saw no __END__\n${ctx}`).toBe(1));
  return ctx;
}

describe('RabbitMQ tutorials with pika (in-process broker)', () => {
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

  it('1 hello world: send.py then receive.py gets exactly "Hello World!"', async () => {
    const send = await runPy('tutorial_send.py', [...P]);
    expect(send.events('sent').map((e) => e.body), send.describe()).toEqual(['Hello World!']);

    const recv = await runPy('tutorial_receive.py', [...P, '--count', '1']);
    const ctx = `${send.describe()}\n${recv.describe()}`;
    expect(recv.events('declared')[0]?.message_count, ctx).toBe(1);
    expect(recv.events('received'), ctx).toEqual([
      { event: 'received', body: 'Hello World!', exchange: '', routing_key: 'hello', redelivered: false },
    ]);

    // auto_ack: the queue is empty afterwards
    const info = await runPy('queue_info.py', [...P, '--queue', 'hello']);
    expect(info.events('exists')[0], info.describe()).toMatchObject({ message_count: 0, consumer_count: 0 });
  });

  it('1 hello world: a receiver started first gets the message sent afterwards', async () => {
    const recv = startPy('tutorial_receive.py', [...P, '--count', '1']);
    await recv.waitFor((e) => e.event === 'ready', 15_000, 'receiver ready');
    await runPy('tutorial_send.py', [...P, '--body', 'late hello']);
    const { code } = await recv.finish();
    expect(code, recv.describe()).toBe(0);
    expect(recv.events('received').map((e) => e.body), recv.describe()).toEqual(['late hello']);
  });

  it('2 work queues: prefetch_count=1 sends quick tasks to the idle worker while the other is busy', async () => {
    const w1 = startPy('tutorial_worker.py', [...P, '--name', 'w1', '--dot-seconds', '0.1']);
    const w2 = startPy('tutorial_worker.py', [...P, '--name', 'w2', '--dot-seconds', '0.1']);
    await w1.waitFor((e) => e.event === 'ready', 15_000, 'w1 ready');
    await w2.waitFor((e) => e.event === 'ready', 15_000, 'w2 ready');

    const long = 'Long task....................'; // 20 dots = 2 s
    const quick = ['Quick 1.', 'Quick 2.', 'Quick 3.', 'Quick 4.']; // 0.1 s each
    await runPy('tutorial_new_task.py', [...P, long, ...quick]);

    const handled = (): Event[] => [...w1.events('handled'), ...w2.events('handled')];
    const deadline = Date.now() + 20_000;
    while (handled().length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const ctx = `${w1.describe()}\n${w2.describe()}`;
    expect(handled().length, ctx).toBe(5);

    // Whichever worker took the long task handled only that; the other did all quick ones in order.
    const [busy, idle] = w1.events('handled').some((e) => e.body === long) ? [w1, w2] : [w2, w1];
    expect(busy.events('started').map((e) => e.body), ctx).toEqual([long]);
    expect(idle.events('handled').map((e) => e.body), ctx).toEqual(quick);
    handled().forEach((e) => {
      expect(e.delivery_mode, ctx).toBe(2);
      expect(e.redelivered, ctx).toBe(false);
    });

    const info = await runPy('queue_info.py', [...P, '--queue', 'task_queue']);
    expect(info.events('exists')[0], info.describe()).toMatchObject({ message_count: 0, consumer_count: 2 });
  });

  it('2 work queues: a task whose worker dies before acking is redelivered to another worker', async () => {
    const w1 = startPy('tutorial_worker.py', [...P, '--name', 'w1', '--dot-seconds', '10']);
    await w1.waitFor((e) => e.event === 'ready', 15_000, 'w1 ready');
    await runPy('tutorial_new_task.py', [...P, 'Hello...']);
    const started = await w1.waitFor((e) => e.event === 'started', 15_000, 'w1 started the task');
    expect(started.body, w1.describe()).toBe('Hello...');
    await w1.kill('SIGKILL');

    const w2 = await runPy('tutorial_worker.py', [...P, '--name', 'w2', '--dot-seconds', '0', '--count', '1']);
    const ctx = `${w1.describe()}\n${w2.describe()}`;
    expect(w1.events('handled'), ctx).toEqual([]);
    expect(w2.events('handled').map((e) => [e.body, e.redelivered, e.delivery_mode]), ctx).toEqual([['Hello...', true, 2]]);
  });

  it('2 work queues: task_queue is durable (redeclaring it non-durable fails with 406)', async () => {
    await runPy('tutorial_new_task.py', [...P, 'x']);
    // seed's receive.py declares the queue non-durable unless --durable: RabbitMQ refuses that.
    const recv = startPy('receive.py', [...P, '--queue', 'task_queue', '--timeout', '2']);
    const { code } = await recv.finish();
    expect(code, recv.describe()).not.toBe(0);
    expect(recv.describe()).toMatch(/406/);
    expect(recv.describe()).toMatch(/PRECONDITION_FAILED/);
  });

  it('3 publish/subscribe: every subscriber of the fanout exchange "logs" gets every log; none before it subscribed', async () => {
    // Nobody is listening yet: this one is dropped (the tutorial: "messages will be lost").
    await runPy('tutorial_emit_log.py', [...P, 'info: nobody listens']);

    const a = await startSubscriber('tutorial_receive_logs.py', [...P, '--name', 'a']);
    const b = await startSubscriber('tutorial_receive_logs.py', [...P, '--name', 'b']);
    expect(a.queue, a.p.describe()).toMatch(/^amq\.gen-/);
    expect(b.queue, b.p.describe()).toMatch(/^amq\.gen-/);
    expect(a.queue).not.toBe(b.queue);

    const logs = ['info: Hello World!', 'warning: disk 90%', 'error: disk full'];
    await runPy('tutorial_emit_log.py', [...P, '--end-to', a.queue, '--end-to', b.queue, ...logs]);
    const ctx = await finishAll([a.p, b.p]);

    for (const s of [a, b]) {
      expect(s.p.events('received').map((e) => e.body), ctx).toEqual(logs);
      s.p.events('received').forEach((e) => expect(e.exchange, ctx).toBe('logs'));
    }

    // exclusive queues go away with their connections
    for (const q of [a.queue, b.queue]) {
      const info = await runPy('queue_info.py', [...P, '--queue', q]);
      expect(info.events('channel_closed')[0]?.reply_code, info.describe()).toBe(404);
    }
  });

  it('4 routing: direct exchange "direct_logs" routes by severity; multiple bindings and keys', async () => {
    const errors = await startSubscriber('tutorial_receive_logs_direct.py', [...P, '--name', 'errors', 'error']);
    const all = await startSubscriber('tutorial_receive_logs_direct.py', [...P, '--name', 'all', 'info', 'warning', 'error']);
    const warn = await startSubscriber('tutorial_receive_logs_direct.py', [...P, '--name', 'warn', 'warning', 'warning']);

    const sends: [string, string][] = [
      ['info', 'Run. Run. Or it will explode.'],
      ['warning', 'disk 90%'],
      ['error', 'disk full'],
      ['debug', 'nobody binds debug'],
      ['Error', 'keys are case-sensitive'],
      ['error.', 'not error either'],
      ['info', 'second info'],
    ];
    await runPy('tutorial_emit_log_direct.py', [
      ...P,
      ...sends.flatMap(([k, m]) => ['--send', k, m]),
      ...[errors, all, warn].flatMap((s) => ['--end-to', s.queue]),
    ]);
    const ctx = await finishAll([errors.p, all.p, warn.p]);
    const got = (s: { p: PyProc }): string[][] => s.p.events('received').map((e) => [e.routing_key as string, e.body as string]);

    expect(got(errors), ctx).toEqual([['error', 'disk full']]);
    expect(got(all), ctx).toEqual([
      ['info', 'Run. Run. Or it will explode.'],
      ['warning', 'disk 90%'],
      ['error', 'disk full'],
      ['info', 'second info'],
    ]);
    expect(got(warn), ctx).toEqual([['warning', 'disk 90%']]);
    [errors, all, warn].forEach((s) => s.p.events('received').forEach((e) => expect(e.exchange, ctx).toBe('direct_logs')));
  });

  it('5 topics: "topic_logs" with * and # binding keys delivers exactly per the AMQP topic rules', async () => {
    const bindings: Record<string, string[]> = {
      Q1: ['*.orange.*'],
      Q2: ['*.*.rabbit', 'lazy.#'],
      all: ['#'],
      kern: ['kern.*'],
      critical: ['*.critical'],
      exact: ['quick.orange.rabbit'],
      hashmid: ['lazy.#.fox'],
    };
    const subs: Record<string, { p: PyProc; queue: string }> = {};
    for (const [name, keys] of Object.entries(bindings)) {
      subs[name] = await startSubscriber('tutorial_receive_logs_topic.py', [...P, '--name', name, ...keys]);
    }

    // routing key -> subscribers that must get it (once each)
    const expected: [string, string[]][] = [
      ['quick.orange.rabbit', ['Q1', 'Q2', 'all', 'exact']],
      ['lazy.orange.elephant', ['Q1', 'Q2', 'all']],
      ['quick.orange.fox', ['Q1', 'all']],
      ['lazy.brown.fox', ['Q2', 'all', 'hashmid']],
      ['lazy.pink.rabbit', ['Q2', 'all']], // matches both of Q2's bindings: still one copy
      ['quick.brown.fox', ['all']],
      ['orange', ['all']],
      ['quick.orange.male.rabbit', ['all']],
      ['lazy.orange.male.rabbit', ['Q2', 'all']],
      ['quick.orange.new.rabbit', ['all']], // 4 words: neither *.orange.* nor *.*.rabbit
      ['lazy', ['Q2', 'all']], // '#' matches zero words
      ['lazy.fox', ['Q2', 'all', 'hashmid']],
      ['lazy.a.b.c.fox', ['Q2', 'all', 'hashmid']],
      ['kern.critical', ['all', 'kern', 'critical']],
      ['kern.critical.disk', ['all']],
      ['anonymous.info', ['all']],
      ['quick..rabbit', ['Q2', 'all']], // empty middle word still counts as a word
    ];
    await runPy('tutorial_emit_log_topic.py', [
      ...P,
      ...expected.flatMap(([k]) => ['--send', k, `msg for ${k}`]),
      ...Object.values(subs).flatMap((s) => ['--end-to', s.queue]),
    ]);
    const ctx = await finishAll(Object.values(subs).map((s) => s.p));

    for (const name of Object.keys(bindings)) {
      const want = expected.filter(([, who]) => who.includes(name)).map(([k]) => k);
      const got = subs[name]!.p.events('received');
      expect(got.map((e) => e.routing_key), `subscriber ${name} (${bindings[name]!.join(' ')})\n${ctx}`).toEqual(want);
      got.forEach((e) => expect(e.body, ctx).toBe(`msg for ${e.routing_key as string}`));
    }
  });

  it('6 RPC: two Fibonacci servers, two concurrent clients, every reply correlated correctly', async () => {
    const s1 = startPy('tutorial_rpc_server.py', [...P, '--name', 's1']);
    const s2 = startPy('tutorial_rpc_server.py', [...P, '--name', 's2']);
    await s1.waitFor((e) => e.event === 'ready', 15_000, 's1 ready');
    await s2.waitFor((e) => e.event === 'ready', 15_000, 's2 ready');

    const plan: Record<string, number[]> = { a: [30, 0, 1, 10, 7], b: [20, 2, 15, 5] };
    const clients = Object.entries(plan).map(([name, ns]) =>
      startPy('tutorial_rpc_client.py', [...P, '--name', name, ...ns.map(String)]),
    );
    const exits = await Promise.all(clients.map((c) => c.finish(45_000)));
    const ctx = [s1, s2, ...clients].map((p) => p.describe()).join('\n');
    exits.forEach(({ code }) => expect(code, ctx).toBe(0));

    Object.entries(plan).forEach(([name, ns], i) => {
      const c = clients[i]!;
      expect(c.events('result').map((e) => [e.n, e.result]), `client ${name}\n${ctx}`).toEqual(ns.map((n) => [n, fib(n)]));
      expect(c.events('mismatch'), `client ${name}\n${ctx}`).toEqual([]);
    });
    expect(clients[0]!.events('result')[0]?.result, ctx).toBe(832040); // fib(30)

    const replyQueues = clients.map((c) => c.events('callback_queue')[0]?.queue as string);
    expect(new Set(replyQueues).size, ctx).toBe(2);
    replyQueues.forEach((q) => expect(q, ctx).toMatch(/^amq\.gen-/));

    const served = [...s1.events('served'), ...s2.events('served')];
    expect(served.length, ctx).toBe(9);
    served.forEach((s) => {
      expect(s.result, ctx).toBe(fib(s.n as number));
      expect(replyQueues, ctx).toContain(s.reply_to);
    });
    // fib(30) keeps one server busy for a while; prefetch_count=1 lets the other serve meanwhile.
    expect(s1.events('served').length, ctx).toBeGreaterThan(0);
    expect(s2.events('served').length, ctx).toBeGreaterThan(0);

    // the clients' exclusive callback queues are gone with their connections
    for (const q of replyQueues) {
      const info = await runPy('queue_info.py', [...P, '--queue', q]);
      expect(info.events('channel_closed')[0]?.reply_code, info.describe()).toBe(404);
    }
  });
});

describe('RabbitMQ tutorial 2 durability across a broker restart (pika)', () => {
  let dataDir: string;
  let broker: BrokerProcess | undefined;

  beforeEach(() => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'warren-pika-tut-'));
  });

  afterEach(async () => {
    await killAllPy();
    if (broker) await broker.kill9().catch(() => undefined);
    broker = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('durable task_queue + delivery_mode=2: tasks survive a restart and are handled once', async () => {
    const b1 = await spawnBroker({ dataDir });
    broker = b1;
    const tasks = ['First message.', 'Second message..', 'Third message...'];
    await runPy('tutorial_new_task.py', ['--port', String(b1.port), ...tasks]);

    expect(await b1.stop(), b1.output()).toBe(0);
    broker = undefined;
    const b2 = await spawnBroker({ dataDir });
    broker = b2;

    const w = await runPy('tutorial_worker.py', ['--port', String(b2.port), '--name', 'w', '--dot-seconds', '0', '--count', '3']);
    const ctx = `${w.describe()}\n${b1.output()}\n${b2.output()}`;
    expect(w.events('handled').map((e) => [e.body, e.delivery_mode]), ctx).toEqual(tasks.map((t) => [t, 2]));

    const info = await runPy('queue_info.py', ['--port', String(b2.port), '--queue', 'task_queue']);
    expect(info.events('exists')[0]?.message_count, info.describe()).toBe(0);
    expect(await b2.stop(), b2.output()).toBe(0);
    broker = undefined;
  });
});
