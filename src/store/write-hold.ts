// How long the store's next write cycle waits before it starts (LevelStore.startCycle), decided from
// what is queued for it. Waiting lets an ack that comes meanwhile cancel a put, so the message is
// never written: RabbitMQ's message store does the same for messages removed before it got to them
// (it lags behind under load: 3.10.8, under goperf's 1 MiB persistent scenario, wrote 804 MiB to
// disk while moving 5,940 MiB to its consumer; Warren, writing each body at once, 2,205 of 5,430).

/**
 * Bytes of puts after which a write nobody hurries starts at once: large bodies' writes cost their
 * bytes, and the acks of messages no consumer is about to take rarely come within the millisecond.
 */
export const UNHURRIED_MAX_BYTES = 256 * 1024;

/** Event loop utilization from which the millisecond's hold is worth its latency (LevelStore.loopBusy). */
export const BUSY_LOOP = 0.7;

/**
 * How long a cycle waits for acks when what it would write is large bodies on their way to
 * consumers. A consumer that acks every 100 messages of 1 MiB acks each batch ~70–100 ms after its
 * first delivery at goperf's rates; past this the write goes, and its confirms with it. goperf's
 * 1 MiB persistent scenario, 6 s: writing each body at once 905 msgs/s and 2,205 MiB written (one
 * run); waiting 100 ms 1,061–1,292 msgs/s and 1,180–1,246 MiB, 200 ms 1,350–1,485 and 683–715 (two).
 */
export const ACK_HOLD_MS = 200;

/** After a hold for acks that did not pay (fewer bodies acked than written), ms before the next. */
export const ACK_HOLD_RETRY_MS = 1000;

/**
 * Bytes of such bodies past which the cycle writes anyway: they are in memory in any case (ready in
 * their queue, then unacked), but one write of more than this would keep the disk busy for long.
 */
export const ACK_HOLD_MAX_BYTES = 128 * 1024 * 1024;

export interface WaitingWrites {
  /** Someone needs the write soon (a flush that hurries, a definition, a publisher's backlog). */
  hurried: boolean;
  /** Someone waits for the cycle at all; a cycle nobody waits for is never held. */
  waited: boolean;
  /** Every waiter so far said it may wait for acks (a publisher that keeps a window of confirms). */
  mayWaitForAcks: boolean;
  /** Bytes of puts queued for the cycle. */
  queuedBytes: number;
  /** Of them, large bodies put to queues whose consumers keep up (Store.putMessage's toConsumer). */
  consumedBytes: number;
}

/**
 * The hold, in ms from when it began: 0 to write now, shortMs (a millisecond) to let the acks of a
 * tick's deliveries come, longMs (ACK_HOLD_MS) while large bodies wait for their consumers' acks.
 * Other puts, a few, may wait as long with them; past UNHURRIED_MAX_BYTES of those it writes now.
 */
export function holdMs(w: WaitingWrites, shortMs: number, longMs = ACK_HOLD_MS): number {
  if (w.hurried || !w.waited || w.queuedBytes <= 0) return 0;
  const others = w.queuedBytes - w.consumedBytes;
  if (others >= UNHURRIED_MAX_BYTES) return 0;
  if (w.mayWaitForAcks && w.consumedBytes > 0 && w.consumedBytes < ACK_HOLD_MAX_BYTES) return longMs;
  return w.queuedBytes < UNHURRIED_MAX_BYTES ? shortMs : 0;
}
