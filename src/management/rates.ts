// Message rates for the management API: counters are sampled every few seconds and each rate is
// the change over the last interval, per second (RabbitMQ's *_details.rate).
import { COUNTERS, type MessageStats } from '../server/stats.js';

type Counter = Exclude<keyof MessageStats, never>;

const round1 = (x: number): number => Math.round(x * 10) / 10;

type Gauges = { [name: string]: number };

interface Sample {
  at: number;
  values: Record<Counter, number>;
  rates: Record<Counter, number>;
}

export class RateSampler {
  private readonly samples = new WeakMap<object, Sample>();
  private timer: NodeJS.Timeout | null = null;

  private readonly gaugeSamples = new WeakMap<object, { at: number; values: Gauges; rates: Gauges }>();

  constructor(
    private readonly sources: () => Iterable<MessageStats>,
    private readonly intervalMs = 5000,
    /**
     * Levels whose change per second is a rate too (a queue's messages: messages_details), and
     * counters kept outside MessageStats (an exchange's publish_in, a connection's recv_oct).
     */
    private readonly gauges: () => Iterable<[object, Gauges]> = () => [],
  ) {}

  /** The change of a level per second over the last interval (negative when it fell). */
  gaugeRate(key: object, name: string): number {
    return this.gaugeSamples.get(key)?.rates[name] ?? 0;
  }

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Rates to one decimal, as RabbitMQ shows them. */
  rate(key: object, counter: Counter): number {
    return this.samples.get(key)?.rates[counter] ?? 0;
  }

  private sample(): void {
    const now = Date.now();
    for (const s of this.sources()) {
      const prev = this.samples.get(s);
      const values = Object.fromEntries(COUNTERS.map((c) => [c, s[c]])) as Record<Counter, number>;
      const rates = Object.fromEntries(
        COUNTERS.map((c) => [c, prev ? round1(Math.max(0, ((values[c] - prev.values[c]) * 1000) / Math.max(1, now - prev.at))) : 0]),
      ) as Record<Counter, number>;
      this.samples.set(s, { at: now, values, rates });
    }
    for (const [key, values] of this.gauges()) {
      const prev = this.gaugeSamples.get(key);
      const rates: Gauges = {};
      for (const [k, v] of Object.entries(values)) rates[k] = prev ? round1(((v - (prev.values[k] ?? v)) * 1000) / Math.max(1, now - prev.at)) : 0;
      this.gaugeSamples.set(key, { at: now, values, rates });
    }
  }
}
