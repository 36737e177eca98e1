// The resource monitor's looks: memory from V8's heap statistics (no /proc read), free disk on
// RabbitMQ's disk monitor's schedule (3.10.8's rabbit_disk_monitor), not at every tick.
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';

const statfsCalls: string[] = [];
let freeBytes = 50e9;
vi.mock('node:fs/promises', async (importOriginal) => {
  const orig = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...orig,
    statfs: async (dir: string) => {
      statfsCalls.push(dir);
      return { ...(await orig.statfs(dir)), bavail: freeBytes / 4096, bsize: 4096 };
    },
  };
});
const { ResourceMonitor, diskCheckIntervalMs, usedMemory } = await import('../../src/server/alarms.js');

describe('diskCheckIntervalMs', () => {
  it('is twice the headroom at 250 MB/s, within 100 ms and 10 s', () => {
    expect(diskCheckIntervalMs(50e9, 50e6)).toBe(10_000);
    expect(diskCheckIntervalMs(1e9 + 50e6, 50e6)).toBe(8_000);
    expect(diskCheckIntervalMs(50e6 + 1e6, 50e6)).toBe(100);
    expect(diskCheckIntervalMs(10e6, 50e6)).toBe(100);
  });
});

describe('usedMemory', () => {
  it("counts the heap and the bodies' buffers as process.memoryUsage() does", () => {
    const m = process.memoryUsage();
    const used = usedMemory();
    // External memory holds the array buffers and a little more (Node's C++ objects).
    expect(used).toBeGreaterThan(m.heapUsed + m.arrayBuffers - 16 * 1024 * 1024);
    expect(used).toBeLessThan(m.heapUsed + m.external + 16 * 1024 * 1024);
    const bodies = Array.from({ length: 64 }, () => Buffer.allocUnsafeSlow(1024 * 1024));
    expect(usedMemory() - used).toBeGreaterThanOrEqual(60 * 1024 * 1024);
    expect(bodies).toHaveLength(64);
  });
});

describe('ResourceMonitor', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    statfsCalls.length = 0;
  });
  const monitor = (limit: number): InstanceType<typeof ResourceMonitor> => {
    dir = mkdtempSync(join(tmpdir(), 'warren-alarms-'));
    return new ResourceMonitor({ memoryHighWatermark: 0.99, diskFreeLimit: limit, dataDir: dir, intervalMs: 10 }, pino({ level: 'silent' }), () => {});
  };

  it('looks at a disk far from its limit once in 10 s, though its timer ticks every 10 ms', async () => {
    freeBytes = 50e9;
    const m = monitor(50e6);
    m.start();
    await new Promise((r) => setTimeout(r, 400));
    m.stop();
    expect(statfsCalls).toHaveLength(1);
    expect(m.diskAlarm).toBe(false);
  });

  it('looks every 100 ms under the limit, and at once when the limit is set', async () => {
    freeBytes = 10e6;
    const m = monitor(50e6);
    m.start();
    await new Promise((r) => setTimeout(r, 450));
    expect(m.diskAlarm).toBe(true);
    const looks = statfsCalls.length;
    // About four; not one a tick (45), nor one in 10 s.
    expect(looks).toBeGreaterThanOrEqual(2);
    expect(looks).toBeLessThanOrEqual(10);
    // With the timer stopped, only the look that setting a limit makes can clear the alarm.
    m.stop();
    m.setDiskFreeLimit({ absolute: 1e6 });
    await vi.waitFor(() => expect(m.diskAlarm).toBe(false));
    expect(statfsCalls.length).toBe(looks + 1);
  });
});
