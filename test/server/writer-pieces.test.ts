// A body in pieces (src/frames/body.ts) goes out as the very bytes its joined buffer would: the
// writer cuts body frames at the consumer's frame_max across piece boundaries, taking large runs
// by reference and copying small ones. Random pieces and frame sizes, against a fake socket.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Socket } from 'node:net';
import { BodyPieces, DeliverFrame, type Body } from '../../src/frames/index.js';
import { FrameWriter } from '../../src/server/writer.js';

/** What the writer hands the socket, joined. */
function written(frameMax: number, body: Body): Buffer {
  const out: Buffer[] = [];
  const socket = {
    destroyed: false,
    writableNeedDrain: false,
    write: (b: Buffer) => out.push(Buffer.from(b)) > 0,
    cork: () => undefined,
    uncork: () => undefined,
    on: () => socket,
  } as unknown as Socket;
  const w = new FrameWriter(socket, frameMax, () => undefined);
  const props = Buffer.from([0x10, 0x00, 0x02]); // delivery-mode 2
  w.deliver(new DeliverFrame(3, 'ctag'), 42, false, 'ex', 'rk', props, body);
  w.flush();
  return Buffer.concat(out);
}

describe('FrameWriter with a body in pieces', () => {
  it('writes the same bytes as with the joined body', () => {
    fc.assert(
      fc.property(
        // Piece sizes around the 16 KiB by-reference threshold and tiny ones.
        fc.array(fc.oneof(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 16 * 1024 - 3, max: 16 * 1024 + 3 }), fc.integer({ min: 1, max: 70_000 })), { minLength: 2, maxLength: 12 }),
        fc.constantFrom(4096, 8192, 131072, 20_000),
        fc.integer({ min: 0, max: 255 }),
        (sizes, frameMax, seed) => {
          // No two neighbouring bytes alike, so a run taken from the wrong offset shows.
          const pieces = sizes.map((n, i) => {
            const b = Buffer.allocUnsafe(n);
            for (let j = 0; j < n; j++) b[j] = (seed + i * 37 + j * 13) & 0xff;
            return b;
          });
          // Views into a larger buffer, as socket reads are.
          const views = pieces.map((p) => {
            const host = Buffer.alloc(p.length + 20, 0xee);
            p.copy(host, 7);
            return host.subarray(7, 7 + p.length);
          });
          const size = sizes.reduce((a, b) => a + b, 0);
          const got = written(frameMax, new BodyPieces(views, size));
          const want = written(frameMax, Buffer.concat(pieces));
          // equals, not toEqual: a deep comparison of megabytes byte by byte takes minutes.
          expect(got.length).toBe(want.length);
          expect(got.equals(want)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});
