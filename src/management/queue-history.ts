// Per-queue history for the management UI's queue page, so its charts show the last minutes as
// soon as it opens: every 5 s, for 10 minutes, a queue's lengths (messages, ready, unacked) and
// message counters (publish, deliver_get, ack, redeliver). The API hands them out as RabbitMQ
// does with ?lengths_age=S&lengths_incr=S and ?msg_rates_age=S&msg_rates_incr=S (`samples`,
// `avg`, `avg_rate` in *_details).
//
// Memory stays bounded whatever the number of queues: at most TRACKED_MAX queues are followed, in
// a Float64Array of 120 x 7 numbers each (6.7 KB; 6.7 MB for all of them). While the broker has no
// more queues than that, every queue is followed from its declaration; beyond, only the queues the
// API was asked about (GET /api/queues/V/Q, as the queue page polls it) in the last 10 minutes,
// the least recently asked dropped first.
import type { Broker } from '../server/broker.js';
import type { Queue } from '../server/queue.js';
import { BrokerHistory, type Sample } from './history.js';
import { queueLevels } from './views.js';

const INTERVAL_MS = 5000;
/** Samples kept per queue: 10 minutes. */
const SLOTS = 120;
export const QUEUE_HISTORY_S = (SLOTS * INTERVAL_MS) / 1000;
const TRACKED_MAX = 1000;
/** A queue asked about is followed for this long after the last request. */
const WATCH_MS = 10 * 60 * 1000;

const SERIES = ['messages', 'messages_ready', 'messages_unacknowledged', 'publish', 'deliver_get', 'ack', 'redeliver'] as const;
export type QueueSeries = (typeof SERIES)[number];
const N = SERIES.length;

interface Track {
  /** SLOTS x N values, slot = tick % SLOTS. */
  readonly values: Float64Array;
  /** The first tick this track holds a sample for. */
  firstTick: number;
  /** When the API last asked about the queue (0: followed because the broker has few queues). */
  askedAt: number;
}

export class QueueHistory {
  /** Insertion order is the order of the last request: the first entries are dropped first. */
  private readonly tracks = new Map<Queue, Track>();
  /** When each tick was taken, slot = tick % SLOTS. */
  private readonly times = new Float64Array(SLOTS);
  /** The number of the last tick taken (-1 before the first). */
  private tick = -1;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly broker: Broker,
    private readonly max = TRACKED_MAX,
  ) {}

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), INTERVAL_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** How many queues are followed (for tests and the memory bound). */
  get size(): number {
    return this.tracks.size;
  }

  /** The API was asked about q: follow it (from now on, if it was not followed yet). */
  touch(q: Queue, now = Date.now()): void {
    let t = this.tracks.get(q);
    if (t) this.tracks.delete(q);
    else {
      t = { values: new Float64Array(SLOTS * N), firstTick: this.tick, askedAt: now };
      if (this.tick >= 0) this.write(q, t, this.tick);
    }
    t.askedAt = now;
    this.tracks.set(q, t);
    this.trim(now);
  }

  sample(now = Date.now()): void {
    this.tick++;
    this.times[this.tick % SLOTS] = now;
    let total = 0;
    for (const v of this.broker.vhosts.values()) total += v.queues.size;
    if (total <= this.max) {
      // Few queues: follow every one of them.
      for (const v of this.broker.vhosts.values()) {
        for (const q of v.queues.values()) {
          if (!this.tracks.has(q)) this.tracks.set(q, { values: new Float64Array(SLOTS * N), firstTick: this.tick, askedAt: 0 });
        }
      }
    }
    for (const [q, t] of this.tracks) {
      if (q.deleted) this.tracks.delete(q);
      else this.write(q, t, this.tick);
    }
    this.trim(now, total > this.max);
  }

  /** Drops deleted queues, queues not asked about lately (when not all are followed), and the excess. */
  private trim(now: number, onlyAsked = false): void {
    for (const [q, t] of this.tracks) {
      if (this.tracks.size <= this.max && !onlyAsked) break;
      if (q.deleted || this.tracks.size > this.max || now - t.askedAt > WATCH_MS) this.tracks.delete(q);
    }
  }

  private write(q: Queue, t: Track, tick: number): void {
    const l = queueLevels(q);
    const s = q.stats;
    const at = (tick % SLOTS) * N;
    const v = t.values;
    v[at] = l.messages;
    v[at + 1] = l.messages_ready;
    v[at + 2] = l.messages_unacknowledged;
    v[at + 3] = s.publish;
    v[at + 4] = s.deliver + s.get;
    v[at + 5] = s.ack;
    v[at + 6] = s.redeliver;
  }

  /** The queue's samples of the last `ageS` seconds at least `incrS` apart, newest first ([] if not followed). */
  samples(q: Queue, ageS: number, incrS: number, now = Date.now()): Sample[] {
    const t = this.tracks.get(q);
    if (!t || this.tick < 0) return [];
    const out: Sample[] = [];
    const from = now - Math.min(ageS, QUEUE_HISTORY_S) * 1000;
    const step = Math.max(incrS, 1) * 1000;
    const oldest = Math.max(t.firstTick, this.tick - SLOTS + 1, 0);
    for (let k = this.tick; k >= oldest; k--) {
      const at = this.times[k % SLOTS]!;
      if (at < from) break;
      // A little slack: samples are taken every INTERVAL_MS, give or take the timer's drift.
      if (out.length > 0 && out[out.length - 1]!.timestamp - at < step - 500) continue;
      const i = (k % SLOTS) * N;
      const v = t.values;
      out.push({
        timestamp: at,
        messages: v[i]!,
        messages_ready: v[i + 1]!,
        messages_unacknowledged: v[i + 2]!,
        publish: v[i + 3]!,
        deliver_get: v[i + 4]!,
        ack: v[i + 5]!,
        redeliver: v[i + 6]!,
        mem_used: 0,
      });
    }
    return out;
  }

  /** `{samples, avg_rate, avg}` of one series, as RabbitMQ's *_details. */
  static details = BrokerHistory.details;
}
