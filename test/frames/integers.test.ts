// Reader and Writer read and write their integers by bytes (not Buffer#readUInt*BE and
// writeUInt*BE, which validate their arguments on every call): the same bytes as Node's own.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Reader, Writer, u32At, putU32 } from '../../src/frames/primitives.js';

describe('integers by bytes', () => {
  it('u16, u32 and u64 write what Buffer writes and read back what they wrote', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.oneof(fc.constantFrom(0, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })), (a, b, c) => {
        const w = new Writer(64);
        w.u16(a);
        w.u32(b);
        w.u64(c);
        const out = w.take();
        const node = Buffer.alloc(14);
        node.writeUInt16BE(a, 0);
        node.writeUInt32BE(b, 2);
        node.writeBigUInt64BE(BigInt(c), 6);
        expect(out).toEqual(node);
        const r = new Reader(out, 0, out.length);
        expect([r.u16(), r.u32(), r.u64()]).toEqual([a, b, c]);
        expect(u32At(node, 2)).toBe(b);
        const p = Buffer.alloc(6);
        putU32(p, 1, b);
        expect(p.readUInt32BE(1)).toBe(b);
      }),
    );
  });

  it('a short out of range is refused, as Buffer refuses it, and nothing is written', () => {
    const w = new Writer(64);
    expect(() => w.u16(0x10000)).toThrow(RangeError);
    expect(() => w.u16(-1)).toThrow(RangeError);
    expect(w.length).toBe(0);
  });

  it('reads cut short throw the Reader’s errors', () => {
    expect(() => new Reader(Buffer.alloc(1), 0, 1).u16()).toThrow();
    expect(() => new Reader(Buffer.alloc(3), 0, 3).u32()).toThrow();
    expect(() => new Reader(Buffer.alloc(7), 0, 7).u64()).toThrow();
  });
});
