// Resource alarms, as RabbitMQ's vm_memory_high_watermark and disk_free_limit: while memory is over
// the watermark or free disk under the floor, publishing connections are blocked (sent
// connection.blocked and no longer read, so TCP pushes back); consumers keep draining.
import { statfs } from 'node:fs/promises';
import { totalmem } from 'node:os';
import type { Logger } from 'pino';

export interface AlarmOptions {
  /** Memory watermark: a fraction of RAM when ≤ 1, else bytes. */
  memoryHighWatermark: number;
  /** Free disk space below which publishing stops, bytes. */
  diskFreeLimit: number;
  dataDir?: string | undefined;
  intervalMs?: number;
}

/** Memory the broker's data costs: the JS heap plus buffers (message bodies), not RSS, which the
 * allocator does not give back promptly and would keep an alarm raised long after the load went. */
export function usedMemory(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export class ResourceMonitor {
  readonly memoryLimit: number;
  memoryAlarm = false;
  diskAlarm = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly options: AlarmOptions,
    private readonly log: Logger,
    /** Called when the set of raised alarms changes; reasons is empty when all cleared. */
    private readonly onChange: (reasons: string[]) => void,
  ) {
    const w = options.memoryHighWatermark;
    this.memoryLimit = w <= 1 ? Math.floor(totalmem() * w) : w;
  }

  get active(): boolean {
    return this.memoryAlarm || this.diskAlarm;
  }

  get reasons(): string[] {
    return [...(this.memoryAlarm ? ['memory'] : []), ...(this.diskAlarm ? ['disk'] : [])];
  }

  start(): void {
    this.timer = setInterval(() => void this.check(), this.options.intervalMs ?? 250);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async check(): Promise<void> {
    const before = this.active;
    const used = usedMemory();
    if (used > this.memoryLimit !== this.memoryAlarm) {
      this.memoryAlarm = !this.memoryAlarm;
      this.log.warn({ used, limit: this.memoryLimit }, this.memoryAlarm ? 'memory alarm set' : 'memory alarm cleared');
    }
    if (this.options.dataDir) {
      try {
        const s = await statfs(this.options.dataDir);
        const free = s.bavail * s.bsize;
        if (free < this.options.diskFreeLimit !== this.diskAlarm) {
          this.diskAlarm = !this.diskAlarm;
          this.log.warn({ free, limit: this.options.diskFreeLimit }, this.diskAlarm ? 'disk alarm set' : 'disk alarm cleared');
        }
      } catch {
        // the data directory may not exist yet
      }
    }
    if (this.active !== before) this.onChange(this.reasons);
  }
}
