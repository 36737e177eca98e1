// When the writer hands its frames to the socket: a writer's first flush of an event-loop turn goes
// as soon as the current callback's work is done (process.nextTick), so a reply or a delivery
// leaves in the callback of the read that caused it; more frames for the same writer in that turn
// wait for the turn's end (setImmediate), so a consumer fed by many reads gets one more write, not
// one per read. Against a fake socket that records each write.
import { describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { M } from '../../src/frames/index.js';
import { FrameWriter } from '../../src/server/writer.js';

function fakeWriter(): { w: FrameWriter; writes: number[] } {
  const writes: number[] = [];
  const socket = {
    destroyed: false,
    writableNeedDrain: false,
    write: (b: Buffer, cb?: () => void) => {
      writes.push(b.length);
      cb?.();
      return true;
    },
    cork: () => undefined,
    uncork: () => undefined,
    on: () => socket,
  } as unknown as Socket;
  return { w: new FrameWriter(socket, 131072, () => undefined), writes };
}

const tick = (): Promise<void> => new Promise((r) => process.nextTick(r));
const turnEnd = (): Promise<void> => new Promise((r) => setImmediate(r));
const qosOk = { id: M.BasicQosOk, args: {} } as const;

describe('FrameWriter flushes', () => {
  it('the first flush of a turn goes out after the current tick, before the turn ends', async () => {
    await turnEnd();
    const { w, writes } = fakeWriter();
    w.method(1, qosOk);
    w.method(1, qosOk);
    expect(writes).toEqual([]);
    await tick();
    // One write for both frames (12 bytes each), before any immediate ran.
    expect(writes).toEqual([24]);
  });

  it('later frames of the same turn wait for its end, and then share one write', async () => {
    await turnEnd();
    const { w, writes } = fakeWriter();
    w.method(1, qosOk);
    await tick();
    expect(writes).toEqual([12]);
    w.method(1, qosOk);
    await tick();
    w.method(2, qosOk);
    await tick();
    expect(writes).toEqual([12]);
    await turnEnd();
    expect(writes).toEqual([12, 24]);
  });

  it('each writer has its own first flush, and a new turn starts afresh', async () => {
    await turnEnd();
    const a = fakeWriter();
    const b = fakeWriter();
    a.w.method(1, qosOk);
    b.w.method(1, qosOk);
    await tick();
    expect([a.writes, b.writes]).toEqual([[12], [12]]);
    await turnEnd();
    await turnEnd();
    a.w.method(1, qosOk);
    await tick();
    expect(a.writes).toEqual([12, 12]);
  });
});
