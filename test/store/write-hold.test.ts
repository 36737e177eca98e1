// The store's hold before a write cycle (src/store/write-hold.ts), as a table: what waits decides.
import { describe, expect, it } from 'vitest';
import { ACK_HOLD_MAX_BYTES, ACK_HOLD_MS, holdMs, UNHURRIED_MAX_BYTES, type WaitingWrites } from '../../src/store/write-hold.js';

const KiB = 1024;
const base: WaitingWrites = { hurried: false, waited: true, mayWaitForAcks: true, queuedBytes: 0, consumedBytes: 0 };
const hold = (w: Partial<WaitingWrites>): number => holdMs({ ...base, ...w }, 1);

describe('write hold', () => {
  it('writes at once when hurried, when nobody waits, or when nothing is queued', () => {
    expect(hold({ hurried: true, queuedBytes: 64 * KiB, consumedBytes: 64 * KiB })).toBe(0);
    expect(hold({ waited: false, queuedBytes: 64 * KiB, consumedBytes: 64 * KiB })).toBe(0);
    expect(hold({ queuedBytes: 0 })).toBe(0);
  });

  it('holds small writes a millisecond, and writes large ones no consumer is about to take at once', () => {
    expect(hold({ queuedBytes: 10 * KiB })).toBe(1);
    expect(hold({ queuedBytes: UNHURRIED_MAX_BYTES - 1 })).toBe(1);
    expect(hold({ queuedBytes: UNHURRIED_MAX_BYTES })).toBe(0);
  });

  it('waits for the acks of large bodies on their way to consumers, with a few other puts', () => {
    expect(hold({ queuedBytes: 8 * 1024 * KiB, consumedBytes: 8 * 1024 * KiB })).toBe(ACK_HOLD_MS);
    expect(hold({ queuedBytes: 8 * 1024 * KiB + 10 * KiB, consumedBytes: 8 * 1024 * KiB })).toBe(ACK_HOLD_MS);
    // Other large puts (a queue without consumers) are written now, and these with them.
    expect(hold({ queuedBytes: 8 * 1024 * KiB + UNHURRIED_MAX_BYTES, consumedBytes: 8 * 1024 * KiB })).toBe(0);
    // Past the cap, the disk gets them.
    expect(hold({ queuedBytes: ACK_HOLD_MAX_BYTES, consumedBytes: ACK_HOLD_MAX_BYTES })).toBe(0);
    expect(holdMs({ ...base, queuedBytes: 64 * KiB, consumedBytes: 64 * KiB }, 1, 250)).toBe(250);
  });

  it('does not wait for acks when a waiter may not (a publisher that waits on each confirm)', () => {
    expect(hold({ mayWaitForAcks: false, queuedBytes: 64 * KiB, consumedBytes: 64 * KiB })).toBe(1);
    expect(hold({ mayWaitForAcks: false, queuedBytes: 1024 * KiB, consumedBytes: 1024 * KiB })).toBe(0);
  });
});
