// After a write the event loop keeps polling for the window (src/server/idle-poll.ts): it does not
// sleep in epoll until the window after the last write has passed. Seen through the loop's own
// utilization (time not spent waiting in epoll), over a 60 ms wait on a timer.
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { RequestReply, afterWrite, idlePollUs, setIdlePoll } from '../../src/server/idle-poll.js';

/** The share of `ms` the loop was busy (not blocked in epoll) while this waited on a timer. */
async function busyShare(ms: number, during?: () => void): Promise<number> {
  const start = performance.eventLoopUtilization();
  during?.();
  await new Promise((r) => setTimeout(r, ms));
  return performance.eventLoopUtilization(start).utilization;
}

afterEach(() => setIdlePoll(0));

describe('idle polling after writes', () => {
  it('keeps the loop polling for the window after a write, then lets it sleep', async () => {
    setIdlePoll(30_000);
    expect(idlePollUs()).toBe(30_000);
    // 30 of the 60 ms polling.
    expect(await busyShare(60, afterWrite)).toBeGreaterThan(0.3);
    // The window has passed: the loop sleeps until the timer.
    expect(await busyShare(60)).toBeLessThan(0.2);
  });

  it('a later write extends the window', async () => {
    setIdlePoll(20_000);
    afterWrite();
    setTimeout(afterWrite, 15);
    // Polling until ~35 ms of the 60.
    expect(await busyShare(60)).toBeGreaterThan(0.45);
  });

  it('with a window of 0 the loop sleeps at once', async () => {
    setIdlePoll(0);
    expect(await busyShare(60, afterWrite)).toBeLessThan(0.2);
  });
});

describe('which writes are awaited (RequestReply)', () => {
  it('deliveries to a connection that answered the last two with publishes', () => {
    const rr = new RequestReply();
    // Deliveries never answered: a consumer that only acks.
    expect([rr.delivering(), rr.delivering(), rr.delivering()]).toEqual([false, false, false]);
    const answered = (): boolean => {
      rr.answered = true;
      return rr.delivering();
    };
    expect([answered(), answered(), answered()]).toEqual([false, true, true]);
  });

  it('stops once deliveries go unanswered', () => {
    const rr = new RequestReply();
    for (let i = 0; i < 10; i++) {
      rr.answered = true;
      rr.delivering();
    }
    // The score is capped at 4: the third unanswered write in a row is not polled after.
    expect([rr.delivering(), rr.delivering(), rr.delivering()]).toEqual([true, true, false]);
  });
});
