// The broker process asks Linux for a short scheduler slice for its event loop's thread, and for
// that thread only (src/loop-slice.ts); the slice is read back from /proc, not from the broker.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI_PATH, spawnBroker, type BrokerProcess } from '../helpers/broker-process.js';

/** The kernel's slice for a thread, in ns (/proc/<pid>/task/<tid>/sched, with CONFIG_SCHED_DEBUG). */
function sliceOf(pid: number, tid: number): number | null {
  const m = /^se\.slice\s*:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/sched`, 'utf8'));
  return m ? Number(m[1]) : null;
}
const [major = 0, minor = 0] = release().split('.').map(Number);
const customSlices = process.platform === 'linux' && (major > 6 || (major === 6 && minor >= 12));
const readable = existsSync('/proc/self/sched') && /^se\.slice/m.test(readFileSync('/proc/self/sched', 'utf8'));

async function logged(b: BrokerProcess, pred: (l: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> {
  for (let i = 0; i < 100; i++) {
    const rec = b.logs().find(pred);
    if (rec) return rec;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not logged:\n${b.output()}`);
}

describe('--loop-slice', () => {
  it.runIf(customSlices && readable)("gives the event loop's thread the slice asked for, and no other thread", async () => {
    const b = await spawnBroker({ args: ['--in-memory', '--log-level', 'debug', '--loop-slice', '250'] });
    try {
      const pid = b.proc.pid!;
      const rec = await logged(b, (l) => l.msg === 'event loop scheduler slice set');
      expect(rec.sliceUs).toBe(250);
      expect(sliceOf(pid, pid)).toBe(250_000);
      const others = readdirSync(`/proc/${pid}/task`).map(Number).filter((t) => t !== pid);
      expect(others.length).toBeGreaterThan(0);
      for (const t of others) expect(sliceOf(pid, t)).not.toBe(250_000);
    } finally {
      await b.stop();
    }
  });

  it.runIf(customSlices && readable)('is 300 µs unless given, and 0 leaves the kernel default', async () => {
    const a = await spawnBroker({ args: ['--in-memory', '--log-level', 'debug'] });
    const b = await spawnBroker({ args: ['--in-memory', '--log-level', 'debug', '--loop-slice', '0'] });
    try {
      await logged(a, (l) => l.msg === 'event loop scheduler slice set');
      expect(sliceOf(a.proc.pid!, a.proc.pid!)).toBe(300_000);
      const pid = b.proc.pid!;
      const helper = readdirSync(`/proc/${pid}/task`).map(Number).find((t) => t !== pid)!;
      expect(sliceOf(pid, pid)).toBe(sliceOf(pid, helper));
      expect(b.logs().some((l) => typeof l.msg === 'string' && l.msg.includes('slice'))).toBe(false);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it.runIf(process.platform === 'linux' && !customSlices)('says why on a kernel without slices per thread', async () => {
    const b = await spawnBroker({ args: ['--in-memory', '--log-level', 'debug'] });
    try {
      const rec = await logged(b, (l) => typeof l.msg === 'string' && l.msg.startsWith("event loop keeps the kernel's scheduler slice"));
      expect(rec.reason).toContain('6.12');
    } finally {
      await b.stop();
    }
  });

  it('refuses a slice the kernel would not take', () => {
    for (const v of ['50', '100001', '2.5']) {
      const r = spawnSync(process.execPath, [CLI_PATH, '--in-memory', '--loop-slice', v], { encoding: 'utf8' });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`--loop-slice: ${v} is not 0 or an integer from 100 to 100000`);
    }
  });
});
