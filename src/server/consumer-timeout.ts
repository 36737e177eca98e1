// RabbitMQ's consumer acknowledgement timeout: a channel that holds a delivery unacknowledged past
// its queue's timeout (x-consumer-timeout, or a policy's consumer-timeout, else the broker's
// consumer_timeout, 30 minutes by default) is closed with 406 PRECONDITION_FAILED, which returns
// what it held to its queues. One timer per broker looks at every channel's oldest deliveries.
import type { Connection } from './connection.js';

/** How often channels are looked at; deliveries are stamped with a clock this coarse. */
export const SWEEP_MS = 1_000;

/**
 * The time deliveries are stamped with: read instead of calling Date.now() per delivery, moved on
 * by every sweep (so at most SWEEP_MS behind; Channel.checkAckTimeout allows for that, never early).
 */
export const coarseClock = { now: Date.now() };

/** RabbitMQ's text (checked on 3.10.8 with consumer_timeout = 2000; it looked once a minute). */
export function ackTimeoutText(channel: number, timeoutMs: number): string {
  return `delivery acknowledgement on channel ${channel} timed out. Timeout value used: ${timeoutMs} ms. This timeout value can be configured, see consumers doc guide to learn more`;
}

/** Starts the sweep; the timer does not keep the process alive. globalMs 0 leaves only per-queue timeouts. */
export function startAckTimeouts(connections: ReadonlySet<Connection>, globalMs: number): NodeJS.Timeout {
  coarseClock.now = Date.now();
  const timer = setInterval(() => {
    const now = (coarseClock.now = Date.now());
    for (const conn of connections) for (const ch of conn.channels.values()) ch.checkAckTimeout(now, globalMs);
  }, SWEEP_MS);
  timer.unref();
  return timer;
}
