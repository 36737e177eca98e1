// After the broker writes deliveries to a connection that answers its deliveries with publishes
// (RequestReply below: an RPC server, an RPC client getting its replies), keep the event loop
// polling (epoll with a timeout of 0) for a few tens of µs rather than sleeping in epoll at once: an
// answer that comes back within that window is read without the thread having slept, so without
// the wake-up it would cost.
//
// Why: on a VM whose idle vCPU halts (the machines here: the guest's haltpoll governor with
// guest_halt_poll_ns=0) waking a sleeping thread costs tens of µs, and an RPC round trip is four
// of them. goperf's RPC did 7,900 round trips/s (p50 134 µs) against 16,300 (p50 59 µs) with a
// 50 µs window, and 18-19k with either broker beside a `yes` hog that keeps a vCPU from halting
// (README, "RPC: the flush of a hop, and idle wake-ups"). On a VM with the `menu` governor it was
// ~1.2× (11.3k against 13.8-14.2k). Erlang's schedulers spin before they sleep for the same reason
// (RabbitMQ's +sbwt, on by default), as Seastar's reactors poll when idle (--idle-poll-time-us).
//
// Only after deliveries to such connections: polling after every write (the thirty-fourth
// session's --idle-poll) cost goperf's 64 KiB transient ~11% and persistent ~8% of their
// throughput, and the 5k and 50k msgs/s p99 ~20%, on the 2-core VM here, where a polling thread
// takes CPU that the client and the store's pool need. In those runs no connection both consumes
// and publishes, so with the gate the loop never polls there (counted: 0 polls in goperf's
// latency, transient, persistent and fan-out runs, ~25k a second in its RPC).
//
// How: a pending immediate makes libuv poll without blocking, so the window is a chain of
// immediates that ends once `windowMs` have passed since the last such write. The clock is read
// once a turn of the loop while the chain runs, not at each write. The cost is CPU the thread would
// have slept through: at most the window after each write of deliveries to an answering connection
// (goperf's RPC: the broker at 98% of a core against 54%). Process-wide: the broker's entry sets
// it (--idle-poll, 50 µs by default); an embedded broker (startBroker) never polls.
import { performance } from 'node:perf_hooks';

let windowMs = 0;
/** A write happened since the chain last looked at the clock. */
let wrote = false;
let polling = false;
let until = 0;

const poll = (): void => {
  const now = performance.now();
  if (wrote) {
    wrote = false;
    until = now + windowMs;
  }
  if (now < until) setImmediate(poll);
  else polling = false;
};

/** Sets the window in µs (0: sleep in epoll as soon as there is nothing to do). */
export function setIdlePoll(us: number): void {
  windowMs = us / 1000;
}

/** The current window, µs. */
export function idlePollUs(): number {
  return windowMs * 1000;
}

/**
 * Whether a connection answers the deliveries it is sent with publishes of its own (an RPC server,
 * an RPC client getting replies, a pipeline stage): only writes of deliveries to such a connection
 * are followed by a poll, since only there does the next read come back soon because of the write.
 * A consumer that only acks (goperf's 5k msgs/s latency run) never scores; nor does a publisher
 * getting confirms. No clock: the pattern is the signal, seen between one write of deliveries and
 * the next.
 */
export class RequestReply {
  /** 0-4: up by one for each write of deliveries answered by a publish since the previous one. */
  private score = 0;
  /** The connection published since its last write of deliveries. */
  answered = false;

  /** Deliveries are being written: whether to poll for the answer after this write. */
  delivering(): boolean {
    if (this.answered) {
      this.answered = false;
      if (this.score < 4) this.score++;
    } else if (this.score > 0) this.score--;
    return this.score >= 2;
  }
}

/** Called after a write that RequestReply says is awaited: the loop polls until the window after it has passed. */
export function afterWrite(): void {
  if (windowMs === 0) return;
  wrote = true;
  if (polling) return;
  polling = true;
  setImmediate(poll);
}
