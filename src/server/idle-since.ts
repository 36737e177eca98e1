// The management API's idle_since of channels and queues, as RabbitMQ 3.10.8 shows it (checked):
// a channel's or queue's process hibernates ~1 s after its last work and its stats then carry the
// time; its periodic stats (every 5 s) carry none, so a channel or queue that keeps working loses
// it within 5 s, and gets a new one once it is idle again. Here one timer looks at every channel
// and classic queue once a second and compares a count of its work (frames, deliveries,
// publishes, acks) with the last look's: nothing is stamped on the hot path.
import type { Broker } from './broker.js';

export class IdleWatch {
  private seen = -1;
  /** Looks in a row that found work done since the one before. */
  private busyLooks = 0;
  /** When it was last seen to go idle (ms); 0 while it is not idle, or not yet seen idle. */
  since = 0;

  /** work: any count that moves when work is done. The first look that finds no change stamps. */
  look(work: number, now: number): void {
    if (work !== this.seen) {
      this.seen = work;
      if (++this.busyLooks >= LOOKS_PER_STATS) this.since = 0;
    } else if (this.busyLooks > 0) {
      this.busyLooks = 0;
      this.since = now;
    }
  }
}

const LOOK_MS = 1_000;
/** RabbitMQ's stats interval over the look interval: work seen this many looks in a row clears since. */
const LOOKS_PER_STATS = 5;

/** Starts the looks; the timer does not keep the process alive. */
export function startIdleWatch(broker: Broker): NodeJS.Timeout {
  const timer = setInterval(() => {
    const now = Date.now();
    for (const conn of broker.connections) for (const ch of conn.channels.values()) ch.idle.look(ch.work, now);
    // Classic queues only: 3.10.8 gives quorum queues and streams no idle_since.
    for (const v of broker.vhosts.values()) for (const q of v.queues.values()) if (q.type.name === 'classic') q.idle.look(q.work, now);
  }, LOOK_MS);
  timer.unref();
  return timer;
}
