// After the broker writes to a socket, keep the event loop polling (epoll with a timeout of 0) for
// a few tens of µs rather than sleeping in epoll at once: a reply that comes back within that
// window is read without the thread having slept, so without the wake-up it would cost.
//
// Why: an RPC's next request, or a consumer's ack, often comes back within ~50 µs of the write that
// caused it. A thread that slept meanwhile has to be woken, and on a VM whose idle vCPU halts (the
// machines here: the guest's haltpoll governor with guest_halt_poll_ns=0) that wake-up costs tens
// of µs: goperf's RPC did 7,900 round trips/s (p50 134 µs) against 16,300 (p50 59 µs) with a 50 µs
// window, and 18-19k with either broker beside a `yes` hog that keeps a vCPU from halting (README,
// "RPC: the flush of a hop, and idle wake-ups"). Erlang's schedulers spin before they sleep for the
// same reason (RabbitMQ's +sbwt, on by default), as Seastar's reactors poll when idle
// (--idle-poll-time-us).
//
// Off by default (--idle-poll 0): on the 2-core VM here a 50 µs window also cost goperf's 64 KiB
// transient ~11% and persistent ~8% of their throughput, and the 5k and 50k msgs/s p99 ~20%, in two
// interleaved pairs each. Likely (not traced): a polling thread keeps its vCPU busy, so the threads
// it wakes (the client's, the store's pool) are placed on the other one and woken there, and on a
// machine with no core to spare it takes CPU they need. It is for request/reply traffic on a
// machine with a core to spare (README, "RPC: the flush of a hop, and idle wake-ups").
//
// How: a pending immediate makes libuv poll without blocking, so the window is a chain of
// immediates that ends once `windowMs` have passed since the last write. The clock is read once a
// turn of the loop while the chain runs, not at each write. The cost is CPU the thread would have
// slept through: at most the window after each burst of writes (goperf's 5k msgs/s: 8-10% of a core
// against 12-13%; its RPC: 54% against 98%). Process-wide: the broker's entry sets it.
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

/** Called after each write to a socket: the loop polls until the window after it has passed. */
export function afterWrite(): void {
  if (windowMs === 0) return;
  wrote = true;
  if (polling) return;
  polling = true;
  setImmediate(poll);
}
