// After a write the event loop keeps polling for the window (src/server/idle-poll.ts): it does not
// sleep in epoll until the window after the last write has passed. Seen through the loop's own
// utilization (time not spent waiting in epoll), over a 60 ms wait on a timer.
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it } from 'vitest';
import { afterWrite, idlePollUs, setIdlePoll } from '../../src/server/idle-poll.js';

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
