// A timer for a moment that may be weeks away. Node's timers take at most 2^31-1 ms (~24.8 days)
// and fire a longer delay after 1 ms instead (with a TimeoutOverflowWarning), while RabbitMQ's
// x-expires and message TTLs go up to 2^32-1 ms (~49.7 days) and a publisher's expiration has no
// bound: a queue declared with x-expires of 30 days was deleted at once, and a 30-day TTL re-armed
// its expiry timer every millisecond. This one waits in steps Node can take.
const MAX_TIMER_MS = 2 ** 31 - 1;

export class LongTimer {
  private handle: NodeJS.Timeout | null = null;

  constructor(
    /** When to run, as a Date.now() time. */
    readonly at: number,
    private readonly fn: () => void,
  ) {
    this.arm();
  }

  private arm(): void {
    const wait = Math.min(Math.max(0, this.at - Date.now()), MAX_TIMER_MS);
    this.handle = setTimeout(() => {
      this.handle = null;
      if (Date.now() >= this.at) this.fn();
      else this.arm();
    }, wait);
    // Never what keeps the process alive.
    this.handle.unref();
  }

  clear(): void {
    if (this.handle) clearTimeout(this.handle);
    this.handle = null;
  }
}
