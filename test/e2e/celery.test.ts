// Celery (Debian's python3-celery, 5.2, with kombu and py-amqp) against Warren: a real worker
// (prefork pool, task events on, mingle and gossip as by default) and a client using the rpc://
// result backend, so that results, retries, countdowns, groups, chains, expiring tasks and the
// remote-control broadcasts (inspect ping, scheduled, active_queues, rate_limit) all travel through
// the broker.
// The same scripts gave the same answers against RabbitMQ 3.10.8.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startBroker } from '../../src/index.js';
import { PYTHON } from '../helpers/pika-process.js';
import { resources } from '../helpers/resources.js';
import { waitUntil } from '../helpers/async.js';

const res = resources();
const CELERY_DIR = fileURLToPath(new URL('../celery/', import.meta.url));

interface Proc {
  proc: ChildProcess;
  out: string;
  exited: Promise<number | null>;
}

function python(args: string[], broker: string): Proc {
  const proc = spawn(PYTHON, ['-u', ...args], {
    cwd: CELERY_DIR,
    env: { ...process.env, CELERY_BROKER: broker, PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const p: Proc = { proc, out: '', exited: new Promise((resolve) => proc.once('close', (code) => resolve(code))) };
  proc.stdout!.on('data', (c: Buffer) => (p.out += c.toString()));
  proc.stderr!.on('data', (c: Buffer) => (p.out += c.toString()));
  res.defer(async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGKILL');
    await p.exited;
  });
  return p;
}

describe('Celery', () => {
  it('a worker and a client run tasks, results, retries, groups, chains, expiry and remote control through Warren', async () => {
    const b = await startBroker({ port: 0, host: '127.0.0.1', logLevel: 'silent' });
    res.defer(() => b.close());
    const url = `amqp://guest:guest@127.0.0.1:${b.port}//`;
    const worker = python(['-m', 'celery', '-A', 'tasks', 'worker', '-l', 'info', '-c', '2', '-E', '-n', 'warren@test'], url);
    await waitUntil(() => /warren@test ready/.test(worker.out) || worker.proc.exitCode !== null, 'the Celery worker to be ready', 30_000);
    expect(worker.out, worker.out).toMatch(/warren@test ready/);

    const client = python(['client.py'], url);
    const code = await client.exited;
    expect(code, client.out).toBe(0);
    const checks = new Map<string, unknown>();
    for (const line of client.out.split('\n')) {
      if (!line.startsWith('{')) continue;
      const c = JSON.parse(line) as { check: string; value: unknown };
      checks.set(c.check, c.value);
    }
    expect(checks.get('add')).toBe(5);
    expect(checks.get('countdown')).toBe(2);
    expect(checks.get('retry')).toBe(2);
    expect(checks.get('group')).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
    expect(checks.get('chain')).toBe(10);
    // Each reaches the worker, which revokes it or, if it read it within the millisecond, runs it.
    expect(checks.get('expires'), /expires: slowest wait .*/.exec(client.out)?.[0]).toEqual(
      Array.from({ length: 30 }, () => 'reached the worker'),
    );
    // The worker holds all five countdown tasks (RabbitMQ 3.10.8: 5), not just its prefetch of 2.
    expect(checks.get('eta_held')).toBe(5);
    expect(checks.get('eta_meanwhile')).toBe(14);
    expect(checks.get('eta_results')).toEqual([0, 2, 4, 6, 8]);
    expect(checks.get('ping')).toEqual({ 'warren@test': { ok: 'pong' } });
    expect(checks.get('active_queues')).toEqual(['celery']);
    expect(checks.get('rate_limit')).toEqual([{ 'warren@test': { ok: 'new rate limit set successfully' } }]);

    // A warm shutdown: the worker cancels its consumers and closes its connections cleanly.
    worker.proc.kill('SIGTERM');
    expect(await worker.exited, worker.out).toBe(0);
    expect(worker.out).not.toMatch(/Traceback|ERROR/);
  }, 120_000);
});
