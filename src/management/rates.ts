// Message rates for the management API: counters are sampled every few seconds and each rate is
// the change over the last interval, per second (RabbitMQ's *_details.rate).
import type { MessageStats } from '../server/stats.js';

type Counter = Exclude<keyof MessageStats, never>;
const COUNTERS: Counter[] = ['publish', 'deliver', 'get', 'ack', 'redeliver', 'confirm', 'returnUnroutable'];

interface Sample {
  at: number;
  values: Record<Counter, number>;
  rates: Record<Counter, number>;
}

export class RateSampler {
  private readonly samples = new WeakMap<object, Sample>();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly sources: () => Iterable<MessageStats>,
    private readonly intervalMs = 5000,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  rate(key: object, counter: Counter): number {
    return this.samples.get(key)?.rates[counter] ?? 0;
  }

  private sample(): void {
    const now = Date.now();
    for (const s of this.sources()) {
      const prev = this.samples.get(s);
      const values = Object.fromEntries(COUNTERS.map((c) => [c, s[c]])) as Record<Counter, number>;
      const rates = Object.fromEntries(
        COUNTERS.map((c) => [c, prev ? Math.max(0, ((values[c] - prev.values[c]) * 1000) / Math.max(1, now - prev.at)) : 0]),
      ) as Record<Counter, number>;
      this.samples.set(s, { at: now, values, rates });
    }
  }
}
