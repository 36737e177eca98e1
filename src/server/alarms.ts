// Resource alarms, as RabbitMQ's vm_memory_high_watermark and disk_free_limit: while memory is over
// the watermark or free disk under the floor, publishing connections are blocked (sent
// connection.blocked and no longer read, so TCP pushes back); consumers keep draining.
import { statfs } from 'node:fs/promises';
import { totalmem } from 'node:os';
import { getHeapStatistics } from 'node:v8';
import type { Logger } from 'pino';
import { slabPool } from '../frames/body-pool.js';

export interface AlarmOptions {
  /** Memory watermark: a fraction of RAM when ≤ 1, else bytes. */
  memoryHighWatermark: number;
  /** Free disk space below which publishing stops, bytes. */
  diskFreeLimit: number;
  dataDir?: string | undefined;
  intervalMs?: number;
}

/** Memory the broker's data costs: the JS heap plus buffers (message bodies), not RSS, which the
 * allocator does not give back promptly and would keep an alarm raised long after the load went.
 * Idle slabs of the body pool are not counted, for the same reason: they are free memory kept for
 * the next large bodies (frames/body-pool.ts), and counting them held the alarm up with every
 * queue empty. */
export function usedMemory(): number {
  // V8's heap statistics, not process.memoryUsage(): the same heap figure, and external memory
  // (array buffers, so message bodies, and the ~1-2 MiB of C++ objects Node ties to JS ones) in
  // place of array buffers alone, without the RSS, which memoryUsage reads from /proc each time.
  // Four times a second that code runs cold: ~35 µs of the event loop against ~90.
  const h = getHeapStatistics();
  return h.used_heap_size + h.external_memory - slabPool.idleBytes;
}

/**
 * When to look at free disk space again, as RabbitMQ's disk monitor decides it (3.10.8's
 * rabbit_disk_monitor: twice the headroom over the limit at a fast disk's 250 MB/s, within 100 ms
 * and 10 s): a disk far from its limit is looked at every 10 s, one at or under it every 100 ms.
 */
export function diskCheckIntervalMs(free: number, limit: number): number {
  return Math.trunc(Math.max(100, Math.min(10_000, (2 * (free - limit)) / 250_000)));
}

/** A memory watermark as rabbitmqctl set_vm_memory_high_watermark takes it: a fraction of RAM, or bytes. */
export type MemoryWatermark = { relative: number } | { absolute: number };
/** A free-disk floor as rabbitmqctl set_disk_free_limit takes it: bytes, or a multiple of RAM. */
export type DiskFreeLimit = { absolute: number } | { memRelative: number };

export class ResourceMonitor {
  /** Bytes of usedMemory() past which the memory alarm is raised. */
  memoryLimit: number;
  /** The watermark as it was set (a fraction of RAM or bytes), which memoryLimit was computed from. */
  memoryWatermark: MemoryWatermark;
  /** Free bytes on the data directory's disk below which the disk alarm is raised. */
  diskFreeLimit: number;
  memoryAlarm = false;
  diskAlarm = false;
  private timer: NodeJS.Timeout | null = null;
  private stopGrowth: (() => void) | null = null;

  constructor(
    private readonly options: AlarmOptions,
    private readonly log: Logger,
    /** Called when the set of raised alarms changes; reasons is empty when all cleared. */
    private readonly onChange: (reasons: string[]) => void,
  ) {
    const w = options.memoryHighWatermark;
    this.memoryWatermark = w <= 1 ? { relative: w } : { absolute: w };
    this.memoryLimit = w <= 1 ? Math.floor(totalmem() * w) : w;
    this.diskFreeLimit = options.diskFreeLimit;
  }

  /**
   * Changes the memory watermark at run time (rabbitmqctl set_vm_memory_high_watermark), checked
   * at once: 0 (or a tiny fraction) raises the alarm and blocks publishers, as operators and
   * client test suites use it.
   */
  setMemoryWatermark(w: MemoryWatermark): void {
    this.memoryWatermark = w;
    this.memoryLimit = 'relative' in w ? Math.floor(totalmem() * w.relative) : w.absolute;
    void this.check();
  }

  /** Changes the free-disk floor at run time (rabbitmqctl set_disk_free_limit), checked at once. */
  setDiskFreeLimit(l: DiskFreeLimit): void {
    this.diskFreeLimit = 'absolute' in l ? l.absolute : Math.floor(totalmem() * l.memRelative);
    void this.check();
  }

  get active(): boolean {
    return this.memoryAlarm || this.diskAlarm;
  }

  get reasons(): string[] {
    return [...(this.memoryAlarm ? ['memory'] : []), ...(this.diskAlarm ? ['disk'] : [])];
  }

  start(): void {
    this.timer = setInterval(() => void this.check(false), this.options.intervalMs ?? 250);
    this.timer.unref();
    // Between two looks of the timer a flood of large bodies can bring hundreds of MiB: the pool
    // that takes them in says when it has grown, and memory is looked at then too.
    this.stopGrowth = slabPool.onGrowth(() => {
      const before = this.active;
      this.checkMemory();
      if (this.active !== before) this.onChange(this.reasons);
    });
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.stopGrowth?.();
    this.stopGrowth = null;
  }

  private checkMemory(): void {
    const used = usedMemory();
    if (used > this.memoryLimit !== this.memoryAlarm) {
      this.memoryAlarm = !this.memoryAlarm;
      this.log.warn({ used, limit: this.memoryLimit }, this.memoryAlarm ? 'memory alarm set' : 'memory alarm cleared');
    }
  }

  /** When free disk space is next looked at by the timer (diskCheckIntervalMs), ms since the epoch. */
  private nextDiskCheck = 0;

  /** Looks at memory, and at free disk space when it is due or `disk` (a limit was just set). */
  async check(disk = true): Promise<void> {
    const before = this.active;
    this.checkMemory();
    if (this.options.dataDir && (disk || Date.now() >= this.nextDiskCheck)) {
      // Set before the look, so that the timer does not start a second one while it is out.
      this.nextDiskCheck = Date.now() + 10_000;
      try {
        const s = await statfs(this.options.dataDir);
        const free = s.bavail * s.bsize;
        this.nextDiskCheck = Date.now() + diskCheckIntervalMs(free, this.diskFreeLimit);
        if (free < this.diskFreeLimit !== this.diskAlarm) {
          this.diskAlarm = !this.diskAlarm;
          this.log.warn({ free, limit: this.diskFreeLimit }, this.diskAlarm ? 'disk alarm set' : 'disk alarm cleared');
        }
      } catch {
        // the data directory may not exist yet: look again at the shortest interval
        this.nextDiskCheck = Date.now() + 100;
      }
    }
    if (this.active !== before) this.onChange(this.reasons);
  }
}
