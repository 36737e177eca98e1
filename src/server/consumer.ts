// A subscription of one channel to one queue (basic.consume), with its own prefetch window.
import type { Channel } from './channel.js';
import type { Entry } from './message.js';
import type { Queue } from './queue.js';
import type { StreamStart } from './stream-log.js';

export class Consumer {
  /** Deliveries not yet acked, counted against prefetch. */
  unacked = 0;

  constructor(
    readonly tag: string,
    readonly channel: Channel,
    readonly queue: Queue,
    readonly noAck: boolean,
    readonly exclusive: boolean,
    /** basic.qos prefetch_count (global=false) in force when the consumer started; 0 = unlimited. */
    readonly prefetch: number,
    /** x-priority from basic.consume: higher-priority consumers are served first. */
    readonly priority = 0,
    /** Streams: where the consumer starts reading (x-stream-offset). */
    readonly streamStart?: StreamStart,
  ) {}

  get hasCapacity(): boolean {
    return this.channel.canDeliverTo(this);
  }

  deliver(entry: Entry): void {
    this.channel.deliver(this, entry);
  }
}
