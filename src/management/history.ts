// History the broker keeps for the management UI's charts, so a page shows the last minutes as soon
// as it opens: every 5 s the global message counters, queue totals and memory in use, for an hour
// (720 samples, a few tens of KB whatever the number of queues). The API hands them out as RabbitMQ
// does with ?msg_rates_age=S&msg_rates_incr=S and ?lengths_age=S&lengths_incr=S: *_details gains
// `samples` ([{sample, timestamp}], newest first), `avg_rate` and `avg`.
import type { Broker } from '../server/broker.js';
import { usedMemory } from '../server/alarms.js';

export interface Sample {
  timestamp: number;
  publish: number;
  deliver_get: number;
  ack: number;
  redeliver: number;
  messages_ready: number;
  messages_unacknowledged: number;
  messages: number;
  mem_used: number;
}
export type SampleKey = Exclude<keyof Sample, 'timestamp'>;

const INTERVAL_MS = 5000;
const KEEP_MS = 60 * 60 * 1000;

export class BrokerHistory {
  private readonly ring: Sample[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly broker: Broker) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  sample(now = Date.now()): void {
    let ready = 0;
    let unacked = 0;
    let owed = 0;
    for (const v of this.broker.vhosts.values()) {
      for (const q of v.queues.values()) {
        ready += q.messageCount;
        unacked += q.unackedTotal;
        owed += q.deadLetterCount;
      }
    }
    const s = this.broker.stats;
    this.ring.push({
      timestamp: now,
      publish: s.publish,
      deliver_get: s.deliver + s.get,
      ack: s.ack,
      redeliver: s.redeliver,
      messages_ready: ready,
      messages_unacknowledged: unacked,
      messages: ready + unacked + owed,
      mem_used: usedMemory(),
    });
    while (this.ring.length > 0 && this.ring[0]!.timestamp < now - KEEP_MS) this.ring.shift();
  }

  /** Samples of the last `ageS` seconds at least `incrS` apart, newest first. */
  samples(ageS: number, incrS: number, now = Date.now()): Sample[] {
    const out: Sample[] = [];
    const from = now - ageS * 1000;
    const step = Math.max(incrS, 1) * 1000;
    for (let i = this.ring.length - 1; i >= 0; i--) {
      const s = this.ring[i]!;
      if (s.timestamp < from) break;
      // A little slack: samples are taken every INTERVAL_MS, give or take the timer's drift.
      if (out.length === 0 || out[out.length - 1]!.timestamp - s.timestamp >= step - 500) out.push(s);
    }
    return out;
  }

  /** `{samples, avg_rate, avg}` for one series, as RabbitMQ's *_details. */
  static details(samples: Sample[], key: SampleKey): { samples: { sample: number; timestamp: number }[]; avg_rate: number; avg: number } {
    const points = samples.map((s) => ({ sample: s[key], timestamp: s.timestamp }));
    const first = points[points.length - 1];
    const last = points[0];
    const span = first && last ? (last.timestamp - first.timestamp) / 1000 : 0;
    return {
      samples: points,
      avg_rate: span > 0 ? (last!.sample - first!.sample) / span : 0,
      avg: points.length ? points.reduce((n, p) => n + p.sample, 0) / points.length : 0,
    };
  }
}

/** The ?*_age / ?*_incr pair of a request, or null when it asks for no samples. */
export function ageQuery(q: Record<string, string | undefined>, prefix: 'msg_rates' | 'lengths' | 'node_stats'): { age: number; incr: number } | null {
  const age = Number(q[`${prefix}_age`]);
  if (!Number.isFinite(age) || age <= 0) return null;
  const incr = Number(q[`${prefix}_incr`]);
  return { age: Math.min(age, KEEP_MS / 1000), incr: Number.isFinite(incr) && incr > 0 ? incr : 5 };
}
