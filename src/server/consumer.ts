// A subscription of one channel to one queue (basic.consume), with its own prefetch window.
import type { DeliverFrame } from '../frames/index.js';
import type { Entry } from './message.js';
import type { Queue } from './queue.js';
import type { StreamStart } from './stream-log.js';

/**
 * Where a consumer's deliveries go: a channel of a client connection, or (in a cluster) the link
 * to the node whose client consumes (src/cluster/).
 */
export interface ConsumerHost {
  canDeliverTo(c: Consumer): boolean;
  deliver(c: Consumer, entry: Entry): void;
  /** The queue went away: the consumer is cancelled (basic.cancel to a client that asked for it). */
  cancelByServer(c: Consumer): void;
  /**
   * The queue's owner on another node refused the consumer after consume-ok went out (another
   * node's consumer took the queue exclusively in between): its channel closes as the consume
   * would have. Only local consumers of a cluster's queues are refused so.
   */
  refuseConsumer?(c: Consumer): void;
  /** The client connection, when the consumer is local. */
  readonly conn?: object;
  /** The deliveries of queue q the consumer holds unacked (a channel's; a cluster's subscriptions count them). */
  unackedOf?(q: Queue, c: Consumer): Entry[];
  /** Its process id as events name it (a channel's; rabbitmqctl's exclusive_consumer_pid). */
  readonly pid?: string;
}

export class Consumer {
  /** Deliveries not yet acked, counted against prefetch. */
  unacked = 0;
  /** Its basic.deliver frame, kept by the channel that writes it (a consumer of a client connection). */
  frame: DeliverFrame | null = null;

  constructor(
    readonly tag: string,
    readonly channel: ConsumerHost,
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
