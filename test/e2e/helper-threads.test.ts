// The broker process lowers the priority of Node's platform threads (V8's compiler and GC workers)
// and leaves the event loop's thread and libuv's pool as they are (src/helper-threads.ts).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import amqp from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libuvPoolSize, splitThreads } from '../../src/helper-threads.js';
import { CLI_PATH, spawnBroker, type BrokerProcess } from '../helpers/broker-process.js';

describe('splitThreads', () => {
  it('takes the newest pool-size ids as the pool, the rest but the main thread as helpers', () => {
    // Ids of other processes come between (1003, 1006 are not ours).
    expect(splitThreads([1000, 1009, 1001, 1002, 1004, 1005, 1007, 1008], 1000, 4)).toEqual({
      helpers: [1001, 1002, 1004],
      pool: [1005, 1007, 1008, 1009],
    });
  });
  it('gives up when the ids wrapped or are too few', () => {
    expect(splitThreads([4_194_000, 4_194_001, 300, 301, 302, 303], 4_194_000, 4)).toEqual({ skipped: 'thread ids wrapped around' });
    expect(splitThreads([10, 11, 12, 13, 14], 10, 4)).toHaveProperty('skipped');
  });
  it("reads UV_THREADPOOL_SIZE as libuv does", () => {
    expect([undefined, '3', '0', 'x', '2000', '-1'].map(libuvPoolSize)).toEqual([4, 3, 1, 1, 1024, 1024]);
  });
});

/** /proc/<pid>/task/<tid>/stat's fields after the command (in parentheses, spaces allowed). */
const statOf = (pid: number, tid: number): string[] => {
  const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
};
// Fields 19 (nice), 14 and 15 (user and system clock ticks) of proc(5), counted from the state (3).
const niceOf = (pid: number, tid: number): number => Number(statOf(pid, tid)[16]);
const cpuTicksOf = (pid: number, tid: number): number => Number(statOf(pid, tid)[11]) + Number(statOf(pid, tid)[12]);

describe.runIf(process.platform === 'linux')('the broker process', () => {
  let dir: string;
  let b: BrokerProcess;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'warren-threads-'));
    b = await spawnBroker({
      dataDir: dir,
      args: ['--log-level', 'debug', '--helper-threads-nice', '7'],
      env: { UV_THREADPOOL_SIZE: '3', NODE_OPTIONS: '--v8-pool-size=2' },
    });
  });
  afterAll(async () => {
    await b?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lowers V8's threads by the nice levels given and keeps the event loop's and libuv's pool where they were", async () => {
    const pid = b.proc.pid!;
    const rec = b.logs().find((l) => l.msg === 'helper threads lowered');
    expect(rec, b.output()).toBeDefined();
    const helpers = rec!.helperThreads as number[];
    const pool = rec!.libuvPool as number[];
    expect(pool).toHaveLength(3);
    // The delayed-task scheduler, the two V8 workers, and the inspector's signal thread in Node 20.
    expect(helpers.length).toBeGreaterThanOrEqual(2);
    const live = new Set(readdirSync(`/proc/${pid}/task`).map(Number));
    for (const t of [...helpers, ...pool]) expect(live.has(t)).toBe(true);
    // Relative to the main thread's: the test runner may itself run niced.
    const base = niceOf(pid, pid);
    expect(helpers.map((t) => niceOf(pid, t))).toEqual(helpers.map(() => Math.min(19, base + 7)));
    expect(pool.map((t) => niceOf(pid, t))).toEqual([base, base, base]);

    // Work that makes V8 optimize the broker's hot paths: the lowered threads are the ones that
    // compile (a wrong split would have lowered idle pool threads and left the compilers at 0).
    const before = helpers.reduce((s, t) => s + cpuTicksOf(pid, t), 0);
    const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${b.port}`);
    const ch = await conn.createConfirmChannel();
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const body = Buffer.alloc(64);
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 2000; i++) ch.sendToQueue(q, body);
      await ch.waitForConfirms();
    }
    let got = 0;
    await new Promise<void>((resolve) => {
      void ch.consume(q, (m) => {
        if (m && ++got === 40_000) resolve();
      }, { noAck: true });
    });
    await conn.close();
    const after = helpers.reduce((s, t) => s + cpuTicksOf(pid, t), 0);
    expect(after - before).toBeGreaterThan(0);
  });
});

describe('--helper-threads-nice', () => {
  it.runIf(process.platform === 'linux')("is 5 below the event loop's thread unless given", async () => {
    const b = await spawnBroker({ args: ['--in-memory', '--log-level', 'debug'] });
    try {
      const pid = b.proc.pid!;
      const want = Math.min(19, niceOf(pid, pid) + 5);
      const rec = b.logs().find((l) => l.msg === 'helper threads lowered');
      expect(rec?.nice, b.output()).toBe(want);
      for (const t of rec!.helperThreads as number[]) expect(niceOf(pid, t)).toBe(want);
    } finally {
      await b.stop();
    }
  });
  it('0 leaves every thread at its priority', async () => {
    const b = await spawnBroker({ args: ['--in-memory', '--helper-threads-nice', '0', '--log-level', 'debug'] });
    try {
      const pid = b.proc.pid!;
      expect(b.logs().some((l) => l.msg === 'helper threads lowered')).toBe(false);
      if (process.platform === 'linux') {
        const base = niceOf(pid, pid);
        for (const t of readdirSync(`/proc/${pid}/task`).map(Number)) expect(niceOf(pid, t)).toBe(base);
      }
    } finally {
      await b.stop();
    }
  });
  it('refuses a value outside 0-19', () => {
    const r = spawnSync(process.execPath, [CLI_PATH, '--in-memory', '--helper-threads-nice', '20'], { encoding: 'utf8' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('--helper-threads-nice: 20 is not an integer from 0 to 19');
  });
});
